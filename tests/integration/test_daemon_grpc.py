"""NodeServer over real gRPC on 127.0.0.1:0 (in-process, fake model): status codes for bad
requests, the concurrency limit, PeerClient, and 1,000 random payloads per method."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from node.errors import InvalidReply, Overloaded, PeerTimeout, Rejected
from node.ledger.store import Store
from node.swarm.peer import Node
from node.testing import FakeBackend, make_query, make_rank_request
from node.transport.client import PeerClient
from node.transport.server import NodeServer
from protocol.signing import SystemClock, Verifier
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2

pytestmark = pytest.mark.integration

SWARM = "it-swarm"
LEADER = test_identity(11)
ME = test_identity(12)
CLOCK = SystemClock()
METHODS = ("GetInfo", "Generate", "Rank", "SubmitRecord", "SubmitEvidence")


class Served:
    def __init__(self, node: Node, server: NodeServer, backend: FakeBackend) -> None:
        self.node = node
        self.server = server
        self.backend = backend
        self.client = PeerClient(
            server.address, Verifier(SWARM), expected_node_id=ME.node_id, call_timeout_s=5
        )


async def serve(tmp_path: Path, backend: FakeBackend, **server_kw: object) -> Served:
    store = Store(tmp_path / "db.sqlite3")
    node = Node(ME, Verifier(SWARM, window_ms=60_000), backend, store)
    server = NodeServer(node, listen_address="127.0.0.1:0", **server_kw)  # type: ignore[arg-type]
    await server.start()
    return Served(node, server, backend)


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    s = await serve(tmp_path, FakeBackend(), max_receive_message_bytes=64 * 1024)
    yield s
    await s.client.close()
    await s.server.stop(0)
    s.node.store.close()


async def test_bound_port_and_signed_replies(served: Served) -> None:
    assert not served.server.address.endswith(":0")
    info = await served.client.call_get_info(b"chal")
    assert info.message.address == served.server.address
    query = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id], ranker_ids=[ME.node_id])
    candidate = await served.client.call_generate(query)
    assert candidate.message.answer == "42"
    request = make_rank_request(LEADER, SWARM, CLOCK, query, ["1", "2"], {ME.node_id: [(0, 1)]})
    ballot = await served.client.call_rank(request)
    assert ballot.signer_id == ME.node_id and len(ballot.message.verdicts) == 1


async def test_bad_requests_get_typed_status_codes(served: Served) -> None:
    client = served.client

    async def status_of(envelope: envelope_pb2.Envelope) -> tuple[str, str]:
        with pytest.raises((Rejected, Overloaded)) as info:
            await client.call_generate(envelope)
        return info.value.status, info.value.reason  # type: ignore[union-attr]

    forged = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id])
    forged.payload = forged.payload.replace(b"17", b"18")
    assert await status_of(forged) == ("UNAUTHENTICATED", "invalid_signature")

    unsigned = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id])
    unsigned.ClearField("signature")
    unsigned.ClearField("signer")
    assert await status_of(unsigned) == ("UNAUTHENTICATED", "invalid_signature")

    garbage = envelope_pb2.Envelope(kind=envelope_pb2.KIND_QUERY, payload=b"\xff\xff\xff")
    assert (await status_of(garbage))[0] in ("UNAUTHENTICATED", "INVALID_ARGUMENT")

    wrong_kind = (await client.call_get_info()).envelope
    assert await status_of(wrong_kind) == ("INVALID_ARGUMENT", "wrong_kind")

    stale = make_query(LEADER, SWARM, _Shifted(-3_600_000), generator_ids=[ME.node_id])
    assert await status_of(stale) == ("INVALID_ARGUMENT", "stale_timestamp")

    not_mine = make_query(LEADER, SWARM, CLOCK, generator_ids=["nobody"])
    assert await status_of(not_mine) == ("FAILED_PRECONDITION", "not_selected")

    # replay: identical bytes are answered idempotently, a changed payload is equivocation
    qid = b"r" * 16
    query = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id], query_id=qid)
    first = await client.call_generate(query)
    again = await client.call_generate(query)
    assert again.envelope.SerializeToString() == first.envelope.SerializeToString()
    conflicting = make_query(
        LEADER, SWARM, CLOCK, question="Other", generator_ids=[ME.node_id], query_id=qid
    )
    assert await status_of(conflicting) == ("ALREADY_EXISTS", "equivocation")

    # oversize: over the server's 64 KiB receive limit, refused by the transport
    big = make_query(LEADER, SWARM, CLOCK, question="x" * 100_000, generator_ids=[ME.node_id])
    status, _ = await status_of(big)
    assert status == "RESOURCE_EXHAUSTED"
    # over the protocol's payload limit but under the transport limit
    served.node.verifier.limits.per_kind_payload_bytes[envelope_pb2.KIND_QUERY] = 1000
    mid = make_query(LEADER, SWARM, CLOCK, question="y" * 5000, generator_ids=[ME.node_id])
    assert await status_of(mid) == ("RESOURCE_EXHAUSTED", "oversize")

    rejected = served.node.metrics.rejected
    assert rejected.labels("invalid_signature")._value.get() >= 2
    assert rejected.labels("equivocation")._value.get() == 1


class _Shifted:
    def __init__(self, offset_ms: int) -> None:
        self.offset_ms = offset_ms

    def time_ms(self) -> int:
        return CLOCK.time_ms() + self.offset_ms


async def test_reply_from_the_wrong_node_is_refused(served: Served) -> None:
    client = PeerClient(served.server.address, Verifier(SWARM), expected_node_id="someone else")
    try:
        with pytest.raises(InvalidReply, match="expected someone else"):
            await client.call_get_info()
    finally:
        await client.close()


async def test_concurrency_limit_and_deadline(tmp_path: Path) -> None:
    s = await serve(tmp_path, FakeBackend(delay_s=1.0), max_concurrent_rpcs=1)
    try:
        query = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id])
        slow = asyncio.create_task(s.client.call_generate(query))
        await asyncio.sleep(0.2)
        with pytest.raises(Overloaded) as info:
            await s.client.call_get_info()
        assert info.value.status == "RESOURCE_EXHAUSTED"
        assert (await slow).message.answer == "42"
        late = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id])
        with pytest.raises(PeerTimeout):
            await s.client.call_generate(late, timeout_s=0.1)
    finally:
        await s.client.close()
        await s.server.stop(0)
        s.node.store.close()


def random_payloads(rng: random.Random, count: int) -> list[bytes]:
    payloads = []
    for i in range(count):
        if i % 2:
            payloads.append(rng.randbytes(rng.randrange(0, 600)))
        else:  # well-formed envelopes with random contents reach the verifier
            payloads.append(
                envelope_pb2.Envelope(
                    kind=rng.randrange(0, 10),  # type: ignore[arg-type]
                    payload=rng.randbytes(rng.randrange(0, 300)),
                    signer=rng.randbytes(rng.choice((0, 31, 32))),
                    signature=rng.randbytes(rng.choice((0, 64))),
                ).SerializeToString()
            )
    return payloads


async def test_random_payloads_leave_the_server_serving(served: Served) -> None:
    rng = random.Random(1234)
    payloads = random_payloads(rng, 1000)
    channel = served.client.channel
    codes: dict[str, set[grpc.StatusCode]] = {}

    async def fire(method: str, call: object, data: bytes) -> None:
        try:
            if method == "GetRecords":
                async for _ in call(data, timeout=5):  # type: ignore[operator]
                    pass
            else:
                await call(data, timeout=5)  # type: ignore[operator]
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as exc:
            code = exc.code()
        codes.setdefault(method, set()).add(code)

    for method in (*METHODS, "GetRecords"):
        path = f"/protocol.v1.NodeService/{method}"
        call = channel.unary_stream(path) if method == "GetRecords" else channel.unary_unary(path)
        for start in range(0, len(payloads), 100):
            await asyncio.gather(*(fire(method, call, d) for d in payloads[start : start + 100]))

    for method, seen in codes.items():
        assert grpc.StatusCode.UNKNOWN not in seen, method
        assert grpc.StatusCode.UNAVAILABLE not in seen, method
    # nothing reached the handlers' internal-error path
    requests = served.node.metrics.requests
    assert all(requests.labels(m, "INTERNAL")._value.get() == 0 for m in METHODS)
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    query = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id])
    assert (await served.client.call_generate(query)).message.answer == "42"
