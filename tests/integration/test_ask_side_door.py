"""Issue 20, finding 11 (second half): ``SwarmService.Ask`` on a node's peer port is guarded
like the gateway. A client without the node's key cannot make the swarm run a round; the
gateway and ``swarmrank ask`` (which present the key) still can; one caller cannot hold more
than its share of concurrent rounds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from node.backends.base import Answer
from node.backends.sim import SimBackend
from node.cli.swarm import call_ask
from node.gateway.app import Gateway
from node.swarm.service import AskGuard, AskPolicy, SwarmServicer
from node.testing import InProcessSwarm, in_process_swarm
from protocol.v1 import services_pb2, services_pb2_grpc

pytestmark = pytest.mark.integration

KEY = "node-ask-key"


class GatedBackend(SimBackend):
    """A sim model whose answers wait until the test opens the gate (a round held open without
    timing anything)."""

    def __init__(self, gate: asyncio.Event, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gate = gate

    async def generate(self, question: str, *, query_id: bytes) -> Answer:
        await self.gate.wait()
        return await super().generate(question, query_id=query_id)


async def guarded_port(swarm: InProcessSwarm, guard: AskGuard) -> AsyncIterator[str]:
    """Node 0's SwarmService behind ``guard`` on its own loopback port."""
    server = grpc.aio.server()
    services_pb2_grpc.add_SwarmServiceServicer_to_server(  # type: ignore[no-untyped-call]
        SwarmServicer(swarm.nodes[0], guard), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await server.stop(0.2)


async def raw_ask(address: str, question: str, metadata: Any = ()) -> Any:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = services_pb2_grpc.SwarmServiceStub(channel)  # type: ignore[no-untyped-call]
        return await stub.Ask(
            services_pb2.AskRequest(question=question, timeout_ms=20_000),
            timeout=30,
            metadata=metadata,
        )


async def test_ask_needs_the_key_and_the_keyed_clients_still_work(tmp_path: Path) -> None:
    backends = [SimBackend(seed=i, generation_skill=3.0, judging_skill=3.0) for i in range(4)]
    async with in_process_swarm(tmp_path, backends) as swarm:
        guard = AskGuard(AskPolicy(api_keys=(KEY,)))
        async for address in guarded_port(swarm, guard):
            height = swarm.nodes[0].store.head()[0]
            for metadata in ((), (("authorization", "Bearer guessed"),)):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await raw_ask(address, "What is 6 + 7?", metadata)
                assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert swarm.nodes[0].store.head()[0] == height  # no round was run for them
            # The gateway and `swarmrank ask` present the key and get the consensus.
            gateway = Gateway([address], timeout_s=20, node_api_key=KEY)
            try:
                response = await gateway.call_ask("What is 6 + 7?")
            finally:
                for channel in gateway._channels.values():
                    await channel.close()
            assert response.answer and response.height == height
            response = await call_ask([address], "What is 8 + 9?", 20, KEY)
            assert response.height == height + 1
            await swarm.settle(height + 2)


async def test_one_caller_cannot_hold_more_than_its_share(tmp_path: Path) -> None:
    gate = asyncio.Event()
    backends = [GatedBackend(gate, seed=i, generation_skill=3.0) for i in range(3)]
    async with in_process_swarm(tmp_path, backends) as swarm:
        guard = AskGuard(AskPolicy(api_keys=(KEY,), max_concurrent_per_caller=1))
        async for address in guarded_port(swarm, guard):
            auth = (("authorization", f"Bearer {KEY}"),)
            first = asyncio.create_task(raw_ask(address, "What is 1 + 2?", auth))
            for _ in range(500):  # until the first Ask holds the caller's one slot
                if guard._in_flight:
                    break
                await asyncio.sleep(0.01)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await raw_ask(address, "What is 3 + 4?", auth)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            gate.set()
            response = await first
            assert response.answer  # the admitted round finished; the slot is free again
            assert (await raw_ask(address, "What is 5 + 6?", auth)).answer
