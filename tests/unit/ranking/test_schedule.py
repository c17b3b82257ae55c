"""Pair schedules: shapes, coverage, both orders, exclusion, seeded reproducibility."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from ranking import InvalidParameters, schedule_pairs


def _unordered(pairs: np.ndarray) -> set[tuple[int, int]]:
    return {(min(a, b), max(a, b)) for a, b in pairs.tolist()}


def test_full_is_every_pair_in_both_orders() -> None:
    pairs = schedule_pairs(6, "full", np.random.default_rng(0))
    assert pairs.shape == (30, 2)
    assert {tuple(p) for p in pairs.tolist()} == {
        (i, j) for i in range(6) for j in range(6) if i != j
    }


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 9, 32])
def test_3n_schedule(n: int) -> None:
    pairs = schedule_pairs(n, "3n", np.random.default_rng(n))
    half = pairs.shape[0] // 2
    np.testing.assert_array_equal(pairs[half:], pairs[:half, ::-1])  # both orders
    assert len(_unordered(pairs)) == half  # no duplicates
    if n >= 6:
        assert pairs.shape[0] == (3 * n if n % 2 == 0 else 4 * n)
    graph = np.zeros((n, n))
    graph[pairs[:, 0], pairs[:, 1]] = 1
    assert connected_components(csr_matrix(graph), directed=False)[0] == 1
    assert np.all(pairs[:, 0] != pairs[:, 1])


def test_random_k() -> None:
    pairs = schedule_pairs(10, "random-k", np.random.default_rng(1), k=7)
    assert pairs.shape == (7, 2) and len(_unordered(pairs)) == 7
    assert schedule_pairs(3, "random-k", np.random.default_rng(1), k=50).shape == (3, 2)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 20),
    kind=st.sampled_from(["3n", "full", "random-k"]),
    seed=st.integers(0, 2**32 - 1),
    exclude=st.integers(-1, 19),
)
def test_exclusion_and_reproducibility(n: int, kind: str, seed: int, exclude: int) -> None:
    excl = exclude if exclude < n else -1
    first = schedule_pairs(n, kind, np.random.default_rng(seed), k=5, exclude=excl)
    second = schedule_pairs(n, kind, np.random.default_rng(seed), k=5, exclude=excl)
    np.testing.assert_array_equal(first, second)
    assert first.dtype == np.int64 and first.ndim == 2 and first.shape[1] == 2
    if excl >= 0:
        assert not np.any(first == excl)
    if first.size:
        assert first.min() >= 0 and first.max() < n
    eligible = n - (excl >= 0)
    if eligible < 2:
        assert first.shape == (0, 2)


def test_invalid() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InvalidParameters):
        schedule_pairs(5, "bogus", rng)
    with pytest.raises(InvalidParameters):
        schedule_pairs(5, "random-k", rng)
    with pytest.raises(InvalidParameters):
        schedule_pairs(5, "3n", rng, exclude=7)
    with pytest.raises(InvalidParameters):
        schedule_pairs(5, "3n", None)


def _reference_schedule(
    n_items: int, kind: str, rng: np.random.Generator, k: int | None, exclude: int | None
) -> np.ndarray:
    """The array formulation of the schedules (the implementation of every ledger written
    before the list-based one): records recompute only if both agree exactly."""
    items = np.arange(int(n_items), dtype=np.int64)
    if exclude is not None and exclude != -1:
        items = items[items != exclude]
    m = items.shape[0]
    if m < 2:
        return np.zeros((0, 2), dtype=np.int64)

    def both(pairs: np.ndarray) -> np.ndarray:
        return np.concatenate([pairs, pairs[:, ::-1]]).astype(np.int64)

    if kind == "full":
        i, j = np.triu_indices(m, 1)
        pairs = both(np.stack([items[i], items[j]], axis=1))
        return pairs[rng.permutation(pairs.shape[0])]
    if kind == "3n":
        perm = items[rng.permutation(m)]
        pos = np.arange(m)
        firsts = np.concatenate([pos, pos])
        seconds = np.concatenate([(pos + 1) % m, (pos + m // 2) % m])
        lo = np.minimum(firsts, seconds)
        hi = np.maximum(firsts, seconds)
        _, first_seen = np.unique(lo * m + hi, return_index=True)
        order = np.sort(first_seen)
        return both(np.stack([perm[firsts[order]], perm[seconds[order]]], axis=1))
    total = m * (m - 1) // 2
    assert k is not None
    count = min(int(k), total)
    chosen = np.sort(rng.choice(total, size=count, replace=False))
    i, j = np.triu_indices(m, 1)
    pairs = np.stack([items[i[chosen]], items[j[chosen]]], axis=1)
    flip = rng.random(count) < 0.5
    pairs[flip] = pairs[flip, ::-1]
    return pairs[rng.permutation(count)].astype(np.int64)


@pytest.mark.parametrize("kind", ["3n", "full", "random-k"])
def test_schedules_equal_the_array_formulation(kind: str) -> None:
    for n in range(0, 41):
        for exclude in {None, -1, 0, n // 2, n - 1} - ({0, n // 2, n - 1} if n == 0 else set()):
            for seed in range(3):
                k = 1 + (n * seed) % 9 if kind == "random-k" else None
                got = schedule_pairs(n, kind, np.random.default_rng(seed), k=k, exclude=exclude)
                want = _reference_schedule(n, kind, np.random.default_rng(seed), k, exclude)
                assert got.dtype == want.dtype and got.shape == want.shape
                assert got.tobytes() == want.tobytes(), (n, exclude, seed)
