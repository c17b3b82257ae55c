"""Pair schedules: which pairs of candidates each ranker is asked to compare.

:func:`schedule_pairs` returns an ``(m, 2)`` array of ``(a, b)`` index pairs. Randomness comes
only from the passed :class:`numpy.random.Generator`, so a schedule seeded from the query id is
recomputable by anyone. A ranker's own candidate (``exclude``) never appears.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ranking.errors import InvalidParameters

__all__ = ["SCHEDULE_KINDS", "schedule_pairs"]

SCHEDULE_KINDS = ("3n", "full", "random-k")
"""Accepted values of ``kind``."""


def _both_orders(pairs: NDArray[np.int64]) -> NDArray[np.int64]:
    # Every pair is asked in both orders so a judge's position bias cancels out (DESIGN, step 4).
    return np.concatenate([pairs, pairs[:, ::-1]]).astype(np.int64)


def schedule_pairs(
    n_items: int,
    kind: str = "3n",
    rng: np.random.Generator | None = None,
    k: int | None = None,
    exclude: int | None = None,
) -> NDArray[np.int64]:
    """Pairs of candidates for one ranker to compare.

    Let ``m`` be the number of eligible candidates (``n_items``, less ``exclude`` if given).

    * ``"full"``: every unordered pair, each asked in both orders: ``m (m - 1)`` rows, in an
      order shuffled by ``rng``.
    * ``"3n"``: over a random permutation of the eligible candidates, the adjacent pairs
      (a cycle) and the pairs half the list apart, de-duplicated, each in both orders (first
      all pairs in one order, then all reversed). For even ``m`` that is ``3m`` rows (about 3
      comparisons per candidate, each candidate in 6), for odd ``m`` ``4m``; for ``m <= 4`` it
      is the full schedule. Any two candidates are linked by a short path, so the comparison
      graph is connected and well conditioned.
    * ``"random-k"``: ``k`` distinct unordered pairs drawn uniformly without replacement, each
      asked once with a random orientation (``k`` is clipped to the number of pairs).

    Parameters
    ----------
    n_items : int
        Number of candidates, ``>= 0``.
    kind : str
        One of :data:`SCHEDULE_KINDS`.
    rng : numpy.random.Generator
        Source of all randomness (required).
    k : int, optional
        Pairs for ``"random-k"``, ``>= 1``.
    exclude : int, optional
        A candidate that must never appear (the ranker's own); ``None`` or -1 for none.

    Returns
    -------
    ndarray of int64, shape (rows, 2)
        Empty ``(0, 2)`` when fewer than two candidates are eligible.

    Raises
    ------
    InvalidParameters
        Unknown ``kind``, missing ``rng`` or ``k``, ``exclude`` out of range.
    """
    if int(n_items) != n_items or n_items < 0:
        raise InvalidParameters(f"n_items must be a non-negative integer, got {n_items!r}")
    if kind not in SCHEDULE_KINDS:
        raise InvalidParameters(f"unknown schedule kind {kind!r}; expected one of {SCHEDULE_KINDS}")
    if not isinstance(rng, np.random.Generator):
        raise InvalidParameters("schedule_pairs needs a numpy.random.Generator")
    if kind == "random-k" and (k is None or int(k) != k or k < 1):
        raise InvalidParameters(f"random-k needs an integer k >= 1, got {k!r}")
    if exclude is not None and exclude != -1 and not (0 <= exclude < n_items):
        raise InvalidParameters(f"exclude={exclude!r} is not a candidate of {n_items}")
    # Plain Python on small lists: a round's schedule is a few dozen pairs, where each numpy
    # call costs more than the work. Only the draws come from ``rng`` (numpy), so the output
    # is identical to the array formulation documented above.
    items = [i for i in range(int(n_items)) if exclude is None or i != exclude]
    m = len(items)
    if m < 2:
        return np.zeros((0, 2), dtype=np.int64)
    if kind == "full":
        upper = [(items[i], items[j]) for i in range(m) for j in range(i + 1, m)]
        pairs = _both_orders(np.asarray(upper, dtype=np.int64))
        return pairs[rng.permutation(pairs.shape[0])]
    if kind == "3n":
        perm = [items[i] for i in rng.permutation(m).tolist()]
        # Position pairs: the cycle, then the pairs half the list apart; each unordered pair
        # kept at its first appearance, in order (deterministic).
        seen: set[tuple[int, int]] = set()
        unique: list[tuple[int, int]] = []
        for step in (1, m // 2):
            for first in range(m):
                second = (first + step) % m
                key = (min(first, second), max(first, second))
                if key not in seen:
                    seen.add(key)
                    unique.append((perm[first], perm[second]))
        return _both_orders(np.asarray(unique, dtype=np.int64))
    total = m * (m - 1) // 2
    assert k is not None
    count = min(int(k), total)
    chosen = np.sort(rng.choice(total, size=count, replace=False))
    i, j = np.triu_indices(m, 1)
    numbered = np.asarray(items, dtype=np.int64)
    random_pairs = np.stack([numbered[i[chosen]], numbered[j[chosen]]], axis=1)
    flip = rng.random(count) < 0.5
    random_pairs[flip] = random_pairs[flip, ::-1]
    return random_pairs[rng.permutation(count)].astype(np.int64)
