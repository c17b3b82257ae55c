"""Win matrix and Bradley-Terry fit: golden equality with choix, weights, edge cases, and the
hypothesis properties of issue 3 ("Done when" 1, 2 and 5)."""

from __future__ import annotations

import choix
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit

from ranking import (
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_TIE,
    UNJUDGED_GAP,
    Comparisons,
    DisconnectedComparisons,
    InvalidComparisons,
    InvalidParameters,
    NoComparisons,
    build_win_matrix,
    fit_pairwise,
    judged_items,
)


def _random_pairs(rng: np.random.Generator, n: int, m: int) -> list[tuple[int, int]]:
    strengths = rng.normal(size=n)
    data = []
    for _ in range(m):
        i, j = (int(x) for x in rng.choice(n, 2, replace=False))
        data.append((i, j) if rng.random() < expit(strengths[i] - strengths[j]) else (j, i))
    return data


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alpha", [0.01, 0.1, 1.0])
def test_unit_weights_equal_choix_ilsr_pairwise(seed: int, alpha: float) -> None:
    rng = np.random.default_rng(seed)
    n = 12
    data = _random_pairs(rng, n, 400)
    ours = fit_pairwise(build_win_matrix(Comparisons.from_pairs(data), n), alpha=alpha)
    reference = choix.ilsr_pairwise(n, data, alpha=alpha)
    assert np.max(np.abs(ours - reference)) <= 1e-6
    assert abs(float(ours.mean())) < 1e-12


def test_alpha_zero_equals_choix_when_strongly_connected() -> None:
    rng = np.random.default_rng(7)
    data = _random_pairs(rng, 6, 300)
    ours = fit_pairwise(build_win_matrix(Comparisons.from_pairs(data), 6), alpha=0.0)
    assert np.max(np.abs(ours - choix.ilsr_pairwise(6, data, alpha=0.0))) <= 1e-6


def test_weight_equals_repetition() -> None:
    rng = np.random.default_rng(3)
    n = 8
    data = _random_pairs(rng, n, 60)
    weights = rng.integers(1, 5, size=len(data))
    weighted = Comparisons.from_pairs(data, ranker=np.arange(len(data)))
    repeated = Comparisons.from_pairs(np.repeat(np.asarray(data), weights, axis=0))
    w_weighted = build_win_matrix(weighted, n, weights.astype(float))
    w_repeated = build_win_matrix(repeated, n)
    np.testing.assert_array_equal(w_weighted, w_repeated)
    np.testing.assert_allclose(fit_pairwise(w_weighted), fit_pairwise(w_repeated), atol=1e-12)


def test_soft_labels_ties_and_confidence() -> None:
    c = Comparisons.from_lists(
        a=[0, 0, 1, 1],
        b=[1, 2, 2, 0],
        outcome=[OUTCOME_A, OUTCOME_TIE, OUTCOME_B, OUTCOME_A],
        ranker=[0, 0, 1, 1],
        confidence=[0.8, 0.9, 0.7, np.nan],
    )
    w = build_win_matrix(c, 3, [1.0, 2.0])
    expected = np.array(
        [
            [0.0, 0.8, 0.5],
            [0.2 + 2.0, 0.0, 2 * 0.3],
            [0.5, 2 * 0.7, 0.0],
        ]
    )
    np.testing.assert_allclose(w, expected)


def test_own_candidate_comparisons_dropped() -> None:
    c = Comparisons.from_lists(a=[0, 1, 2], b=[1, 2, 0], outcome=[0, 0, 0], ranker=[0, 0, 1])
    w = build_win_matrix(c, 3, None, own_item=[2, -1])
    assert w[1, 2] == 0.0 and w[2, 0] == 1.0 and w[0, 1] == 1.0


def test_vectorised_build_matches_reference_loop() -> None:
    rng = np.random.default_rng(11)
    m, n, r = 500, 9, 7
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    outcome = rng.integers(0, 3, m)
    ranker = rng.integers(0, r, m)
    conf = np.where(rng.random(m) < 0.5, rng.random(m), np.nan)
    weights = rng.random(r)
    c = Comparisons.from_lists(a, b, outcome, ranker, conf)
    expected = np.zeros((n, n))
    for k in range(m):
        chosen = 1.0 if np.isnan(conf[k]) else conf[k]
        y = chosen if outcome[k] == 0 else (1 - chosen if outcome[k] == 1 else 0.5)
        expected[a[k], b[k]] += weights[ranker[k]] * y
        expected[b[k], a[k]] += weights[ranker[k]] * (1 - y)
    np.testing.assert_allclose(build_win_matrix(c, n, weights), expected, atol=1e-12)


# --- edge cases (documented in fit_pairwise) -------------------------------------------------


def test_one_candidate() -> None:
    np.testing.assert_array_equal(fit_pairwise(np.zeros((1, 1))), [0.0])


def test_no_comparisons() -> None:
    with pytest.raises(NoComparisons):
        fit_pairwise(np.zeros((4, 4)))
    with pytest.raises(NoComparisons):
        fit_pairwise(build_win_matrix(Comparisons.from_pairs(np.zeros((0, 2))), 3))


def test_unanimous_winner_finite_with_alpha_and_error_without() -> None:
    w = np.zeros((4, 4))
    w[0, 1:] = 5.0
    w[1, 2] = w[2, 1] = w[2, 3] = w[3, 2] = w[1, 3] = w[3, 1] = 2.0
    s = fit_pairwise(w, alpha=0.01)
    assert np.all(np.isfinite(s))
    assert int(np.argmax(s)) == 0 and s[0] - s[1:].max() > 2.0
    with pytest.raises(DisconnectedComparisons):
        fit_pairwise(w, alpha=0.0)


def test_unjudged_candidates_never_outrank_judged() -> None:
    w = np.zeros((5, 5))
    w[0, 1] = 1.0
    w[1, 0] = 9.0  # candidate 0 is a very weak judged candidate
    w[1, 3] = w[3, 1] = 1.0
    s = fit_pairwise(w)
    judged = judged_items(w)
    np.testing.assert_array_equal(judged, [True, True, False, True, False])
    assert s[~judged].max() < s[judged].min()
    assert s[2] == pytest.approx(s[judged].min() - UNJUDGED_GAP)
    assert s[judged].mean() == pytest.approx(0.0, abs=1e-12)


def test_disconnected_graph() -> None:
    w = np.zeros((4, 4))
    w[0, 1], w[1, 0] = 3.0, 1.0
    w[2, 3], w[3, 2] = 1.0, 3.0
    with pytest.raises(DisconnectedComparisons):
        fit_pairwise(w, alpha=0.0)
    s = fit_pairwise(w, alpha=0.01)
    # Each component is ordered by its own data; the prior bridges them symmetrically.
    assert s[0] > s[1] and s[3] > s[2]
    assert s[0] == pytest.approx(s[3], abs=1e-6) and s[1] == pytest.approx(s[2], abs=1e-6)


@pytest.mark.parametrize(
    "matrix", [np.zeros((2, 3)), np.array([[0.0, -1.0], [1.0, 0.0]]), np.full((2, 2), np.nan)]
)
def test_bad_win_matrix(matrix: np.ndarray) -> None:
    with pytest.raises(InvalidParameters):
        fit_pairwise(matrix)


def test_bad_alpha_and_indices() -> None:
    with pytest.raises(InvalidParameters):
        fit_pairwise(np.ones((2, 2)), alpha=-1.0)
    with pytest.raises(InvalidComparisons):
        build_win_matrix(Comparisons.from_pairs([(0, 5)]), 3)
    with pytest.raises(InvalidComparisons):
        build_win_matrix(Comparisons.from_lists([0], [1], [0], ranker=[3]), 3, [1.0])
    with pytest.raises(InvalidParameters):
        build_win_matrix(Comparisons.from_pairs([(0, 1)]), 3, [-1.0])
    with pytest.raises(InvalidParameters):
        build_win_matrix(Comparisons.from_pairs([(0, 1)]), 0)


# --- hypothesis properties -------------------------------------------------------------------


@st.composite
def comparison_sets(draw: st.DrawFn) -> tuple[int, Comparisons]:
    n = draw(st.integers(2, 7))
    m = draw(st.integers(1, 40))
    a = draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m))
    shift = draw(st.lists(st.integers(1, n - 1), min_size=m, max_size=m))
    outcome = draw(
        st.lists(st.sampled_from([OUTCOME_A, OUTCOME_B, OUTCOME_TIE]), min_size=m, max_size=m)
    )
    ranker = draw(st.lists(st.integers(0, 3), min_size=m, max_size=m))
    b = [(x + d) % n for x, d in zip(a, shift, strict=True)]
    return n, Comparisons.from_lists(a, b, outcome, ranker)


@settings(max_examples=40, deadline=None)
@given(data=comparison_sets(), seed=st.integers(0, 2**32 - 1))
def test_permutation_equivariance(data: tuple[int, Comparisons], seed: int) -> None:
    n, c = data
    perm = np.random.default_rng(seed).permutation(n)
    relabelled = Comparisons(
        a=perm[c.a], b=perm[c.b], outcome=c.outcome, ranker=c.ranker, confidence=c.confidence
    )
    s = fit_pairwise(build_win_matrix(c, n))
    s_perm = fit_pairwise(build_win_matrix(relabelled, n))
    np.testing.assert_allclose(s_perm[perm], s, atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(data=comparison_sets(), shift=st.floats(-50, 50))
def test_shift_invariance_of_probabilities(data: tuple[int, Comparisons], shift: float) -> None:
    n, c = data
    s = fit_pairwise(build_win_matrix(c, n))
    p = expit(s[:, None] - s[None, :])
    shifted = s + shift
    np.testing.assert_allclose(expit(shifted[:, None] - shifted[None, :]), p, atol=1e-9)
    # And the fit itself does not depend on a warm start's offset.
    np.testing.assert_allclose(
        fit_pairwise(build_win_matrix(c, n), initial_strengths=np.full(n, shift)), s, atol=1e-7
    )


@settings(max_examples=30, deadline=None)
@given(data=comparison_sets())
def test_determinism_bit_for_bit(data: tuple[int, Comparisons]) -> None:
    n, c = data
    first = fit_pairwise(build_win_matrix(c, n, np.arange(1.0, 5.0)))
    second = fit_pairwise(build_win_matrix(c, n, np.arange(1.0, 5.0)))
    assert first.tobytes() == second.tobytes()


@settings(max_examples=30, deadline=None)
@given(data=comparison_sets(), own=st.lists(st.integers(-1, 6), min_size=4, max_size=4))
def test_own_candidate_comparisons_never_change_result(
    data: tuple[int, Comparisons], own: list[int]
) -> None:
    n, c = data
    own_item = np.asarray([o if o < n else -1 for o in own], dtype=np.int64)
    own_of = own_item[c.ranker]
    clean = (c.a != own_of) & (c.b != own_of)
    only_clean = Comparisons(
        a=c.a[clean],
        b=c.b[clean],
        outcome=c.outcome[clean],
        ranker=c.ranker[clean],
        confidence=c.confidence[clean],
    )
    assert np.array_equal(
        build_win_matrix(c, n, np.ones(4), own_item),
        build_win_matrix(only_clean, n, np.ones(4)),
    )


def test_fixed_steps_are_exactly_that_many_choix_steps() -> None:
    """``steps=k`` takes exactly ``k`` of choix's I-LSR steps from the starting point and
    stops, converged or not; ``steps=0`` iterates to convergence."""
    rng = np.random.default_rng(5)
    w = rng.integers(0, 5, size=(5, 5)).astype(np.float64)
    np.fill_diagonal(w, 0.0)
    start = rng.normal(size=5)
    manual = start - start.mean()  # fit_pairwise centres the starting point
    for k in range(1, 4):
        manual = np.asarray(choix.lsr_pairwise_dense(w, alpha=0.01, initial_params=manual))
        got = fit_pairwise(w, 0.01, initial_strengths=start, steps=k)
        assert got.tobytes() == manual.tobytes()
    converged = fit_pairwise(w, 0.01, initial_strengths=start)
    assert np.abs(converged - fit_pairwise(w, 0.01, initial_strengths=start, steps=1)).sum() > 1e-6
    with pytest.raises(InvalidParameters, match="steps"):
        fit_pairwise(w, 0.01, steps=-1)
