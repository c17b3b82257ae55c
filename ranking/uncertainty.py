"""Uncertainty of Bradley-Terry strengths and the decision made from them.

Owns :func:`fisher_covariance` (the inverse Fisher information of the BT likelihood on a win
matrix), :func:`confidence_intervals`, :func:`tied_for_first` and :func:`select_winner`.

The Fisher information of the BT log-likelihood ``sum_ij W_ij log sigmoid(s_i - s_j)`` is the
weighted graph Laplacian with edge weights ``n_ij p_ij (1 - p_ij)``, where ``n_ij`` is the
number of comparisons between ``i`` and ``j`` and ``p_ij = sigmoid(s_i - s_j)``. It is singular
along the all-ones direction (strengths are shift-invariant), so the covariance of the centred
strengths is its Moore-Penrose pseudo-inverse, computed exactly as
``inv(L + J/m) - J/m`` (``J`` the all-ones matrix, ``m`` the number of judged candidates).
This is deterministic and costs one small dense inverse, unlike a bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, ndtri

from ranking.errors import InvalidParameters

__all__ = [
    "TIE_TOLERANCE",
    "confidence_intervals",
    "fisher_covariance",
    "select_winner",
    "tie_gaps",
    "tied_for_first",
    "tied_from_gaps",
]

TIE_TOLERANCE = 1e-9
"""Strengths within this distance of the top one count as exactly tied for the winner, so that
rounding noise never decides between candidates the data cannot tell apart (the tie-break key
does)."""


def _check_level(level: float) -> float:
    if not (0.0 < level < 1.0):
        raise InvalidParameters(f"level must be in (0, 1), got {level!r}")
    return float(level)


def pair_information(
    pair_counts: NDArray[np.float64], strengths: NDArray[np.float64], alpha: float
) -> NDArray[np.float64]:
    """Per-pair Fisher information ``(n_ij + r_ij) p_ij (1 - p_ij)`` of BT with the I-LSR
    regulariser counted as ``r_ij = 2 alpha (pi_i + pi_j)`` pseudo-comparisons (the rate alpha
    of I-LSR's chain expressed in comparison units at the fit, with ``pi`` of mean 1)."""
    diff = strengths[:, None] - strengths[None, :]
    p = expit(diff)
    pi = np.exp(strengths - strengths.max())
    pi = pi * (pi.shape[0] / pi.sum())
    prior = 2.0 * alpha * (pi[:, None] + pi[None, :])
    info: NDArray[np.float64] = (pair_counts + prior) * p * (1.0 - p)
    np.fill_diagonal(info, 0.0)
    return info


def covariance_from_information(
    info: NDArray[np.float64], judged: NDArray[np.bool_]
) -> NDArray[np.float64]:
    """Pseudo-inverse of the information Laplacian over judged candidates; unjudged ones get an
    infinite variance and zero covariance."""
    n = info.shape[0]
    cov = np.zeros((n, n), dtype=np.float64)
    idx = np.flatnonzero(judged)
    m = idx.size
    if m >= 2:
        sub = info[np.ix_(idx, idx)]
        laplacian = np.diag(sub.sum(axis=1)) - sub
        ones = np.full((m, m), 1.0 / m)
        try:
            inner = np.linalg.inv(laplacian + ones) - ones
        except np.linalg.LinAlgError:
            inner = np.full((m, m), np.inf)
        cov[np.ix_(idx, idx)] = inner
    unjudged = np.flatnonzero(~judged)
    cov[unjudged, unjudged] = np.inf
    return cov


def fisher_covariance(
    win_matrix: ArrayLike, strengths: ArrayLike, alpha: float = 0.01
) -> NDArray[np.float64]:
    """Asymptotic covariance of centred BT strengths: the inverse Fisher information.

    Parameters
    ----------
    win_matrix : array_like, shape (n, n)
        The weighted win matrix the strengths were fitted on (weights in comparison units).
    strengths : array_like, shape (n,)
        The fit (:func:`ranking.fit_pairwise`).
    alpha : float
        The regularisation used for the fit.

    Returns
    -------
    cov : ndarray of float64, shape (n, n)
        ``cov[i, i] = inf`` for unjudged candidates (no comparison involves them).
    """
    w = np.asarray(win_matrix, dtype=np.float64)
    s = np.asarray(strengths, dtype=np.float64)
    if w.ndim != 2 or w.shape[0] != w.shape[1] or s.shape != (w.shape[0],):
        raise InvalidParameters("win_matrix must be (n, n) and strengths (n,)")
    counts = w + w.T
    np.fill_diagonal(counts, 0.0)
    judged = counts.sum(axis=1) > 0.0
    return covariance_from_information(pair_information(counts, s, alpha), judged)


def confidence_intervals(
    strengths: ArrayLike, covariance: ArrayLike, level: float = 0.95
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Two-sided Wald intervals ``s_i -/+ z sqrt(cov_ii)`` at ``level`` (normal approximation).

    Unjudged candidates (infinite variance) get ``(-inf, +inf)``.
    """
    s = np.asarray(strengths, dtype=np.float64)
    var = np.diag(np.asarray(covariance, dtype=np.float64))
    z = float(ndtri(0.5 + _check_level(level) / 2.0))
    half = z * np.sqrt(np.maximum(var, 0.0))
    return s - half, s + half


def select_winner(
    strengths: ArrayLike,
    eligible: ArrayLike | None = None,
    tie_break: Sequence[Any] | NDArray[Any] | None = None,
) -> int:
    """The top-strength eligible candidate.

    Candidates within :data:`TIE_TOLERANCE` of the top strength are tied; among them the one
    with the smallest ``tie_break`` key wins (e.g. the lowest content hash), or the lowest index
    when no keys are given. Deterministic: no dependence on set or dict order.
    """
    s = np.asarray(strengths, dtype=np.float64)
    ok = np.ones(s.shape[0], dtype=bool) if eligible is None else np.asarray(eligible, dtype=bool)
    if s.ndim != 1 or ok.shape != s.shape or not ok.any():
        raise InvalidParameters("select_winner needs a non-empty eligible strength vector")
    if tie_break is not None and len(tie_break) != s.shape[0]:
        raise InvalidParameters(f"tie_break has {len(tie_break)} keys for {s.shape[0]} items")
    top = float(s[ok].max())
    tied = np.flatnonzero(ok & (s >= top - TIE_TOLERANCE))
    if tie_break is None or tied.size == 1:
        return int(tied[0])
    keys = [tie_break[int(i)] for i in tied]
    best = min(range(tied.size), key=lambda k: (keys[k], int(tied[k])))
    return int(tied[best])


def tie_gaps(
    strengths: ArrayLike,
    covariance: ArrayLike,
    level: float,
    winner: int,
) -> NDArray[np.float64]:
    """Per candidate, the half-width of the two-sided ``level`` Wald interval of
    ``s_winner - s_i`` (variance ``v_w + v_i - 2 c_wi``): candidate ``i`` is tied for first when
    ``s_winner - s_i <= gap_i`` (plus :data:`TIE_TOLERANCE`). ``+inf`` for candidates with
    infinite variance (unjudged), 0 for the winner itself.

    Records made under the tolerant numerics rule carry these gaps, so that the tied-for-first
    set follows from recorded numbers by comparisons alone (:func:`tied_from_gaps`).
    """
    s = np.asarray(strengths, dtype=np.float64)
    cov = np.asarray(covariance, dtype=np.float64)
    if cov.shape != (s.shape[0], s.shape[0]):
        raise InvalidParameters("covariance must be (n, n) for n strengths")
    var = np.diag(cov)
    z = float(ndtri(0.5 + _check_level(level) / 2.0))
    with np.errstate(invalid="ignore"):
        diff_var = var[winner] + var - 2.0 * cov[winner]
        gaps = z * np.sqrt(np.maximum(diff_var, 0.0))
    gaps = np.where(np.isfinite(var), gaps, np.inf)
    gaps[winner] = 0.0
    return np.asarray(gaps, dtype=np.float64)


def tied_from_gaps(strengths: ArrayLike, gaps: ArrayLike, winner: int) -> NDArray[np.int64]:
    """The tied-for-first set from strengths and :func:`tie_gaps`: sorted indices ``i`` with a
    finite gap and ``s_winner - s_i <= gap_i + TIE_TOLERANCE``, always containing ``winner``.

    Only subtraction, addition and comparisons, which IEEE 754 rounds exactly the same on every
    machine: anyone holding the numbers gets the same set.
    """
    s = np.asarray(strengths, dtype=np.float64)
    g = np.asarray(gaps, dtype=np.float64)
    if g.shape != s.shape:
        raise InvalidParameters("gaps must have one entry per strength")
    inside = np.isfinite(g) & ((s[winner] - s) <= g + TIE_TOLERANCE)
    inside[winner] = True
    return np.flatnonzero(inside).astype(np.int64)


def tied_for_first(
    strengths: ArrayLike,
    covariance: ArrayLike,
    level: float = 0.95,
    winner: int | None = None,
) -> NDArray[np.int64]:
    """Candidates that cannot be told apart from the winner at ``level``.

    Candidate ``i`` is tied for first when the two-sided ``level`` Wald interval of
    ``s_winner - s_i`` (variance ``v_w + v_i - 2 c_wi``) contains 0 (:func:`tie_gaps`,
    :func:`tied_from_gaps`). Candidates with infinite variance (unjudged) are never included:
    they must not outrank a judged candidate.

    Returns
    -------
    ndarray of int64
        Sorted indices, always containing ``winner`` (default: the top strength, lowest index).
    """
    s = np.asarray(strengths, dtype=np.float64)
    cov = np.asarray(covariance, dtype=np.float64)
    if cov.shape != (s.shape[0], s.shape[0]):
        raise InvalidParameters("covariance must be (n, n) for n strengths")
    finite = np.isfinite(np.diag(cov))
    if winner is None:
        winner = select_winner(s, finite if finite.any() else None)
    return tied_from_gaps(s, tie_gaps(s, cov, level, winner), winner)
