"""The round parameters a leader uses and records in each Query: :class:`RoundSettings`."""

from __future__ import annotations

from dataclasses import dataclass

from node.errors import RecordRejected
from node.round.aggregate import (
    check_parameters,
)
from node.round.consensus import CURRENT_CONSENSUS
from node.round.tolerance import CURRENT_NUMERICS
from protocol.v1 import messages_pb2


@dataclass(frozen=True)
class RoundSettings:
    """Parameters a leader uses for its rounds (each is recorded in the Query)."""

    max_generators: int = 32  # G: generators selected per round
    max_rankers: int = 32  # R: rankers selected per round
    schedule: str = "3n"  # pair schedule: "3n", "full" or "random-k"
    schedule_k: int = 0  # pairs per ranker for "random-k"
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
    numerics: int = CURRENT_NUMERICS  # rules for float-dependent steps (node.round.tolerance)
    consensus: int = CURRENT_CONSENSUS  # consensus rule (node.round.consensus): 1 = calibrated

    def __post_init__(self) -> None:
        # A leader must not run rounds whose records every member would reject.
        try:
            check_parameters(self.to_proto())
        except RecordRejected as exc:
            raise ValueError(f"round settings: {exc.detail}") from exc

    def to_proto(self) -> messages_pb2.RoundParameters:
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
        )
