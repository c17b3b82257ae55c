"""The consensus rule a record follows: which cluster wins, given the judges' aggregate and
what the ledger has learned about the judges (DESIGN "The consensus principle").

A record names its rule in ``RoundParameters.consensus``:

* ``0`` (records made before the field existed): the robust Bradley-Terry winner
  (:func:`ranking.aggregate`), checked as it always was.
* ``3`` (:data:`CURRENT_CONSENSUS`): the **evidence reading** (:mod:`node.round.reading`):
  votes and verdicts read through a model whose numbers the gold rounds choose; the record
  carries each cluster's posterior and, on gold rounds that refit it, the model. The model
  reads the generators' gold records and the judges' verdicts only once the gold rounds show
  each adds to the votes; until then it is the plain vote.
* ``2``: the evidence reading as first made, reading the generators' gold records always
  (between generators of one skill a short record is noise it then follows).
* ``1``: the **calibrated** rule of :mod:`ranking.consensus`. The
  winner maximises ``share_i + lam * strength_i``: each cluster's share of the round's
  generator weight (each generator weighed by its decayed gold record in the ledger,
  :func:`ranking.generator_weights`) plus the judges' recorded log-strength times ``lam``,
  the judge weight the ledger's gold rounds support (:func:`ranking.fit_judge_trust` over
  :attr:`node.ledger.trust.LedgerState.gold_rounds` at the position the round was opened
  on). Without gold rounds every weight is equal and ``lam = 0``: majority vote over
  clusters, exact ties broken by the judges. The record carries ``lam``
  (``AggregationOutcome.judge_weight``); members check it within
  :data:`~node.round.tolerance.OUTCOME_TOLERANCE` of their own fit (the fit uses
  ``exp``/``log`` and a 2x2 solve, which differ in the last bits between float builds), and
  check that the recorded winner follows *exactly* from the recorded ``lam``, the recorded
  strengths and the shares (``+ - * /`` only, correctly rounded on every machine), with the
  tie gaps and tied-for-first set taken around it.

Why a leader gains nothing inside the tolerance: ``lam`` moves the score of a cluster by
``dlam * strength``, about ``1e-6`` of a strength of a few logits, so the leader could pick a
different winner only among clusters whose scores already agree to about ``1e-6``; and the
gold rounds the fit reads are recorded values every node applies identically.

This module owns :data:`CURRENT_CONSENSUS`, :func:`cluster_shares`, :func:`gold_round_of`,
:func:`update_generator_gold` (what a gold round teaches), :func:`apply_consensus` (the
leader's step) and :func:`consensus_discrepancy` (the member's).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from node.round.clustering import Cluster
from node.round.rules import CURRENT_RULES, generator_rule
from node.round.tolerance import OUTCOME_TOLERANCE, within_tolerance
from protocol.v1 import messages_pb2

if TYPE_CHECKING:
    from ranking import AggregationResult
    from ranking.consensus import GoldRound

#: the consensus rule a leader makes records under today (3: the evidence reading, records
#: read once earned)
CURRENT_CONSENSUS = 3
#: every ``RoundParameters.consensus`` a member knows how to check (2 and 3: the evidence
#: reading, :mod:`node.round.reading`)
CONSENSUS_RULES = (0, 1, 2, 3)


def size_shares(clusters: Sequence[Cluster]) -> np.ndarray:
    """Each cluster's share of the round's candidates, every candidate counted once (what the
    calibrated rule reads when nobody has a gold record)."""
    sizes = np.asarray([len(c.members) for c in clusters], dtype=np.float64)
    return sizes / max(float(sizes.sum()), 1.0)


def cluster_shares(
    clusters: Sequence[Cluster],
    candidates: Sequence[messages_pb2.Candidate],
    generator_gold: Mapping[str, tuple[float, float]],
    trust_factors: Sequence[float] | None = None,
    rules: int = CURRENT_RULES,
) -> np.ndarray:
    """Each cluster's share of the round's generator weight: every candidate weighs its
    generator's gold record (:func:`ranking.generator_weights` of ``generator_gold``, decayed
    (hits, seen) per node id; unknown nodes have none), times its ``trust_factors`` entry
    (with trust on: the generator's capped trust weight,
    :func:`node.round.aggregate.vote_factors`, so identities on
    probation vote as little as they rank), summed per cluster, with the vote power of the
    record's ``rules`` (:func:`node.round.rules.generator_rule`). Basic arithmetic only, so
    every node gets the same shares from the same ledger."""
    from ranking.consensus import generator_weights, vote_shares

    cand_item = np.zeros(len(candidates), dtype=np.int64)
    for index, cluster in enumerate(clusters):
        cand_item[list(cluster.members)] = index
    records = [generator_gold.get(c.generator_id, (0.0, 0.0)) for c in candidates]
    hits = np.asarray([r[0] for r in records], dtype=np.float64)
    seen = np.asarray([r[1] for r in records], dtype=np.float64)
    weights = generator_weights(hits, seen, power=generator_rule(rules)[1])
    if trust_factors is not None:
        weights = weights * np.asarray(trust_factors, dtype=np.float64)
    return vote_shares(cand_item, len(clusters), weights)


def gold_round_of(
    shares: np.ndarray, correct: Sequence[bool], outcome: messages_pb2.AggregationOutcome
) -> GoldRound | None:
    """A recorded gold round as the calibrated rule's training example, from recorded values
    and ledger state only (so every node appends the same one); ``None`` when it teaches
    nothing (no correct cluster, no wrong one, or strengths the record does not carry)."""
    from ranking.consensus import GoldRound

    mask = np.asarray(correct, dtype=bool)
    strengths = np.asarray(outcome.strengths, dtype=np.float64)
    if mask.shape[0] < 2 or not mask.any() or mask.all() or strengths.shape != mask.shape:
        return None
    if shares.shape != mask.shape or not np.all(np.isfinite(strengths)):
        return None
    return GoldRound(shares, strengths, mask)


def update_generator_gold(
    generator_gold: Mapping[str, tuple[float, float]],
    clusters: Sequence[Cluster],
    candidates: Sequence[messages_pb2.Candidate],
    correct: Sequence[bool],
    rules: int = CURRENT_RULES,
) -> dict[str, tuple[float, float]]:
    """The generators' gold records after a gold round (:func:`ranking.update_generator_record`
    for every candidate's generator: right when its cluster holds the gold answer), with the
    decay of the record's ``rules`` (:func:`node.round.rules.generator_rule`)."""
    from ranking.consensus import update_generator_record

    right = [False] * len(candidates)
    for index, cluster in enumerate(clusters):
        for member in cluster.members:
            right[member] = bool(correct[index])
    ids = [c.generator_id for c in candidates]
    records = [generator_gold.get(node_id, (0.0, 0.0)) for node_id in ids]
    hits, seen = update_generator_record(
        [r[0] for r in records], [r[1] for r in records], right, decay=generator_rule(rules)[0]
    )
    out = dict(generator_gold)
    out.update(zip(ids, zip(hits.tolist(), seen.tolist(), strict=True), strict=True))
    return out


def posterior_winner(posterior: Sequence[float]) -> int:
    """The first largest entry of a *recorded* posterior: comparisons alone, so every machine
    picks the same cluster from the same recorded numbers."""
    best = 0
    for index, value in enumerate(posterior):
        if value > posterior[best]:
            best = index
    return best


def consensus_winner(shares: np.ndarray, outcome: messages_pb2.AggregationOutcome) -> int:
    """The cluster the calibrated rule picks from the outcome's *recorded* numbers."""
    from ranking.consensus import select_consensus

    strengths = np.asarray(outcome.strengths, dtype=np.float64)
    return select_consensus(shares, strengths, float(outcome.judge_weight))


def apply_consensus(
    outcome: messages_pb2.AggregationOutcome,
    result: AggregationResult | None,
    shares: np.ndarray,
    judge_weight: float,
    level: float,
) -> messages_pb2.AggregationOutcome:
    """The leader's step: ``outcome`` (the judges' aggregate) with the calibrated winner, its
    tie gaps and tied-for-first set, and the judge weight it used. On a fallback outcome (no
    usable verdict, ``result is None``: strengths all zero) the winner is the largest share of
    generator weight, alone in the tied-for-first set."""
    decided = messages_pb2.AggregationOutcome()
    decided.CopyFrom(outcome)
    decided.judge_weight = judge_weight
    if shares.shape[0] == 0:
        return decided
    return decided_outcome(decided, result, consensus_winner(shares, decided), level)


def decided_outcome(
    outcome: messages_pb2.AggregationOutcome,
    result: AggregationResult | None,
    winner: int,
    level: float,
) -> messages_pb2.AggregationOutcome:
    """``outcome`` with ``winner`` (a consensus rule's choice), the judges' tie gaps around it
    and the tied-for-first set they give; on a fallback outcome (``result is None``) the winner
    alone is tied for first."""
    from ranking import tie_gaps, tied_from_gaps

    decided = messages_pb2.AggregationOutcome()
    decided.CopyFrom(outcome)
    if result is None:
        decided.winner = winner
        del decided.tied_for_first[:]
        decided.tied_for_first.append(winner)
        return decided
    strengths = np.asarray(decided.strengths, dtype=np.float64)
    gaps = tie_gaps(result.strengths, result.covariance, level, winner)
    decided.winner = winner
    del decided.tie_gap[:]
    decided.tie_gap.extend(float(x) for x in gaps)
    del decided.tied_for_first[:]
    decided.tied_for_first.extend(int(x) for x in tied_from_gaps(strengths, gaps, winner))
    return decided


def consensus_discrepancy(
    recorded: messages_pb2.AggregationOutcome,
    shares: np.ndarray,
    expected_weight: float,
) -> tuple[str, str] | None:
    """``(field, detail)`` of the first way a consensus-1 outcome's judge weight or winner
    fails (see the module docstring), or ``None``. The strengths themselves, the tie gaps and
    the tied-for-first set are checked by :func:`node.round.tolerance.outcome_discrepancy`
    around the winner this returns as correct."""
    from ranking.consensus import is_judge_weight

    weight = float(recorded.judge_weight)
    if not is_judge_weight(weight):
        return "outcome.judge_weight", f"{weight} is not a weight"
    if not within_tolerance([weight], [expected_weight]):
        return (
            "outcome.judge_weight",
            f"{weight}, the ledger's gold rounds give {expected_weight} "
            f"(tolerance {OUTCOME_TOLERANCE:g})",
        )
    n = shares.shape[0]
    if n == 0:
        return None
    if len(recorded.strengths) != n:
        return "outcome.strengths", f"{len(recorded.strengths)} for {n} clusters"
    if not 0 <= int(recorded.winner) < n:
        return "outcome.winner", f"{recorded.winner} out of range"
    expected = consensus_winner(shares, recorded)
    if int(recorded.winner) != expected:
        return "outcome.winner", f"{recorded.winner}, the recorded numbers give {expected}"
    return None
