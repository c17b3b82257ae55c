"""Swarm membership: the registry's pure state, the Ray registry actor, and the node's view.

* :class:`MembershipState` and its functions (``register``, ``heartbeat``, ``deregister``,
  ``evict``) are pure: ``(state, input, now) -> state``; the actor only feeds them.
* :class:`SwarmRegistry` is the named, detached, restartable Ray actor (one per swarm). It keeps
  the *signed* ``NodeInfo`` envelope of every member and verifies every registration, heartbeat
  and deregistration, so nothing that matters travels through Ray unsigned. Membership is saved
  to a JSON file on every change (atomic rename), so a restarted actor loses no member.
* :class:`Member` is what a node sees: verified info plus liveness.
* :class:`LeaseTable` and :func:`reserve_height` (pure) grant the swarm-wide lease on a ledger
  height to one leader at a time.

Ray is a trust domain, not a trust anchor (DESIGN "Ray's role"): the registry can delay or hide
members, but cannot forge one, because peers re-verify the signed info they read from it.

Every call that changes the registry is signed for its one purpose (issue 20, finding 9), so a
signed message captured for one purpose cannot be replayed for another, nor twice:

===============  ====================================  =========================================
call             signed message                        purpose tag (``context.query_id``)
===============  ====================================  =========================================
``register``     ``NodeInfo``                          :data:`REGISTER_PURPOSE` (a ``GetInfo``
                                                       reply carries none, so it registers
                                                       nothing)
``heartbeat``    ``Heartbeat``                         empty
``deregister``   ``Heartbeat``                         :data:`DEREGISTER_PURPOSE`
``reserve``      ``Heartbeat`` (``ledger_height`` =    :data:`LEASE_PURPOSE` + TTL in ms
                 the height leased)
===============  ====================================  =========================================

Per signer and purpose the signing time must grow (:class:`~protocol.errors.Replayed`
otherwise; registration and deregistration share one clock, so a replayed registration cannot
undo a later deregistration, nor the reverse). Times older than the verifier's window are
forgotten: the window refuses such messages anyway. A lease is granted only to a registered
member, for at most :data:`MAX_LEASE_TTL_MS`, and a holder has at most
:data:`MAX_LEASES_PER_HOLDER` live leases, so no party can hold the swarm's future heights
for long.
A lease covers only a record's append (rounds run concurrently and take their height when
they end, issue 18), and it stays live after the append until its TTL, so that another leader
that has not yet received the record cannot be granted its height.
A Sybil flood of registered keys is not stopped here: the registry is one operator's trust
domain (Ray's port gives code execution anyway), and a lease only delays rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from node.logging import get_logger
from protocol.errors import Malformed, ProtocolError, Replayed, UnknownSigner
from protocol.identity import Identity, node_id_from_public_key
from protocol.signing import Envelope, Verified, Verifier, seal
from protocol.v1 import envelope_pb2, messages_pb2

REGISTRY_NAMESPACE = "swarmrank"
#: purpose tags signed into ``context.query_id`` (module docstring)
REGISTER_PURPOSE = b"swarmrank/registry/register"
DEREGISTER_PURPOSE = b"swarmrank/registry/deregister"
LEASE_PURPOSE = b"swarmrank/registry/lease:"
#: longest lease granted, whatever is asked: a lease covers a record's append and broadcast
#: (rounds themselves run unleased, issue 18), so a holder that never appends blocks its
#: height for at most this long
MAX_LEASE_TTL_MS = 30_000
#: live leases one holder may have at once: a leader keeps each lease until its TTL, after
#: the append, so that a leader that has not yet received the record cannot take its height;
#: enough for one leader's records at several per second
MAX_LEASES_PER_HOLDER = 64
_log = get_logger("membership")


def registry_name(swarm_id: str) -> str:
    """Ray actor name of a swarm's registry."""
    return f"swarmrank-registry-{swarm_id}"


@dataclass(frozen=True)
class Member:
    """A registered node."""

    node_id: str
    public_key: bytes
    address: str  # gRPC host:port
    model: str
    capabilities: tuple[str, ...]
    info_envelope: bytes  # the signed NodeInfo, as registered
    last_seen_ms: int  # registry wall clock at the last heartbeat, ms since the epoch
    ledger_height: int = 0  # as reported by the last heartbeat

    def alive(self, now_ms: int, eviction_timeout_ms: int) -> bool:
        """Whether a heartbeat arrived within the eviction timeout."""
        return now_ms - self.last_seen_ms <= eviction_timeout_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "node_id": self.node_id,
            "public_key": self.public_key.hex(),
            "address": self.address,
            "model": self.model,
            "capabilities": list(self.capabilities),
            "info_envelope": self.info_envelope.hex(),
            "last_seen_ms": self.last_seen_ms,
            "ledger_height": self.ledger_height,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Member:
        return cls(
            node_id=data["node_id"],
            public_key=bytes.fromhex(data["public_key"]),
            address=data["address"],
            model=data["model"],
            capabilities=tuple(data["capabilities"]),
            info_envelope=bytes.fromhex(data["info_envelope"]),
            last_seen_ms=int(data["last_seen_ms"]),
            ledger_height=int(data.get("ledger_height", 0)),
        )


@dataclass(frozen=True)
class MembershipState:
    """Registry contents: members by node id, the ids evicted so far (most recent last), and
    per (node id, purpose) the signing time of the latest accepted message (replay checks)."""

    members: dict[str, Member] = field(default_factory=dict)
    evicted: tuple[str, ...] = ()
    signed_ms: dict[tuple[str, str], int] = field(default_factory=dict)


def _verify_purpose(
    verifier: Verifier, data: bytes, kind: int, purpose: bytes, what: str
) -> Verified:
    """Verify a registry message signed for ``purpose`` (a prefix for leases)."""
    verified = verifier.verify(data, kind)
    tag = bytes(verified.message.context.query_id)
    if not (tag.startswith(purpose) if purpose == LEASE_PURPOSE else tag == purpose):
        raise Malformed(
            f"{what}: the message is not signed for this purpose "
            f"(tag {tag[:40]!r}, expected {purpose!r}); a message signed for another use "
            "(a GetInfo reply, a heartbeat) is refused"
        )
    if verified.message.node_id != verified.signer_id:
        raise Malformed(f"{what}: node_id {verified.message.node_id} is not the signer")
    return verified


def _fresh(
    signed_ms: dict[tuple[str, str], int], verified: Verified, purpose: str, what: str
) -> dict[tuple[str, str], int]:
    """``signed_ms`` with the message's signing time, or :class:`Replayed` when not newer."""
    key = (verified.signer_id, purpose)
    timestamp_ms = int(verified.message.context.timestamp_ms)
    last = signed_ms.get(key)
    if last is not None and timestamp_ms <= last:
        raise Replayed(
            f"{what} from {verified.signer_id} signed at {timestamp_ms} ms is not newer than "
            f"the last one accepted ({last} ms): a replay"
        )
    return {**signed_ms, key: timestamp_ms}


def forget_old_times(state: MembershipState, before_ms: int) -> MembershipState:
    """Drop replay times older than ``before_ms`` (the verifier's window refuses those)."""
    kept = {k: v for k, v in state.signed_ms.items() if v >= before_ms}
    return state if len(kept) == len(state.signed_ms) else replace(state, signed_ms=kept)


def register(
    state: MembershipState, verifier: Verifier, info: bytes, now_ms: int
) -> MembershipState:
    """Add or refresh a member from its ``NodeInfo`` envelope bytes signed for registration
    (:func:`registration_info`)."""
    verified = _verify_purpose(
        verifier, info, envelope_pb2.KIND_NODE_INFO, REGISTER_PURPOSE, "registration"
    )
    signed_ms = _fresh(state.signed_ms, verified, "membership", "registration")
    message = verified.message
    member = Member(
        node_id=verified.signer_id,
        public_key=bytes(verified.envelope.signer),
        address=message.address,
        model=message.model,
        capabilities=tuple(message.capabilities),
        info_envelope=bytes(info),
        last_seen_ms=now_ms,
    )
    return replace(state, members={**state.members, member.node_id: member}, signed_ms=signed_ms)


def heartbeat(
    state: MembershipState, verifier: Verifier, beat: bytes, now_ms: int
) -> tuple[MembershipState, bool]:
    """Record a signed liveness ``Heartbeat``; returns ``known=False`` when the node must
    re-register. A heartbeat not newer than the signer's last is :class:`Replayed`."""
    verified = _verify_purpose(verifier, beat, envelope_pb2.KIND_HEARTBEAT, b"", "heartbeat")
    member = state.members.get(verified.signer_id)
    if member is None:
        return state, False
    signed_ms = _fresh(state.signed_ms, verified, "heartbeat", "heartbeat")
    updated = replace(
        member, last_seen_ms=now_ms, ledger_height=int(verified.message.ledger_height)
    )
    members = {**state.members, member.node_id: updated}
    return replace(state, members=members, signed_ms=signed_ms), True


def deregister(state: MembershipState, verifier: Verifier, beat: bytes) -> MembershipState:
    """Remove the signer of a ``Heartbeat`` signed for deregistration (sent on clean shutdown,
    :func:`deregistration_beat`); it must be newer than the signer's registration."""
    verified = _verify_purpose(
        verifier, beat, envelope_pb2.KIND_HEARTBEAT, DEREGISTER_PURPOSE, "deregistration"
    )
    signed_ms = _fresh(state.signed_ms, verified, "membership", "deregistration")
    members = {k: v for k, v in state.members.items() if k != verified.signer_id}
    return replace(state, members=members, signed_ms=signed_ms)


# --- leases on ledger heights ---


@dataclass(frozen=True)
class Lease:
    """One granted lease: ``holder`` leads ``height`` until ``expires_ms`` (registry clock)."""

    holder: str
    expires_ms: int


@dataclass(frozen=True)
class LeaseTable:
    """Leases by height, and per holder the signing time of its latest lease request."""

    leases: dict[int, Lease] = field(default_factory=dict)
    signed_ms: dict[str, int] = field(default_factory=dict)

    def live(self, now_ms: int) -> dict[int, Lease]:
        """The leases not yet expired."""
        return {h: lease for h, lease in self.leases.items() if lease.expires_ms > now_ms}


def reserve_height(
    table: LeaseTable,
    state: MembershipState,
    verifier: Verifier,
    request: bytes,
    now_ms: int,
) -> tuple[LeaseTable, bool]:
    """Grant (or refuse) a signed lease request (:func:`lease_request`).

    Granted, for ``min(asked, MAX_LEASE_TTL_MS)``, when the signer is a registered member,
    nobody else holds a live lease on the height, and the signer holds fewer than
    :data:`MAX_LEASES_PER_HOLDER` other live leases. Returns the new table and whether it
    was granted; a bad signature, a message for another purpose or a replayed request raise
    :class:`~protocol.errors.ProtocolError` (:class:`~protocol.errors.UnknownSigner` for a
    signer that is not a member).
    """
    verified = _verify_purpose(
        verifier, request, envelope_pb2.KIND_HEARTBEAT, LEASE_PURPOSE, "lease request"
    )
    holder = verified.signer_id
    if holder not in state.members:
        raise UnknownSigner(f"lease request from {holder}, which is not a registered member")
    tag = bytes(verified.message.context.query_id)[len(LEASE_PURPOSE) :]
    try:
        asked_ms = int(tag.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"lease request: TTL {tag[:20]!r} is not a number of ms") from exc
    timestamp_ms = int(verified.message.context.timestamp_ms)
    last = table.signed_ms.get(holder)
    if last is not None and timestamp_ms <= last:
        raise Replayed(
            f"lease request from {holder} signed at {timestamp_ms} ms is not newer than its "
            f"last ({last} ms): a replay"
        )
    signed_ms = {**table.signed_ms, holder: timestamp_ms}
    height = int(verified.message.ledger_height)
    live = table.live(now_ms)
    ttl_ms = max(0, min(asked_ms, MAX_LEASE_TTL_MS))
    granted = grant_lease(live, holder, height, now_ms + ttl_ms)
    if granted is None:
        return replace(table, leases=live, signed_ms=signed_ms), False
    return LeaseTable(leases=granted, signed_ms=signed_ms), True


def grant_lease(
    live: dict[int, Lease],
    holder: str,
    height: int,
    expires_ms: int,
    cap: int | None = MAX_LEASES_PER_HOLDER,
) -> dict[int, Lease] | None:
    """The live leases with ``height`` leased to ``holder`` until ``expires_ms``, or ``None``
    when another holder has it or ``holder`` already has ``cap`` others (``None``: no cap):
    the rule behind :func:`reserve_height` and :class:`~node.membership.static.LocalLeases`."""
    current = live.get(height)
    if current is not None and current.holder != holder:
        return None
    others = sum(1 for h, lease in live.items() if lease.holder == holder and h != height)
    if cap is not None and others >= cap:
        return None
    return {**live, height: Lease(holder, expires_ms)}


# --- what a node signs for the registry ---


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _context(swarm_id: str, purpose: bytes, now_ms: int | None) -> messages_pb2.MessageContext:
    return messages_pb2.MessageContext(
        swarm_id=swarm_id, query_id=purpose, timestamp_ms=_now_ms() if now_ms is None else now_ms
    )


def registration_info(
    identity: Identity, swarm_id: str, info: bytes, now_ms: int | None = None
) -> bytes:
    """The node's ``NodeInfo`` (``info``, as served by GetInfo) re-signed for registration."""
    message = messages_pb2.NodeInfo.FromString(Envelope.FromString(info).payload)
    message.context.CopyFrom(_context(swarm_id, REGISTER_PURPOSE, now_ms))
    message.challenge = b""
    return bytes(seal(identity, envelope_pb2.KIND_NODE_INFO, message, swarm_id).SerializeToString())


def deregistration_beat(identity: Identity, swarm_id: str, now_ms: int | None = None) -> bytes:
    """A ``Heartbeat`` signed for deregistration."""
    beat = messages_pb2.Heartbeat(
        context=_context(swarm_id, DEREGISTER_PURPOSE, now_ms), node_id=identity.node_id
    )
    return bytes(seal(identity, envelope_pb2.KIND_HEARTBEAT, beat, swarm_id).SerializeToString())


def lease_request(
    identity: Identity, swarm_id: str, height: int, ttl_ms: int, now_ms: int | None = None
) -> bytes:
    """A ``Heartbeat`` signed as a request for the lease on ledger ``height`` for ``ttl_ms``."""
    purpose = LEASE_PURPOSE + str(max(0, int(ttl_ms))).encode("ascii")
    beat = messages_pb2.Heartbeat(
        context=_context(swarm_id, purpose, now_ms),
        node_id=identity.node_id,
        ledger_height=height,
    )
    return bytes(seal(identity, envelope_pb2.KIND_HEARTBEAT, beat, swarm_id).SerializeToString())


def evict(state: MembershipState, now_ms: int, eviction_timeout_ms: int) -> MembershipState:
    """Drop members whose last heartbeat is older than the timeout."""
    stale = sorted(k for k, m in state.members.items() if not m.alive(now_ms, eviction_timeout_ms))
    if not stale:
        return state
    members = {k: v for k, v in state.members.items() if k not in stale}
    return replace(state, members=members, evicted=(*state.evicted, *stale)[-1000:])


def save_state(state: MembershipState, path: Path) -> None:
    """Write membership to ``path`` atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "members": [m.to_json() for m in sorted(state.members.values(), key=lambda m: m.node_id)],
        "evicted": list(state.evicted),
        # registration and deregistration times only: heartbeats are liveness, not persisted
        "signed_ms": [
            [node_id, purpose, ms]
            for (node_id, purpose), ms in sorted(state.signed_ms.items())
            if purpose == "membership"
        ],
    }
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: Path, now_ms: int) -> MembershipState:
    """Read membership saved by :func:`save_state`.

    Liveness restarts at ``now_ms``: a registry that was down cannot tell who missed beats
    meanwhile, so every saved member gets one full eviction timeout to beat again.
    """
    if not path.exists():
        return MembershipState()
    data = json.loads(path.read_text())
    members = {}
    for item in data.get("members", []):
        member = replace(Member.from_json(item), last_seen_ms=now_ms)
        members[member.node_id] = member
    signed_ms = {(str(n), str(p)): int(ms) for n, p, ms in data.get("signed_ms", [])}
    return MembershipState(
        members=members, evicted=tuple(data.get("evicted", [])), signed_ms=signed_ms
    )


class RegistryCore:
    """The registry's behaviour without Ray (the actor class wraps it; tests use it directly)."""

    def __init__(
        self,
        swarm_id: str,
        state_path: str,
        eviction_timeout_s: float = 10.0,
        window_ms: int = 300_000,
    ) -> None:
        self.swarm_id = swarm_id
        self.state_path = Path(state_path)
        self.eviction_timeout_ms = int(eviction_timeout_s * 1000)
        self.window_ms = window_ms
        self.verifier = Verifier(swarm_id, window_ms=window_ms)
        self.state = load_state(self.state_path, self._now_ms())
        self.started_ms = self._now_ms()
        self.leases = LeaseTable()

    @staticmethod
    def _now_ms() -> int:
        return time.time_ns() // 1_000_000

    def _commit(self, state: MembershipState) -> None:
        if state != self.state:
            save_state(state, self.state_path)
        self.state = state

    def _evict(self) -> None:
        now = self._now_ms()
        state = evict(self.state, now, self.eviction_timeout_ms)
        # Twice the window: a message may be signed up to one window in the future.
        self._commit(forget_old_times(state, now - 2 * self.window_ms))

    def register(self, info: bytes) -> str:
        """Register a signed NodeInfo; returns the node id. Raises ProtocolError when invalid."""
        state = register(self.state, self.verifier, info, self._now_ms())
        self._commit(state)
        return node_id_from_public_key(Envelope.FromString(info).signer)

    def heartbeat(self, beat: bytes) -> bool:
        """Record a heartbeat; False tells the node to register again."""
        state, known = heartbeat(self.state, self.verifier, beat, self._now_ms())
        self.state = state  # liveness only: not persisted (see load_state and save_state)
        self._evict()
        return known

    def deregister(self, beat: bytes) -> None:
        self._commit(deregister(self.state, self.verifier, beat))

    def members(self) -> list[dict[str, Any]]:
        """Live members (after eviction), as JSON-able dicts sorted by node id."""
        self._evict()
        now = self._now_ms()
        return [
            {**m.to_json(), "age_ms": now - m.last_seen_ms}
            for m in sorted(self.state.members.values(), key=lambda m: m.node_id)
        ]

    def reserve(self, request: bytes) -> bool:
        """Grant a signed lease request (:func:`lease_request`) by :func:`reserve_height`: the
        swarm's sequencer. Raises ProtocolError for a request that is not a member's, fresh
        and signed for leasing.

        Leases are kept in memory only: a restarted registry starts with none, which at worst
        lets two leaders race once (the loser's record is refused by the other nodes).
        """
        self._evict()
        self.leases, granted = reserve_height(
            self.leases, self.state, self.verifier, request, self._now_ms()
        )
        return granted

    def evicted(self) -> list[str]:
        """Node ids evicted so far, oldest first."""
        return list(self.state.evicted)

    def info(self) -> dict[str, Any]:
        """Registry metadata (used by tests and `swarmrank doctor`)."""
        return {
            "swarm_id": self.swarm_id,
            "pid": os.getpid(),
            "started_ms": self.started_ms,
            "members": len(self.state.members),
            "eviction_timeout_ms": self.eviction_timeout_ms,
        }


def get_or_create_registry(swarm_id: str, state_path: str, eviction_timeout_s: float = 10.0) -> Any:
    """Return the swarm's registry actor handle, creating it if absent (Ray must be initialised).

    The actor is named, detached (outlives its creator) and restartable: Ray restarts it after a
    crash and ``__init__`` reloads membership from ``state_path``.
    """
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    # Pin (softly) to the head node: the registry's state file lives on the machine that runs
    # it, and the head is the one node whose loss ends the cluster anyway.
    heads = [
        n["NodeID"]
        for n in ray.nodes()  # type: ignore[no-untyped-call]
        if n.get("Alive") and "node:__internal_head__" in n.get("Resources", {})
    ]
    placement: dict[str, Any] = {}
    if heads:
        placement["scheduling_strategy"] = NodeAffinitySchedulingStrategy(heads[0], soft=True)
    actor_cls = ray.remote(RegistryCore).options(
        **placement,
        name=registry_name(swarm_id),
        namespace=REGISTRY_NAMESPACE,
        lifetime="detached",
        max_restarts=-1,
        max_task_retries=3,
        get_if_exists=True,
        num_cpus=0,
    )
    return actor_cls.remote(swarm_id, state_path, eviction_timeout_s)


class RayMembership:
    """A node's membership through the swarm's Ray registry actor.

    :meth:`start` registers the node's signed NodeInfo and starts a heartbeat loop that also
    refreshes the cached member list; :meth:`members` answers from that cache (round code never
    waits on Ray). Every member's NodeInfo is re-verified here, so a tampered registry entry is
    dropped rather than trusted. :meth:`stop` deregisters.
    """

    def __init__(
        self,
        registry: Any,
        verifier: Verifier,
        info_envelope: Callable[[], bytes],
        heartbeat_envelope: Callable[[], bytes],
        *,
        identity: Identity,
        heartbeat_interval_s: float = 1.0,
        call_timeout_s: float = 10.0,
    ) -> None:
        self.registry = registry
        self.verifier = verifier
        self.info_envelope = info_envelope
        self.heartbeat_envelope = heartbeat_envelope
        #: signs registration, deregistration and lease requests (module docstring)
        self.identity = identity
        self.heartbeat_interval_s = heartbeat_interval_s
        self.call_timeout_s = call_timeout_s
        self._members: list[Member] = []
        self._task: asyncio.Task[None] | None = None
        #: signing time of the last lease request: strictly increasing, so that concurrent
        #: rounds asking within one millisecond are not taken for replays
        self._lease_signed_ms = 0
        self.consecutive_failures = 0

    def members(self) -> list[Member]:
        return list(self._members)

    async def _call(self, method: str, *args: Any) -> Any:
        ref = getattr(self.registry, method).remote(*args)
        return await asyncio.wait_for(ref, self.call_timeout_s)

    async def refresh(self) -> list[Member]:
        """Fetch members from the registry and keep those whose signed info verifies."""
        rows = await self._call("members")
        members = []
        for row in rows:
            member = Member.from_json(row)
            try:
                verified = self.verifier.verify(
                    member.info_envelope, envelope_pb2.KIND_NODE_INFO, check_time=False
                )
            except ProtocolError:
                continue
            if verified.signer_id != member.node_id or verified.message.address != member.address:
                continue
            members.append(replace(member, last_seen_ms=self._now_ms() - int(row["age_ms"])))
        self._members = members
        return members

    @staticmethod
    def _now_ms() -> int:
        return time.time_ns() // 1_000_000

    async def reserve(self, height: int, node_id: str, ttl_s: float) -> bool:
        """Lease ledger ``height`` from the registry with a signed request (see
        :meth:`RegistryCore.reserve`); only this node's own id can be leased."""
        if node_id != self.identity.node_id:
            return False
        self._lease_signed_ms = max(self._lease_signed_ms + 1, self._now_ms())
        request = lease_request(
            self.identity, self.verifier.swarm_id, height, int(ttl_s * 1000), self._lease_signed_ms
        )
        return bool(await self._call("reserve", request))

    def _registration(self) -> bytes:
        return registration_info(self.identity, self.verifier.swarm_id, self.info_envelope())

    async def start(self) -> None:
        """Register, take a first member list, and start heartbeating."""
        await self._call("register", self._registration())
        await self.refresh()
        self._task = asyncio.create_task(self._beat_forever())

    async def beat(self) -> None:
        """One heartbeat (re-registering if the registry forgot us) and a member refresh."""
        known = await self._call("heartbeat", self.heartbeat_envelope())
        if not known:
            await self._call("register", self._registration())
        await self.refresh()

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_interval_s)
            try:
                await self.beat()
                self.consecutive_failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Ray errors are many; a missed beat is not fatal
                self.consecutive_failures += 1
                _log.warning(
                    "heartbeat failed",
                    extra={
                        "error": f"{type(exc).__name__}: {exc}"[:300],
                        "failures": self.consecutive_failures,
                    },
                )

    async def stop(self) -> None:
        """Stop heartbeating and deregister (best effort: the registry may be gone)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            beat = deregistration_beat(self.identity, self.verifier.swarm_id)
            await self._call("deregister", beat)
