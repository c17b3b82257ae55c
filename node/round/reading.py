"""Consensus rules 2 and 3, the **evidence reading** (:mod:`ranking.evidence`), as a record
commits to it (DESIGN "The consensus principle"; issue 12). Rule 3 reads the generators' gold
records only once the gold rounds show they add to the votes (:data:`EARNED_RECORDS_CONSENSUS`);
rule 2, the reading as first made, reads them always (:func:`rule_model`).

A round's clusters are read as evidence: each candidate is a vote weighed by its generator's
whole gold record, each ballot's verdicts by its ranker's gold record as a judge and by the
answer it generated itself (hidden when it generated none), through a model of tasks, votes
and verdicts whose shared numbers the swarm's gold rounds choose. Before the first gold round
the model reads the votes alone and the reading is the majority vote; the records (rule 3)
and the verdicts are read only once gold rounds show they add to the votes.

What a record commits to, and how a member checks it:

* **The posterior** (``AggregationOutcome.posterior``): each cluster's probability of being
  right, from the recorded parts and the exact gold counts of the ledger position the round was
  opened on (:func:`round_evidence`) under the state's model. Members recompute it within
  :data:`~node.round.tolerance.OUTCOME_TOLERANCE` (it uses ``exp`` and ``log``); the winner is
  the *first largest recorded* entry (:func:`node.round.consensus.posterior_winner`,
  comparisons alone), and the
  tie gaps and tied-for-first set are the judges' Bradley-Terry ones taken around it, as under
  the calibrated rule.
* **The model.** A gold round with a right and a wrong cluster joins the state's window of
  gold rounds (:attr:`~node.ledger.trust.LedgerState.evidence_window`); when
  :func:`ranking.evidence.refit_due` says so, the record carries the model the fit chose on the
  window with it (``ConsensusRecord.evidence_fit``, :func:`expected_fit`). A member refits and
  accepts the recorded model when it is its own choice or scores the same within
  :data:`ranking.evidence.FIT_TOLERANCE` (:func:`ranking.evidence.fit_discrepancy`); the state
  takes the *recorded* model, so every node reads later rounds with the same numbers whatever
  its float build.
* **The gold counts** (:attr:`~node.ledger.trust.LedgerState.generator_record`,
  :attr:`~node.ledger.trust.LedgerState.judge_record`) move by exact ``+1`` steps on every
  gold round with a right cluster (:func:`node.ledger.state.learn_reading`).

The fit's scores are cached per (model, round) in this process (:data:`_SCORES`), a round
keyed by a hash of its evidence (:func:`round_key`), so a cached score is always its own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from node.errors import RecordRejected
from protocol.v1 import messages_pb2
from ranking.evidence import (
    EvidenceModel,
    RoundEvidence,
    fit_discrepancy,
    fit_evidence_model,
    posterior_items,
    refit_due,
    verdict_rows,
)

if TYPE_CHECKING:
    from node.ledger.trust import GoldEvidence, LedgerState
    from node.round.clustering import Cluster

#: ``RoundParameters.consensus`` of the evidence reading
READING_CONSENSUS = 2
#: the first rule under which the generators' gold records, like the verdicts, are read only
#: once the gold rounds show they add to the votes (:func:`ranking.evidence.fit_evidence_model`);
#: consensus 2 reads them always (:func:`rule_model`)
EARNED_RECORDS_CONSENSUS = 3
#: the fit's cached scores, per (model, round key); cleared when it grows past
#: :data:`MAX_CACHED_SCORES` (a cache only: every value is recomputable)
_SCORES: dict[tuple[EvidenceModel, int], float] = {}
MAX_CACHED_SCORES = 500_000


def _cache() -> dict[tuple[EvidenceModel, int], float]:
    if len(_SCORES) > MAX_CACHED_SCORES:
        _SCORES.clear()
    return _SCORES


def round_key(evidence: RoundEvidence, correct: np.ndarray) -> int:
    """A gold round's key in the window and the score cache: the first 8 bytes of a SHA-256 of
    what it is (the evidence's arrays and the correct clusters), so equal keys mean equal
    scores however the round reached this process."""
    digest = hashlib.sha256(b"swarmrank/reading-round\x00")
    digest.update(int(evidence.n_items).to_bytes(4, "big"))
    for array in (
        evidence.vote_item,
        evidence.vote_hits,
        evidence.vote_seen,
        evidence.ranker_hits,
        evidence.ranker_seen,
        evidence.ranker_own,
        evidence.judge_hits,
        evidence.judge_seen,
        evidence.row_ranker,
        evidence.row_lo,
        evidence.row_hi,
        evidence.row_lo_won,
        correct,
    ):
        data = np.ascontiguousarray(array)
        digest.update(f"{data.dtype.str}{data.shape}".encode())
        digest.update(data.tobytes())
    return int.from_bytes(digest.digest()[:8], "big")


def ballot_rankers(ballots: Sequence[messages_pb2.Ballot]) -> list[str]:
    """The round's judges in first-ballot order (an adaptive round's waves of one ranker count
    as one judge): the order of :func:`round_evidence`'s ranker rows."""
    return list(dict.fromkeys(b.ranker_id for b in ballots))


def round_evidence(
    clusters: Sequence[Cluster],
    candidates: Sequence[messages_pb2.Candidate],
    ballots: Sequence[messages_pb2.Ballot],
    own: Mapping[str, int],
    state: LedgerState,
) -> RoundEvidence:
    """The round as the reading reads it: every candidate a vote for its cluster with its
    generator's gold record, every ranker (ballots of one ranker, e.g. an adaptive round's
    waves, counted as one judge) with its gold records as generator and judge and the cluster
    of its own candidate (``own``; -1 when it generated none: summed out), and one decided
    direction per ranker and pair (:func:`ranking.evidence.verdict_rows`). ``state``: the
    ledger position the round was opened on."""
    from node.round.aggregate import ballots_to_comparisons
    from ranking import Comparisons

    vote_item = np.zeros(len(candidates), dtype=np.int64)
    for index, cluster in enumerate(clusters):
        vote_item[list(cluster.members)] = index
    rankers = ballot_rankers(ballots)
    position = {ranker: index for index, ranker in enumerate(rankers)}
    a, b, outcome, ballot_index, _ = ballots_to_comparisons(ballots)
    ranker_of_ballot = np.asarray([position[x.ranker_id] for x in ballots], dtype=np.int64)
    comparisons = Comparisons(
        a=a,
        b=b,
        outcome=outcome,
        ranker=ranker_of_ballot[ballot_index] if len(ballot_index) else ballot_index,
        confidence=np.full(a.shape[0], np.nan),  # the reading counts directions, not confidence
    )
    row_ranker, lo, hi, lo_won = verdict_rows(comparisons)

    def counts(record: Mapping[str, tuple[int, int]], ids: Sequence[str]) -> np.ndarray:
        return np.asarray([record.get(i, (0, 0)) for i in ids], dtype=np.float64).reshape(-1, 2)

    votes = counts(state.generator_record, [c.generator_id for c in candidates])
    as_generator = counts(state.generator_record, rankers)
    as_judge = counts(state.judge_record, rankers)
    return RoundEvidence(
        n_items=len(clusters),
        vote_item=vote_item,
        vote_hits=votes[:, 0],
        vote_seen=votes[:, 1],
        ranker_hits=as_generator[:, 0],
        ranker_seen=as_generator[:, 1],
        ranker_own=np.asarray([own.get(r, -1) for r in rankers], dtype=np.int64),
        judge_hits=as_judge[:, 0],
        judge_seen=as_judge[:, 1],
        row_ranker=row_ranker,
        row_lo=lo,
        row_hi=hi,
        row_lo_won=lo_won,
    )


def rule_model(model: EvidenceModel, consensus: int) -> EvidenceModel:
    """The state's model as rule ``consensus`` reads it. Consensus 2 reads the generators'
    records always: every model it fitted reads them, and a never-fitted state (the plain vote,
    which reads none) is read with consensus 2's own start, the default model reading them."""
    if consensus >= EARNED_RECORDS_CONSENSUS or model.use_records:
        return model
    return EvidenceModel(options=model.options, use_records=True)


def read_round(evidence: RoundEvidence, model: EvidenceModel, consensus: int) -> list[float]:
    """Each cluster's posterior probability of being right under the state's ``model`` read by
    rule ``consensus`` (:func:`rule_model`): what the record carries, the reading's log
    posterior exponentiated."""
    return [float(x) for x in np.exp(posterior_items(evidence, rule_model(model, consensus)))]


def reading_discrepancy(
    recorded: messages_pb2.AggregationOutcome, expected: Sequence[float]
) -> tuple[str, str] | None:
    """``(field, detail)`` of the first way a consensus-2 outcome's posterior or winner fails,
    or ``None``: the posterior within the tolerance of the member's own, the winner its first
    largest recorded entry, no judge weight (that is the calibrated rule's)."""
    from node.round.tolerance import OUTCOME_TOLERANCE, within_tolerance

    posterior = list(recorded.posterior)
    if len(posterior) != len(expected):
        return "outcome.posterior", f"{len(posterior)} entries for {len(expected)} clusters"
    if not within_tolerance(posterior, expected):
        return (
            "outcome.posterior",
            f"{posterior}, the ledger gives {list(expected)} (tolerance {OUTCOME_TOLERANCE:g})",
        )
    if recorded.judge_weight != 0.0:
        return "outcome.judge_weight", "set under consensus 2 (the calibrated rule's field)"
    from node.round.consensus import posterior_winner

    if posterior and int(recorded.winner) != posterior_winner(posterior):
        winner = posterior_winner(posterior)
        return "outcome.winner", f"{recorded.winner}, the recorded posterior gives {winner}"
    return None


def fit_message(model: EvidenceModel) -> messages_pb2.EvidenceFit:
    """A model as a record carries it."""
    return messages_pb2.EvidenceFit(
        options=model.options,
        difficulty_sd=model.difficulty_sd,
        pull_sd=model.pull_sd,
        concentration=model.concentration,
        judge_offset=model.judge_offset,
        judge_correlation=model.judge_correlation,
        skill_mean=model.skill_mean,
        skill_sd=model.skill_sd,
        judge_sd=model.judge_sd,
        use_verdicts=model.use_verdicts,
        use_records=model.use_records,
    )


def model_of(fit: messages_pb2.EvidenceFit) -> EvidenceModel:
    """The model a record carries, or :class:`RecordRejected` (``evidence_fit``) when its
    numbers are no model at all."""
    from ranking.errors import RankingError

    try:
        return EvidenceModel(
            options=int(fit.options),
            difficulty_sd=fit.difficulty_sd,
            pull_sd=fit.pull_sd,
            concentration=fit.concentration,
            judge_offset=fit.judge_offset,
            judge_correlation=fit.judge_correlation,
            skill_mean=fit.skill_mean,
            skill_sd=fit.skill_sd,
            judge_sd=fit.judge_sd,
            use_verdicts=fit.use_verdicts,
            # consensus 2's records predate the field and read the records always
            use_records=fit.use_records if fit.HasField("use_records") else True,
        )
    except RankingError as exc:
        raise RecordRejected("evidence_fit", str(exc)) from exc


def window_entry(evidence: RoundEvidence | None, correct: Sequence[bool]) -> GoldEvidence | None:
    """A gold round's entry in the fit's window, or ``None`` when it teaches the fit nothing
    (not read under consensus 2, or not both a right and a wrong cluster)."""
    mask = np.asarray(correct, dtype=bool)
    if evidence is None or mask.shape[0] != evidence.n_items or not mask.any() or mask.all():
        return None
    return round_key(evidence, mask), evidence, mask


def window_after(state: LedgerState, entry: GoldEvidence) -> tuple[GoldEvidence, ...]:
    """The state's window with ``entry`` appended (the oldest dropped past the window)."""
    from ranking.consensus import DEFAULT_GOLD_WINDOW

    return (*state.evidence_window, entry)[-DEFAULT_GOLD_WINDOW:]


def _fit_inputs(
    state: LedgerState, entry: GoldEvidence, consensus: int
) -> tuple[tuple[GoldEvidence, ...], EvidenceModel, dict[tuple[EvidenceModel, int], float], bool]:
    """What the fit of a gold record's round runs on under rule ``consensus``: the window with
    it, the state's model as the rule reads it, the score cache, whether records are earned."""
    return (
        window_after(state, entry),
        rule_model(state.evidence_model, consensus),
        _cache(),
        consensus >= EARNED_RECORDS_CONSENSUS,
    )


def expected_fit(
    state: LedgerState, entry: GoldEvidence | None, consensus: int
) -> EvidenceModel | None:
    """The model a record whose gold round is ``entry`` must carry when appended on ``state``
    under rule ``consensus`` (the leader's step): the fit on the window with it when
    :func:`ranking.evidence.refit_due` says so, else ``None`` (the record carries none)."""
    if entry is None or not refit_due(state.evidence_rounds + 1):
        return None
    model, _ = fit_evidence_model(*_fit_inputs(state, entry, consensus))
    return model


def check_fit(
    record: messages_pb2.ConsensusRecord,
    state: LedgerState,
    entry: GoldEvidence | None,
    consensus: int,
) -> None:
    """The member's step: :class:`RecordRejected` (``evidence_fit``) unless the record carries a
    model exactly when :func:`expected_fit` would, and one the member accepts
    (:func:`ranking.evidence.fit_discrepancy`)."""
    due = entry is not None and refit_due(state.evidence_rounds + 1)
    if not due:
        if record.HasField("evidence_fit"):
            raise RecordRejected("evidence_fit", "carried by a record that refits nothing")
        return
    assert entry is not None
    if not record.HasField("evidence_fit"):
        raise RecordRejected("evidence_fit", "missing: this gold round refits the reading")
    recorded = model_of(record.evidence_fit)
    problem = fit_discrepancy(recorded, *_fit_inputs(state, entry, consensus))
    if problem is not None:
        raise RecordRejected("evidence_fit", problem)
