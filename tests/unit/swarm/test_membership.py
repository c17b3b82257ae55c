"""Registry state: signed registration, heartbeats, eviction, persistence across restarts, and
(issue 20, finding 9) every call signed for its one purpose, replays refused, bounded leases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.membership.registry import (
    MAX_LEASE_TTL_MS,
    MAX_LEASES_PER_HOLDER,
    REGISTER_PURPOSE,
    LeaseTable,
    MembershipState,
    RegistryCore,
    deregister,
    deregistration_beat,
    evict,
    heartbeat,
    lease_request,
    load_state,
    register,
    reserve_height,
    save_state,
)
from protocol.errors import InvalidSignature, Malformed, ProtocolError, Replayed, UnknownSigner
from protocol.identity import Identity
from protocol.signing import Envelope, SystemClock, Verifier, seal
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2, messages_pb2

SWARM = "reg-test"


def now() -> int:
    return SystemClock().time_ms()


def info(
    identity: Identity,
    address: str = "127.0.0.1:7000",
    *,
    purpose: bytes = REGISTER_PURPOSE,
    ts: int | None = None,
) -> bytes:
    """A NodeInfo signed for registration (``purpose=b""``: as a GetInfo reply carries it)."""
    message = messages_pb2.NodeInfo(
        context=messages_pb2.MessageContext(
            swarm_id=SWARM, query_id=purpose, timestamp_ms=now() if ts is None else ts
        ),
        node_id=identity.node_id,
        public_key=identity.public_key,
        address=address,
        model="sim",
        capabilities=["generate", "rank"],
    )
    return bytes(seal(identity, envelope_pb2.KIND_NODE_INFO, message, SWARM).SerializeToString())


def beat(identity: Identity, height: int = 0, *, ts: int | None = None) -> bytes:
    message = messages_pb2.Heartbeat(
        context=messages_pb2.MessageContext(
            swarm_id=SWARM, timestamp_ms=now() if ts is None else ts
        ),
        node_id=identity.node_id,
        ledger_height=height,
    )
    return bytes(seal(identity, envelope_pb2.KIND_HEARTBEAT, message, SWARM).SerializeToString())


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
    t = now()
    core.register(info(a, ts=t))
    core.register(info(b, "127.0.0.1:7001", ts=t))
    # signed after the registration (within one millisecond it would read as a replay)
    core.deregister(deregistration_beat(b, SWARM, t + 1))
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
    a, b, c, d = (test_identity(i) for i in range(1, 5))
    for identity in (a, b, c, d):
        core.register(info(identity))
    t = now()
    assert core.reserve(lease_request(a, SWARM, 0, 60_000, t))
    assert core.reserve(lease_request(a, SWARM, 0, 60_000, t + 1))  # the holder may renew
    assert not core.reserve(lease_request(b, SWARM, 0, 60_000, t + 2))
    assert core.reserve(lease_request(b, SWARM, 1, 60_000, t + 3))  # the next height is free
    assert core.reserve(lease_request(c, SWARM, 2, 0, t + 4))  # an already expired lease ...
    assert core.reserve(lease_request(d, SWARM, 2, 60_000, t + 5))  # ... is taken over


# --- issue 20, finding 9: nothing unsigned or replayed changes the registry ----------------------


def test_a_get_info_reply_registers_nothing() -> None:
    """A GetInfo reply is a valid NodeInfo signed by the node, but not for registration."""
    verifier = Verifier(SWARM)
    with pytest.raises(Malformed, match="not signed for this purpose"):
        register(MembershipState(), verifier, info(test_identity(1), purpose=b""), now_ms=0)


def test_a_replayed_deregistration_or_registration_is_refused() -> None:
    verifier = Verifier(SWARM)
    a = test_identity(1)
    t = now()
    state = register(MembershipState(), verifier, info(a, ts=t), now_ms=0)
    bye = deregistration_beat(a, SWARM, t + 10)
    state = deregister(state, verifier, bye)
    assert a.node_id not in state.members
    again = register(state, verifier, info(a, ts=t + 20), now_ms=0)  # the node comes back
    with pytest.raises(Replayed):
        deregister(again, verifier, bye)  # the captured goodbye does not remove it again
    with pytest.raises(Replayed):
        register(state, verifier, info(a, ts=t), now_ms=0)  # nor an old hello re-add it


def test_a_heartbeat_is_no_deregistration_and_is_not_replayable() -> None:
    verifier = Verifier(SWARM)
    a = test_identity(1)
    t = now()
    state = register(MembershipState(), verifier, info(a, ts=t), now_ms=0)
    captured = beat(a, ts=t + 1)
    with pytest.raises(Malformed):
        deregister(state, verifier, captured)  # the attack of finding 9: a heartbeat as goodbye
    state, known = heartbeat(state, verifier, captured, now_ms=1)
    assert known
    with pytest.raises(Replayed):
        heartbeat(state, verifier, captured, now_ms=2)
    state, known = heartbeat(state, verifier, beat(a, ts=t + 2), now_ms=3)
    assert known and state.members[a.node_id].last_seen_ms == 3


def test_leases_need_a_member_a_signature_and_a_fresh_request() -> None:
    verifier = Verifier(SWARM)
    a, outsider = test_identity(1), test_identity(9)
    state = register(MembershipState(), verifier, info(a), now_ms=0)
    table = LeaseTable()
    with pytest.raises(UnknownSigner):
        reserve_height(table, state, verifier, lease_request(outsider, SWARM, 0, 1000), 0)
    request = lease_request(a, SWARM, 0, 1000)
    forged = Envelope.FromString(request)
    forged.signer = outsider.public_key
    with pytest.raises(InvalidSignature):
        reserve_height(table, state, verifier, forged.SerializeToString(), 0)
    with pytest.raises(Malformed):  # a heartbeat is no lease request
        reserve_height(table, state, verifier, beat(a), 0)
    table, granted = reserve_height(table, state, verifier, request, 0)
    assert granted
    with pytest.raises(Replayed):
        reserve_height(table, state, verifier, request, 0)


def test_leases_are_capped_in_time_and_number_under_a_flood() -> None:
    """One member asking for every future height, with an endless TTL, holds at most
    MAX_LEASES_PER_HOLDER leases, each for at most MAX_LEASE_TTL_MS; the others still lead."""
    verifier = Verifier(SWARM)
    greedy, honest = test_identity(1), test_identity(2)
    state = register(MembershipState(), verifier, info(greedy), now_ms=0)
    state = register(state, verifier, info(honest), now_ms=0)
    table = LeaseTable()
    t = now()
    granted = 0
    for height in range(500):
        request = lease_request(greedy, SWARM, height, 10**15, t + height)
        table, ok = reserve_height(table, state, verifier, request, now_ms=1000)
        granted += ok
    assert granted == MAX_LEASES_PER_HOLDER
    live = table.live(1000)
    assert len(live) == MAX_LEASES_PER_HOLDER
    assert all(lease.expires_ms <= 1000 + MAX_LEASE_TTL_MS for lease in live.values())
    # The honest member leads a height the greedy one does not hold.
    table, ok = reserve_height(
        table, state, verifier, lease_request(honest, SWARM, 7, 60_000, t), now_ms=1000
    )
    assert not ok  # held by the greedy member until its lease runs out
    table, ok = reserve_height(
        table,
        state,
        verifier,
        lease_request(honest, SWARM, MAX_LEASES_PER_HOLDER, 60_000, t + 1),
        now_ms=1000,
    )
    assert ok
    # Once the capped leases expire the held heights are free again.
    later = 1000 + MAX_LEASE_TTL_MS + 1
    table, ok = reserve_height(
        table, state, verifier, lease_request(honest, SWARM, 0, 60_000, t + 2), now_ms=later
    )
    assert ok


def test_a_holder_renews_its_own_lease_and_others_wait() -> None:
    """The holder asking again for its height renews it; another member is refused until it
    expires."""
    verifier = Verifier(SWARM)
    a, b = test_identity(1), test_identity(2)
    state = register(MembershipState(), verifier, info(a), now_ms=0)
    state = register(state, verifier, info(b), now_ms=0)
    t = now()
    table, ok = reserve_height(
        LeaseTable(), state, verifier, lease_request(a, SWARM, 10, 5_000, t), 0
    )
    assert ok
    table, ok = reserve_height(table, state, verifier, lease_request(b, SWARM, 10, 5_000, t), 0)
    assert not ok
    table, ok = reserve_height(table, state, verifier, lease_request(a, SWARM, 10, 5_000, t + 1), 1)
    assert ok and table.leases[10].expires_ms == 5_001
    table, ok = reserve_height(
        table, state, verifier, lease_request(b, SWARM, 10, 5_000, t + 2), 5_002
    )
    assert ok


def test_replay_times_survive_a_registry_restart(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    a = test_identity(1)
    t = now()
    core = RegistryCore(SWARM, str(path), eviction_timeout_s=60)
    core.register(info(a, ts=t))
    bye = deregistration_beat(a, SWARM, t + 5)
    core.deregister(bye)
    core.register(info(a, ts=t + 10))
    restarted = RegistryCore(SWARM, str(path), eviction_timeout_s=60)
    with pytest.raises(Replayed):
        restarted.deregister(bye)
    assert [m["node_id"] for m in restarted.members()] == [a.node_id]
