"""Reputation: how much a node's judgement counts, as a pure function of the ledger.

Owns :class:`ReputationParams`, :func:`ranker_agreement` and :func:`update_reputation`.
Reputations live in ``[0, 1]``. Every function is deterministic element-wise numpy (sums by
``np.bincount`` in input order), so replaying a ledger on any node gives bit-identical values.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ranking.errors import InvalidParameters
from ranking.pairwise import check_comparisons, retained_mask
from ranking.types import Comparisons

__all__ = ["ReputationParams", "ranker_agreement", "update_reputation"]


@dataclass(frozen=True)
class ReputationParams:
    """Rates of :func:`update_reputation` (all in ``[0, 1]``) and the gold chance level.

    Attributes
    ----------
    ranker_rate : float
        EMA rate towards a ranker's agreement with the consensus, default 0.01 (half-life ~69
        rounds): consensus is only a proxy for truth, and one a large clique can win. At a
        faster rate (0.1 was the first default) a clique of 40% that wins a few rounds drains
        honest rankers' reputation faster than gold rounds can restore it, and the reputation
        weighting then hands it the swarm (see docs/sim/README.md, clique sweeps).
    gold_rate : float
        EMA rate on gold tasks, where agreement is measured against the known answer, default
        0.5: truth is the strong signal, so it dominates reputation even when gold tasks are
        a small fraction of rounds.
    gold_chance : float
        On gold tasks a ranker earns only agreement above this chance level:
        ``g <- clip((g - gold_chance) / (1 - gold_chance), 0, 1)``, default 0.5 (a pairwise
        coin flip). A ranker that is right no more often than a coin, such as a stealth clique
        member that judges honestly except against its own side's answer, moves towards 0
        rather than towards 0.5. ``0`` gives the raw agreement. Must be below 1.
    generator_rate : float
        The winning candidate's generators move towards 1 at this rate, default 0.05.
    absent_penalty : float
        Fraction of reputation lost by a selected node that did not answer, default 0.02
        ("a little": a node that misses a round now and then keeps nearly all of it).
    """

    ranker_rate: float = 0.01
    gold_rate: float = 0.5
    generator_rate: float = 0.05
    absent_penalty: float = 0.02
    gold_chance: float = 0.5

    def __post_init__(self) -> None:
        for name in ("ranker_rate", "gold_rate", "generator_rate", "absent_penalty"):
            value = getattr(self, name)
            if not (0.0 <= value <= 1.0):
                raise InvalidParameters(f"{name} must be in [0, 1], got {value!r}")
        if not (0.0 <= self.gold_chance < 1.0):
            raise InvalidParameters(f"gold_chance must be in [0, 1), got {self.gold_chance!r}")


def ranker_agreement(
    comparisons: Comparisons,
    reference: int | ArrayLike,
    n_rankers: int,
    own_item: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Each ranker's agreement with a reference, in ``[0, 1]``.

    * ``reference`` an integer (the best candidate, consensus winner or gold answer): only
      comparisons involving it count, and agreement is the share of a win the ranker gave it
      (soft labels: a tie counts 0.5, a confidence ``c`` counts ``c``).
    * ``reference`` a vector of scores (strengths, or ranks negated), one per candidate:
      every comparison between candidates with different scores counts, and agreement is the
      share given to the higher-scored one.

    Parameters
    ----------
    comparisons : Comparisons
        ``comparisons.ranker`` indexes ``[0, n_rankers)``.
    reference : int or array_like of float
        See above.
    n_rankers : int
        Length of the output.
    own_item : array_like of int, optional
        Comparisons of a ranker's own candidate are ignored, as in aggregation.

    Returns
    -------
    ndarray of float64, shape (n_rankers,)
        NaN for rankers without an informative comparison.
    """
    ref = np.asarray(reference)
    if ref.ndim == 0:
        best = int(ref)
        if best < 0:
            raise InvalidParameters(f"reference item must be >= 0, got {best}")
        n_items = max(best + 1, _max_item(comparisons) + 1)
        check_comparisons(comparisons, n_items, n_rankers)
        keep = retained_mask(comparisons, n_items, own_item)
        y = comparisons.soft_labels()
        involved = keep & ((comparisons.a == best) | (comparisons.b == best))
        share = np.where(comparisons.a == best, y, 1.0 - y)
    else:
        scores = ref.astype(np.float64)
        if scores.ndim != 1 or not np.all(np.isfinite(scores)):
            raise InvalidParameters("reference scores must be a finite vector")
        check_comparisons(comparisons, scores.shape[0], n_rankers)
        keep = retained_mask(comparisons, scores.shape[0], own_item)
        y = comparisons.soft_labels()
        sa = scores[comparisons.a]
        sb = scores[comparisons.b]
        involved = keep & (sa != sb)
        share = np.where(sa > sb, y, 1.0 - y)
    hits = np.bincount(comparisons.ranker, weights=share * involved, minlength=n_rankers)
    counts = np.bincount(
        comparisons.ranker, weights=involved.astype(np.float64), minlength=n_rankers
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        out: NDArray[np.float64] = np.where(counts > 0.0, hits / counts, np.nan)
    return out


def _max_item(comparisons: Comparisons) -> int:
    if len(comparisons) == 0:
        return -1
    return max(int(comparisons.a.max()), int(comparisons.b.max()))


def _index_set(name: str, values: ArrayLike, n: int) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise InvalidParameters(f"{name} must be a one-dimensional integer array")
    idx = arr.astype(np.int64)
    if idx.min() < 0 or idx.max() >= n:
        raise InvalidParameters(f"{name} holds a node index outside [0, {n})")
    return np.unique(idx)


def update_reputation(
    reputation: ArrayLike,
    comparisons: Comparisons,
    best_item: int,
    winning_generators: ArrayLike = (),
    absent: ArrayLike = (),
    *,
    gold_item: int | None = None,
    own_item: ArrayLike | None = None,
    params: ReputationParams = ReputationParams(),
) -> NDArray[np.float64]:
    """Reputations after one round.

    In order, on ``r`` (a copy of ``reputation``):

    1. **Rankers** with at least one comparison involving the reference item move towards
       their agreement ``g`` with it (:func:`ranker_agreement`) by an exponential moving
       average: ``r <- (1 - rate) r + rate g``. The reference is ``best_item`` (the consensus
       winner) at ``params.ranker_rate``; on a **gold task** (``gold_item`` given, the
       candidate known to be correct) truth replaces consensus: the reference is
       ``gold_item``, the rate ``params.gold_rate``, and only agreement above chance counts:
       ``g <- clip((g - gold_chance) / (1 - gold_chance), 0, 1)``. Rankers without such a
       comparison keep their reputation.
    2. **Winning generators** move towards 1: ``r <- r + generator_rate (1 - r)``. On gold
       tasks pass the generators of the correct candidate.
    3. **Absent** nodes (selected, did not answer) lose a little:
       ``r <- r (1 - absent_penalty)``.

    Parameters
    ----------
    reputation : array_like of float, shape (n_nodes,)
        Current reputations in ``[0, 1]``; ``comparisons.ranker`` indexes this array.
    comparisons : Comparisons
        The round's verdicts.
    best_item : int
        The consensus winner.
    winning_generators, absent : array_like of int
        Node indices (duplicates are counted once).
    gold_item : int, optional
        The known-correct candidate on a gold task.
    own_item : array_like of int, optional
        Per-node own candidate (or -1); those comparisons are ignored.
    params : ReputationParams
        Rates.

    Returns
    -------
    ndarray of float64, shape (n_nodes,)
        New reputations, bit-identical for identical inputs.
    """
    rep = np.asarray(reputation, dtype=np.float64)
    if (
        rep.ndim != 1
        or not np.all(np.isfinite(rep))
        or (rep.size and (rep.min() < 0.0 or rep.max() > 1.0))
    ):
        raise InvalidParameters("reputation must be a vector of values in [0, 1]")
    n = rep.shape[0]
    reference = best_item if gold_item is None else gold_item
    rate = params.ranker_rate if gold_item is None else params.gold_rate
    agreement = ranker_agreement(comparisons, int(reference), n, own_item)
    informed = ~np.isnan(agreement)
    if gold_item is not None and params.gold_chance > 0.0:
        chance = params.gold_chance
        agreement = np.clip((agreement - chance) / (1.0 - chance), 0.0, 1.0)
    out = rep.copy()
    out[informed] = (1.0 - rate) * rep[informed] + rate * agreement[informed]
    gens = _index_set("winning_generators", winning_generators, n)
    out[gens] = out[gens] + params.generator_rate * (1.0 - out[gens])
    gone = _index_set("absent", absent, n)
    out[gone] = out[gone] * (1.0 - params.absent_penalty)
    clipped: NDArray[np.float64] = np.clip(out, 0.0, 1.0)
    return clipped
