"""Phase *aggregate*: the step shared by the leader (to build a record) and every member (to
recompute it).

* :func:`round_outcome` — accepted ballots to comparisons (:func:`ballots_to_comparisons`),
  weighted by :func:`ballot_weights`, aggregated by :func:`ranking.aggregate_round`.
* :func:`check_parameters` — a record's aggregation parameters, refused when out of range
  (every member recomputes them, so a leader must not make that step arbitrarily expensive).
* :func:`absent_ids` — who was selected and did not answer; :func:`gold_cluster` — the cluster
  holding a gold task's answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from node.ledger.trust import (
    pool_weights,
)
from node.round.clustering import Cluster, own_cluster
from node.round.consensus import (
    CONSENSUS_RULES,
    apply_consensus,
    decided_outcome,
    posterior_winner,
    size_shares,
)
from node.round.schedule import ADAPTIVE, ADAPTIVE_FIELDS
from node.round.tolerance import NUMERICS_RULES
from protocol.v1 import messages_pb2
from ranking.errors import RankingError
from ranking.schedule import SCHEDULE_KINDS
from ranking.trust import TrustParams

if TYPE_CHECKING:
    from ranking import AggregationParams, AggregationResult
from node.errors import RecordRejected

#: reputation of a node the ledger has not seen yet
DEFAULT_REPUTATION = 0.5
#: upper bounds on a record's EM parameters: every member recomputes the aggregation, so a
#: leader must not be able to make that step arbitrarily expensive (defaults: 10 and 1)
MAX_EM_ITERATIONS = 100
MAX_EM_ILSR_STEPS = 20

_OUTCOME_TO_RANKING = {
    messages_pb2.OUTCOME_A: 0,
    messages_pb2.OUTCOME_B: 1,
    messages_pb2.OUTCOME_TIE: 2,
}


def aggregation_params(params: messages_pb2.RoundParameters) -> AggregationParams:
    """The ranking core's parameters for a round's recorded parameters."""
    from ranking import AggregationParams

    return AggregationParams(
        alpha=params.alpha,
        max_ranker_share=params.max_ranker_share,
        em_iterations=params.em_iterations,
        em_ilsr_steps=params.em_ilsr_steps,
        level=params.confidence_level,
    )


def check_parameters(params: messages_pb2.RoundParameters) -> AggregationParams:
    """The aggregation parameters of a recorded round, or :class:`RecordRejected`
    (``query.parameters``) when any parameter is out of range or unknown (checked before the
    round is recomputed, so a bad value is a typed rejection, not a crash or a long spin)."""
    if params.em_iterations > MAX_EM_ITERATIONS:
        raise RecordRejected(
            "query.parameters", f"em_iterations {params.em_iterations} > {MAX_EM_ITERATIONS}"
        )
    if params.em_ilsr_steps > MAX_EM_ILSR_STEPS:
        raise RecordRejected(
            "query.parameters", f"em_ilsr_steps {params.em_ilsr_steps} > {MAX_EM_ILSR_STEPS}"
        )
    if params.schedule not in (*SCHEDULE_KINDS, ADAPTIVE):
        raise RecordRejected("query.parameters", f"unknown schedule {params.schedule!r}")
    check_adaptive_parameters(params)
    if params.schedule == "random-k" and params.schedule_k < 1:
        raise RecordRejected("query.parameters", "random-k needs schedule_k >= 1")
    if params.numerics not in NUMERICS_RULES:
        raise RecordRejected("query.parameters", f"unknown numerics rules {params.numerics}")
    if params.consensus not in CONSENSUS_RULES:
        raise RecordRejected("query.parameters", f"unknown consensus rule {params.consensus}")
    if params.consensus >= 1 and params.numerics < 1:
        raise RecordRejected("query.parameters", "the calibrated consensus needs numerics >= 1")
    try:
        return aggregation_params(params)
    except RankingError as exc:
        raise RecordRejected("query.parameters", str(exc)) from exc


def check_adaptive_parameters(params: messages_pb2.RoundParameters) -> None:
    """:class:`RecordRejected` (``query.parameters``) unless the adaptive fields suit the
    schedule: each ``>= 1`` under ``"adaptive"`` (which needs numerics ``>= 1``: its stop is
    checked within the tolerance, :mod:`node.round.waves`), all 0 under the others."""
    from ranking.adaptive import AdaptiveParams

    if params.schedule != ADAPTIVE:
        used = [name for name in ADAPTIVE_FIELDS if getattr(params, name)]
        if used:
            raise RecordRejected("query.parameters", f"{used[0]} set for {params.schedule!r}")
        return
    if params.numerics < 1:
        raise RecordRejected("query.parameters", "the adaptive schedule needs numerics >= 1")
    try:
        AdaptiveParams(*(int(getattr(params, name)) for name in ADAPTIVE_FIELDS))
    except RankingError as exc:
        raise RecordRejected("query.parameters", str(exc)) from exc


def ballots_to_comparisons(
    ballots: Sequence[messages_pb2.Ballot],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Flatten verdicts into list-form comparison arrays ``(a, b, outcome, ranker, confidence)``;
    ``ranker`` is the ballot's position. Abstentions are dropped."""
    a: list[int] = []
    b: list[int] = []
    outcome: list[int] = []
    ranker: list[int] = []
    confidence: list[float] = []
    for index, ballot in enumerate(ballots):
        for verdict in ballot.verdicts:
            mapped = _OUTCOME_TO_RANKING.get(verdict.outcome)
            if mapped is None:
                continue
            a.append(verdict.a)
            b.append(verdict.b)
            outcome.append(mapped)
            ranker.append(index)
            confidence.append(verdict.confidence if verdict.HasField("confidence") else np.nan)
    return (
        np.asarray(a, dtype=np.int64),
        np.asarray(b, dtype=np.int64),
        np.asarray(outcome, dtype=np.int8),
        np.asarray(ranker, dtype=np.int64),
        np.asarray(confidence, dtype=np.float64),
    )


def aggregate_ballots(
    clusters: Sequence[Cluster],
    ballots: Sequence[messages_pb2.Ballot],
    ballot_reputations: Sequence[float],
    ballot_own_items: Sequence[int],
    params: messages_pb2.RoundParameters,
) -> AggregationResult | None:
    """The ranking core's robust aggregate of a round's ballots; ``None`` when no ballot
    carries a usable verdict (the round then falls back to the largest cluster)."""
    from ranking import Comparisons, NoComparisons, aggregate

    a, b, outcome, ranker, confidence = ballots_to_comparisons(ballots)
    comparisons = Comparisons(a=a, b=b, outcome=outcome, ranker=ranker, confidence=confidence)
    try:
        return aggregate(
            comparisons,
            len(clusters),
            np.asarray(ballot_reputations, dtype=np.float64),
            own_item=np.asarray(ballot_own_items, dtype=np.int64),
            params=aggregation_params(params),
            tie_break=[c.content_hash for c in clusters],
        )
    except NoComparisons:
        return None


def round_outcome(
    clusters: Sequence[Cluster],
    ballots: Sequence[messages_pb2.Ballot],
    ballot_reputations: Sequence[float],
    ballot_own_items: Sequence[int],
    params: messages_pb2.RoundParameters,
    judge_weight: float = 0.0,
    shares: np.ndarray | None = None,
    posterior: Sequence[float] | None = None,
) -> messages_pb2.AggregationOutcome:
    """Aggregate a round's ballots into the outcome its record carries.

    Under ``params.numerics >= 1`` the outcome also carries each candidate's ``tie_gap``, so
    the tied-for-first set follows from recorded numbers alone (:mod:`node.round.tolerance`).
    Under ``params.consensus >= 1`` the winner is the calibrated rule's with ``judge_weight``
    and the clusters' ``shares`` of generator weight (both from the opened ledger position,
    :mod:`node.round.consensus`; default: equal weights); under 2 the evidence reading's
    ``posterior`` (:mod:`node.round.reading`; required) and its first largest entry; under 0
    the robust BT winner.
    """
    result = aggregate_ballots(clusters, ballots, ballot_reputations, ballot_own_items, params)
    outcome = outcome_from(result, clusters, len(ballots), params)
    if params.consensus < 1:
        return outcome
    if params.consensus >= 2:
        if posterior is None:
            raise ValueError("consensus 2 needs the round's posterior")
        return apply_reading(outcome, result, posterior, params.confidence_level)
    if shares is None:
        shares = size_shares(clusters)
    return apply_consensus(outcome, result, shares, judge_weight, params.confidence_level)


def apply_reading(
    outcome: messages_pb2.AggregationOutcome,
    result: AggregationResult | None,
    posterior: Sequence[float],
    level: float,
) -> messages_pb2.AggregationOutcome:
    """``outcome`` (the judges' aggregate) decided by the evidence reading: the posterior
    recorded, the winner its first largest entry (:func:`node.round.consensus.posterior_winner`),
    the tie gaps and tied-for-first set around it."""
    decided = messages_pb2.AggregationOutcome()
    decided.CopyFrom(outcome)
    decided.posterior.extend(float(x) for x in posterior)
    if not posterior:
        return decided
    return decided_outcome(decided, result, posterior_winner(posterior), level)


def outcome_from(
    result: AggregationResult | None,
    clusters: Sequence[Cluster],
    n_ballots: int,
    params: messages_pb2.RoundParameters,
) -> messages_pb2.AggregationOutcome:
    """The record's outcome for an aggregate (``None``: the largest-cluster fallback)."""
    if result is None:
        return _fallback_outcome(clusters, n_ballots)
    return messages_pb2.AggregationOutcome(
        strengths=[float(x) for x in result.strengths],
        lower=[float(x) for x in result.lower],
        upper=[float(x) for x in result.upper],
        winner=int(result.winner),
        tied_for_first=[int(x) for x in result.tied_for_first],
        unjudged=[int(x) for x in result.unjudged],
        ranker_weights=[float(x) for x in result.ranker_weights],
        tie_gap=[float(x) for x in result.tie_gap] if params.numerics >= 1 else [],
    )


def _fallback_outcome(
    clusters: Sequence[Cluster], n_ballots: int
) -> messages_pb2.AggregationOutcome:
    """No ballot carried a usable verdict (all abstained): fall back to the largest cluster
    (majority over normalised answers), ties broken by content hash. Strengths are all zero
    and intervals unbounded, so the record says plainly that nobody judged."""
    n = len(clusters)
    winner = min(range(n), key=lambda i: (-len(clusters[i].members), clusters[i].content_hash))
    return messages_pb2.AggregationOutcome(
        strengths=[0.0] * n,
        lower=[-np.inf] * n,
        upper=[np.inf] * n,
        winner=winner,
        tied_for_first=[winner],
        unjudged=list(range(n)),
        ranker_weights=[0.0] * n_ballots,
    )


def absent_ids(
    query: messages_pb2.Query,
    candidates: Sequence[messages_pb2.Candidate],
    assignments: Sequence[messages_pb2.Assignment],
    ballots: Sequence[messages_pb2.Ballot],
) -> list[str]:
    """Selected nodes that owed a reply and sent none: generators without a candidate, and
    rankers with a non-empty assignment without a ballot. Sorted."""
    answered = {c.generator_id for c in candidates}
    missing = {g for g in query.generator_ids if g not in answered}
    voted = {b.ranker_id for b in ballots}
    missing |= {a.ranker_id for a in assignments if a.pairs and a.ranker_id not in voted}
    return sorted(missing)


def gold_clusters(clusters: Sequence[Cluster], task: Any) -> list[bool]:
    """Which clusters hold the gold answer (all ``False`` without a gold task)."""
    return [task is not None and bool(task.is_correct(c.answer)) for c in clusters]


def gold_cluster(clusters: Sequence[Cluster], task: Any) -> int:
    """Index of the first cluster whose answer is the gold answer, or -1."""
    for index, item in enumerate(clusters):
        if task.is_correct(item.answer):
            return index
    return -1


def ballot_weights(
    pool_ids: Sequence[str],
    pool_reputations: Sequence[float],
    admitted_at: Sequence[int],
    opened_height: int,
    ranker_ids: Sequence[str],
    reputations: Mapping[str, float],
    trust: TrustParams | None,
) -> list[float]:
    """Each ballot's ranking weight: its reputation, or with trust on its
    :func:`node.ledger.trust.pool_weights` entry over the recorded pool (probation caps,
    identity share cap) at the height the round was opened on."""
    if trust is None:
        return [reputations.get(r, DEFAULT_REPUTATION) for r in ranker_ids]
    weights = pool_weights(list(pool_reputations), list(admitted_at), int(opened_height), trust)
    by_id = dict(zip(pool_ids, weights, strict=True))
    return [by_id.get(r, 0.0) for r in ranker_ids]


def vote_factors(
    candidates: Sequence[messages_pb2.Candidate],
    pool_ids: Sequence[str],
    pool_reputations: Sequence[float],
    admitted_at: Sequence[int],
    opened_height: int,
    trust: TrustParams | None,
) -> list[float] | None:
    """With trust on, each candidate's generator's capped trust weight: the weight its ballot
    would carry (:func:`ballot_weights`), so identities on probation vote as little as they
    rank (:func:`node.round.consensus.cluster_shares`); ``None`` with trust off (votes then
    weigh their gold record alone)."""
    if trust is None:
        return None
    generator_ids = [c.generator_id for c in candidates]
    return ballot_weights(
        pool_ids, pool_reputations, admitted_at, opened_height, generator_ids, {}, trust
    )


def own_items_by_ranker(
    clusters: Sequence[Cluster],
    candidates: Sequence[messages_pb2.Candidate],
    ranker_ids: Iterable[str],
) -> dict[str, int]:
    """For each ranker, the cluster holding its own candidate (absent when it has none)."""
    by_generator = {c.generator_id: i for i, c in enumerate(candidates)}
    out = {}
    for ranker_id in ranker_ids:
        index = own_cluster(clusters, by_generator.get(ranker_id))
        if index >= 0:
            out[ranker_id] = index
    return out
