"""Phase *rank* under schedule ``"adaptive"`` (issue 17): judge calls asked in waves, the
leader's loop and a member's check of it.

* :class:`WavePlan` — what both sides plan a round's waves from (clusters, rankers, their own
  clusters, weights, :class:`~ranking.adaptive.AdaptiveParams`), built from a leader's context
  or a record.
* :class:`LookBook` — the leader's stop test: each look's numbers recorded
  (``ConsensusRecord.looks``).
* :class:`LookCheck` — a member's stop test: each recorded look recomputed within the
  numerics tolerance, the decisions taken from the *recorded* numbers.
* :func:`first_wave`, :func:`wave_request` — the leader's requests; its loop (plan a wave,
  send its signed RankRequest, keep the ballots that answer it, until the plan stops) is
  :func:`node.round.leader.rank_in_waves`.
* :func:`check_waves` — a member's check: every wave's request and ballots verified, every
  wave and the stop recomputed (:func:`~node.round.schedule.replay_waves`).

What is signed and recorded
---------------------------
Wave ``k`` is one RankRequest naming ``wave = k`` (wave 0's is the record's ``rank_request``,
later ones its ``wave_requests``) and one Ballot per answering ranker naming the same wave, so
a ranker signs one ballot per wave and equivocation is two different ballots for the *same*
wave (:func:`protocol.replay.round_slot`). The record carries every wave's ballots (wave by
wave, each wave in selection order), the stop reason and the stop test's looks. For the
aggregation and the ledger each ranker's ballots count as one ballot: its verdicts over all
waves, in wave order (:func:`merge_ballots`), so the ranker share cap and reputation see one
ranker, as under ``3n``.

Why fast or silent rankers cannot steer the stop
------------------------------------------------
Wave ``k`` is seeded by the query id and ``k`` alone and planned only once wave ``k - 1`` is
over (every reply in, or its deadline passed); ballots are taken in selection order, never
arrival order. So answering first changes nothing, and a ranker that abstains or stays silent
only removes its own verdicts: a round stops as *separated* only once each of the winner's
pairs was answered by ``min_rankers`` distinct rankers (:mod:`ranking.adaptive`), which a
clique smaller than that cannot provide alone.

The stop across float builds
----------------------------
The stop test refits the verdicts so far (the robust aggregator, then a Beta posterior per
challenger: transcendental functions, so the last bits differ between numpy builds). As for
the aggregation (:mod:`node.round.tolerance`), the leader records the numbers of every look
(winner, strengths, each challenger's chance of not being beaten) and decides from them by
comparisons alone. A member recomputes each look and requires its recorded numbers within
:data:`~node.round.tolerance.OUTCOME_TOLERANCE` of its own (the winner may differ only where
the two strengths are within it), then takes the tied-for-first set from the *recorded*
numbers: every machine then reaches the same stop, or the same next wave, exactly. A leader
gains nothing inside the tolerance: it can move a challenger's ``1e-6``-close call across the
threshold, which stops a round one wave earlier or later on evidence that is, to ``1e-6``,
exactly at the confidence level. The pair choice within a wave uses Beta posteriors of the
verdict counts (``betainc``); two different pairs would need priorities equal to the last bit
on one build and not on another to be picked differently, which the seeded tie-breaks of equal
counts do not depend on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from node.errors import RecordRejected
from node.round.aggregate import aggregation_params, ballots_to_comparisons
from node.round.clustering import Cluster
from node.round.schedule import (
    ADAPTIVE,
    PerWaveSeparation,
    own_item_vector,
    plan_wave,
    replay_waves,
    wave_assignments,
    wave_from_assignments,
)
from node.round.tolerance import within_tolerance
from protocol.errors import ProtocolError
from protocol.signing import Envelope, Verified, Verifier
from protocol.v1 import envelope_pb2, messages_pb2
from ranking.adaptive import (
    AdaptiveParams,
    SeparationLook,
    Wave,
    WaveDecision,
    concat_comparisons,
    separation_error,
    separation_look,
    tied_from_look,
)
from ranking.errors import RankingError
from ranking.types import AggregationParams, Comparisons

__all__ = [
    "ADAPTIVE",
    "CheckedWaves",
    "LookBook",
    "LookCheck",
    "WavePlan",
    "adaptive_params",
    "check_waves",
    "first_wave",
    "merge_assignments",
    "merge_ballots",
    "wave_comparisons",
    "wave_request",
]


def adaptive_params(params: messages_pb2.RoundParameters) -> AdaptiveParams:
    """The adaptive schedule's parameters recorded in a round's parameters."""
    return AdaptiveParams(
        judge_budget=int(params.judge_budget),
        wave_size=int(params.wave_size),
        min_rankers=int(params.min_rankers),
        max_waves=int(params.max_waves),
    )


@dataclass(frozen=True)
class WavePlan:
    """What a round's waves are planned from, the same on the leader and every member."""

    n_items: int  # clusters
    ranker_ids: tuple[str, ...]  # the selected rankers, in selection order (wave index space)
    own: Mapping[str, int]  # ranker -> its own cluster
    query_id: bytes
    params: AdaptiveParams
    aggregation: AggregationParams  # the round's robust aggregator (the stop test's fit)
    weights: tuple[float, ...]  # each selected ranker's weight (node.round.aggregate)
    cluster_sizes: tuple[int, ...]  # candidates per cluster: the pairs between big ones first

    @classmethod
    def of(
        cls,
        clusters: Sequence[Cluster],
        ranker_ids: Sequence[str],
        own: Mapping[str, int],
        query_id: bytes,
        parameters: messages_pb2.RoundParameters,
        weights: Sequence[float],
    ) -> WavePlan:
        return cls(
            n_items=len(clusters),
            ranker_ids=tuple(ranker_ids),
            own=dict(own),
            query_id=query_id,
            params=adaptive_params(parameters),
            aggregation=aggregation_params(parameters),
            weights=tuple(float(w) for w in weights),
            cluster_sizes=tuple(len(c.members) for c in clusters),
        )

    @property
    def own_vector(self) -> np.ndarray:
        """Each ranker's own cluster in ``ranker_ids`` order (-1: none)."""
        return own_item_vector(self.ranker_ids, self.own)

    @property
    def error(self) -> float:
        """The stop test's per-look error (level split over ``max_waves`` looks)."""
        return separation_error(self.aggregation, self.params.max_waves)

    def look(self, comparisons: Comparisons, winner: int | None = None) -> SeparationLook | None:
        """The stop test's numbers on ``comparisons`` (:func:`ranking.adaptive.separation_look`)."""
        return separation_look(
            comparisons, self.n_items, self.weights, self.own_vector, self.aggregation, winner
        )

    def next(
        self,
        history: Sequence[Wave],
        answers: Sequence[Comparisons],
        looks: PerWaveSeparation | None,
    ) -> WaveDecision:
        """:func:`~node.round.schedule.plan_wave` after ``history`` and its ``answers``."""
        return plan_wave(
            self.n_items,
            self.ranker_ids,
            self.own,
            self.query_id,
            history,
            concat_comparisons(list(answers)),
            self.params,
            looks,
            self.cluster_sizes,
        )


def look_message(wave: int, look: SeparationLook | None) -> messages_pb2.SeparationLook:
    """A look as recorded (``fitted = False`` when nothing could be fitted)."""
    if look is None:
        return messages_pb2.SeparationLook(wave=wave, fitted=False)
    return messages_pb2.SeparationLook(
        wave=wave,
        fitted=True,
        winner=int(look.winner),
        strengths=[float(x) for x in look.strengths],
        not_beaten=[float(x) for x in look.not_beaten],
    )


def look_from_message(message: messages_pb2.SeparationLook) -> SeparationLook | None:
    """The recorded numbers of a look (``None``: not fitted)."""
    if not message.fitted:
        return None
    return SeparationLook(
        winner=int(message.winner),
        strengths=np.asarray(message.strengths, dtype=np.float64),
        not_beaten=np.asarray(message.not_beaten, dtype=np.float64),
    )


class LookBook:
    """The leader's stop test: runs each look once per wave and records its numbers."""

    def __init__(self, plan: WavePlan) -> None:
        self.plan = plan
        self.looks: list[messages_pb2.SeparationLook] = []

    def at(self, wave: int) -> Callable[[Comparisons], np.ndarray]:
        def tied(comparisons: Comparisons) -> np.ndarray:
            if not self.looks or self.looks[-1].wave != wave:
                self.looks.append(look_message(wave, self.plan.look(comparisons)))
            recorded = look_from_message(self.looks[-1])
            return tied_from_look(recorded, self.plan.n_items, self.plan.error)

        return tied


class LookCheck:
    """A member's stop test: each recorded look, in order, recomputed within the tolerance;
    the decision is the recorded numbers' (see the module docstring). Raises
    :class:`RecordRejected` (``looks[i]``) on the first look that does not recompute."""

    def __init__(self, plan: WavePlan, recorded: Sequence[messages_pb2.SeparationLook]) -> None:
        self.plan = plan
        self.recorded = list(recorded)
        self.used = 0

    def at(self, wave: int) -> Callable[[Comparisons], np.ndarray]:
        def tied(comparisons: Comparisons) -> np.ndarray:
            if self.used == 0 or self.recorded[self.used - 1].wave != wave:
                self._check(self.used, wave, comparisons)
                self.used += 1
            recorded = look_from_message(self.recorded[self.used - 1])
            return tied_from_look(recorded, self.plan.n_items, self.plan.error)

        return tied

    def _check(self, index: int, wave: int, comparisons: Comparisons) -> None:
        name = f"looks[{index}]"
        if index >= len(self.recorded) or self.recorded[index].wave != wave:
            raise RecordRejected(name, f"no recorded look before wave {wave}")
        message, n = self.recorded[index], self.plan.n_items
        mine = self.plan.look(comparisons)
        if mine is None or not message.fitted:
            if (mine is None) != (not message.fitted):
                raise RecordRejected(name, "fitted differs from the recomputation")
            return
        if not (0 <= message.winner < n and len(message.not_beaten) == n):
            raise RecordRejected(name, "malformed look")
        if not within_tolerance(message.strengths, mine.strengths):
            raise RecordRejected(name, "strengths not within the tolerance")
        if message.winner != mine.winner:
            # a knife edge: the recorded winner's strength must be the top's, within tolerance
            top, theirs = mine.strengths[mine.winner], mine.strengths[message.winner]
            if not within_tolerance([theirs], [top]):
                raise RecordRejected(name, f"winner {message.winner}, recomputed {mine.winner}")
            mine = self.plan.look(comparisons, winner=int(message.winner))
            if mine is None:
                raise RecordRejected(name, "fitted differs from the recomputation")
        if not within_tolerance(message.not_beaten, mine.not_beaten):
            raise RecordRejected(name, "not_beaten not within the tolerance")

    def finish(self) -> None:
        """Every recorded look was one the replay took."""
        if self.used != len(self.recorded):
            raise RecordRejected(f"looks[{self.used}]", "a look the waves never took")


def wave_comparisons(
    ballots: Sequence[messages_pb2.Ballot], ranker_ids: Sequence[str]
) -> Comparisons:
    """One wave's verdicts (abstentions dropped), ``ranker`` indexing ``ranker_ids``; the
    ballots in selection order, so leader and members build the same arrays."""
    a, b, outcome, position, confidence = ballots_to_comparisons(ballots)
    index = {r: i for i, r in enumerate(ranker_ids)}
    ranker = np.asarray([index[ballots[p].ranker_id] for p in position], dtype=np.int64)
    return Comparisons(a=a, b=b, outcome=outcome, ranker=ranker, confidence=confidence)


def merge_ballots(
    ballots: Sequence[messages_pb2.Ballot], ranker_ids: Sequence[str]
) -> list[messages_pb2.Ballot]:
    """Each answering ranker's ballots as one (its verdicts over every wave, in wave order), in
    ``ranker_ids`` order: what the aggregation and the ledger count (unsigned, never sent)."""
    merged: dict[str, messages_pb2.Ballot] = {}
    for ballot in sorted(ballots, key=lambda b: b.wave):
        into = merged.setdefault(
            ballot.ranker_id,
            messages_pb2.Ballot(
                ranker_id=ballot.ranker_id, candidate_set_digest=ballot.candidate_set_digest
            ),
        )
        into.verdicts.extend(ballot.verdicts)
    return [merged[r] for r in ranker_ids if r in merged]


def merge_assignments(
    requests: Sequence[messages_pb2.RankRequest], ranker_ids: Sequence[str]
) -> list[messages_pb2.Assignment]:
    """Each ranker's pairs over every wave, in ``ranker_ids`` order (absences are counted
    against these: a ranker called in some wave that answered none)."""
    pairs: dict[str, list[messages_pb2.Pair]] = {}
    for request in requests:
        for assignment in request.assignments:
            pairs.setdefault(assignment.ranker_id, []).extend(assignment.pairs)
    return [messages_pb2.Assignment(ranker_id=r, pairs=pairs[r]) for r in ranker_ids if r in pairs]


def assignments_of(wave: Wave, ranker_ids: Sequence[str]) -> list[messages_pb2.Assignment]:
    """A planned wave as RankRequest assignments."""
    return [
        messages_pb2.Assignment(
            ranker_id=ranker_id, pairs=[messages_pb2.Pair(a=int(a), b=int(b)) for a, b in pairs]
        )
        for ranker_id, pairs in wave_assignments(wave, ranker_ids)
    ]


def _pairs(assignment: messages_pb2.Assignment) -> list[tuple[int, int]]:
    return [(int(p.a), int(p.b)) for p in assignment.pairs]


# --- the leader ---


def first_wave(plan: WavePlan) -> list[messages_pb2.Assignment]:
    """Wave 0's assignments (empty when the plan stops at once, e.g. one cluster)."""
    decision = plan.next([], [], None)
    return [] if decision.stop else assignments_of(decision.wave, plan.ranker_ids)


def wave_request(
    first: messages_pb2.RankRequest,
    context: messages_pb2.MessageContext,
    wave: int,
    planned: Wave,
    ranker_ids: Sequence[str],
) -> messages_pb2.RankRequest:
    """Wave ``wave``'s RankRequest (``context``: the leader's, stamped now): wave 0's query and
    candidates, this wave's pairs."""
    return messages_pb2.RankRequest(
        context=context,
        query=first.query,
        candidates=first.candidates,
        candidate_set_digest=first.candidate_set_digest,
        assignments=assignments_of(planned, ranker_ids),
        wave=wave,
    )


# --- a member ---


@dataclass(frozen=True)
class CheckedWaves:
    """What :func:`check_waves` found: each answering ranker's ballots merged (selection
    order) and each called ranker's pairs over all waves."""

    ballots: list[messages_pb2.Ballot]
    assignments: list[messages_pb2.Assignment]


def verify_part(verifier: Verifier, envelope: Envelope, kind: int, field: str) -> Verified:
    """One signed part of a record, verified without a clock check (a record is checked long
    after its parts were signed); a bad one refuses the record at ``field``. The record check
    (:mod:`node.round.check`) and the wave check use it alike."""
    try:
        return verifier.verify(envelope, kind, check_time=False)
    except ProtocolError as exc:
        raise RecordRejected(field, str(exc)) from exc


def check_wave_requests(
    record: messages_pb2.ConsensusRecord,
    first: messages_pb2.RankRequest,
    plan: WavePlan,
    verifier: Verifier,
    leader: str,
) -> list[messages_pb2.RankRequest]:
    """Wave 0's request (checked by :func:`node.round.check.check_rank_request`) and every
    later one: the leader's, for this round, showing wave 0's query and candidates, naming its
    own wave index, each selected ranker at most once with pairs of two shown candidates
    (which waves are right is the replay's question; these are what it can take)."""
    if first.wave != 0:
        raise RecordRejected("rank_request", f"names wave {first.wave}, not 0")
    _check_assignments("rank_request", first, plan)
    query_id = plan.query_id
    requests = [first]
    for k, envelope in enumerate(record.wave_requests, start=1):
        name = f"wave_requests[{k - 1}]"
        r = verify_part(verifier, envelope, envelope_pb2.KIND_RANK_REQUEST, name)
        request: messages_pb2.RankRequest = r.message
        if r.signer_id != leader or r.query_id != query_id or request.wave != k:
            raise RecordRejected(name, f"not the leader's request for wave {k} of this round")
        if (
            request.query.SerializeToString() != first.query.SerializeToString()
            or list(request.candidates) != list(first.candidates)
            or request.candidate_set_digest != first.candidate_set_digest
        ):
            raise RecordRejected(name, "shows another query or candidate set than wave 0")
        _check_assignments(name, request, plan)
        requests.append(request)
    return requests


def _check_assignments(name: str, request: messages_pb2.RankRequest, plan: WavePlan) -> None:
    rankers = [a.ranker_id for a in request.assignments]
    if len(set(rankers)) != len(rankers) or not set(rankers) <= set(plan.ranker_ids):
        raise RecordRejected(name, "assigns a ranker twice, or one not selected")
    for assignment in request.assignments:
        if (
            any(p.a == p.b or max(p.a, p.b) >= plan.n_items for p in assignment.pairs)
            or not assignment.pairs
        ):
            raise RecordRejected(name, f"{assignment.ranker_id}: pairs not of two candidates")


def check_wave_ballots(
    record: messages_pb2.ConsensusRecord,
    requests: Sequence[messages_pb2.RankRequest],
    ranker_ids: Sequence[str],
    verifier: Verifier,
    query_id: bytes,
    digest: bytes,
) -> list[list[messages_pb2.Ballot]]:
    """Every ballot signed by a ranker called in the wave it names, once per wave, for this
    round and candidate set, judging exactly its pairs of that wave; ballots are listed wave
    by wave, each wave in selection order. Returns each wave's ballots."""
    order = {r: i for i, r in enumerate(ranker_ids)}
    per_wave: list[list[messages_pb2.Ballot]] = [[] for _ in requests]
    last = (-1, -1)
    for index, envelope in enumerate(record.ballots):
        name = f"ballot[{index}]"
        v = verify_part(verifier, envelope, envelope_pb2.KIND_BALLOT, name)
        ballot: messages_pb2.Ballot = v.message
        if v.query_id != query_id or ballot.wave >= len(requests):
            raise RecordRejected(name, "another round, or a wave never asked")
        assigned = {a.ranker_id: _pairs(a) for a in requests[ballot.wave].assignments}
        if v.signer_id not in assigned or ballot.candidate_set_digest != digest:
            raise RecordRejected(name, "signer not called in its wave, or another candidate set")
        if [(x.a, x.b) for x in ballot.verdicts] != assigned[v.signer_id]:
            raise RecordRejected(name, "verdicts do not match the wave's assignment")
        key = (int(ballot.wave), order[v.signer_id])
        if key <= last:
            raise RecordRejected(name, "duplicate, or out of wave and selection order")
        last = key
        per_wave[ballot.wave].append(ballot)
    return per_wave


def check_waves(
    record: messages_pb2.ConsensusRecord,
    first: messages_pb2.RankRequest,
    plan: WavePlan,
    verifier: Verifier,
    leader: str,
    digest: bytes,
) -> CheckedWaves:
    """A member's check of an adaptive round (see the module docstring): the wave requests,
    the ballots, then every wave, look and the stop recomputed."""
    requests = check_wave_requests(record, first, plan, verifier, leader)
    per_wave = check_wave_ballots(
        record, requests, plan.ranker_ids, verifier, plan.query_id, digest
    )
    waves = [
        wave_from_assignments([(a.ranker_id, _pairs(a)) for a in r.assignments], plan.ranker_ids)
        for r in requests
    ]
    if not first.assignments and not record.wave_requests:
        waves = []  # the plan stopped before wave 0: no call was asked
    looks = LookCheck(plan, record.looks)
    try:  # verdicts the ranking core refuses (e.g. a confidence out of range) are peer input
        answers = [wave_comparisons(b, plan.ranker_ids) for b in per_wave[: len(waves)]]
        replay = replay_waves(
            plan.n_items,
            plan.ranker_ids,
            plan.own,
            plan.query_id,
            waves,
            answers,
            record.stop_reason,
            plan.params,
            looks,
            plan.cluster_sizes,
        )
    except RankingError as exc:
        raise RecordRejected("ballots", f"the waves do not recompute: {exc}") from exc
    if not replay.ok:
        name = "stop_reason" if replay.wave == len(waves) else f"waves[{replay.wave}]"
        raise RecordRejected(name, replay.reason)
    looks.finish()
    ballots = [b for wave in per_wave for b in wave]
    return CheckedWaves(
        ballots=merge_ballots(ballots, plan.ranker_ids),
        assignments=merge_assignments(requests, plan.ranker_ids),
    )
