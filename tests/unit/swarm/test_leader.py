"""The leader's round phases (node.round.leader), each alone and all in order, without sockets:
replies are signed by test identities and handed to the phases directly (or through a fake
fan-out), and the record they build must pass a member's check_record."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import pytest

from node.errors import RecordRejected, RoundFailed
from node.ledger.trust import LedgerState
from node.membership.registry import Member
from node.round import leader
from node.round.check import check_record
from node.round.clustering import cluster_candidates
from node.round.leader import RoundContext, Signer
from node.round.rules import CURRENT_RULES
from node.round.schedule import assign_pairs
from node.round.selection import select_participants
from node.round.settings import RoundSettings
from node.testing import offline_member
from node.transport.client import PeerClient
from protocol.hashing import candidate_set_digest, payload_hash
from protocol.signing import Verified, Verifier, seal
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2
from ranking.trust import IdentityState, TrustParams

SWARM = "test-swarm"
QUERY_ID = b"q" * 16
HEAD = b"h" * 32
IDENTITIES = [test_identity(i) for i in range(10)]
BY_ID = {i.node_id: i for i in IDENTITIES}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def signer(clock: FakeClock) -> Signer:
    return Signer(IDENTITIES[0], SWARM, clock)


@pytest.fixture
def verifier(clock: FakeClock) -> Verifier:
    return Verifier(SWARM, clock=clock)


def _context(**changes: object) -> RoundContext:
    ctx = RoundContext(
        query_id=QUERY_ID,
        question="What is 6 x 7?",
        settings=RoundSettings(max_generators=4, max_rankers=4),
        members={i.node_id: offline_member(i) for i in IDENTITIES},
        height=3,
        head=HEAD,
        state=LedgerState(height=3, reputations={IDENTITIES[1].node_id: 0.9}),
    )
    return dataclasses.replace(ctx, **changes)  # type: ignore[arg-type]


def _candidate(ctx: RoundContext, generator_id: str, answer: str, v: Verifier) -> Verified:
    candidate = messages_pb2.Candidate(
        context=messages_pb2.MessageContext(
            swarm_id=SWARM, query_id=ctx.query_id, timestamp_ms=v.clock.time_ms()
        ),
        generator_id=generator_id,
        query_hash=payload_hash(ctx.query_env),
        answer=answer,
        model="fake",
    )
    envelope = seal(BY_ID[generator_id], envelope_pb2.KIND_CANDIDATE, candidate, SWARM)
    return v.verify(envelope, envelope_pb2.KIND_CANDIDATE)


def _ballot(
    ctx: RoundContext,
    ranker_id: str,
    v: Verifier,
    pairs: Sequence[tuple[int, int]] | None = None,
    prefer: str = "6 x 7 = 42",
) -> Verified:
    """A ballot preferring the cluster whose answer is ``prefer`` (ties elsewhere)."""
    pairs = ctx.expected_pairs[ranker_id] if pairs is None else pairs
    answers = [c.answer for c in ctx.clusters]
    verdicts = []
    for a, b in pairs:
        outcome = messages_pb2.OUTCOME_TIE
        if answers[a] == prefer:
            outcome = messages_pb2.OUTCOME_A
        elif answers[b] == prefer:
            outcome = messages_pb2.OUTCOME_B
        verdicts.append(messages_pb2.Verdict(a=a, b=b, outcome=outcome))
    ballot = messages_pb2.Ballot(
        context=messages_pb2.MessageContext(
            swarm_id=SWARM, query_id=ctx.query_id, timestamp_ms=v.clock.time_ms()
        ),
        ranker_id=ranker_id,
        candidate_set_digest=ctx.rank_request.candidate_set_digest,
        verdicts=verdicts,
    )
    envelope = seal(BY_ID[ranker_id], envelope_pb2.KIND_BALLOT, ballot, SWARM)
    return v.verify(envelope, envelope_pb2.KIND_BALLOT)


ANSWERS = ["6 x 7 = 42", "The answer is 42", "41", "43"]


def _generated(
    signer: Signer, v: Verifier, answers: Sequence[str] = ANSWERS, max_rankers: int = 4
) -> RoundContext:
    settings = RoundSettings(max_generators=4, max_rankers=max_rankers)
    ctx = leader.select(_context(settings=settings), signer)
    assert len(ctx.selection.generator_ids) == 4
    replies = [
        _candidate(ctx, g, answer, v)
        for g, answer in zip(ctx.selection.generator_ids, answers, strict=False)
    ]
    return leader.collect_candidates(ctx, replies)


# --- select ---------------------------------------------------------------------------------


def test_select_draws_what_a_member_recomputes_and_signs_the_query(
    signer: Signer, verifier: Verifier
) -> None:
    ctx = leader.select(_context(), signer)
    ids = sorted(i.node_id for i in IDENTITIES)
    reputations = [0.9 if i == IDENTITIES[1].node_id else 0.5 for i in ids]
    assert ctx.pool == tuple(ids)
    assert ctx.pool_reputations == tuple(reputations)
    assert ctx.selection == select_participants(
        ids, reputations, QUERY_ID, HEAD, 4, 4, height=3, rules=CURRENT_RULES
    )
    query = verifier.verify(ctx.query_env, envelope_pb2.KIND_QUERY)
    assert query.signer_id == signer.node_id and query.query_id == QUERY_ID
    assert tuple(query.message.generator_ids) == ctx.selection.generator_ids
    assert query.message.height == 3 and query.message.previous_record_hash == HEAD
    assert query.message.parameters == RoundSettings(max_generators=4, max_rankers=4).to_proto()


def test_select_with_trust_draws_only_eligible_identities(signer: Signer) -> None:
    trust = TrustParams()
    admitted = {
        i.node_id: IdentityState(status="admitted", stake=trust.min_stake, admitted_at=0)
        for i in IDENTITIES[:3]
    }
    state = LedgerState(height=3, identities=admitted)
    ctx = leader.select(_context(trust=trust, state=state), signer)
    assert ctx.pool == tuple(sorted(admitted))
    assert len(ctx.admitted) == 3
    assert set(ctx.selection.generator_ids) <= set(admitted)


def test_select_with_trust_pools_every_eligible_identity_even_one_out_of_view(
    signer: Signer,
) -> None:
    """Issue 20, finding 4: the pool is the ledger's eligible set (a member refuses a record
    that leaves one out), so an identity the leader has no address for is in it too."""
    trust = TrustParams()
    admitted = {
        i.node_id: IdentityState(status="admitted", stake=trust.min_stake, admitted_at=0)
        for i in IDENTITIES[:3]
    }
    members = {i.node_id: offline_member(i) for i in IDENTITIES[:2]}
    state = LedgerState(height=3, identities=admitted)
    ctx = leader.select(_context(trust=trust, state=state, members=members), signer)
    assert ctx.pool == tuple(sorted(admitted))


def test_select_fails_without_an_eligible_identity(signer: Signer) -> None:
    with pytest.raises(RoundFailed, match="no eligible identity"):
        leader.select(_context(trust=TrustParams()), signer)


# --- generate -------------------------------------------------------------------------------


def test_candidates_kept_in_selection_order_from_selected_generators_only(
    signer: Signer, verifier: Verifier
) -> None:
    ctx = leader.select(_context(), signer)
    generators = ctx.selection.generator_ids
    outsider = next(i.node_id for i in IDENTITIES if i.node_id not in generators)
    replies = [
        _candidate(ctx, generators[2], "41", verifier),
        _candidate(ctx, outsider, "13", verifier),
        _candidate(ctx, generators[0], "42", verifier),
    ]
    ctx = leader.collect_candidates(ctx, replies)
    assert [c.generator_id for c in ctx.candidates] == [generators[0], generators[2]]
    assert [c.answer for c in ctx.candidates] == ["42", "41"]
    assert len(ctx.candidate_envs) == 2


def test_generate_quorum(signer: Signer, verifier: Verifier) -> None:
    ctx = leader.select(_context(settings=RoundSettings(quorum_generators=2)), signer)
    one = [_candidate(ctx, ctx.selection.generator_ids[0], "42", verifier)]
    with pytest.raises(RoundFailed, match=r"only 1 of \d+ generators answered"):
        leader.collect_candidates(ctx, one)
    with pytest.raises(RoundFailed, match="only 0 of"):
        leader.collect_candidates(leader.select(_context(), signer), [])


async def test_generate_fans_out_the_query_to_the_generators(
    signer: Signer, verifier: Verifier
) -> None:
    ctx = leader.select(_context(settings=RoundSettings(generate_deadline_ms=8000)), signer)
    called: list[tuple[list[str], float]] = []

    async def fan_out(
        members: Sequence[Member],
        call: Callable[[PeerClient], Awaitable[Verified]],
        timeout_s: float,
    ) -> list[Verified]:
        called.append(([m.node_id for m in members], timeout_s))
        return [_candidate(ctx, m.node_id, "42", verifier) for m in members]

    out = await leader.generate(dataclasses.replace(ctx, deadline_scale=0.5), fan_out)
    assert called == [(list(ctx.selection.generator_ids), 4.0)]
    assert [c.generator_id for c in out.candidates] == list(ctx.selection.generator_ids)


# --- cluster --------------------------------------------------------------------------------


def test_cluster_builds_the_rank_request_a_member_recomputes(
    signer: Signer, verifier: Verifier
) -> None:
    # Every node ranks, so some rankers generated too and must not judge their own answer.
    ctx = leader.cluster(_generated(signer, verifier, max_rankers=10), signer)
    expected = cluster_candidates(ANSWERS, [""] * 4, QUERY_ID)
    assert [c.answer for c in ctx.clusters] == [c.answer for c in expected]
    assert len(ctx.clusters) == 3  # the two 42s merge
    request = verifier.verify(ctx.rank_request_env, envelope_pb2.KIND_RANK_REQUEST).message
    assert request.query == ctx.query_env
    assert request.candidate_set_digest == candidate_set_digest(c.content_hash for c in expected)
    pairs = assign_pairs(3, list(ctx.selection.ranker_ids), ctx.own, QUERY_ID, "3n", 0)
    assert [(a.ranker_id, [(p.a, p.b) for p in a.pairs]) for a in request.assignments] == [
        (r, [(int(a), int(b)) for a, b in p]) for r, p in pairs
    ]
    assert len(ctx.own) == 4
    for ranker_id, own in ctx.own.items():  # a ranker never judges its own cluster
        assert all(own not in pair for pair in ctx.expected_pairs[ranker_id])


# --- rank -----------------------------------------------------------------------------------


def test_ballots_must_answer_their_assignment(signer: Signer, verifier: Verifier) -> None:
    ctx = leader.cluster(_generated(signer, verifier), signer)
    rankers = leader.assigned_rankers(ctx)
    assert len(rankers) >= 2
    good = _ballot(ctx, rankers[1], verifier)
    wrong_pairs = _ballot(ctx, rankers[0], verifier, pairs=[(0, 1)] * 7)
    out = leader.collect_ballots(ctx, [wrong_pairs, good])
    assert out.ranker_ids == (rankers[1],)
    assert [b.ranker_id for b in out.ballots] == [rankers[1]]


def test_rank_quorum(signer: Signer, verifier: Verifier) -> None:
    ctx = leader.cluster(_generated(signer, verifier), signer)
    with pytest.raises(RoundFailed, match="rankers answered"):
        leader.collect_ballots(ctx, [])


def test_a_round_with_nothing_to_judge_needs_no_ballot(signer: Signer, verifier: Verifier) -> None:
    ctx = leader.cluster(_generated(signer, verifier, ["42", "42", "42", "42"]), signer)
    assert len(ctx.clusters) == 1 and leader.assigned_rankers(ctx) == []
    assert leader.collect_ballots(ctx, []).ballots == ()


# --- aggregate and record -------------------------------------------------------------------


def _ranked(signer: Signer, verifier: Verifier) -> RoundContext:
    ctx = leader.cluster(_generated(signer, verifier), signer)
    return leader.collect_ballots(
        ctx, [_ballot(ctx, r, verifier) for r in leader.assigned_rankers(ctx)]
    )


def test_aggregate_picks_the_preferred_cluster(signer: Signer, verifier: Verifier) -> None:
    ctx = leader.aggregate(_ranked(signer, verifier))
    assert ctx.clusters[ctx.outcome.winner].answer == "6 x 7 = 42"
    assert len(ctx.outcome.strengths) == len(ctx.clusters)


def test_aggregate_refused_by_the_core_is_a_failed_round(
    signer: Signer, verifier: Verifier
) -> None:
    ctx = _ranked(signer, verifier)
    ctx = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, alpha=0.0))
    with pytest.raises(RoundFailed, match="cannot be aggregated"):
        leader.aggregate(ctx)


def test_the_leaders_record_passes_a_members_check(signer: Signer, verifier: Verifier) -> None:
    ctx = leader.aggregate(_ranked(signer, verifier))
    record_env, checked = leader.record(ctx, signer, verifier)
    member = check_record(record_env, verifier, 3, HEAD, ctx.state.reputations)
    assert member.record_id == checked.record_id == payload_hash(record_env)
    assert member.record == checked.record
    assert member.clusters == checked.clusters and member.ballots == checked.ballots
    assert checked.record.answer == "6 x 7 = 42"
    assert list(checked.record.absent_ids) == []


def test_a_record_from_a_tampered_phase_fails_the_members_check(
    signer: Signer, verifier: Verifier
) -> None:
    """The member's check is the leader's phases recomputed: an outcome the aggregate phase
    did not produce is caught."""
    ctx = leader.aggregate(_ranked(signer, verifier))
    outcome = messages_pb2.AggregationOutcome()
    outcome.CopyFrom(ctx.outcome)
    outcome.strengths[0] += 1.0
    record_env, _ = leader.record(dataclasses.replace(ctx, outcome=outcome), signer, verifier)
    with pytest.raises(RecordRejected, match=r"outcome\.strengths"):
        check_record(record_env, verifier, 3, HEAD, ctx.state.reputations)


def test_absent_generators_and_rankers_are_recorded(signer: Signer, verifier: Verifier) -> None:
    ctx = _generated(signer, verifier, ANSWERS[:3])  # the fourth generator stays silent
    ctx = leader.cluster(ctx, signer)
    rankers = leader.assigned_rankers(ctx)
    ctx = leader.collect_ballots(ctx, [_ballot(ctx, r, verifier) for r in rankers[1:]])
    record_env, checked = leader.record(leader.aggregate(ctx), signer, verifier)
    silent = {ctx.selection.generator_ids[3], rankers[0]}
    assert set(checked.record.absent_ids) == silent
    check_record(record_env, verifier, 3, HEAD, ctx.state.reputations)


def test_deadline_scale() -> None:
    settings = RoundSettings(generate_deadline_ms=1000, rank_deadline_ms=3000)
    assert leader.deadline_scale(settings, 0) == 1.0
    assert leader.deadline_scale(settings, 2000) == 0.5
    assert leader.deadline_scale(settings, 10_000) == 1.0


# --- replies a member would refuse are dropped, not recorded (issue 20, findings 3 and 7) -----


def _resigned(reply: Verified, v: Verifier, change: Callable[[Any], None]) -> Verified:
    """``reply`` changed by ``change`` and signed again by its signer (a malicious peer)."""
    message = type(reply.message).FromString(reply.envelope.payload)
    change(message)
    envelope = seal(BY_ID[reply.signer_id], reply.kind, message, SWARM)
    return v.verify(envelope, reply.kind)


def _other_round(message: Any) -> None:
    message.context.query_id = b"x" * 16


def test_a_candidate_for_another_round_is_dropped(signer: Signer, verifier: Verifier) -> None:
    ctx = leader.select(_context(), signer)
    first, second = ctx.selection.generator_ids[:2]
    honest = _candidate(ctx, first, "42", verifier)
    other_round = _resigned(_candidate(ctx, second, "41", verifier), verifier, _other_round)
    assert other_round.message.query_hash == payload_hash(ctx.query_env)  # passes the client
    assert leader.candidate_answers(ctx, honest)
    assert not leader.candidate_answers(ctx, other_round)
    out = leader.collect_candidates(ctx, [honest, other_round])
    assert [c.generator_id for c in out.candidates] == [first]


@pytest.mark.parametrize(
    "confidence, usable",
    [
        (0.9, True),
        (0.5, True),
        (1.0, True),
        (0.0, True),
        (float("nan"), True),
        (1.5, False),
        (-0.1, False),
        (float("inf"), False),
    ],
)
def test_one_out_of_range_confidence_drops_only_that_ballot(
    signer: Signer, verifier: Verifier, confidence: float, usable: bool
) -> None:
    ctx = leader.cluster(_generated(signer, verifier), signer)
    rankers = tuple(leader.assigned_rankers(ctx))
    replies = [_ballot(ctx, r, verifier) for r in rankers]

    def state(message: messages_pb2.Ballot) -> None:
        message.verdicts[0].confidence = confidence

    replies[0] = _resigned(replies[0], verifier, state)
    assert leader.confidences_in_range(replies[0].message) is usable
    out = leader.collect_ballots(ctx, replies)
    assert out.ranker_ids == (rankers if usable else rankers[1:])
    leader.aggregate(out)  # the round goes on either way


@pytest.mark.parametrize("field", ["query_id", "digest"])
def test_a_ballot_a_member_would_refuse_is_dropped(
    signer: Signer, verifier: Verifier, field: str
) -> None:
    ctx = leader.cluster(_generated(signer, verifier), signer)
    rankers = leader.assigned_rankers(ctx)

    def spoil(message: messages_pb2.Ballot) -> None:
        if field == "query_id":
            message.context.query_id = b"x" * 16
        else:
            message.candidate_set_digest = b"d" * 32

    bad = _resigned(_ballot(ctx, rankers[0], verifier), verifier, spoil)
    assert not leader.ballot_answers(ctx, bad)
    out = leader.collect_ballots(ctx, [bad, *(_ballot(ctx, r, verifier) for r in rankers[1:])])
    assert out.ranker_ids == tuple(rankers[1:])
    record_env, _ = leader.record(leader.aggregate(out), signer, verifier)
    check_record(record_env, verifier, 3, HEAD, ctx.state.reputations)
