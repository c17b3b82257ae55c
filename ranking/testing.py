"""Synthetic data for tests, benchmarks and the simulator (public, like ``trio.testing``).

:func:`simulate_comparisons` draws Bradley-Terry verdicts for given true strengths and pair
schedules. All randomness comes from the passed :class:`numpy.random.Generator`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit

from ranking.errors import InvalidParameters
from ranking.types import OUTCOME_A, OUTCOME_B, Comparisons

__all__ = ["simulate_comparisons", "stack_schedules"]


def stack_schedules(
    schedules: Sequence[NDArray[np.int64]],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Concatenate per-ranker ``(m_r, 2)`` schedules into ``(a, b, ranker)`` arrays."""
    if not schedules:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy(), empty.copy()
    pairs = np.concatenate([np.asarray(s, dtype=np.int64).reshape(-1, 2) for s in schedules])
    ranker = np.repeat(
        np.arange(len(schedules), dtype=np.int64),
        [np.asarray(s).reshape(-1, 2).shape[0] for s in schedules],
    )
    return pairs[:, 0].copy(), pairs[:, 1].copy(), ranker


def simulate_comparisons(
    strengths: ArrayLike,
    schedules: Sequence[NDArray[np.int64]],
    rng: np.random.Generator,
    temperature: float | ArrayLike = 1.0,
) -> Comparisons:
    """Bradley-Terry verdicts: ranker ``r`` prefers ``a`` over ``b`` in its schedule with
    probability ``sigmoid((s_a - s_b) / temperature_r)``.

    Parameters
    ----------
    strengths : array_like of float
        True log-strengths.
    schedules : sequence of (m_r, 2) int arrays
        Pairs for each ranker (e.g. from :func:`ranking.schedule_pairs`).
    rng : numpy.random.Generator
        Source of randomness.
    temperature : float or array_like of float, shape (n_rankers,)
        Judging noise: larger is noisier.
    """
    s = np.asarray(strengths, dtype=np.float64)
    temp = np.broadcast_to(np.asarray(temperature, dtype=np.float64), (len(schedules),))
    if np.any(temp <= 0.0):
        raise InvalidParameters("temperature must be > 0")
    a, b, ranker = stack_schedules(schedules)
    p_a = expit((s[a] - s[b]) / temp[ranker]) if a.size else np.zeros(0)
    outcome = np.where(rng.random(a.shape[0]) < p_a, OUTCOME_A, OUTCOME_B).astype(np.int8)
    return Comparisons(
        a=a, b=b, outcome=outcome, ranker=ranker, confidence=np.full(a.shape[0], np.nan)
    )
