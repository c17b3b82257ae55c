"""Reputation updates: EMA towards agreement, gold tasks, generators, absentees, determinism."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranking import (
    Comparisons,
    InvalidParameters,
    ReputationParams,
    ranker_agreement,
    update_reputation,
)

# Rankers 0 and 1 both compare 0-vs-1 twice: ranker 0 always picks 0, ranker 1 always picks 1.
# Ranker 2 compares only 1-vs-2 (not involving candidate 0). Ranker 3 ties once on 0-vs-2.
COMPARISONS = Comparisons.from_lists(
    a=[0, 1, 0, 1, 1, 0],
    b=[1, 0, 1, 0, 2, 2],
    outcome=[0, 1, 1, 0, 0, 2],
    ranker=[0, 0, 1, 1, 2, 3],
)


def test_agreement_with_best_item() -> None:
    agreement = ranker_agreement(COMPARISONS, 0, n_rankers=5)
    np.testing.assert_array_equal(agreement[:2], [1.0, 0.0])
    assert np.isnan(agreement[2]) and agreement[3] == 0.5 and np.isnan(agreement[4])


def test_agreement_with_reference_order() -> None:
    agreement = ranker_agreement(COMPARISONS, np.array([3.0, 2.0, 1.0]), n_rankers=4)
    np.testing.assert_array_equal(agreement, [1.0, 0.0, 1.0, 0.5])


def test_update_moves_rankers_towards_consensus_agreement() -> None:
    rep = np.full(6, 0.5)
    params = ReputationParams()
    new = update_reputation(rep, COMPARISONS, best_item=0, params=params)
    rate = params.ranker_rate
    assert new[0] == pytest.approx(0.5 * (1 - rate) + rate * 1.0)
    assert new[1] == pytest.approx(0.5 * (1 - rate))
    assert new[2] == 0.5 and new[4] == 0.5 and new[5] == 0.5  # no informative comparison
    assert new[3] == pytest.approx(0.5)


def test_gold_task_truth_replaces_consensus() -> None:
    rep = np.full(4, 0.5)
    consensus = update_reputation(rep, COMPARISONS, best_item=0)
    gold = update_reputation(rep, COMPARISONS, best_item=0, gold_item=1)
    assert consensus[0] > 0.5 > consensus[1]
    assert gold[1] > 0.5 > gold[0]  # the consensus was wrong; ranker 1 was right
    rate = ReputationParams().gold_rate
    assert gold[1] == pytest.approx((1 - rate) * 0.5 + rate * 1.0)


def test_gold_credits_only_agreement_above_chance() -> None:
    # ranker 3 tied its one comparison with gold candidate 0: agreement 0.5, a coin flip
    rep = np.full(4, 0.5)
    params = ReputationParams()
    gold = update_reputation(rep, COMPARISONS, best_item=1, gold_item=0, params=params)
    assert gold[3] == pytest.approx(0.5 * (1 - params.gold_rate))  # moved towards 0, not 0.5
    assert gold[0] == pytest.approx((1 - params.gold_rate) * 0.5 + params.gold_rate * 1.0)
    raw = update_reputation(
        rep, COMPARISONS, best_item=1, gold_item=0, params=ReputationParams(gold_chance=0.0)
    )
    assert raw[3] == pytest.approx(0.5)
    consensus = update_reputation(rep, COMPARISONS, best_item=0, params=params)
    assert consensus[3] == pytest.approx(0.5)  # consensus agreement is not chance-corrected


def test_generators_gain_and_absentees_lose() -> None:
    rep = np.array([0.5, 0.5, 0.2, 0.9, 0.6])
    empty = Comparisons.from_pairs(np.zeros((0, 2)))
    new = update_reputation(rep, empty, best_item=0, winning_generators=[2, 2], absent=[3])
    assert new[2] == pytest.approx(0.2 + 0.05 * 0.8)
    assert new[3] == pytest.approx(0.9 * 0.98)
    np.testing.assert_array_equal(new[[0, 1, 4]], rep[[0, 1, 4]])


def test_invalid_inputs() -> None:
    with pytest.raises(InvalidParameters):
        update_reputation(np.array([1.5]), COMPARISONS, best_item=0)
    with pytest.raises(InvalidParameters):
        update_reputation(np.full(4, 0.5), COMPARISONS, best_item=0, absent=[9])
    with pytest.raises(InvalidParameters):
        ReputationParams(ranker_rate=2.0)
    with pytest.raises(InvalidParameters):
        ReputationParams(gold_chance=1.0)


@settings(max_examples=30, deadline=None)
@given(
    rep=st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4),
    outcomes=st.lists(st.integers(0, 2), min_size=6, max_size=6),
    best=st.integers(0, 2),
)
def test_bit_identical_and_bounded(rep: list[float], outcomes: list[int], best: int) -> None:
    c = Comparisons(
        a=COMPARISONS.a,
        b=COMPARISONS.b,
        outcome=np.asarray(outcomes, dtype=np.int8),
        ranker=COMPARISONS.ranker,
        confidence=COMPARISONS.confidence,
    )
    first = update_reputation(np.asarray(rep), c, best, winning_generators=[0], absent=[3])
    second = update_reputation(np.asarray(rep), c, best, winning_generators=[0], absent=[3])
    assert first.tobytes() == second.tobytes()
    assert np.all((first >= 0.0) & (first <= 1.0))
