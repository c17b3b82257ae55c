"""Who takes part in a round: the reputation-weighted draw of generators and rankers.

Owns :data:`SELECTION_WEIGHT_FLOOR`, :func:`weighted_sample` and :func:`select_participants`,
the pure core of the node's phase *select* (``node.round.selection`` seeds the generator from
the query id and the ledger head and maps indices back to node ids) and of the simulator's
selection, so both draw the same participants from the same weights and the same stream.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ranking.errors import InvalidParameters
from ranking.exact import exact_weighted_sample

__all__ = ["SELECTION_WEIGHT_FLOOR", "select_participants", "weighted_sample"]

#: Floor added to every reputation used as a selection weight, so a member at zero reputation
#: is still drawn now and then and can earn reputation back.
SELECTION_WEIGHT_FLOOR = 0.05


def weighted_sample(
    rng: np.random.Generator, weights: NDArray[np.float64], k: int
) -> NDArray[np.int64]:
    """``k`` distinct indices drawn without replacement, successively proportional to ``weights``.

    Efraimidis & Spirakis (2006): key ``log(u_i) / w_i`` with ``u_i`` uniform, the ``k`` largest
    keys win. Ties break on index through a stable sort, so the result depends only on the
    PCG64 stream (one ``random()`` call of ``len(weights)`` draws) and the weights.
    """
    u = rng.random(weights.shape[0])
    keys = np.log(np.maximum(u, np.finfo(float).tiny)) / weights
    order = np.argsort(-keys, kind="stable")
    return np.asarray(order[:k], dtype=np.int64)


def select_participants(
    reputations: ArrayLike,
    rng: np.random.Generator,
    max_generators: int,
    max_rankers: int,
    *,
    exact: bool = True,
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Generators and rankers of one round, as indices into ``reputations``.

    Weights are ``max(reputation, 0) + SELECTION_WEIGHT_FLOOR``. At most half the pool (rounded
    up) generates, so some rankers have no candidate of their own and can judge every pair
    (with clustered answers a generator-ranker must skip its own cluster, which with two
    clusters would leave it nothing to judge). Rankers are a second weighted order of the whole
    pool, non-generators first, cut at ``max_rankers``.

    Parameters
    ----------
    reputations : array_like of float, shape (n,)
        The eligible pool's reputations, in the caller's canonical order (the node sorts by id).
    rng : numpy.random.Generator
        Two ``random(n)`` draws are taken from it, generators first.
    max_generators, max_rankers : int
        ``G`` and ``R``.
    exact : bool
        Draw in integer arithmetic (:func:`ranking.exact.exact_weighted_sample`, one
        ``integers(n)`` draw each), identical on every machine: the node's rule since records
        carry ``numerics = 1``. ``False``: the floating-point draw (:func:`weighted_sample`, one
        ``random(n)`` each) of older records.

    Returns
    -------
    generators, rankers : ndarray of int64
        Indices in selection order.
    """
    rep = np.asarray(reputations, dtype=np.float64)
    if rep.ndim != 1:
        raise InvalidParameters("reputations must be a vector")
    if max_generators < 0 or max_rankers < 0:
        raise InvalidParameters("max_generators and max_rankers must be >= 0")
    weights = np.maximum(rep, 0.0) + SELECTION_WEIGHT_FLOOR
    n = int(weights.shape[0])
    n_generators = min(max_generators, n - n // 2)
    sample = exact_weighted_sample if exact else weighted_sample
    generators = sample(rng, weights, n_generators)
    ranking_order = sample(rng, weights, n)
    chosen = np.zeros(n, dtype=bool)
    chosen[generators] = True
    is_generator = chosen[ranking_order]
    rankers = np.concatenate([ranking_order[~is_generator], ranking_order[is_generator]])
    return generators, np.asarray(rankers[:max_rankers], dtype=np.int64)
