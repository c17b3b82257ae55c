"""Rate limits over real gRPC on 127.0.0.1:0 ("Done when" 5): over its limit an identity gets
RESOURCE_EXHAUSTED and the model is not called; with the limit off the same burst is served."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.errors import Overloaded
from node.ledger.store import Store
from node.swarm.peer import Node
from node.testing import FakeBackend, make_query, make_rank_request
from node.transport.client import PeerClient
from node.transport.ratelimit import RateLimiter
from node.transport.server import NodeServer
from protocol.signing import SystemClock, Verifier
from protocol.testing import test_identity

pytestmark = pytest.mark.integration

SWARM = "rl-swarm"
LEADER = test_identity(21)
ME = test_identity(22)
CLOCK = SystemClock()
BURST = 3


async def _burst(tmp_path: Path, limiter: RateLimiter | None) -> tuple[list[str], FakeBackend]:
    """Serve a node, send BURST + 2 Generates and one Rank from one leader; outcomes and the
    backend."""
    backend = FakeBackend()
    store = Store(tmp_path / "db.sqlite3")
    node = Node(ME, Verifier(SWARM, window_ms=60_000), backend, store, rate_limiter=limiter)
    server = NodeServer(node, listen_address="127.0.0.1:0")
    await server.start()
    client = PeerClient(server.address, Verifier(SWARM), expected_node_id=ME.node_id)
    outcomes: list[str] = []
    try:
        for _ in range(BURST + 2):
            query = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id])
            try:
                await client.call_generate(query)
                outcomes.append("ok")
            except Overloaded as exc:
                assert exc.status == "RESOURCE_EXHAUSTED" and exc.reason == "rate_limited"
                assert LEADER.node_id in str(exc)
                outcomes.append("RESOURCE_EXHAUSTED")
        query = make_query(LEADER, SWARM, CLOCK, ranker_ids=[ME.node_id])
        request = make_rank_request(LEADER, SWARM, CLOCK, query, ["1", "2"], {ME.node_id: [(0, 1)]})
        try:
            await client.call_rank(request)
            outcomes.append("ok")
        except Overloaded as exc:
            assert exc.status == "RESOURCE_EXHAUSTED"
            outcomes.append("RESOURCE_EXHAUSTED")
    finally:
        await client.close()
        await server.stop(0)
        store.close()
    return outcomes, backend


async def test_over_the_limit_resource_exhausted_and_no_model_call(tmp_path: Path) -> None:
    # A refill of one token per 1000 s: nothing comes back during the test.
    limiter = RateLimiter(rate_per_s=0.001, burst=BURST)
    outcomes, backend = await _burst(tmp_path, limiter)
    assert outcomes == ["ok"] * BURST + ["RESOURCE_EXHAUSTED"] * 3
    assert [op for op, _ in backend.calls] == ["generate"] * BURST


async def test_with_the_limit_off_the_same_burst_is_served(tmp_path: Path) -> None:
    outcomes, backend = await _burst(tmp_path, None)
    assert outcomes == ["ok"] * (BURST + 3)
    assert [op for op, _ in backend.calls] == ["generate"] * (BURST + 2) + ["judge"]
