"""The round parameters a leader uses and records in each Query: :class:`RoundSettings`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from node.errors import RecordRejected
from node.round.aggregate import (
    check_parameters,
)
from node.round.consensus import CURRENT_CONSENSUS
from node.round.schedule import ADAPTIVE
from node.round.tolerance import CURRENT_NUMERICS
from protocol.v1 import messages_pb2
from ranking.adaptive import AdaptiveParams

_ADAPTIVE_DEFAULTS = AdaptiveParams(judge_budget=1)


@dataclass(frozen=True)
class RoundSettings:
    """Parameters a leader uses for its rounds (each is recorded in the Query)."""

    max_generators: int = 32  # G: generators selected per round
    max_rankers: int = 32  # R: rankers selected per round
    schedule: str = "3n"  # pair schedule: "3n", "full", "random-k" or "adaptive" (issue 17)
    schedule_k: int = 0  # pairs per ranker for "random-k"
    judge_budget: int = 0  # "adaptive": most judge calls per round (required, >= 1)
    wave_size: int = 0  # "adaptive": most judge calls per wave (0 = 16)
    min_rankers: int = 0  # "adaptive": distinct rankers per winner's pair to stop (0 = 5)
    max_waves: int = 0  # "adaptive": most waves per round (0 = 8)
    alpha: float = 0.01  # Bradley-Terry regularisation
    max_ranker_share: float = 0.2  # cap on one ranker's share of total ranking weight
    em_iterations: int = 10  # robust re-weighting iterations
    em_ilsr_steps: int = 1  # I-LSR steps per EM M-step (0 = refit to convergence)
    confidence_level: float = 0.95  # level of intervals and the tied-for-first set
    quorum_generators: int = 1  # minimum candidates to go on
    quorum_rankers: int = 1  # minimum ballots to go on (when there is anything to judge)
    generate_deadline_ms: int = 30_000  # generation phase deadline
    rank_deadline_ms: int = 30_000  # ranking phase deadline
    cluster_answers: bool = True  # merge identical normalised final answers
    broadcast_timeout_s: float = 5.0  # deadline of each SubmitRecord to a peer
    # share of live rounds followed by a blind gold round (0 = none); a daemon's default is
    # NodeConfig.round_gold_fraction = 0.1, settings built in code run no gold unless asked
    gold_fraction: float = 0.0
    # extra chance of gold after a contested round (its top two vote shares within
    # contested_margin; gold_chance); a daemon's default is
    # NodeConfig.round_contested_gold = 0.3, settings built in code add none unless asked
    contested_gold: float = 0.0
    contested_margin: float = 0.2
    numerics: int = CURRENT_NUMERICS  # rules for float-dependent steps (node.round.tolerance)
    consensus: int = CURRENT_CONSENSUS  # consensus rule (node.round.consensus): 3 = the reading

    def __post_init__(self) -> None:
        # A leader must not run rounds whose records every member would reject.
        try:
            check_parameters(self.to_proto())
        except RecordRejected as exc:
            raise ValueError(f"round settings: {exc.detail}") from exc

    def gold_chance(self, shares: np.ndarray) -> float:
        """The chance that a live round with these vote ``shares`` is followed by a gold round
        (:func:`ranking.follow_up_gold_chance`): leader-local and unchecked, a private coin, so
        the rankers cannot tell which live round gold follows. Gold is spent where the vote is
        unsure, and a trusted bloc that turns (reputation farmers) makes rounds contested, so
        its members' gold records learn the switch sooner (docs/sim/README.md)."""
        from ranking.consensus import follow_up_gold_chance

        return follow_up_gold_chance(
            shares, self.gold_fraction, self.contested_gold, self.contested_margin
        )

    def to_proto(self) -> messages_pb2.RoundParameters:
        adaptive = self.schedule == ADAPTIVE
        return messages_pb2.RoundParameters(
            max_generators=self.max_generators,
            max_rankers=self.max_rankers,
            schedule=self.schedule,
            schedule_k=self.schedule_k,
            alpha=self.alpha,
            max_ranker_share=self.max_ranker_share,
            em_iterations=self.em_iterations,
            em_ilsr_steps=self.em_ilsr_steps,
            confidence_level=self.confidence_level,
            quorum_generators=self.quorum_generators,
            quorum_rankers=self.quorum_rankers,
            generate_deadline_ms=self.generate_deadline_ms,
            rank_deadline_ms=self.rank_deadline_ms,
            cluster_answers=self.cluster_answers,
            numerics=self.numerics,
            consensus=self.consensus,
            judge_budget=self.judge_budget,
            # the adaptive schedule's defaults (ranking.adaptive.AdaptiveParams); 0 otherwise
            wave_size=self.wave_size or (_ADAPTIVE_DEFAULTS.wave_size if adaptive else 0),
            min_rankers=self.min_rankers or (_ADAPTIVE_DEFAULTS.min_rankers if adaptive else 0),
            max_waves=self.max_waves or (_ADAPTIVE_DEFAULTS.max_waves if adaptive else 0),
        )
