"""Node core handlers (no transport): signed replies, selection, replay, equivocation, errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.backends.base import Judgement
from node.errors import BackendError, NotSelected, NotSupported
from node.ledger.store import Store
from node.round.numerics import numerics_capability
from node.swarm.peer import Node, NodeLimits
from node.testing import FakeBackend, make_query, make_rank_request
from protocol.errors import (
    Equivocation,
    InvalidSignature,
    Malformed,
    Oversize,
    StaleTimestamp,
    UnknownSigner,
    WrongKind,
    WrongSwarm,
)
from protocol.hashing import payload_hash
from protocol.replay import make_evidence
from protocol.signing import Verifier, seal
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2

SWARM = "test-swarm"
LEADER = test_identity(1)
ME = test_identity(2)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "db.sqlite3") as s:
        yield s


@pytest.fixture
def node(clock: FakeClock, backend: FakeBackend, store: Store) -> Node:
    return Node(ME, Verifier(SWARM, clock=clock, window_ms=60_000), backend, store)


async def test_get_info_is_signed_and_echoes_challenge(node: Node, clock: FakeClock) -> None:
    reply = await node.handle_get_info(messages_pb2.InfoRequest(challenge=b"nonce"))
    verified = Verifier(SWARM, clock=clock).verify(reply, envelope_pb2.KIND_NODE_INFO)
    assert verified.signer_id == ME.node_id
    assert verified.message.challenge == b"nonce"
    # It advertises the node's numerics fingerprint (node.numerics) next to its roles.
    assert list(verified.message.capabilities) == ["generate", "rank", numerics_capability()]
    with pytest.raises(Malformed):
        await node.handle_get_info(messages_pb2.InfoRequest(challenge=b"x" * 65))


async def test_generate_returns_verifiable_candidate(
    node: Node, clock: FakeClock, backend: FakeBackend
) -> None:
    query = make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id])
    reply = await node.handle_generate(query)
    verified = Verifier(SWARM, clock=clock).verify(reply, envelope_pb2.KIND_CANDIDATE)
    assert verified.signer_id == ME.node_id
    assert verified.message.query_hash == payload_hash(query)
    assert verified.message.answer == "42"
    assert backend.calls == [("generate", ("What is 17 + 25?",))]


async def test_retransmission_gets_the_same_reply_without_a_second_call(
    node: Node, clock: FakeClock, backend: FakeBackend
) -> None:
    query = make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id])
    first = await node.handle_generate(query)
    clock.advance(1000)
    second = await node.handle_generate(envelope_pb2.Envelope.FromString(query.SerializeToString()))
    assert second.SerializeToString() == first.SerializeToString()
    assert len(backend.calls) == 1


async def test_equivocating_leader_is_refused_and_kept_as_evidence(
    node: Node, clock: FakeClock, store: Store
) -> None:
    qid = b"q" * 16
    await node.handle_generate(
        make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id], query_id=qid)
    )
    other = make_query(
        LEADER, SWARM, clock, question="Other?", generator_ids=[ME.node_id], query_id=qid
    )
    with pytest.raises(Equivocation):
        await node.handle_generate(other)
    (item,) = store.rejected("evidence")
    assert item.reason == "equivocation" and item.other == other.SerializeToString()


async def test_generate_refusals(node: Node, clock: FakeClock) -> None:
    with pytest.raises(NotSelected):
        await node.handle_generate(make_query(LEADER, SWARM, clock, generator_ids=["someone"]))
    forged = make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id])
    forged.payload = forged.payload[:-1] + bytes([forged.payload[-1] ^ 1])
    with pytest.raises(InvalidSignature):
        await node.handle_generate(forged)
    unsigned = make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id])
    unsigned.ClearField("signature")
    with pytest.raises(InvalidSignature):
        await node.handle_generate(unsigned)
    # signed for another swarm: the swarm id is inside the signed bytes
    with pytest.raises(InvalidSignature):
        await node.handle_generate(make_query(LEADER, "x", clock, generator_ids=[ME.node_id]))
    # signed for this swarm but naming another in its context
    wrong = messages_pb2.Query(
        context=messages_pb2.MessageContext(
            swarm_id="x", query_id=b"w" * 16, timestamp_ms=clock.time_ms()
        ),
        leader_id=LEADER.node_id,
        generator_ids=[ME.node_id],
    )
    with pytest.raises(WrongSwarm):
        await node.handle_generate(seal(LEADER, envelope_pb2.KIND_QUERY, wrong, SWARM))
    stale = make_query(LEADER, SWARM, FakeClock(clock.now_ms - 120_000), generator_ids=[ME.node_id])
    with pytest.raises(StaleTimestamp):
        await node.handle_generate(stale)
    info = await node.handle_get_info(messages_pb2.InfoRequest())
    with pytest.raises(WrongKind):
        await node.handle_generate(info)


async def test_membership_hook(node: Node, clock: FakeClock) -> None:
    node.verifier.is_active = lambda node_id: False
    with pytest.raises(UnknownSigner):
        await node.handle_generate(make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id]))


def rank_setup(clock: FakeClock, **kw: object) -> envelope_pb2.Envelope:
    query = make_query(LEADER, SWARM, clock, ranker_ids=[ME.node_id])
    return make_rank_request(
        LEADER,
        SWARM,
        clock,
        query,
        ["4", "5", "6"],
        {ME.node_id: [(0, 1), (1, 2), (2, 0)], "other": [(0, 2)]},
        **kw,  # type: ignore[arg-type]
    )


async def test_rank_returns_verifiable_ballot(
    node: Node, clock: FakeClock, backend: FakeBackend
) -> None:
    outcomes = iter(["A", "tie", "garbage"])
    backend.judge_fn = lambda q, a, b: Judgement(outcome=next(outcomes), confidence=0.7)  # type: ignore[arg-type]
    request = rank_setup(clock)
    reply = await node.handle_rank(request)
    verified = Verifier(SWARM, clock=clock).verify(reply, envelope_pb2.KIND_BALLOT)
    ballot = verified.message
    sent = messages_pb2.RankRequest.FromString(request.payload)
    assert ballot.candidate_set_digest == sent.candidate_set_digest
    assert [(v.a, v.b) for v in ballot.verdicts] == [(0, 1), (1, 2), (2, 0)]
    assert [v.outcome for v in ballot.verdicts] == [
        messages_pb2.OUTCOME_A,
        messages_pb2.OUTCOME_TIE,
        messages_pb2.OUTCOME_ABSTAIN,
    ]
    assert ballot.verdicts[0].HasField("confidence")
    assert not ballot.verdicts[1].HasField("confidence")
    assert [c[1][1:] for c in backend.calls] == [("4", "5"), ("5", "6"), ("6", "4")]


async def test_rank_refusals(node: Node, clock: FakeClock) -> None:
    with pytest.raises(Malformed, match="digest"):
        await node.handle_rank(rank_setup(clock, digest=b"\x00" * 32))
    query = make_query(LEADER, SWARM, clock)
    with pytest.raises(NotSelected):
        await node.handle_rank(make_rank_request(LEADER, SWARM, clock, query, ["a", "b"], {}))
    with pytest.raises(Malformed, match="pair"):
        await node.handle_rank(
            make_rank_request(LEADER, SWARM, clock, query, ["a", "b"], {ME.node_id: [(0, 2)]})
        )
    with pytest.raises(Malformed, match="asked twice"):
        await node.handle_rank(
            make_rank_request(
                LEADER, SWARM, clock, query, ["a", "b"], {ME.node_id: [(0, 1), (1, 0), (0, 1)]}
            )
        )
    other_leader_query = make_query(test_identity(3), SWARM, clock)
    with pytest.raises(Malformed, match="another leader"):
        await node.handle_rank(
            make_rank_request(
                LEADER, SWARM, clock, other_leader_query, ["a", "b"], {ME.node_id: [(0, 1)]}
            )
        )


async def test_rank_backend_failures(node: Node, clock: FakeClock, backend: FakeBackend) -> None:
    calls = iter([True, False, False])

    def flaky(q: str, a: str, b: str) -> Judgement:
        if next(calls):
            raise BackendError("boom")
        return Judgement(outcome="B")

    backend.judge_fn = flaky
    ballot = messages_pb2.Ballot.FromString((await node.handle_rank(rank_setup(clock))).payload)
    assert [v.outcome for v in ballot.verdicts] == [
        messages_pb2.OUTCOME_ABSTAIN,
        messages_pb2.OUTCOME_B,
        messages_pb2.OUTCOME_B,
    ]
    backend.fail_judge = True
    with pytest.raises(BackendError):
        await node.handle_rank(rank_setup(clock))


async def test_submit_evidence_and_records(node: Node, clock: FakeClock, store: Store) -> None:
    qid = b"e" * 16
    first = make_query(LEADER, SWARM, clock, query_id=qid)
    second = make_query(LEADER, SWARM, clock, question="different", query_id=qid)
    error = Equivocation("x", first=first, second=second)
    report = make_evidence(test_identity(4), error, SWARM, clock)
    ack = await node.handle_submit_evidence(report)
    assert ack.accepted
    assert store.rejected("evidence")[0].reason == "equivocation_report"
    with pytest.raises(NotSupported):
        await node.handle_submit_record(report)
    record = messages_pb2.ConsensusRecord(leader_id=LEADER.node_id)
    env = seal(LEADER, envelope_pb2.KIND_CONSENSUS_RECORD, record, SWARM)
    store.append_record(0, payload_hash(env), b"", env.SerializeToString())
    got = [e async for e in node.handle_get_records(services_pb2.GetRecordsRequest())]
    assert [g.SerializeToString() for g in got] == [env.SerializeToString()]


async def test_rank_work_is_bounded_per_request(
    clock: FakeClock, backend: FakeBackend, store: Store
) -> None:
    """Each pair is a model call: a request asking for more than ``max_rank_pairs`` is refused
    (RESOURCE_EXHAUSTED over gRPC) before any is judged; up to the limit is served."""
    node = Node(
        ME,
        Verifier(SWARM, clock=clock, window_ms=60_000),
        backend,
        store,
        limits=NodeLimits(max_rank_pairs=6),
    )
    answers = ["1", "2", "3", "4"]
    every_pair = [(a, b) for a in range(4) for b in range(4) if a != b]  # 12 ordered pairs
    query = make_query(LEADER, SWARM, clock, ranker_ids=[ME.node_id])
    too_many = make_rank_request(LEADER, SWARM, clock, query, answers, {ME.node_id: every_pair})
    with pytest.raises(Oversize, match="rank_max_pairs"):
        await node.handle_rank(too_many)
    assert backend.calls == []
    query = make_query(LEADER, SWARM, clock, ranker_ids=[ME.node_id])
    allowed = make_rank_request(LEADER, SWARM, clock, query, answers, {ME.node_id: every_pair[:6]})
    ballot = messages_pb2.Ballot.FromString((await node.handle_rank(allowed)).payload)
    assert len(ballot.verdicts) == 6 and len(backend.calls) == 6
