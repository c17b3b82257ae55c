"""SubmitRecord authenticates before any work (issue 20, finding 6): junk bytes are refused
before the rate limit, the store or a catch-up sees them; a throwaway key's records are not
kept as evidence; a flood of records "from ahead" starts one catch-up, not one each."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from node.backends.sim import SimBackend
from node.testing import in_process_swarm
from protocol.errors import ProtocolError
from protocol.identity import Identity
from protocol.signing import Envelope, seal
from protocol.v1 import envelope_pb2, messages_pb2

pytestmark = pytest.mark.integration

SWARM = "flood-test"


def junk_record(size: int) -> Envelope:
    """A record-kind envelope with a payload nobody signed."""
    return Envelope(
        kind=envelope_pb2.KIND_CONSENSUS_RECORD,
        payload=os.urandom(size),
        signer=os.urandom(32),
        signature=os.urandom(64),
    )


def record_from(identity: Identity, height: int) -> Envelope:
    record = messages_pb2.ConsensusRecord(
        context=messages_pb2.MessageContext(swarm_id=SWARM, query_id=os.urandom(16)),
        leader_id=identity.node_id,
        height=height,
        previous_record_hash=os.urandom(32),
    )
    return seal(identity, envelope_pb2.KIND_CONSENSUS_RECORD, record, SWARM)


async def test_a_flood_of_junk_and_strangers_costs_nothing_kept(tmp_path: Path) -> None:
    async with in_process_swarm(
        tmp_path, [SimBackend(seed=i) for i in range(3)], swarm_id=SWARM
    ) as swarm:
        node = swarm.nodes[0]
        await node.ask("What is 2 + 3?")
        await swarm.settle(1)
        size_before = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
        # 20 unsigned 1 MiB "records": refused as unauthenticated, nothing stored
        for _ in range(20):
            with pytest.raises(ProtocolError):
                await node.handle_submit_record(junk_record(1 << 20))
        # 200 validly signed claims from ahead by a throwaway key: one catch-up at most in flight
        stranger = Identity.generate()
        started = []
        original = node.catch_up

        async def counted_catch_up(*args: object, **kwargs: object) -> int:
            started.append(1)
            await asyncio.sleep(0.2)
            return await original()

        node.catch_up = counted_catch_up  # type: ignore[method-assign]
        for i in range(200):
            ack = await node.handle_submit_record(record_from(stranger, 100 + i))
            assert not ack.accepted and "behind" in ack.reason
        await asyncio.sleep(0.5)
        assert 1 <= len(started) <= 3
        # a stranger's record that does not recompute is refused and not kept
        for _ in range(50):
            ack = await node.handle_submit_record(record_from(stranger, 1))
            assert not ack.accepted
        assert node.store.rejected("record") == []
        size_after = sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file())
        assert size_after - size_before < 2 << 20  # not the 20 MiB of junk
        # the swarm goes on
        result = await node.ask("What is 4 + 5?")
        assert result.response.answer
