"""The record's consensus rule (issue 12, ``node.round.consensus``): the leader's calibrated
winner and what a member checks of it."""

from __future__ import annotations

import numpy as np
import pytest

from node.ledger.state import learn_from_gold
from node.ledger.trust import LedgerState
from node.round.check import CheckedRecord
from node.round.clustering import Cluster
from node.round.consensus import (
    apply_consensus,
    cluster_shares,
    consensus_discrepancy,
    update_generator_gold,
)
from node.round.rules import (
    CURRENT_RULES,
    RULES_SHARP_VOTES,
    RULES_SIGNED_JUDGES,
    RULES_UNANSWERED_GOLD,
    generator_rule,
    signed_judges,
)
from node.round.settings import RoundSettings
from node.round.tolerance import OUTCOME_TOLERANCE
from protocol.v1 import messages_pb2
from ranking import Comparisons, GoldRound, InvalidParameters, aggregate, is_contested


def clusters_of(sizes: list[int]) -> list[Cluster]:
    out, start = [], 0
    for index, size in enumerate(sizes):
        members = tuple(range(start, start + size))
        out.append(Cluster(bytes([index]) * 32, f"answer {index}", "", members, str(index)))
        start += size
    return out


def candidates_of(n: int) -> list[messages_pb2.Candidate]:
    return [messages_pb2.Candidate(generator_id=f"g{i}", answer="") for i in range(n)]


def judged(n_items: int, favourite: int) -> tuple[messages_pb2.AggregationOutcome, object]:
    """Judges that prefer ``favourite`` over every other cluster, 4 rankers."""
    a, b, outcome, ranker = [], [], [], []
    for r in range(4):
        for other in range(n_items):
            if other != favourite:
                a.append(favourite)
                b.append(other)
                outcome.append(0)
                ranker.append(r)
    comparisons = Comparisons(
        a=np.array(a),
        b=np.array(b),
        outcome=np.array(outcome, dtype=np.int8),
        ranker=np.array(ranker),
        confidence=np.full(len(a), np.nan),
    )
    result = aggregate(comparisons, n_items, np.ones(4))
    outcome_pb = messages_pb2.AggregationOutcome(
        strengths=[float(x) for x in result.strengths],
        winner=int(result.winner),
        tie_gap=[float(x) for x in result.tie_gap],
        tied_for_first=[int(x) for x in result.tied_for_first],
    )
    return outcome_pb, result


def test_without_trusted_judges_the_largest_cluster_wins_and_is_checked_exactly() -> None:
    clusters = clusters_of([3, 1, 1])
    shares = cluster_shares(clusters, candidates_of(5), {})
    np.testing.assert_allclose(shares, [0.6, 0.2, 0.2])
    outcome, result = judged(3, favourite=1)  # the judges' robust BT picks cluster 1
    assert outcome.winner == 1
    decided = apply_consensus(outcome, result, shares, 0.0, 0.95)
    assert decided.winner == 0 and decided.judge_weight == 0.0
    assert 0 in decided.tied_for_first and decided.tie_gap[0] == 0.0
    assert consensus_discrepancy(decided, shares, 0.0) is None
    # a leader that records the judges' favourite instead is caught on the winner
    forged = messages_pb2.AggregationOutcome()
    forged.CopyFrom(decided)
    forged.winner = 1
    assert consensus_discrepancy(forged, shares, 0.0) == (
        "outcome.winner",
        "1, the recorded numbers give 0",
    )


def test_trusted_judges_decide_and_the_weight_is_checked_within_the_tolerance() -> None:
    clusters = clusters_of([3, 1, 1])
    shares = cluster_shares(clusters, candidates_of(5), {})
    outcome, result = judged(3, favourite=1)
    decided = apply_consensus(outcome, result, shares, 5.0, 0.95)
    assert decided.winner == 1 and decided.judge_weight == 5.0
    assert consensus_discrepancy(decided, shares, 5.0 * (1 + OUTCOME_TOLERANCE / 2)) is None
    field, _ = consensus_discrepancy(decided, shares, 0.0) or ("", "")
    assert field == "outcome.judge_weight"  # the ledger's gold rounds do not support 5
    bad = messages_pb2.AggregationOutcome()
    bad.CopyFrom(decided)
    bad.judge_weight = float("nan")
    assert consensus_discrepancy(bad, shares, 5.0) is not None
    short = messages_pb2.AggregationOutcome()
    short.CopyFrom(decided)
    del short.strengths[-1]
    assert consensus_discrepancy(short, shares, 5.0) == ("outcome.strengths", "2 for 3 clusters")


def test_gold_records_weigh_the_votes_of_the_generators_that_earned_them() -> None:
    clusters = clusters_of([2, 3])  # g0, g1 say "0"; g2, g3, g4 say "1"
    candidates = candidates_of(5)
    record: dict[str, tuple[float, float]] = {}
    for _ in range(4):  # cluster 0 right on four gold rounds
        record = update_generator_gold(record, clusters, candidates, [True, False])
    assert record["g0"][0] > 0.0 and record["g2"] == (0.0, record["g2"][1])
    shares = cluster_shares(clusters, candidates, record)
    assert shares[0] > shares[1]  # two proven generators outweigh three that failed gold
    outcome, result = judged(2, favourite=1)
    assert apply_consensus(outcome, result, shares, 0.0, 0.95).winner == 0
    # the same round with no gold record: three votes beat two
    assert (
        apply_consensus(outcome, result, cluster_shares(clusters, candidates, {}), 0.0, 0.95).winner
        == 1
    )


def test_with_trust_on_identities_on_probation_vote_as_little_as_they_rank() -> None:
    from node.round.aggregate import vote_factors
    from ranking.trust import TrustParams

    clusters = clusters_of([2, 3])  # two founders say "0"; three fresh identities say "1"
    candidates = candidates_of(5)
    pool = [c.generator_id for c in candidates]
    admitted = [0, 0, 40, 40, 40]  # founders at genesis, the others admitted at height 40
    assert vote_factors(candidates, pool, [0.5] * 5, admitted, 50, None) is None
    factors = vote_factors(candidates, pool, [0.5] * 5, admitted, 50, TrustParams())
    assert factors is not None and factors[2] < 0.05 * factors[0]
    plain = cluster_shares(clusters, candidates, {})
    capped = cluster_shares(clusters, candidates, {}, factors)
    assert plain[1] > plain[0] and capped[0] > capped[1]


def gold_record(rules: int, correct: tuple[bool, ...]) -> CheckedRecord:
    """A checked gold record with two clusters (sizes 2 and 1) and the given correctness."""
    record = messages_pb2.ConsensusRecord(rules=rules)
    record.query.payload = b"query"
    record.outcome.strengths.extend([0.0, 0.0])
    return CheckedRecord(
        record=record,
        record_id=b"r" * 32,
        leader_id="leader",
        query_id=b"q" * 16,
        candidates=tuple(candidates_of(3)),
        ballots=(),
        clusters=tuple(clusters_of([2, 1])),
        gold=True,
        gold_correct=correct,
    )


@pytest.mark.parametrize("rules", [1, CURRENT_RULES])
def test_a_gold_round_nobody_answered_right_teaches_generators_nothing_from_rules_2(
    rules: int,
) -> None:
    state = LedgerState(generator_gold={"g0": (3.0, 4.0)})
    _, _, after = learn_from_gold(gold_record(rules, (False, False)), state)
    if rules >= RULES_UNANSWERED_GOLD:
        assert after == state.generator_gold
    else:  # rules 1: every generator of the round counted a miss, as old ledgers replay
        assert after["g0"][1] > state.generator_gold["g0"][1] * 0.8
        assert after["g0"][0] < state.generator_gold["g0"][0]
        assert set(after) == {"g0", "g1", "g2"}


def test_a_gold_round_someone_answered_right_still_moves_every_generator() -> None:
    state = LedgerState()
    _, _, after = learn_from_gold(gold_record(CURRENT_RULES, (False, True)), state)
    assert after["g2"][0] > after["g0"][0] == after["g1"][0]
    assert {seen for _, seen in after.values()} == {1.0}


def test_contested_rounds_are_followed_by_gold_more_often_and_never_with_gold_off() -> None:
    settings = RoundSettings(gold_fraction=0.1, contested_gold=0.3, contested_margin=0.2)
    assert settings.gold_chance(np.array([0.5, 0.4, 0.1])) == pytest.approx(0.4)
    assert settings.gold_chance(np.array([0.7, 0.3])) == pytest.approx(0.1)
    assert settings.gold_chance(np.array([1.0])) == pytest.approx(0.1)  # one cluster
    off = RoundSettings(gold_fraction=0.0, contested_gold=0.3)
    assert off.gold_chance(np.array([0.5, 0.5])) == 0.0
    with pytest.raises(InvalidParameters):
        is_contested([0.5, 0.5], 0.0)


@pytest.mark.parametrize("rules", [RULES_SHARP_VOTES - 1, RULES_SHARP_VOTES])
def test_records_replay_with_the_generator_rule_of_their_rules_version(rules: int) -> None:
    """Rules 3 decays gold records at 0.9 and cubes the vote weight; a record of rules 2
    replays as it was written (decay 0.8, the first power), so old ledgers keep their shares."""
    decay, power = (0.9, 3) if rules >= RULES_SHARP_VOTES else (0.8, 1)
    assert generator_rule(rules) == (decay, power)
    state = LedgerState(generator_gold={"g0": (3.0, 4.0), "g2": (1.0, 4.0)})
    _, _, after = learn_from_gold(gold_record(rules, (True, False)), state)
    assert after["g0"] == pytest.approx((3.0 * decay + 1.0, 4.0 * decay + 1.0))
    assert after["g2"] == pytest.approx((1.0 * decay, 4.0 * decay + 1.0))
    shares = cluster_shares(clusters_of([2, 1]), candidates_of(3), after, rules=rules)
    right = (
        (np.array([after[g][0] for g in ("g0", "g1", "g2")]) + 1.0)
        / (np.array([after[g][1] for g in ("g0", "g1", "g2")]) + 2.0)
        - 0.25
    ) / 0.75
    weights = np.maximum(right, 0.0) ** power + 1e-3
    assert shares == pytest.approx([weights[:2].sum() / weights.sum(), weights[2] / weights.sum()])


@pytest.mark.parametrize("rules", [RULES_SIGNED_JUDGES - 1, RULES_SIGNED_JUDGES])
def test_judges_that_point_away_weigh_against_from_rules_4_and_old_ledgers_replay_at_zero(
    rules: int,
) -> None:
    """A gold window in which the judges' favourite was always the wrong cluster of a close
    vote: a rules 4 gold record refits the judges' trust with a sign (a negative weight), a
    rules 3 record as it was written (0), and a member holds the leader to that weight."""
    away = GoldRound(np.array([0.5, 0.5]), np.array([1.0, -1.0]), np.array([False, True]))
    led = GoldRound(np.array([0.6, 0.4]), np.array([-1.0, 1.0]), np.array([True, False]))
    pointing_away = (away, led) * 20
    state = LedgerState(gold_rounds=pointing_away)
    record = gold_record(rules, (True, False))
    record.record.outcome.strengths[:] = [-1.0, 1.0]
    _, trust, _ = learn_from_gold(record, state)
    assert signed_judges(rules) == (rules >= RULES_SIGNED_JUDGES)
    if rules >= RULES_SIGNED_JUDGES:
        assert trust.judge_weight < 0.0
    else:
        assert trust.judge_weight == 0.0
    shares = np.array([0.45, 0.55])
    outcome, result = judged(2, favourite=1)
    decided = apply_consensus(outcome, result, shares, trust.judge_weight, 0.95)
    assert decided.winner == (0 if rules >= RULES_SIGNED_JUDGES else 1)
    assert consensus_discrepancy(decided, shares, trust.judge_weight) is None
    assert consensus_discrepancy(decided, shares, 0.5) is not None
