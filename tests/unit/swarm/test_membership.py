"""Registry state: signed registration, heartbeats, eviction, persistence across restarts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.membership.registry import (
    MembershipState,
    RegistryCore,
    evict,
    heartbeat,
    load_state,
    register,
    save_state,
)
from protocol.errors import InvalidSignature, ProtocolError
from protocol.identity import Identity
from protocol.signing import Envelope, SystemClock, Verifier, seal
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2, messages_pb2

SWARM = "reg-test"


def info(identity: Identity, address: str = "127.0.0.1:7000") -> bytes:
    message = messages_pb2.NodeInfo(
        context=messages_pb2.MessageContext(swarm_id=SWARM, timestamp_ms=SystemClock().time_ms()),
        node_id=identity.node_id,
        public_key=identity.public_key,
        address=address,
        model="sim",
        capabilities=["generate", "rank"],
    )
    return seal(identity, envelope_pb2.KIND_NODE_INFO, message, SWARM).SerializeToString()


def beat(identity: Identity, height: int = 0) -> bytes:
    message = messages_pb2.Heartbeat(
        context=messages_pb2.MessageContext(swarm_id=SWARM, timestamp_ms=SystemClock().time_ms()),
        node_id=identity.node_id,
        ledger_height=height,
    )
    return seal(identity, envelope_pb2.KIND_HEARTBEAT, message, SWARM).SerializeToString()


def test_register_heartbeat_evict() -> None:
    verifier = Verifier(SWARM)
    a, b = test_identity(1), test_identity(2)
    state = register(MembershipState(), verifier, info(a), now_ms=1000)
    state = register(state, verifier, info(b), now_ms=1000)
    assert sorted(state.members) == sorted([a.node_id, b.node_id])
    state, known = heartbeat(state, verifier, beat(a, height=7), now_ms=5000)
    assert known and state.members[a.node_id].ledger_height == 7
    state = evict(state, now_ms=7000, eviction_timeout_ms=3000)
    assert list(state.members) == [a.node_id]
    assert state.evicted == (b.node_id,)
    _, known = heartbeat(state, verifier, beat(b), now_ms=7000)
    assert not known  # must re-register


def test_forged_registration_rejected() -> None:
    verifier = Verifier(SWARM)
    envelope = Envelope.FromString(info(test_identity(1)))
    envelope.signer = test_identity(2).public_key
    with pytest.raises(InvalidSignature):
        register(MembershipState(), verifier, envelope.SerializeToString(), now_ms=0)
    with pytest.raises(ProtocolError):
        register(MembershipState(), verifier, b"garbage", now_ms=0)


def test_persistence_survives_restart(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    a, b = test_identity(1), test_identity(2)
    core = RegistryCore(SWARM, str(path), eviction_timeout_s=60)
    core.register(info(a))
    core.register(info(b, "127.0.0.1:7001"))
    core.deregister(beat(b))
    saved = json.loads(path.read_text())
    assert [m["node_id"] for m in saved["members"]] == [a.node_id]
    restarted = RegistryCore(SWARM, str(path), eviction_timeout_s=60)
    members = restarted.members()
    assert [m["node_id"] for m in members] == [a.node_id]
    assert members[0]["address"] == "127.0.0.1:7000"


def test_save_and_load_roundtrip(tmp_path: Path) -> None:
    verifier = Verifier(SWARM)
    state = register(MembershipState(), verifier, info(test_identity(3)), now_ms=1)
    save_state(state, tmp_path / "s.json")
    loaded = load_state(tmp_path / "s.json", now_ms=99)
    member = next(iter(loaded.members.values()))
    assert member.last_seen_ms == 99  # liveness restarts on load
    assert member.info_envelope == next(iter(state.members.values())).info_envelope


def test_height_leases(tmp_path: Path) -> None:
    core = RegistryCore(SWARM, str(tmp_path / "r.json"))
    assert core.reserve(0, "leader-a", ttl_ms=60_000)
    assert core.reserve(0, "leader-a", ttl_ms=60_000)  # the holder may renew
    assert not core.reserve(0, "leader-b", ttl_ms=60_000)
    assert core.reserve(1, "leader-b", ttl_ms=60_000)  # the next height is free
    assert core.reserve(2, "leader-c", ttl_ms=-1)  # an already expired lease ...
    assert core.reserve(2, "leader-d", ttl_ms=60_000)  # ... is taken over (a dead leader)
