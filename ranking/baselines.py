"""Baseline aggregation rules, behind the same :class:`ranking.AggregationResult` as
:func:`ranking.aggregate`, so the simulator can compare them on the same draws.

* :func:`majority_vote`: the biggest cluster of identical normalised answers wins.
* :func:`aggregate_plain`: unweighted Bradley-Terry (every ranker counts 1, no EM).
* :func:`aggregate_weighted`: reputation-weighted, share-capped BT without EM.
* :func:`borda_count`: each candidate's (weighted) share of wins over its comparisons.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ranking.errors import InvalidParameters, NoComparisons
from ranking.pairwise import build_win_matrix, check_n_items
from ranking.robust import TieBreak, fit_weighted
from ranking.types import AggregationParams, AggregationResult, Comparisons
from ranking.uncertainty import select_winner

__all__ = ["aggregate_plain", "aggregate_weighted", "borda_count", "majority_vote"]

_DEFAULT = AggregationParams()


def _tied_top(scores: NDArray[np.float64], eligible: NDArray[np.bool_]) -> NDArray[np.int64]:
    top = scores[eligible].max()
    return np.flatnonzero(eligible & (scores == top)).astype(np.int64)


def majority_vote(labels: Sequence[Any], tie_break: TieBreak = None) -> AggregationResult:
    """Majority vote over normalised final answers.

    Candidates with equal labels form a cluster; every candidate in the biggest cluster(s) is
    tied for first, and the winner is the one among them with the smallest ``tie_break`` key
    (or lowest index). ``strengths`` holds each candidate's vote share (its cluster's size over
    the number of labelled candidates), and ``lower == upper == strengths``. A label of ``None``
    (no extractable answer) casts no vote: such candidates are reported as ``unjudged``.

    Raises
    ------
    InvalidParameters
        No candidates.
    NoComparisons
        Every label is ``None``.
    """
    n = len(labels)
    if n == 0:
        raise InvalidParameters("majority_vote needs at least one candidate")
    cluster_of: dict[Any, int] = {}
    ids = np.full(n, -1, dtype=np.int64)
    for i, label in enumerate(labels):
        if label is not None:
            ids[i] = cluster_of.setdefault(label, len(cluster_of))
    voted = ids >= 0
    if not voted.any():
        raise NoComparisons("no candidate has an answer label")
    sizes = np.bincount(ids[voted], minlength=len(cluster_of)).astype(np.float64)
    share = np.where(voted, sizes[np.maximum(ids, 0)] / voted.sum(), 0.0)
    tied = _tied_top(share, voted)
    eligible = np.zeros(n, dtype=bool)
    eligible[tied] = True
    winner = select_winner(share, eligible, tie_break)
    return AggregationResult(
        strengths=share,
        lower=share,
        upper=share,
        winner=winner,
        tied_for_first=tied,
        unjudged=np.flatnonzero(~voted),
        method="majority",
    )


def aggregate_plain(
    comparisons: Comparisons,
    n_items: int,
    own_item: ArrayLike | None = None,
    params: AggregationParams = _DEFAULT,
    tie_break: TieBreak = None,
) -> AggregationResult:
    """Plain Bradley-Terry: every retained comparison counts once, whoever made it; no
    reputation, no cap, no EM (``params.em_iterations`` is ignored). Strengths, intervals and
    edge cases as :func:`ranking.aggregate`. ``method == "plain-bt"``."""
    return fit_weighted(comparisons, n_items, None, own_item, params, tie_break, 0, "plain-bt")


def aggregate_weighted(
    comparisons: Comparisons,
    n_items: int,
    ranker_reputation: ArrayLike,
    own_item: ArrayLike | None = None,
    params: AggregationParams = _DEFAULT,
    tie_break: TieBreak = None,
) -> AggregationResult:
    """Reputation-weighted, share-capped Bradley-Terry without robust re-weighting:
    :func:`ranking.aggregate` with no EM. ``method == "weighted-bt"``."""
    return fit_weighted(
        comparisons, n_items, ranker_reputation, own_item, params, tie_break, 0, "weighted-bt"
    )


def borda_count(
    comparisons: Comparisons,
    n_items: int,
    ranker_weights: ArrayLike | None = None,
    own_item: ArrayLike | None = None,
    tie_break: TieBreak = None,
) -> AggregationResult:
    """Borda-style count from pairwise verdicts.

    Each candidate scores its (weighted) share of wins over all comparisons it took part in,
    ties counting half; normalising by its number of comparisons keeps uneven schedules fair.
    ``strengths`` holds that share in ``[0, 1]``, ``lower == upper == strengths``; all
    candidates with the top share are tied for first; unjudged candidates score 0 and cannot
    win. ``method == "borda"``.

    Raises
    ------
    NoComparisons
        ``n_items >= 2`` and no retained comparison carries weight.
    """
    n = check_n_items(n_items)
    w = build_win_matrix(comparisons, n, ranker_weights, own_item)  # validates every input
    if ranker_weights is None:
        n_rankers = int(comparisons.ranker.max()) + 1 if len(comparisons) else 0
        weights = np.ones(n_rankers, dtype=np.float64)
    else:
        weights = np.asarray(ranker_weights, dtype=np.float64)
    wins = w.sum(axis=1)
    played = wins + w.sum(axis=0)
    judged = played > 0.0
    if n == 1:
        judged = np.ones(1, dtype=bool)
    elif not judged.any():
        raise NoComparisons("no retained comparison carries any weight")
    score = np.divide(wins, played, out=np.zeros(n), where=played > 0.0)
    tied = _tied_top(score, judged)
    eligible = np.zeros(n, dtype=bool)
    eligible[tied] = True
    return AggregationResult(
        strengths=score,
        lower=score,
        upper=score,
        winner=select_winner(score, eligible, tie_break),
        tied_for_first=tied,
        unjudged=np.flatnonzero(~judged),
        ranker_reliability=np.zeros(0),
        ranker_weights=weights,
        method="borda",
    )
