"""Many questions at once (issue 18): rounds run concurrently, on several leaders, and still
end in one ledger that every node recomputes.

A round is opened on the ledger as it stands and recorded wherever the ledger stands when it
ends (its Query names the position it was opened on; ``node.round.check.check_query``), so
only the append is serialised, under the swarm-wide lease on the next height.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from node.backends.sim import SimBackend
from node.ledger.replay import replay_ledger
from node.testing import in_process_swarm
from protocol.signing import Envelope
from protocol.v1 import messages_pb2
from ranking.trust import TrustParams

pytestmark = pytest.mark.integration

SWARM = "concurrent-test"
NODES = 5
ASKS = 32
TRUST = TrustParams(
    n_judging=20, judging_pass=17, n_generation=5, generation_pass=3, cooldown_rounds=3
)


def opened_behind(entry_envelope: bytes) -> bool:
    """Whether a record's round was opened on an earlier ledger position than it took."""
    record = messages_pb2.ConsensusRecord.FromString(Envelope.FromString(entry_envelope).payload)
    if not record.HasField("query"):
        return False
    query = messages_pb2.Query.FromString(record.query.payload)
    return int(query.height) < int(record.height)


@pytest.mark.parametrize("trust", [None, TRUST], ids=["trust-off", "trust-on"])
async def test_concurrent_asks_through_several_leaders_keep_one_ledger(
    tmp_path: Path, trust: TrustParams | None
) -> None:
    # a model with latency, so that rounds overlap
    backends = [SimBackend(seed=i, latency_ms=40) for i in range(NODES)]
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM, trust=trust) as swarm:
        if trust is not None:
            await swarm.nodes[0].ensure_genesis()
            await swarm.settle(1)
        first = swarm.nodes[0].store.head()[0]
        results = await asyncio.gather(
            *(swarm.nodes[i % NODES].ask(f"What is {i} + {i + 3}?") for i in range(ASKS)),
            return_exceptions=True,
        )
        failures = [repr(r) for r in results if isinstance(r, BaseException)]
        assert failures == []
        await swarm.settle(first + ASKS)
        heads = {node.store.head() for node in swarm.nodes}
        assert len(heads) == 1 and next(iter(heads))[0] == first + ASKS
        entries = swarm.nodes[0].store.records_from(first, ASKS)
        # the rounds really overlapped: many were recorded after other rounds' records
        assert sum(opened_behind(e.envelope) for e in entries) >= ASKS // 4
        # each leader led its share
        leaders = {
            messages_pb2.ConsensusRecord.FromString(
                Envelope.FromString(e.envelope).payload
            ).leader_id
            for e in entries
        }
        assert len(leaders) == NODES
        for node in swarm.nodes:
            summary = replay_ledger(node.store, SWARM, trust=trust)
            assert summary.records == first + ASKS
            assert node.store.rejected("record") == []
            if trust is not None:
                assert {s.status for s in node.state.identities.values()} == {"admitted"}
