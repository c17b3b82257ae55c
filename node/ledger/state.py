"""The state a checked record moves, as a pure function of the ledger (DESIGN "One round",
step 7): :func:`apply_record` (the reputation transition) and :func:`apply_state` (reputation
and trust together, :class:`~node.ledger.trust.LedgerState`). Replaying the same records
always gives the same state, which is what ``ledger verify`` relies on.

:class:`RecentPositions` keeps the last :data:`~node.round.check.CHECKPOINT_WINDOW` ledger
positions (head hash and state), which records of concurrent rounds were opened on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np

from node.ledger.trust import LedgerState
from node.round.aggregate import DEFAULT_REPUTATION, ballots_to_comparisons
from node.round.check import CHECKPOINT_WINDOW, CheckedRecord
from node.round.consensus import cluster_shares, gold_round_of, update_generator_gold
from node.round.rules import (
    RULES_ISSUE_20,
    RULES_UNANSWERED_GOLD,
    absence_penalties,
    signed_judges,
)
from protocol.v1 import messages_pb2
from ranking.consensus import GoldRound, JudgeTrust


class RecentPositions:
    """The ledger's last ``window + 1`` positions: for each height ``h`` (records held), the
    head's hash then and the state after those records. Called as ``positions(h)`` it is the
    ``checkpoint`` lookup of :func:`~node.round.check.check_record` (``None``: not kept)."""

    def __init__(self, window: int = CHECKPOINT_WINDOW) -> None:
        self.window = window
        self._positions: OrderedDict[int, tuple[bytes, LedgerState]] = OrderedDict()

    def add(self, height: int, head: bytes, state: LedgerState) -> None:
        """Keep the position after ``height`` records; forget those out of the window."""
        self._positions[height] = (head, state)
        while self._positions and next(iter(self._positions)) < height - self.window:
            self._positions.popitem(last=False)

    def __call__(self, height: int) -> tuple[bytes, LedgerState] | None:
        return self._positions.get(height)


def apply_record(
    checked: CheckedRecord,
    reputations: Mapping[str, float],
    penalised: Sequence[str] | None = None,
) -> dict[str, float]:
    """Reputation after ``checked``: a pure, deterministic function of the record.

    Rankers move towards their agreement with the consensus, the winning cluster's generators
    gain, and selected nodes that were absent lose a little (see
    :func:`ranking.update_reputation` for the model and its rates). ``penalised``: the absent
    nodes that pay (default: every one the record names; :func:`apply_state` passes those
    :func:`node.round.rules.absence_penalties` picks).
    """
    from ranking import update_reputation

    record = checked.record
    if not record.HasField("query"):
        return dict(reputations)
    query = messages_pb2.Query.FromString(record.query.payload)
    ids = sorted(set(reputations) | set(query.generator_ids) | set(query.ranker_ids))
    index = {node_id: i for i, node_id in enumerate(ids)}
    current = np.asarray([reputations.get(i, DEFAULT_REPUTATION) for i in ids], dtype=np.float64)
    a, b, outcome, ranker, confidence = ballots_to_comparisons(checked.ballots)
    from ranking import Comparisons

    comparisons = Comparisons(
        a=a,
        b=b,
        outcome=outcome,
        ranker=np.asarray([index[checked.ballots[r].ranker_id] for r in ranker], dtype=np.int64),
        confidence=confidence,
    )
    winner = record.outcome.winner
    winning_generators = []
    if checked.clusters:
        members = checked.clusters[winner].members
        winning_generators = [index[checked.candidates[m].generator_id] for m in members]
    updated = update_reputation(
        current,
        comparisons,
        best_item=int(winner),
        winning_generators=np.asarray(winning_generators, dtype=np.int64),
        absent=np.asarray(
            [index[i] for i in (record.absent_ids if penalised is None else penalised)],
            dtype=np.int64,
        ),
        gold_item=checked.gold_item if checked.gold_item >= 0 else None,
    )
    return {node_id: float(updated[i]) for node_id, i in index.items()}


def apply_state(checked: CheckedRecord, state: LedgerState) -> LedgerState:
    """The ledger state after ``checked``: reputations (:func:`apply_record`), identity states
    after its events, applied evidence, gold outcomes, the rules version, absence streaks, and
    one more height.

    From rules 1 with trust on, an absence costs reputation only when
    :func:`node.round.rules.absence_penalties` says so (distinct leaders, issue 20 finding 4):
    one leader that drops an honest node's answers cannot get it penalised."""
    from node.ledger.trust import GOLD_WINDOW

    record = checked.record
    gold_hits = state.gold_hits
    if checked.gold:
        hit = checked.gold_item >= 0 and checked.gold_item == record.outcome.winner
        gold_hits = (*gold_hits, hit)[-GOLD_WINDOW:]
    penalised: list[str] | None = None
    absences = state.absences
    if record.trust and record.rules >= RULES_ISSUE_20 and record.HasField("query"):
        answered = [c.generator_id for c in checked.candidates]
        answered += [b.ranker_id for b in checked.ballots]
        penalised, absences = absence_penalties(
            state.absences, checked.leader_id, record.absent_ids, answered
        )
    gold_rounds, judge_trust, generator_gold = learn_from_gold(checked, state)
    return LedgerState(
        height=state.height + 1,
        reputations=apply_record(checked, state.reputations, penalised),
        identities=checked.identities if checked.identities is not None else state.identities,
        applied_evidence=state.applied_evidence | frozenset(checked.evidence_keys),
        gold_hits=gold_hits,
        rules=int(record.rules),
        absences=absences,
        gold_rounds=gold_rounds,
        judge_trust=judge_trust,
        generator_gold=generator_gold,
    )


def learn_from_gold(
    checked: CheckedRecord, state: LedgerState
) -> tuple[tuple[GoldRound, ...], JudgeTrust, dict[str, tuple[float, float]]]:
    """What a gold round teaches the calibrated consensus (:mod:`node.round.consensus`): its
    generators' gold records move (:func:`~node.round.consensus.update_generator_gold`; from
    rules 2 only when some candidate was right, :mod:`node.round.rules`), and a
    round with a right and a wrong cluster joins the gold window with the shares the state
    before it gives and its recorded strengths, and the judges' trust is refitted
    (:func:`ranking.fit_judge_trust`). Recorded values and ledger state only, so every node
    learns the same; any other record changes nothing."""
    from ranking.consensus import DEFAULT_GOLD_WINDOW, fit_judge_trust

    unchanged = state.gold_rounds, state.judge_trust, state.generator_gold
    if not checked.gold or not checked.record.HasField("query") or not checked.gold_correct:
        return unchanged
    rules = int(checked.record.rules)
    shares = cluster_shares(checked.clusters, checked.candidates, state.generator_gold, rules=rules)
    generator_gold = state.generator_gold
    if any(checked.gold_correct) or rules < RULES_UNANSWERED_GOLD:
        generator_gold = update_generator_gold(
            state.generator_gold,
            checked.clusters,
            checked.candidates,
            checked.gold_correct,
            rules=rules,
        )
    example = gold_round_of(shares, checked.gold_correct, checked.record.outcome)
    if example is None:
        return state.gold_rounds, state.judge_trust, generator_gold
    gold_rounds = (*state.gold_rounds, example)[-DEFAULT_GOLD_WINDOW:]
    return gold_rounds, fit_judge_trust(gold_rounds, signed=signed_judges(rules)), generator_gold
