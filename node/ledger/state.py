"""The state a checked record moves, as a pure function of the ledger (DESIGN "One round",
step 7): :func:`apply_record` (the reputation transition) and :func:`apply_state` (reputation,
trust and what the consensus rules learn, :class:`~node.ledger.trust.LedgerState`). Replaying
the same records always gives the same state, which is what ``ledger verify`` relies on.

:class:`RecentPositions` keeps the last :data:`~node.round.check.CHECKPOINT_WINDOW` ledger
positions (head hash and state), which records of concurrent rounds were opened on.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from node.ledger.trust import GoldEvidence, LedgerState
from node.round.aggregate import DEFAULT_REPUTATION, ballots_to_comparisons
from node.round.check import CHECKPOINT_WINDOW, CheckedRecord
from node.round.consensus import cluster_shares, gold_round_of, update_generator_gold
from node.round.reading import ballot_rankers, model_of, window_after, window_entry
from node.round.rules import (
    RULES_ISSUE_20,
    RULES_UNANSWERED_GOLD,
    absence_penalties,
    signed_judges,
)
from protocol.v1 import messages_pb2
from ranking.consensus import GoldRound, JudgeTrust
from ranking.evidence import EvidenceModel


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
    after its events, applied evidence, gold outcomes, the rules version, absence streaks, what
    the evidence reading learns (:func:`learn_reading`), and
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
    reading = learn_reading(checked, state)
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
        **reading._asdict(),
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


class Learned(NamedTuple):
    """The :class:`~node.ledger.trust.LedgerState` fields the reading keeps, after a record."""

    generator_record: dict[str, tuple[int, int]]
    judge_record: dict[str, tuple[int, int]]
    evidence_window: tuple[GoldEvidence, ...]
    evidence_rounds: int
    evidence_model: EvidenceModel


def learn_reading(checked: CheckedRecord, state: LedgerState) -> Learned:
    """What a record teaches the reading: a consensus-2 gold round with a right cluster moves
    every generator's and every judge's gold count (a judge's verdicts between a right and a
    wrong cluster, in the direction :func:`ranking.evidence.verdict_rows` kept); with a wrong
    cluster too, it joins the window, and the state takes the model the record carries when
    it refits. Any other record changes nothing."""
    unchanged = Learned(
        state.generator_record,
        state.judge_record,
        state.evidence_window,
        state.evidence_rounds,
        state.evidence_model,
    )
    evidence = checked.reading
    correct = checked.gold_correct
    if not checked.gold or evidence is None or not any(correct):
        return unchanged
    generator_record = dict(state.generator_record)
    for cluster, right in zip(checked.clusters, correct, strict=True):
        for member in cluster.members:
            node_id = checked.candidates[member].generator_id
            hits, seen = generator_record.get(node_id, (0, 0))
            generator_record[node_id] = (hits + int(right), seen + 1)
    judge_record = dict(state.judge_record)
    rankers = ballot_rankers(checked.ballots)
    for ranker, lo, hi, lo_won in zip(
        evidence.row_ranker.tolist(),
        evidence.row_lo.tolist(),
        evidence.row_hi.tolist(),
        evidence.row_lo_won.tolist(),
        strict=True,
    ):
        if correct[lo] != correct[hi]:
            hits, seen = judge_record.get(rankers[ranker], (0, 0))
            judge_record[rankers[ranker]] = (hits + int(lo_won == correct[lo]), seen + 1)
    entry = window_entry(evidence, correct)
    if entry is None:
        return unchanged._replace(generator_record=generator_record, judge_record=judge_record)
    model = state.evidence_model
    if checked.record.HasField("evidence_fit"):
        model = model_of(checked.record.evidence_fit)
    return Learned(
        generator_record,
        judge_record,
        window_after(state, entry),
        state.evidence_rounds + 1,
        model,
    )
