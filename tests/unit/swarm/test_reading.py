"""Consensus 2 and 3, the evidence reading as records commit to it (node.round.reading)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from node.errors import RecordRejected
from node.ledger.state import learn_reading
from node.ledger.trust import LedgerState
from node.round.check import CheckedRecord
from node.round.clustering import Cluster
from node.round.consensus import posterior_winner
from node.round.reading import (
    EARNED_RECORDS_CONSENSUS,
    check_fit,
    expected_fit,
    fit_message,
    model_of,
    read_round,
    reading_discrepancy,
    round_evidence,
    window_entry,
)
from protocol.v1 import messages_pb2
from ranking.evidence import EvidenceModel

NOW = EARNED_RECORDS_CONSENSUS  # the rule a leader makes records under (3)

GENERATORS = ["g0", "g1", "g2"]


def clusters() -> list[Cluster]:
    """Candidates 0 and 1 say "A", candidate 2 says "B"."""
    return [
        Cluster(b"a", "A", "", (0, 1), "a"),
        Cluster(b"b", "B", "", (2,), "b"),
    ]


def candidates() -> list[messages_pb2.Candidate]:
    return [messages_pb2.Candidate(generator_id=g, answer="") for g in GENERATORS]


def ballot(ranker: str, *verdicts: tuple[int, int, int]) -> messages_pb2.Ballot:
    return messages_pb2.Ballot(
        ranker_id=ranker,
        verdicts=[messages_pb2.Verdict(a=a, b=b, outcome=o) for a, b, o in verdicts],
    )


A, B = messages_pb2.OUTCOME_A, messages_pb2.OUTCOME_B
#: r0 prefers "B" in both orders; g0 (own cluster 0) was asked nothing
BALLOTS = [ballot("r0", (0, 1, B), (1, 0, A))]


def test_a_round_reads_votes_by_their_generators_gold_records() -> None:
    state = LedgerState(generator_record={"g2": (9, 10), "g0": (1, 10), "g1": (1, 10)})
    evidence = round_evidence(clusters(), candidates(), BALLOTS, {}, state)
    assert evidence.vote_item.tolist() == [0, 0, 1]
    assert evidence.vote_hits.tolist() == [1.0, 1.0, 9.0]
    assert evidence.ranker_own.tolist() == [-1]  # r0 generated nothing: its answer is hidden
    assert (evidence.row_lo.tolist(), evidence.row_hi.tolist()) == ([0], [1])
    assert evidence.row_lo_won.tolist() == [False]
    model = EvidenceModel(skill_sd=1.2, use_records=True)
    posterior = read_round(evidence, model, NOW)
    assert sum(posterior) == pytest.approx(1.0)
    assert posterior_winner(posterior) == 1  # one proven generator beats two proven failures
    # with no gold records, the two votes win: the majority vote
    assert (
        posterior_winner(
            read_round(round_evidence(clusters(), candidates(), [], {}, LedgerState()), model, NOW)
        )
        == 0
    )
    # a state no gold round has refitted reads the plain vote: the records wait until gold
    # shows they tell generators apart; consensus 2 read them from the start
    assert posterior_winner(read_round(evidence, state.evidence_model, NOW)) == 0
    assert posterior_winner(read_round(evidence, state.evidence_model, 2)) == 1


def test_the_winner_is_the_first_largest_recorded_posterior() -> None:
    assert posterior_winner([0.2, 0.4, 0.4]) == 1
    recorded = messages_pb2.AggregationOutcome(posterior=[0.3, 0.7], winner=1)
    assert reading_discrepancy(recorded, [0.3, 0.7]) is None
    assert reading_discrepancy(recorded, [0.3 + 1e-9, 0.7 - 1e-9]) is None  # another build
    assert reading_discrepancy(recorded, [0.31, 0.69]) == (
        "outcome.posterior",
        "[0.3, 0.7], the ledger gives [0.31, 0.69] (tolerance 1e-06)",
    )
    assert reading_discrepancy(recorded, [0.3, 0.6, 0.1])[0] == "outcome.posterior"  # type: ignore[index]
    wrong = messages_pb2.AggregationOutcome(posterior=[0.3, 0.7], winner=0)
    assert reading_discrepancy(wrong, [0.3, 0.7])[0] == "outcome.winner"  # type: ignore[index]
    weighted = messages_pb2.AggregationOutcome(posterior=[0.3, 0.7], winner=1, judge_weight=1.0)
    assert reading_discrepancy(weighted, [0.3, 0.7])[0] == "outcome.judge_weight"  # type: ignore[index]


def gold_checked(evidence_fit: EvidenceModel | None = None) -> CheckedRecord:
    state = LedgerState()
    record = messages_pb2.ConsensusRecord(gold=messages_pb2.GoldReveal(task_id="t", answer="A"))
    if evidence_fit is not None:
        record.evidence_fit.CopyFrom(fit_message(evidence_fit))
    return CheckedRecord(
        record=record,
        record_id=b"\x01" * 32,
        leader_id="g0",
        query_id=b"q",
        candidates=tuple(candidates()),
        ballots=tuple(BALLOTS),
        clusters=tuple(clusters()),
        gold=True,
        gold_item=0,
        gold_correct=(True, False),
        reading=round_evidence(clusters(), candidates(), BALLOTS, {}, state),
    )


def test_a_gold_round_moves_exact_counts_and_the_window() -> None:
    model = EvidenceModel(skill_sd=0.9, use_records=True)
    learned = learn_reading(gold_checked(model), LedgerState())
    assert learned.generator_record == {"g0": (1, 1), "g1": (1, 1), "g2": (0, 1)}
    # r0 judged the right cluster against the wrong one once (both orders: one direction) and
    # preferred the wrong one
    assert learned.judge_record == {"r0": (0, 1)}
    assert len(learned.evidence_window) == 1 and learned.evidence_rounds == 1
    assert learned.evidence_model == model  # the state takes the recorded model
    # a live round teaches nothing
    live = replace(gold_checked(), gold=False)
    assert learn_reading(live, LedgerState()).generator_record == {}


def test_a_gold_record_carries_the_fit_exactly_when_due() -> None:
    checked = gold_checked()
    entry = window_entry(checked.reading, checked.gold_correct)
    assert entry is not None
    own = expected_fit(LedgerState(), entry, NOW)
    assert own is not None and not own.use_records  # one gold round earns nothing
    with pytest.raises(RecordRejected, match="missing"):
        check_fit(checked.record, LedgerState(), entry, NOW)
    record = messages_pb2.ConsensusRecord()
    record.evidence_fit.CopyFrom(fit_message(own))
    check_fit(record, LedgerState(), entry, NOW)  # accepted: the member's own choice
    # after the first 20 gold rounds the fit runs every 5th: round 22 refits nothing
    later = LedgerState(evidence_rounds=21)
    with pytest.raises(RecordRejected, match="refits nothing"):
        check_fit(record, later, entry, NOW)
    check_fit(messages_pb2.ConsensusRecord(), later, entry, NOW)
    # consensus 2's fit reads the records always, and its records carry no use_records field
    old = expected_fit(LedgerState(), entry, 2)
    assert old is not None and old.use_records
    legacy = messages_pb2.ConsensusRecord()
    legacy.evidence_fit.CopyFrom(fit_message(old))
    legacy.evidence_fit.ClearField("use_records")
    assert model_of(legacy.evidence_fit) == old
    check_fit(legacy, LedgerState(), entry, 2)
    with pytest.raises(RecordRejected, match="reads the records"):
        check_fit(legacy, LedgerState(), entry, NOW)


def test_a_leader_cannot_record_a_model_the_fit_would_not_choose() -> None:
    checked = gold_checked()
    entry = window_entry(checked.reading, checked.gold_correct)
    assert entry is not None
    off_lattice = messages_pb2.ConsensusRecord()
    off_lattice.evidence_fit.CopyFrom(fit_message(EvidenceModel(skill_sd=0.77)))
    with pytest.raises(RecordRejected, match="not a model the fit can choose"):
        check_fit(off_lattice, LedgerState(), entry, NOW)
    reads = messages_pb2.ConsensusRecord()
    reads.evidence_fit.CopyFrom(fit_message(EvidenceModel(use_verdicts=True, judge_offset=3.0)))
    with pytest.raises(RecordRejected, match="reads the verdicts"):
        check_fit(reads, LedgerState(), entry, NOW)
    broken = messages_pb2.EvidenceFit(options=1)
    with pytest.raises(RecordRejected, match="options"):
        model_of(broken)


def test_equal_rounds_share_a_key_and_different_rounds_do_not() -> None:
    checked = gold_checked()
    first = window_entry(checked.reading, checked.gold_correct)
    again = window_entry(gold_checked().reading, (True, False))
    other = window_entry(checked.reading, (False, True))
    assert first is not None and again is not None and other is not None
    assert first[0] == again[0] != other[0]
    assert np.array_equal(first[2], [True, False])
