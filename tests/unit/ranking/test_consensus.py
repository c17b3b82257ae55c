"""The calibrated consensus (issue 12): votes and verdicts weighed by what each has earned on
gold rounds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ranking.consensus import (
    GENERATOR_FLOOR,
    GENERATOR_POWER,
    GoldRound,
    JudgeTrust,
    consensus_scores,
    fit_judge_trust,
    generator_weights,
    select_consensus,
    update_generator_record,
    vote_shares,
)
from ranking.errors import InvalidParameters


def gold_rounds(n: int, judges_right: float, votes_right: float, seed: int = 0) -> list[GoldRound]:
    """Three-cluster gold rounds: the correct cluster leads the vote with probability
    ``votes_right`` and the judges' strengths with probability ``judges_right``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        correct = int(rng.integers(3))
        wrong = [i for i in range(3) if i != correct]
        shares = np.array([0.2, 0.2, 0.2])
        top = correct if rng.random() < votes_right else int(rng.choice(wrong))
        shares[top] = 0.6
        strengths = rng.normal(0.0, 0.3, size=3)
        best = correct if rng.random() < judges_right else int(rng.choice(wrong))
        strengths[best] += 2.0
        mask = np.zeros(3, dtype=bool)
        mask[correct] = True
        out.append(GoldRound(shares, strengths - strengths.mean(), mask))
    return out


def test_without_gold_the_rule_is_majority_vote_and_the_judges_break_no_ties() -> None:
    trust = fit_judge_trust([])
    assert trust == JudgeTrust() and trust.judge_weight == 0.0
    shares = np.array([0.5, 0.3, 0.2])
    strengths = np.array([-1.0, 3.0, 0.5])  # the judges prefer cluster 1
    assert select_consensus(shares, strengths, trust.judge_weight) == 0
    tied = np.array([0.3, 0.4, 0.4])
    assert select_consensus(tied, strengths, 0.0) == 1  # the seeded order, not the judges
    assert select_consensus(tied, strengths[::-1].copy(), 0.0) == 1
    assert select_consensus(tied, strengths, 1e-9) == 1  # trusted a little: judges tip it
    assert select_consensus(tied, np.array([0.0, 0.0, 1.0]), 1e-9) == 2


def test_judges_that_earn_it_on_gold_decide_and_judges_at_chance_do_not() -> None:
    earned = fit_judge_trust(gold_rounds(40, judges_right=0.95, votes_right=0.5))
    assert earned.judge_weight > 0.0 and earned.judge_coef > earned.judge_se
    shares = np.array([0.6, 0.2, 0.2])
    strengths = np.array([-1.0, 2.0, -1.0])
    assert select_consensus(shares, strengths, earned.judge_weight) == 1
    chance = fit_judge_trust(gold_rounds(40, judges_right=1 / 3, votes_right=0.8))
    assert chance.judge_weight == 0.0
    assert select_consensus(shares, strengths, chance.judge_weight) == 0


def test_one_lucky_gold_round_does_not_hand_the_round_to_the_judges() -> None:
    # one round in which the judges happened to be right and the vote wrong: not enough (two
    # are, at the default margin of one standard error; a margin of two needs more)
    rounds = gold_rounds(30, judges_right=1.0, votes_right=0.0, seed=3)
    assert fit_judge_trust(rounds[:1]).judge_weight == 0.0
    assert fit_judge_trust(rounds[:2]).judge_weight > 0.0
    assert fit_judge_trust(rounds[:3], trust_margin=2.0).judge_weight == 0.0
    assert fit_judge_trust(rounds, trust_margin=2.0).judge_weight > 0.0


def test_misleading_votes_and_trusted_judges_give_the_judges_alone() -> None:
    # votes pointing away from the truth (a voting bloc), judges right
    trust = fit_judge_trust(gold_rounds(60, judges_right=0.95, votes_right=0.0, seed=5))
    assert trust.vote_coef < 0.0 and math.isinf(trust.judge_weight)
    shares = np.array([0.7, 0.3])
    assert select_consensus(shares, np.array([0.0, 1.0]), trust.judge_weight) == 1
    # equal strengths: the share breaks the tie
    assert select_consensus(shares, np.array([1.0, 1.0]), math.inf) == 0


def test_judges_that_point_away_from_the_answer_count_against_it_from_rules_4() -> None:
    # on gold, the cluster the judges prefer is (given the votes) a wrong one: judges fooled by
    # what also fools the crowd (the honest simulator's persuasive distractor at parity)
    rounds = gold_rounds(60, judges_right=0.05, votes_right=0.7, seed=7)
    signed = fit_judge_trust(rounds)
    assert signed.judge_coef + signed.judge_se < 0.0 and signed.judge_weight < 0.0
    assert signed.judge_weight == pytest.approx(
        (signed.judge_coef + signed.judge_se) / signed.vote_coef
    )
    assert fit_judge_trust(rounds, signed=False).judge_weight == 0.0  # rules 3 and before
    close = np.array([0.45, 0.45, 0.1])
    strengths = np.array([2.0, -1.0, -1.0])  # the judges' favourite leads the tied vote
    assert select_consensus(close, strengths, signed.judge_weight) == 1
    assert select_consensus(close, strengths, 0.0) == 0
    # a clear vote still wins against a mild preference of the judges
    mild = np.array([0.5, -0.25, -0.25])
    assert select_consensus(np.array([0.8, 0.1, 0.1]), mild, signed.judge_weight) == 0
    # but never overturns a clear vote, however strongly the judges lean (AGAINST_MARGIN)
    clear = np.array([0.6, 0.35, 0.05])
    assert select_consensus(clear, np.array([10.0, -10.0, -10.0]), -1.0) == 0
    assert select_consensus(np.array([0.5, 0.35, 0.15]), np.array([1.0, -1.0, -9.0]), -1.0) == 1
    # one round pointing away is not beyond noise
    assert fit_judge_trust(rounds[:1]).judge_weight == 0.0


def test_the_fit_reads_only_the_last_window_of_gold_rounds() -> None:
    old = gold_rounds(50, judges_right=0.95, votes_right=0.3, seed=1)
    recent = gold_rounds(50, judges_right=1 / 3, votes_right=0.9, seed=2)
    assert fit_judge_trust(old + recent, window=50) == fit_judge_trust(recent, window=50)
    assert fit_judge_trust(old + recent, window=50).judge_weight == 0.0


def test_scores_and_parameters_are_checked() -> None:
    np.testing.assert_array_equal(consensus_scores([0.5, 0.5], [1.0, -1.0], 2.0), [2.5, -1.5])
    with pytest.raises(InvalidParameters):
        consensus_scores([0.5], [1.0, 2.0], 1.0)
    np.testing.assert_array_equal(consensus_scores([0.5, 0.5], [1.0, -1.0], -0.5), [0.0, 1.0])
    for bad in (-math.inf, math.nan):
        with pytest.raises(InvalidParameters):
            consensus_scores([0.5, 0.5], [1.0, 2.0], bad)
    with pytest.raises(InvalidParameters):
        select_consensus([], [], 0.0)
    with pytest.raises(InvalidParameters, match="correct and a wrong"):
        GoldRound(np.array([0.5, 0.5]), np.zeros(2), np.array([True, True]))
    with pytest.raises(InvalidParameters, match="finite"):
        GoldRound(np.array([0.5, 0.5]), np.array([np.nan, 0.0]), np.array([True, False]))
    with pytest.raises(InvalidParameters):
        fit_judge_trust([], prior_precision=0.0)
    with pytest.raises(InvalidParameters):
        fit_judge_trust([], trust_margin=-1.0)


def test_generators_that_fail_gold_lose_their_vote_and_recover_slowly() -> None:
    hits, seen = np.zeros(3), np.zeros(3)
    fresh = generator_weights(hits, seen)
    assert fresh[0] == pytest.approx(((0.5 - 0.25) / 0.75) ** GENERATOR_POWER + GENERATOR_FLOOR)
    assert generator_weights(hits, seen, power=1)[0] == pytest.approx(1 / 3 + GENERATOR_FLOOR)
    # node 0 always right, node 1 always wrong (an injector), node 2 right half the time
    for t in range(6):
        hits, seen = update_generator_record(hits, seen, [True, False, t % 2 == 0])
    w = generator_weights(hits, seen)
    assert w[0] > w[2] > w[1]
    assert w[1] == pytest.approx(GENERATOR_FLOOR)  # below chance: the floor only
    # a farmer that turns: a long clean record, then misses; its weight falls within a few
    hits, seen = np.array([0.0]), np.array([0.0])
    for _ in range(20):
        hits, seen = update_generator_record(hits, seen, [True])
    clean = generator_weights(hits, seen)[0]
    for _ in range(3):
        hits, seen = update_generator_record(hits, seen, [False])
    assert generator_weights(hits, seen)[0] < 0.6 * clean
    with pytest.raises(InvalidParameters):
        generator_weights([2.0], [1.0])
    for power in (0, 1.5, True):
        with pytest.raises(InvalidParameters, match="power"):
            generator_weights([1.0], [1.0], power=power)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameters, match="decay"):
        update_generator_record([0.0], [0.0], [True], decay=0.0)


def test_the_cube_is_exact_arithmetic_and_ranks_generators_more_sharply() -> None:
    """The power is repeated multiplication (the same bits on every machine), and it widens
    the gap between a good generator and a weak one: one right on 9 of 10 gold rounds against
    one right on 4 of 10 weighs about 3.5 times as much at the first power and about 40 times
    at the third."""
    hits, seen = np.array([9.0, 4.0]), np.array([10.0, 10.0])
    above = ((hits + 1.0) / (seen + 2.0) - 0.25) / 0.75
    cubed = generator_weights(hits, seen, power=3)
    assert cubed.tolist() == (above * above * above + GENERATOR_FLOOR).tolist()
    linear = generator_weights(hits, seen, power=1)
    assert 3.3 < linear[0] / linear[1] < 3.7 and cubed[0] / cubed[1] > 35.0


def test_vote_shares_sum_generator_weight_per_cluster() -> None:
    shares = vote_shares([0, 0, 1, 2], 3, [1.0, 1.0, 4.0, 0.0])
    np.testing.assert_allclose(shares, [1 / 3, 2 / 3, 0.0])
    np.testing.assert_allclose(vote_shares([0, 1], 2, [1.0, 1.0]), [0.5, 0.5])
    with pytest.raises(InvalidParameters):
        vote_shares([0, 3], 3, [1.0, 1.0])
    with pytest.raises(InvalidParameters):
        vote_shares([0, 1], 2, [1.0, -1.0])
