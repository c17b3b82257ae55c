"""The simulator's bridge to :mod:`ranking`: stacked pair schedules, the aggregators compared
side by side, and the reputation step.

This module owns :func:`ranker_pairs` (every ranker's schedule, stacked), :func:`make_comparisons`,
:func:`aggregate_all` (plain, weighted, robust BT and Borda on one set of comparisons),
:func:`majority_item` and :func:`reputation_step`. Nothing numeric is re-implemented here: the
aggregators are :func:`ranking.aggregate_plain`, :func:`ranking.aggregate_weighted`,
:func:`ranking.aggregate` (the node's default) and :func:`ranking.borda_count`, and reputation is
:func:`ranking.update_reputation`, the function the node's ledger applies to every record
(``node.ledger.state.apply_record``), so the simulator measures the rules the node runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

import ranking
from ranking.errors import RankingError
from ranking.reputation import ReputationParams
from ranking.schedule import schedule_pairs
from ranking.types import (
    OUTCOME_A,
    OUTCOME_B,
    OUTCOME_TIE,
    AggregationResult,
    Comparisons,
)
from sim.model import JUDGED_A, JUDGED_B

__all__ = [
    "PAIRWISE_RULES",
    "AllResults",
    "aggregate_all",
    "majority_item",
    "make_comparisons",
    "ranker_pairs",
    "reputation_step",
]

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

#: The pairwise rules :func:`aggregate_all` fits (each falls back to the majority item when
#: there is nothing to fit).
PAIRWISE_RULES = ("plain-bt", "weighted-bt", "robust-bt", "borda")


@dataclass(frozen=True)
class AllResults:
    """Winners of every judged aggregator, and the default's full result (``None`` when the
    comparisons carried no weight and the round fell back to majority vote)."""

    winners: dict[str, int]
    default: AggregationResult | None


def ranker_pairs(
    n_items: int,
    own_item: IntArray,
    schedule: str,
    k: int | None,
    rng: np.random.Generator | Sequence[np.random.Generator],
) -> tuple[IntArray, IntArray, IntArray]:
    """Every ranker's pairs, stacked: ``(ranker, a, b)`` arrays, one row per comparison.

    Each ranker gets :func:`ranking.schedule_pairs` with its own item excluded, as the node
    assigns them (``node.round.schedule.assign_pairs``). ``rng`` is one generator for all
    rankers in turn, or one per ranker (the node seeds one per ranker from the query id; the
    parity test passes those). Fewer than two items: no pairs, as on the node.
    """
    rankers: list[IntArray] = []
    firsts: list[IntArray] = []
    seconds: list[IntArray] = []
    for r, own in enumerate(own_item.tolist()):
        if n_items < 2:
            continue
        source = rng if isinstance(rng, np.random.Generator) else rng[r]
        pairs = schedule_pairs(
            n_items, schedule, source, k=k, exclude=None if own < 0 else int(own)
        )
        rankers.append(np.full(pairs.shape[0], r, dtype=np.int64))
        firsts.append(pairs[:, 0])
        seconds.append(pairs[:, 1])
    if not rankers:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    return (
        np.concatenate(rankers),
        np.concatenate(firsts).astype(np.int64),
        np.concatenate(seconds).astype(np.int64),
    )


def make_comparisons(
    a: IntArray,
    b: IntArray,
    verdicts: IntArray,
    ranker: IntArray,
    confidence: FloatArray | None = None,
) -> Comparisons:
    """:class:`ranking.Comparisons` from simulated verdicts; ``confidence`` is each verdict's
    stated confidence in its chosen side (NaN or omitted: none stated, a full win)."""
    outcome = np.where(
        verdicts == JUDGED_A,
        OUTCOME_A,
        np.where(verdicts == JUDGED_B, OUTCOME_B, OUTCOME_TIE),
    )
    return Comparisons(
        a=a,
        b=b,
        outcome=outcome.astype(np.int8),
        ranker=ranker,
        confidence=np.full(a.shape, np.nan) if confidence is None else confidence,
    )


def majority_item(cand_item: IntArray, n_items: int, rng: np.random.Generator | None = None) -> int:
    """The item most candidates gave; ties go to the lowest index.

    Item indices are already a seeded random permutation, so the lowest index is a fair tie
    break; ``rng`` is accepted for interface symmetry and not drawn from.
    """
    del rng
    counts = np.bincount(cand_item, minlength=n_items)
    return int(np.argmax(counts))


def aggregate_all(
    comparisons: Comparisons,
    n_items: int,
    ranker_weights: FloatArray,
    own_item: IntArray,
    fallback: int,
) -> AllResults:
    """Plain, reputation-weighted and robust BT and Borda count on the same comparisons.

    ``ranker_weights`` are the rankers' trust weights (:func:`ranking.trust_weights` of their
    reputations). A rule that finds nothing to fit (every comparison weightless) answers
    ``fallback`` (the majority item), as a node falls back to the largest cluster.
    """
    winners: dict[str, int] = {}
    default: AggregationResult | None = None
    for name in PAIRWISE_RULES:
        try:
            result = _aggregate(name, comparisons, n_items, ranker_weights, own_item)
        except RankingError:
            winners[name] = fallback
            continue
        winners[name] = int(result.winner)
        if name == "robust-bt":
            default = result
    return AllResults(winners=winners, default=default)


def _aggregate(
    name: str, c: Comparisons, n_items: int, weights: FloatArray, own_item: IntArray
) -> AggregationResult:
    if name == "plain-bt":
        return ranking.aggregate_plain(c, n_items, own_item=own_item)
    if name == "weighted-bt":
        return ranking.aggregate_weighted(c, n_items, weights, own_item=own_item)
    if name == "robust-bt":
        return ranking.aggregate(c, n_items, weights, own_item=own_item)
    return ranking.borda_count(c, n_items, own_item=own_item)


def reputation_step(
    reputation: FloatArray,
    comparisons: Comparisons | None,
    node_of_ranker: IntArray,
    best_item: int,
    winning_generators: IntArray,
    absent: IntArray,
    gold_item: int | None,
    params: ReputationParams,
) -> FloatArray:
    """Every node's reputation after one round: :func:`ranking.update_reputation`, unchanged.

    ``comparisons.ranker`` indexes the round's rankers; ``node_of_ranker`` maps them to node
    indices, so the rule sees the whole population's vector as the node's ledger does. On a gold
    round pass ``gold_item`` (the correct item) and the correct item's generators; on a gold
    round without a correct item pass ``comparisons=None``: there is nothing to agree with, and
    only the absent penalty applies.
    """
    if comparisons is None:
        empty = np.zeros(0, dtype=np.int64)
        comparisons = Comparisons(
            a=empty,
            b=empty,
            outcome=np.zeros(0, dtype=np.int8),
            ranker=empty,
            confidence=np.zeros(0),
        )
    else:
        comparisons = Comparisons(
            a=comparisons.a,
            b=comparisons.b,
            outcome=comparisons.outcome,
            ranker=node_of_ranker[comparisons.ranker],
            confidence=comparisons.confidence,
        )
    return ranking.update_reputation(
        reputation,
        comparisons,
        best_item=best_item,
        winning_generators=winning_generators,
        absent=absent,
        gold_item=gold_item,
        params=params,
    )
