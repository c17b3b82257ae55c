"""Bradley-Terry on a weighted win matrix: :func:`build_win_matrix` (list form to matrix) and
:func:`fit_pairwise` (maximum a-posteriori strengths by choix's dense I-LSR).

Model (Bradley & Terry 1952): candidate ``i`` has log-strength ``s_i`` and beats ``j`` with
probability ``sigmoid(s_i - s_j)``. Strengths are identified up to an additive constant; every
function here centres them to mean 0 over the judged candidates.
"""

from __future__ import annotations

import choix
import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from ranking.errors import (
    DisconnectedComparisons,
    InvalidComparisons,
    InvalidParameters,
    NoComparisons,
    NotConverged,
)
from ranking.types import Comparisons

__all__ = [
    "UNJUDGED_GAP",
    "build_win_matrix",
    "fit_pairwise",
    "judged_items",
    "retained_mask",
]

UNJUDGED_GAP = 1.0
"""How far below the weakest judged candidate an unjudged one is placed (log-strength units):
a judged candidate at the bottom would still beat it with probability ``sigmoid(1) ~ 0.73``."""


def check_n_items(n_items: int) -> int:
    n = int(n_items)
    if n != n_items or n < 1:
        raise InvalidParameters(f"n_items must be a positive integer, got {n_items!r}")
    return n


def check_ranker_vector(name: str, values: ArrayLike, n_rankers: int | None) -> NDArray[np.float64]:
    """A finite, non-negative per-ranker vector (weights or reputations)."""
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InvalidParameters(f"{name} must be one-dimensional, got shape {arr.shape}")
    if n_rankers is not None and arr.shape[0] != n_rankers:
        raise InvalidParameters(f"{name} has length {arr.shape[0]}, expected {n_rankers}")
    if not np.all(np.isfinite(arr)) or (arr.size and arr.min() < 0.0):
        raise InvalidParameters(f"{name} must be finite and >= 0")
    return arr


def check_comparisons(comparisons: Comparisons, n_items: int, n_rankers: int | None) -> None:
    """Upper bounds that :class:`Comparisons` cannot check on its own."""
    if not isinstance(comparisons, Comparisons):
        raise InvalidComparisons(f"expected Comparisons, got {type(comparisons).__name__}")
    if len(comparisons) == 0:
        return
    top = max(int(comparisons.a.max()), int(comparisons.b.max()))
    if top >= n_items:
        raise InvalidComparisons(f"candidate index {top} out of range for {n_items} candidates")
    if n_rankers is not None and int(comparisons.ranker.max()) >= n_rankers:
        raise InvalidComparisons(
            f"ranker index {int(comparisons.ranker.max())} out of range for {n_rankers} rankers"
        )


def retained_mask(
    comparisons: Comparisons, n_items: int, own_item: ArrayLike | None
) -> NDArray[np.bool_]:
    """Which comparisons count: those that do not involve their ranker's own candidate.

    ``own_item[r]`` is the index of ranker ``r``'s own candidate, or -1 when it has none.
    """
    if own_item is None:
        return np.ones(len(comparisons), dtype=bool)
    own = np.asarray(own_item)
    if own.ndim != 1 or (own.size and own.dtype.kind not in "iu"):
        raise InvalidParameters("own_item must be a one-dimensional integer array")
    own = own.astype(np.int64)
    if own.size and (own.min() < -1 or own.max() >= n_items):
        raise InvalidParameters("own_item values must be -1 or a candidate index")
    if len(comparisons) and int(comparisons.ranker.max()) >= own.shape[0]:
        raise InvalidComparisons(
            f"ranker index {int(comparisons.ranker.max())} has no own_item entry"
        )
    own_of = own[comparisons.ranker]
    keep: NDArray[np.bool_] = (comparisons.a != own_of) & (comparisons.b != own_of)
    return keep


def build_win_matrix(
    comparisons: Comparisons,
    n_items: int,
    ranker_weights: ArrayLike | None = None,
    own_item: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Weighted win matrix ``W`` from list-form comparisons.

    ``W[i, j]`` is the weighted number of times ``i`` beat ``j``: each comparison adds its
    ranker's weight times its soft label (1 for a win, 0.5 each way for a tie, ``c`` and
    ``1 - c`` for a stated confidence ``c``; see :class:`ranking.Comparisons`). A weight ``w``
    is therefore exactly a comparison repeated ``w`` times.

    Parameters
    ----------
    comparisons : Comparisons
        The judgements.
    n_items : int
        Number of candidates.
    ranker_weights : array_like of float, shape (n_rankers,), optional
        Non-negative weight of each ranker; all ones when omitted.
    own_item : array_like of int, shape (n_rankers,), optional
        ``own_item[r]`` = index of ranker ``r``'s own candidate or -1. Comparisons involving
        the ranker's own candidate are dropped (a ranker never judges itself).

    Returns
    -------
    W : ndarray of float64, shape (n_items, n_items)
        Zero diagonal.

    Raises
    ------
    InvalidComparisons, InvalidParameters
    """
    n = check_n_items(n_items)
    if ranker_weights is None:
        n_rankers = int(comparisons.ranker.max()) + 1 if len(comparisons) else 0
        weights = np.ones(n_rankers, dtype=np.float64)
    else:
        weights = check_ranker_vector("ranker_weights", ranker_weights, None)
        n_rankers = weights.shape[0]
    check_comparisons(comparisons, n, n_rankers)
    keep = retained_mask(comparisons, n, own_item)
    return _win_matrix(comparisons, n, weights[comparisons.ranker] * keep, None)


def _win_matrix(
    comparisons: Comparisons,
    n: int,
    comparison_weights: NDArray[np.float64],
    labels: NDArray[np.float64] | None,
) -> NDArray[np.float64]:
    """``W`` from per-comparison weights and soft labels (share credited to ``a``).

    ``np.bincount`` sums in input order, so the result is bit-for-bit reproducible.
    """
    y = comparisons.soft_labels() if labels is None else labels
    forward = comparisons.a * n + comparisons.b
    backward = comparisons.b * n + comparisons.a
    ahead = np.bincount(forward, weights=comparison_weights * y, minlength=n * n)
    behind = np.bincount(backward, weights=comparison_weights * (1.0 - y), minlength=n * n)
    flat = np.asarray(ahead, dtype=np.float64) + np.asarray(behind, dtype=np.float64)
    return flat.reshape(n, n)


def _check_win_matrix(win_matrix: ArrayLike) -> NDArray[np.float64]:
    w = np.array(win_matrix, dtype=np.float64, copy=True)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise InvalidParameters(f"win_matrix must be square, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or (w.size and w.min() < 0.0):
        raise InvalidParameters("win_matrix entries must be finite and >= 0")
    np.fill_diagonal(w, 0.0)
    return w


def judged_items(win_matrix: ArrayLike) -> NDArray[np.bool_]:
    """Mask of candidates that take part in at least one comparison of positive weight."""
    w = _check_win_matrix(win_matrix)
    judged: NDArray[np.bool_] = (w.sum(axis=0) + w.sum(axis=1)) > 0.0
    return judged


def fit_pairwise(
    win_matrix: ArrayLike,
    alpha: float = 0.01,
    *,
    max_iter: int = 200,
    tol: float = 1e-8,
    initial_strengths: ArrayLike | None = None,
    steps: int = 0,
) -> NDArray[np.float64]:
    """Bradley-Terry log-strengths from a weighted win matrix by I-LSR.

    Iterative Luce Spectral Ranking (Maystre & Grossglauser 2015) finds the Bradley-Terry
    maximum-likelihood estimate as the stationary distribution of a Markov chain whose rate
    from ``j`` to ``i`` is ``W[i, j] / (pi_i + pi_j)``. Each step is
    :func:`choix.lsr_pairwise_dense`; the loop and convergence test (L1 change ``< tol``) are
    choix's :func:`choix.ilsr_pairwise_dense`, so with the same ``alpha`` the result equals
    :func:`choix.ilsr_pairwise` on the same comparisons. ``alpha`` adds a transition rate
    between every pair of candidates, a regulariser that acts like a weak prior of equal
    strengths. The computation is deterministic: a fixed sequence of dense numpy/LAPACK
    operations with no randomness.

    Edge cases (documented results, each tested):

    * **one candidate**: ``[0.0]``.
    * **no comparisons** (``W`` all zero, ``n_items >= 2``): :class:`NoComparisons`.
    * **unjudged candidates** (a zero row and column): they are left out of the fit and
      placed :data:`UNJUDGED_GAP` below the weakest judged candidate, so they never outrank a
      judged one (find them with :func:`judged_items`).
    * **unanimous winner** (perfect separation): with ``alpha > 0`` its strength is finite and
      highest; with ``alpha == 0`` the MLE does not exist and :class:`DisconnectedComparisons`
      is raised.
    * **disconnected comparison graph**: with ``alpha > 0`` the regulariser bridges the
      components, each is fitted and their relative levels come from the prior alone (wide
      intervals show it); with ``alpha == 0`` (any graph that is not strongly connected):
      :class:`DisconnectedComparisons`.

    Parameters
    ----------
    win_matrix : array_like, shape (n_items, n_items)
        ``W[i, j]`` = weighted number of wins of ``i`` over ``j`` (diagonal ignored).
    alpha : float
        Regularisation, ``>= 0``.
    max_iter : int
        Iteration budget.
    tol : float
        Convergence tolerance on the L1 norm of the change in strengths.
    initial_strengths : array_like, optional
        Starting point (a previous fit), which only changes the number of iterations.
    steps : int
        ``0`` (default): iterate until converged. ``k >= 1``: take exactly ``k`` I-LSR steps
        from ``initial_strengths`` (or from equal strengths) and return, converged or not; the
        robust EM uses this for its M-steps (``AggregationParams.em_ilsr_steps``).

    Returns
    -------
    strengths : ndarray of float64, shape (n_items,)
        Log-strengths, mean 0 over judged candidates.

    Raises
    ------
    NoComparisons, DisconnectedComparisons, NotConverged, InvalidParameters

    References
    ----------
    R. A. Bradley and M. E. Terry, "Rank analysis of incomplete block designs: I. The method of
    paired comparisons", Biometrika 39, 1952.
    L. Maystre and M. Grossglauser, "Fast and accurate inference of Plackett-Luce models",
    NeurIPS 2015.
    """
    w = _check_win_matrix(win_matrix)
    n = w.shape[0]
    if n == 0:
        raise InvalidParameters("win_matrix must have at least one candidate")
    if not (np.isfinite(alpha) and alpha >= 0.0):
        raise InvalidParameters(f"alpha must be finite and >= 0, got {alpha!r}")
    if steps < 0:
        raise InvalidParameters(f"steps must be >= 0, got {steps!r}")
    if n == 1:
        return np.zeros(1, dtype=np.float64)
    judged = (w.sum(axis=0) + w.sum(axis=1)) > 0.0
    if not judged.any():
        raise NoComparisons("no comparison carries any weight")
    idx = np.flatnonzero(judged)
    sub = w[np.ix_(idx, idx)]
    if alpha == 0.0:
        n_comp, _ = connected_components(csr_matrix(sub > 0.0), directed=True, connection="strong")
        if n_comp > 1:
            raise DisconnectedComparisons(
                "the comparison graph is not strongly connected (separate groups, or a candidate"
                " that never lost or never won), so maximum-likelihood strengths do not exist;"
                " use alpha > 0"
            )
    start = None
    if initial_strengths is not None:
        init = np.asarray(initial_strengths, dtype=np.float64)
        if init.shape != (n,) or not np.all(np.isfinite(init)):
            raise InvalidParameters("initial_strengths must be finite with shape (n_items,)")
        start = init[idx] - init[idx].mean()
    fitted = _ilsr_dense(sub, float(alpha), start, max_iter, tol, steps)
    out = np.empty(n, dtype=np.float64)
    out[idx] = fitted
    if idx.size < n:
        out[~judged] = fitted.min() - UNJUDGED_GAP
    return out


def _ilsr_dense(
    w: NDArray[np.float64],
    alpha: float,
    start: NDArray[np.float64] | None,
    max_iter: int,
    tol: float,
    steps: int = 0,
) -> NDArray[np.float64]:
    """choix's I-LSR loop: until the L1 change is below ``tol`` (``steps == 0``), or exactly
    ``steps`` steps."""
    params = start
    previous: NDArray[np.float64] | None = None
    for step in range(steps or max_iter):
        try:
            with np.errstate(all="raise"):
                params = np.asarray(
                    choix.lsr_pairwise_dense(w, alpha=alpha, initial_params=params),
                    dtype=np.float64,
                )
        except (ValueError, FloatingPointError) as exc:
            raise NotConverged(f"I-LSR step failed: {exc}") from exc
        if not np.all(np.isfinite(params)):
            raise NotConverged("I-LSR produced non-finite strengths")
        if steps and step + 1 == steps:
            return params
        if previous is not None and float(np.abs(params - previous).sum()) < tol:
            return params
        previous = params
    raise NotConverged(f"I-LSR did not converge in {max_iter} iterations (tol {tol})")
