"""The leader's round as named phases over one :class:`RoundContext` (DESIGN "One round").

:meth:`node.swarm.node.SwarmNode.ask` opens a context from its ledger snapshot and runs the
phases in order; each phase takes the context and returns a new one with its own fields
filled in, so each can be read and tested alone. The deterministic steps call exactly the
functions a member's :func:`node.round.check.check_record` recomputes:

=============  ==========================================  ====================================
phase          the leader (this module)                    what a member recomputes
=============  ==========================================  ====================================
select         :func:`select`: eligible pool,              pool eligibility and reputations,
               :func:`~node.round.selection.               the same
               select_participants`, the signed Query      ``select_participants``
generate       :func:`generate` (fan-out) then             candidate signers selected, once
               :func:`collect_candidates` (pure), keeping  each, answering this query
               what :func:`candidate_answers`
cluster        :func:`cluster`: :func:`~node.round.        the same ``cluster_candidates``,
               clustering.cluster_candidates`,             ``assign_pairs`` and candidate-set
               :func:`~node.round.schedule.assign_pairs`,  digest, field by field
               the signed RankRequest
rank           :func:`rank` (fan-out) then                 ballots signed by assigned rankers,
               :func:`collect_ballots` (pure), keeping     for this round and candidate set,
               what :func:`ballot_answers`                 verdicts matching the assignment
               ``"adaptive"``: :func:`rank_in_waves`,      every wave's request and ballots,
               a signed RankRequest and ballots per wave   every wave and the stop
                                                           (:func:`~node.round.waves.check_waves`)
aggregate      :func:`aggregate`: :func:`~node.round.      the same ``round_outcome`` with the
               aggregate.round_outcome`                    same ``ballot_weights``, bit for bit
record         :func:`record`: the signed                  ``absent_ids``, the answer, the gold
               ConsensusRecord and its                     reveal, the trust events
               :class:`~node.round.check.CheckedRecord`
=============  ==========================================  ====================================

Only :func:`generate` and :func:`rank` do I/O, through the ``fan_out`` they are given; the
others are pure apart from the signer's clock (message timestamps). A peer that does not
answer in time is a normal outcome (absent), and so is a reply a member would refuse in the
record (issue 20, findings 3 and 7: it is dropped, never recorded, so one peer can neither get
the leader taken for a forger nor veto the round); a phase raises
:class:`~node.errors.RoundFailed` only when the round cannot go on (no eligible pool, no
quorum, ballots the ranking core cannot aggregate).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node.errors import RoundFailed
from node.ledger.trust import LedgerState, admitted_height, eligible_ids
from node.membership.registry import Member
from node.round import waves
from node.round.aggregate import (
    DEFAULT_REPUTATION,
    absent_ids,
    ballot_weights,
    gold_cluster,
    gold_clusters,
    own_items_by_ranker,
    round_outcome,
    vote_factors,
)
from node.round.check import CheckedRecord, check_events
from node.round.clustering import Cluster, cluster_candidates
from node.round.consensus import cluster_shares
from node.round.reading import (
    READING_CONSENSUS,
    expected_fit,
    fit_message,
    read_round,
    round_evidence,
    window_entry,
)
from node.round.rules import CURRENT_RULES
from node.round.schedule import ADAPTIVE, assign_pairs
from node.round.selection import Selection, select_participants
from node.round.settings import RoundSettings
from node.transport.client import PeerClient
from protocol.hashing import candidate_set_digest, payload_hash
from protocol.identity import Identity
from protocol.signing import Clock, Envelope, Verified, Verifier, seal
from protocol.v1 import envelope_pb2, messages_pb2
from ranking.adaptive import Wave
from ranking.errors import RankingError
from ranking.evidence import RoundEvidence
from ranking.trust import TrustParams
from ranking.types import Comparisons

#: ``fan_out(members, call, timeout_s)``: call every member concurrently, return the verified
#: replies that arrived in time (:meth:`node.swarm.links.PeerLinks.fan_out`)
FanOut = Callable[
    [Sequence[Member], Callable[[PeerClient], Awaitable[Verified]], float],
    Awaitable[list[Verified]],
]


@dataclass(frozen=True)
class Signer:
    """The leader's signing identity: stamps message contexts with its clock and seals them."""

    identity: Identity
    swarm_id: str
    clock: Clock

    @property
    def node_id(self) -> str:
        """The leader's node id."""
        return self.identity.node_id

    def context(self, query_id: bytes = b"") -> messages_pb2.MessageContext:
        """A message context for ``query_id`` stamped now."""
        return messages_pb2.MessageContext(
            swarm_id=self.swarm_id, query_id=query_id, timestamp_ms=self.clock.time_ms()
        )

    def seal(self, kind: int, message: Any) -> Envelope:
        """Sign ``message`` as an envelope of ``kind`` for this swarm."""
        return seal(self.identity, kind, message, self.swarm_id)


@dataclass(frozen=True)
class RoundContext:
    """One round as the leader sees it; each phase returns a copy with its fields filled.

    The first group is fixed when the round opens (a snapshot of the ledger taken under the
    ledger lock); the others belong to the phase named in their comment.
    """

    query_id: bytes  # 16 bytes naming the round
    question: str  # the question asked (the gold task's question on a gold round)
    settings: RoundSettings  # this leader's parameters, recorded in the Query
    members: Mapping[str, Member]  # the membership view, by node id
    height: int  # ledger height the round is opened on (the Query's; the record may land later)
    head: bytes  # hash of the ledger's last record then (the selection and gold seed)
    state: LedgerState  # the ledger state then (pool, reputations, weights)
    trust: TrustParams | None = None  # the swarm's trust rules (None = off)
    gold_task: Any = None  # the gold task of a blind gold round (None = live round)
    deadline_scale: float = 1.0  # share of the phase deadlines the asker's timeout allows
    # select
    pool: tuple[str, ...] = ()  # sorted ids the selection drew from
    pool_reputations: tuple[float, ...] = ()  # their ledger reputations
    admitted: tuple[int, ...] = ()  # their admission heights (trust on only)
    selection: Selection = field(default_factory=lambda: Selection((), ()))
    query: messages_pb2.Query = field(default_factory=messages_pb2.Query)
    query_env: Envelope = field(default_factory=Envelope)
    # generate
    candidate_envs: tuple[Envelope, ...] = ()  # signed candidates, in selection order
    candidates: tuple[messages_pb2.Candidate, ...] = ()
    # cluster
    clusters: tuple[Cluster, ...] = ()
    own: Mapping[str, int] = field(default_factory=dict)  # ranker -> its own cluster
    rank_request: messages_pb2.RankRequest = field(default_factory=messages_pb2.RankRequest)
    rank_request_env: Envelope = field(default_factory=Envelope)
    # rank
    ranker_ids: tuple[str, ...] = ()  # rankers whose ballots count, in selection order
    ballot_envs: tuple[Envelope, ...] = ()
    ballots: tuple[messages_pb2.Ballot, ...] = ()
    # rank, schedule "adaptive" (node.round.waves): ballots above are each ranker's merged
    wave_request_envs: tuple[Envelope, ...] = ()  # signed RankRequests of waves 1, 2, ...
    stop_reason: str = ""  # why no further wave was asked
    looks: tuple[messages_pb2.SeparationLook, ...] = ()  # the stop test's recorded looks
    all_assignments: tuple[messages_pb2.Assignment, ...] = ()  # each ranker's pairs, all waves
    # aggregate
    outcome: messages_pb2.AggregationOutcome = field(
        default_factory=messages_pb2.AggregationOutcome
    )
    reading: RoundEvidence | None = None  # consensus 2: the round as the reading read it

    @property
    def params(self) -> messages_pb2.RoundParameters:
        """The round parameters as recorded in the Query."""
        return self.settings.to_proto()

    @property
    def generate_timeout_s(self) -> float:
        """The generate phase's deadline, scaled to the asker's timeout."""
        return self.settings.generate_deadline_ms * self.deadline_scale / 1000

    @property
    def rank_timeout_s(self) -> float:
        """The rank phase's deadline, scaled to the asker's timeout."""
        return self.settings.rank_deadline_ms * self.deadline_scale / 1000

    @functools.cached_property
    def expected_pairs(self) -> dict[str, list[tuple[int, int]]]:
        """Each ranker's assigned pairs, as in the RankRequest."""
        return {
            a.ranker_id: [(int(p.a), int(p.b)) for p in a.pairs]
            for a in self.rank_request.assignments
        }


def deadline_scale(settings: RoundSettings, timeout_ms: int) -> float:
    """The share of the phase deadlines an asker's ``timeout_ms`` leaves (0 = no timeout)."""
    if not timeout_ms:
        return 1.0
    return min(1.0, timeout_ms / (settings.generate_deadline_ms + settings.rank_deadline_ms))


def select(ctx: RoundContext, signer: Signer) -> RoundContext:
    """Phase *select*: draw generators and rankers from the eligible pool and sign the Query.

    The pool is every member, or with trust on every identity the ledger holds eligible
    (whether or not this leader can reach it: a member checks that none is left out, issue
    20 finding 4), sorted; the draw is :func:`~node.round.selection.select_participants`
    seeded by the opened ledger position (:data:`~node.round.rules.CURRENT_RULES`), which
    :func:`~node.round.check.check_record` recomputes from the pool and reputations the record
    carries. A selected identity this leader has no address for is simply absent.
    """
    pool = sorted(ctx.members)
    admitted: list[int] = []
    if ctx.trust is not None:
        pool = eligible_ids(ctx.state, ctx.state.identities, ctx.trust)
        admitted = [admitted_height(ctx.state.identity(i)) for i in pool]
        if not pool:
            raise RoundFailed("no eligible identity to select (trust rules)")
    reputations = [ctx.state.reputations.get(i, DEFAULT_REPUTATION) for i in pool]
    settings = ctx.settings
    selection = select_participants(
        pool,
        reputations,
        ctx.query_id,
        ctx.head,
        settings.max_generators,
        settings.max_rankers,
        settings.numerics,
        height=ctx.height,
        rules=CURRENT_RULES,
    )
    query = messages_pb2.Query(
        context=signer.context(ctx.query_id),
        question=ctx.question,
        leader_id=signer.node_id,
        previous_record_hash=ctx.head,
        height=ctx.height,
        generator_ids=selection.generator_ids,
        ranker_ids=selection.ranker_ids,
        parameters=ctx.params,
    )
    return dataclasses.replace(
        ctx,
        pool=tuple(pool),
        pool_reputations=tuple(reputations),
        admitted=tuple(admitted),
        selection=selection,
        query=query,
        query_env=signer.seal(envelope_pb2.KIND_QUERY, query),
    )


async def generate(ctx: RoundContext, fan_out: FanOut) -> RoundContext:
    """Phase *generate*: send the Query to the selected generators, keep what arrives in
    time (:func:`collect_candidates`)."""
    timeout_s = ctx.generate_timeout_s
    query_env = ctx.query_env
    replies = await fan_out(
        [ctx.members[g] for g in ctx.selection.generator_ids if g in ctx.members],
        lambda client: client.call_generate(query_env, timeout_s=timeout_s),
        timeout_s,
    )
    return collect_candidates(ctx, replies)


def candidate_answers(ctx: RoundContext, reply: Verified) -> bool:
    """Whether a Candidate passes what a member checks of ``record.candidates`` (issue 20,
    finding 3): naming this round's query id and hashing this Query (the verifier has already
    bound ``generator_id`` to the signer).

    A member treats a failure there as proof that the leader forged the record, so one
    malicious generator could get an honest leader slashed: the leader drops such a reply
    (the generator is then absent) instead of recording it.
    """
    candidate: messages_pb2.Candidate = reply.message
    return reply.query_id == ctx.query_id and candidate.query_hash == payload_hash(ctx.query_env)


def collect_candidates(ctx: RoundContext, replies: Sequence[Verified]) -> RoundContext:
    """The candidates of selected generators that pass :func:`candidate_answers`, in
    selection order; :class:`RoundFailed` below the generator quorum."""
    by_generator = {v.signer_id: v for v in replies if candidate_answers(ctx, v)}
    answered = [g for g in ctx.selection.generator_ids if g in by_generator]
    quorum = ctx.settings.quorum_generators
    if len(answered) < max(1, quorum):
        raise RoundFailed(
            f"only {len(answered)} of {len(ctx.selection.generator_ids)} generators answered "
            f"within {ctx.generate_timeout_s:g} s (quorum {quorum})"
        )
    return dataclasses.replace(
        ctx,
        candidate_envs=tuple(by_generator[g].envelope for g in answered),
        candidates=tuple(by_generator[g].message for g in answered),
    )


def cluster(ctx: RoundContext, signer: Signer) -> RoundContext:
    """Phase *cluster*: merge candidates into clusters, assign each ranker its pairs (never its
    own cluster) and sign the RankRequest.

    :func:`~node.round.clustering.cluster_candidates` and
    :func:`~node.round.schedule.assign_pairs`, seeded by the query id; a member recomputes the
    shown candidates, their digest and every assignment from the record's candidates.
    """
    candidates = ctx.candidates
    clusters = cluster_candidates(
        [c.answer for c in candidates],
        [c.reasoning for c in candidates],
        ctx.query_id,
        cluster=ctx.settings.cluster_answers,
    )
    rankers = ctx.selection.ranker_ids
    own = own_items_by_ranker(clusters, candidates, rankers)
    if ctx.settings.schedule == ADAPTIVE:  # wave 0 (node.round.waves)
        plan = wave_plan(dataclasses.replace(ctx, clusters=tuple(clusters), own=own))
        assignments: Sequence[tuple[str, Any]] = [
            (a.ranker_id, _pairs(a)) for a in waves.first_wave(plan)
        ]
    else:
        assignments = assign_pairs(
            len(clusters),
            list(rankers),
            own,
            ctx.query_id,
            ctx.settings.schedule,
            ctx.settings.schedule_k,
        )
    request = messages_pb2.RankRequest(
        context=signer.context(ctx.query_id),
        query=ctx.query_env,
        candidates=[
            messages_pb2.AnonymousCandidate(
                content_hash=c.content_hash, answer=c.answer, reasoning=c.reasoning
            )
            for c in clusters
        ],
        candidate_set_digest=candidate_set_digest(c.content_hash for c in clusters),
        assignments=[
            messages_pb2.Assignment(
                ranker_id=ranker_id,
                pairs=[messages_pb2.Pair(a=int(a), b=int(b)) for a, b in pairs],
            )
            for ranker_id, pairs in assignments
        ],
    )
    return dataclasses.replace(
        ctx,
        clusters=tuple(clusters),
        own=own,
        rank_request=request,
        rank_request_env=signer.seal(envelope_pb2.KIND_RANK_REQUEST, request),
    )


def _pairs(assignment: messages_pb2.Assignment) -> list[tuple[int, int]]:
    return [(int(p.a), int(p.b)) for p in assignment.pairs]


def assigned_rankers(ctx: RoundContext) -> list[str]:
    """Rankers with at least one pair to judge (the ones the rank phase calls)."""
    return [a.ranker_id for a in ctx.rank_request.assignments if a.pairs]


async def rank(ctx: RoundContext, fan_out: FanOut, signer: Signer | None = None) -> RoundContext:
    """Phase *rank*: send the RankRequest to every ranker with pairs to judge, keep the ballots
    that arrive in time (:func:`collect_ballots`). Under schedule ``"adaptive"`` the waves of
    :func:`node.round.waves.rank_in_waves` instead (``signer`` signs the later waves)."""
    if ctx.settings.schedule == ADAPTIVE:
        if signer is None:
            raise RoundFailed("the adaptive schedule needs the leader's signer")
        return await rank_in_waves(ctx, fan_out, signer)
    timeout_s = ctx.rank_timeout_s
    request_env = ctx.rank_request_env
    replies = await fan_out(
        [ctx.members[r] for r in assigned_rankers(ctx) if r in ctx.members],
        lambda client: client.call_rank(request_env, timeout_s=timeout_s),
        timeout_s,
    )
    return collect_ballots(ctx, replies)


def confidences_in_range(ballot: messages_pb2.Ballot) -> bool:
    """Whether every stated confidence is one the ranking core takes (in ``[0, 1]``, or NaN
    for "not stated"; :class:`ranking.Comparisons`)."""
    return all(
        math.isnan(v.confidence) or 0.0 <= v.confidence <= 1.0
        for v in ballot.verdicts
        if v.HasField("confidence")
    )


def ballot_answers(ctx: RoundContext, reply: Verified) -> bool:
    """Whether a Ballot passes what a member checks of ``record.ballots`` and what the
    aggregation takes (issue 20, findings 3 and 7): this round's query id, this candidate
    set, verdicts on exactly the signer's assigned pairs, confidences in range (the verifier
    has already bound ``ranker_id`` to the signer).

    A reply that fails is one ranker's fault, so only that ballot is dropped (the ranker is
    then absent): the round goes on, and no member sees a record it would take for forged.
    """
    ballot: messages_pb2.Ballot = reply.message
    return (
        reply.query_id == ctx.query_id
        and ballot.wave == 0
        and ballot.candidate_set_digest == ctx.rank_request.candidate_set_digest
        and [(x.a, x.b) for x in ballot.verdicts] == ctx.expected_pairs.get(reply.signer_id)
        and confidences_in_range(ballot)
    )


def collect_ballots(ctx: RoundContext, replies: Sequence[Verified]) -> RoundContext:
    """The ballots that pass :func:`ballot_answers`, in selection order; :class:`RoundFailed`
    below the ranker quorum (when anyone had pairs to judge)."""
    by_ranker = {v.signer_id: v for v in replies if ballot_answers(ctx, v)}
    ordered = [r for r in ctx.selection.ranker_ids if r in by_ranker]
    called = assigned_rankers(ctx)
    quorum = ctx.settings.quorum_rankers
    if called and len(ordered) < max(1, quorum):
        raise RoundFailed(
            f"only {len(ordered)} of {len(called)} rankers answered within "
            f"{ctx.rank_timeout_s:g} s (quorum {quorum})"
        )
    return dataclasses.replace(
        ctx,
        ranker_ids=tuple(ordered),
        ballot_envs=tuple(by_ranker[r].envelope for r in ordered),
        ballots=tuple(by_ranker[r].message for r in ordered),
    )


# --- rank under schedule "adaptive" (node.round.waves) ---


@dataclass
class _Waves:
    """The leader's waves so far."""

    history: list[Wave] = field(default_factory=list)
    answers: list[Comparisons] = field(default_factory=list)
    requests: list[messages_pb2.RankRequest] = field(default_factory=list)
    request_envs: list[Envelope] = field(default_factory=list)
    ballot_envs: list[Envelope] = field(default_factory=list)
    ballots: list[messages_pb2.Ballot] = field(default_factory=list)


def wave_plan(ctx: RoundContext) -> waves.WavePlan:
    """The plan of the leader's adaptive round (the stop test's weights as :func:`aggregate`'s,
    over every selected ranker)."""
    rankers = ctx.selection.ranker_ids
    weights = ballot_weights(
        ctx.pool,
        ctx.pool_reputations,
        ctx.admitted,
        ctx.height,
        rankers,
        ctx.state.reputations,
        ctx.trust,
    )
    return waves.WavePlan.of(ctx.clusters, rankers, ctx.own, ctx.query_id, ctx.params, weights)


def wave_ballot_answers(
    ctx: RoundContext, request: messages_pb2.RankRequest, reply: Verified
) -> bool:
    """Whether a Ballot answers this wave as a member checks it: this round, this candidate
    set, this wave, verdicts on exactly the signer's pairs of the wave, confidences in range."""
    ballot: messages_pb2.Ballot = reply.message
    expected = {a.ranker_id: _pairs(a) for a in request.assignments}
    return (
        reply.query_id == ctx.query_id
        and ballot.wave == request.wave
        and ballot.candidate_set_digest == request.candidate_set_digest
        and [(x.a, x.b) for x in ballot.verdicts] == expected.get(reply.signer_id)
        and confidences_in_range(ballot)
    )


async def rank_in_waves(ctx: RoundContext, fan_out: FanOut, signer: Signer) -> RoundContext:
    """Phase *rank* under ``"adaptive"``: waves until the plan stops (see the module
    docstring). Each wave waits for all its rankers or the rank deadline; the ranker quorum
    counts rankers that answered at least one wave."""
    plan = wave_plan(ctx)
    book = waves.LookBook(plan)
    done = _Waves()
    timeout_s = ctx.rank_timeout_s
    while True:
        decision = plan.next(done.history, done.answers, book)
        if decision.stop:
            break
        k = len(done.history)
        request, request_env = ctx.rank_request, ctx.rank_request_env
        if k > 0:
            context = signer.context(ctx.query_id)
            request = waves.wave_request(
                ctx.rank_request, context, k, decision.wave, plan.ranker_ids
            )
            request_env = signer.seal(envelope_pb2.KIND_RANK_REQUEST, request)
        called = {a.ranker_id for a in request.assignments}
        replies = await fan_out(
            [ctx.members[r] for r in plan.ranker_ids if r in called and r in ctx.members],
            _call_rank(request_env, timeout_s),
            timeout_s,
        )
        by_ranker = {v.signer_id: v for v in replies if wave_ballot_answers(ctx, request, v)}
        ordered = [r for r in plan.ranker_ids if r in by_ranker]
        done.history.append(decision.wave)
        done.requests.append(request)
        done.request_envs.append(request_env)
        done.ballot_envs.extend(by_ranker[r].envelope for r in ordered)
        wave_ballots = [by_ranker[r].message for r in ordered]
        done.ballots.extend(wave_ballots)
        done.answers.append(waves.wave_comparisons(wave_ballots, plan.ranker_ids))
    return _finish(ctx, plan, done, book, decision.reason)


def _call_rank(
    request_env: Envelope, timeout_s: float
) -> Callable[[PeerClient], Awaitable[Verified]]:
    return lambda client: client.call_rank(request_env, timeout_s=timeout_s)


def _finish(
    ctx: RoundContext, plan: waves.WavePlan, done: _Waves, book: waves.LookBook, reason: str
) -> RoundContext:
    merged = waves.merge_ballots(done.ballots, plan.ranker_ids)
    assignments = waves.merge_assignments(done.requests or [ctx.rank_request], plan.ranker_ids)
    quorum = ctx.settings.quorum_rankers
    if any(a.pairs for a in assignments) and len(merged) < max(1, quorum):
        raise RoundFailed(
            f"only {len(merged)} of {len(assignments)} rankers answered any wave within "
            f"{ctx.rank_timeout_s:g} s (quorum {quorum})"
        )
    return dataclasses.replace(
        ctx,
        ranker_ids=tuple(b.ranker_id for b in merged),
        ballot_envs=tuple(done.ballot_envs),
        ballots=tuple(merged),
        wave_request_envs=tuple(done.request_envs[1:]),
        stop_reason=reason,
        looks=tuple(book.looks),
        all_assignments=tuple(assignments),
    )


def aggregate(ctx: RoundContext) -> RoundContext:
    """Phase *aggregate*: :func:`~node.round.aggregate.round_outcome` over the ballots, each
    weighted by :func:`~node.round.aggregate.ballot_weights` from the recorded pool (the very
    call a member repeats, so the outcome recomputes bit for bit)."""
    weights = ballot_weights(
        ctx.pool,
        ctx.pool_reputations,
        ctx.admitted,
        ctx.height,
        ctx.ranker_ids,
        ctx.state.reputations,
        ctx.trust,
    )
    reading = posterior = None
    try:
        if ctx.params.consensus >= READING_CONSENSUS:
            reading = round_evidence(ctx.clusters, ctx.candidates, ctx.ballots, ctx.own, ctx.state)
            posterior = read_round(reading, ctx.state.evidence_model, ctx.params.consensus)
        outcome = round_outcome(
            ctx.clusters,
            ctx.ballots,
            weights,
            [ctx.own.get(r, -1) for r in ctx.ranker_ids],
            ctx.params,
            ctx.state.judge_weight,
            cluster_shares(
                ctx.clusters,
                ctx.candidates,
                ctx.state.generator_gold,
                vote_factors(
                    ctx.candidates,
                    ctx.pool,
                    ctx.pool_reputations,
                    ctx.admitted,
                    ctx.height,
                    ctx.trust,
                ),
                rules=CURRENT_RULES,
            ),
            posterior,
        )
    except RankingError as exc:  # e.g. alpha = 0 and a unanimous winner: no MLE exists
        raise RoundFailed(f"the ballots cannot be aggregated: {exc}") from exc
    return dataclasses.replace(ctx, outcome=outcome, reading=reading)


def reveal_gold(
    record: messages_pb2.ConsensusRecord, ctx: RoundContext, state: LedgerState
) -> tuple[bool, ...]:
    """On a gold round, ``record`` gets the task's reveal and, under the reading when the round
    refits the evidence reading, the model the fit chooses on ``state``'s window with it
    (:func:`node.round.reading.expected_fit`). Returns which clusters hold the gold answer
    (empty on a live round)."""
    if ctx.gold_task is None:
        return ()
    task = ctx.gold_task
    record.gold.CopyFrom(messages_pb2.GoldReveal(task_id=task.task_id, answer=task.answer))
    gold_correct = tuple(gold_clusters(ctx.clusters, task))
    fit = expected_fit(state, window_entry(ctx.reading, gold_correct), ctx.params.consensus)
    if fit is not None:
        record.evidence_fit.CopyFrom(fit_message(fit))
    return gold_correct


@dataclass(frozen=True)
class Position:
    """Where a round's record goes: the ledger as it stands when the round ends (rounds run
    concurrently, so it may have moved on from where the round was opened; see
    :func:`node.round.check.check_query`)."""

    height: int  # records in the ledger: the height the record takes
    head: bytes  # hash of the last record (the chain link)
    state: LedgerState  # the state the record's trust events apply to
    events: tuple[messages_pb2.LedgerEvent, ...] = ()  # pending slash events to carry


def record(
    ctx: RoundContext, signer: Signer, verifier: Verifier, position: Position | None = None
) -> tuple[Envelope, CheckedRecord]:
    """Phase *record*: the signed ConsensusRecord and what appending it applies.

    ``position`` is where the record goes, with the pending events it carries (default: where
    the round was opened, no events). The round's own parts (Query, pool, candidates,
    ballots, outcome) do not depend on it: the Query names the position the round was opened
    on.

    The leader built every part with the functions a receiver recomputes, so the returned
    :class:`~node.round.check.CheckedRecord` is what :func:`~node.round.check.check_record`
    would return for it; the trust events it carries are still verified here
    (:func:`~node.round.check.check_events`), exactly as a member does.
    """
    at = position or Position(ctx.height, ctx.head, ctx.state)
    record = messages_pb2.ConsensusRecord(
        context=signer.context(ctx.query_id),
        leader_id=signer.node_id,
        height=at.height,
        previous_record_hash=at.head,
        query=ctx.query_env,
        candidates=ctx.candidate_envs,
        rank_request=ctx.rank_request_env,
        ballots=ctx.ballot_envs,
        outcome=ctx.outcome,
        answer=ctx.clusters[ctx.outcome.winner].answer,
        absent_ids=absent_ids(
            ctx.query,
            ctx.candidates,
            ctx.all_assignments or ctx.rank_request.assignments,
            ctx.ballots,
        ),
        reputation_ids=ctx.pool,
        reputations=ctx.pool_reputations,
        admitted_at=ctx.admitted,
        events=at.events,
        trust=ctx.trust is not None,
        rules=CURRENT_RULES,
        wave_requests=ctx.wave_request_envs,
        stop_reason=ctx.stop_reason,
        looks=ctx.looks,
    )
    gold_correct = reveal_gold(record, ctx, at.state)
    identities = None
    evidence_keys: tuple[bytes, ...] = ()
    if at.events and ctx.trust is not None:
        identities, evidence_keys = check_events(
            at.events,
            verifier,
            signer.node_id,
            at.height,
            at.head,
            at.state,
            ctx.trust,
            CURRENT_RULES,
        )
    record_env = signer.seal(envelope_pb2.KIND_CONSENSUS_RECORD, record)
    checked = CheckedRecord(
        record=record,
        record_id=payload_hash(record_env),
        leader_id=signer.node_id,
        query_id=ctx.query_id,
        candidates=ctx.candidates,
        ballots=ctx.ballots,
        clusters=ctx.clusters,
        identities=identities,
        evidence_keys=evidence_keys,
        gold_item=gold_cluster(ctx.clusters, ctx.gold_task) if ctx.gold_task is not None else -1,
        gold=ctx.gold_task is not None,
        gold_correct=gold_correct,
        reading=ctx.reading,
    )
    return record_env, checked
