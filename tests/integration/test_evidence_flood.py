"""Slash evidence is bounded and aimed only at identities (issue 20, finding 5): a "forged"
record signed by a throwaway key is refused before it is verified or stored, evidence against
a key the ledger does not hold is dropped, and pending evidence stays under its cap."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from node.backends.sim import SimBackend
from node.errors import Rejected
from node.swarm import evidence as evidence_module
from node.testing import in_process_swarm
from protocol.identity import Identity
from protocol.signing import seal
from protocol.v1 import envelope_pb2, messages_pb2
from ranking.trust import TrustParams

pytestmark = pytest.mark.integration

SWARM = "evidence-flood"
TRUST = TrustParams(
    n_judging=20, judging_pass=17, n_generation=5, generation_pass=3, cooldown_rounds=3
)


async def test_throwaway_forgeries_are_refused_and_pending_evidence_is_capped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backends = [SimBackend(seed=i) for i in range(4)]
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM, trust=TRUST) as swarm:
        node = swarm.nodes[0]
        await node.ask("What is 2 + 3?")
        await swarm.settle(node.store.head()[0])
        kept_before = len(node.store.rejected("record"))
        # 150 empty trust-on "records" from throwaway keys: refused, nothing kept or queued
        for _ in range(150):
            stranger = Identity.generate()
            record = messages_pb2.ConsensusRecord(
                context=messages_pb2.MessageContext(swarm_id=SWARM, query_id=os.urandom(16)),
                leader_id=stranger.node_id,
                trust=True,
            )
            env = seal(stranger, envelope_pb2.KIND_CONSENSUS_RECORD, record, SWARM)
            with pytest.raises(Rejected, match="not an identity"):
                await node.handle_submit_evidence(env)
        assert len(node.store.rejected("record")) == kept_before
        assert node.pending_events == []

        # Evidence against members that verifies: the pending list stops at its cap.
        members = sorted(node.state.identities)
        calls = iter(range(10_000))

        def distinct_offence(event: object, swarm_id: str, trust: object) -> tuple[str, bytes]:
            n = next(calls)
            return members[n % len(members)], n.to_bytes(8, "big")

        monkeypatch.setattr(evidence_module, "slash_offender", distinct_offence)
        monkeypatch.setattr(node.evidence, "event_key", lambda event: b"")
        monkeypatch.setattr(node.evidence.links, "spawn", lambda coro: coro.close())
        for _ in range(evidence_module.MAX_PENDING_EVIDENCE + 100):
            node.evidence.queue(messages_pb2.SlashEvent(), report=None)
        assert len(node.pending_events) == evidence_module.MAX_PENDING_EVIDENCE
        # and against a key the ledger does not hold, nothing is queued at all
        node.evidence.pending.clear()
        monkeypatch.setattr(
            evidence_module, "slash_offender", lambda *a: (Identity.generate().node_id, b"k")
        )
        node.evidence.queue(messages_pb2.SlashEvent(), report=None)
        assert node.pending_events == []
