"""Swarm membership: the registry's pure state, the Ray registry actor, and the node's view.

* :class:`MembershipState` and its functions (``register``, ``heartbeat``, ``deregister``,
  ``evict``) are pure: ``(state, input, now) -> state``; the actor only feeds them.
* :class:`SwarmRegistry` is the named, detached, restartable Ray actor (one per swarm). It keeps
  the *signed* ``NodeInfo`` envelope of every member and verifies every registration, heartbeat
  and deregistration, so nothing that matters travels through Ray unsigned. Membership is saved
  to a JSON file on every change (atomic rename), so a restarted actor loses no member.
* :class:`Member` is what a node sees: verified info plus liveness.

Ray is a trust domain, not a trust anchor (DESIGN "Ray's role"): the registry can delay or hide
members, but cannot forge one, because peers re-verify the signed info they read from it.
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
from protocol.errors import ProtocolError
from protocol.identity import node_id_from_public_key
from protocol.signing import Envelope, Verifier
from protocol.v1 import envelope_pb2

REGISTRY_NAMESPACE = "swarmrank"
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
    """Registry contents: members by node id, and the ids evicted so far (most recent last)."""

    members: dict[str, Member] = field(default_factory=dict)
    evicted: tuple[str, ...] = ()


def register(
    state: MembershipState, verifier: Verifier, info: bytes, now_ms: int
) -> MembershipState:
    """Add or refresh a member from its signed ``NodeInfo`` envelope bytes."""
    verified = verifier.verify(info, envelope_pb2.KIND_NODE_INFO)
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
    return replace(state, members={**state.members, member.node_id: member})


def heartbeat(
    state: MembershipState, verifier: Verifier, beat: bytes, now_ms: int
) -> tuple[MembershipState, bool]:
    """Record a signed ``Heartbeat``; returns ``known=False`` when the node must re-register."""
    verified = verifier.verify(beat, envelope_pb2.KIND_HEARTBEAT)
    member = state.members.get(verified.signer_id)
    if member is None:
        return state, False
    updated = replace(
        member, last_seen_ms=now_ms, ledger_height=int(verified.message.ledger_height)
    )
    return replace(state, members={**state.members, member.node_id: updated}), True


def deregister(state: MembershipState, verifier: Verifier, beat: bytes) -> MembershipState:
    """Remove the signer of a signed ``Heartbeat`` (sent on clean shutdown)."""
    verified = verifier.verify(beat, envelope_pb2.KIND_HEARTBEAT)
    members = {k: v for k, v in state.members.items() if k != verified.signer_id}
    return replace(state, members=members)


def evict(state: MembershipState, now_ms: int, eviction_timeout_ms: int) -> MembershipState:
    """Drop members whose last heartbeat is older than the timeout."""
    stale = sorted(k for k, m in state.members.items() if not m.alive(now_ms, eviction_timeout_ms))
    if not stale:
        return state
    members = {k: v for k, v in state.members.items() if k not in stale}
    return MembershipState(members=members, evicted=(*state.evicted, *stale)[-1000:])


def save_state(state: MembershipState, path: Path) -> None:
    """Write membership to ``path`` atomically (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "members": [m.to_json() for m in sorted(state.members.values(), key=lambda m: m.node_id)],
        "evicted": list(state.evicted),
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
    return MembershipState(members=members, evicted=tuple(data.get("evicted", [])))


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
        self.verifier = Verifier(swarm_id, window_ms=window_ms)
        self.state = load_state(self.state_path, self._now_ms())
        self.started_ms = self._now_ms()
        self._leases: dict[int, tuple[str, int]] = {}

    @staticmethod
    def _now_ms() -> int:
        return time.time_ns() // 1_000_000

    def _commit(self, state: MembershipState) -> None:
        if state != self.state:
            save_state(state, self.state_path)
        self.state = state

    def _evict(self) -> None:
        self._commit(evict(self.state, self._now_ms(), self.eviction_timeout_ms))

    def register(self, info: bytes) -> str:
        """Register a signed NodeInfo; returns the node id. Raises ProtocolError when invalid."""
        state = register(self.state, self.verifier, info, self._now_ms())
        self._commit(state)
        return node_id_from_public_key(Envelope.FromString(info).signer)

    def heartbeat(self, beat: bytes) -> bool:
        """Record a heartbeat; False tells the node to register again."""
        state, known = heartbeat(self.state, self.verifier, beat, self._now_ms())
        self.state = state  # liveness only: not persisted (see load_state)
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

    def reserve(self, height: int, node_id: str, ttl_ms: int) -> bool:
        """Lease ledger ``height`` to leader ``node_id`` for ``ttl_ms`` (the swarm's sequencer).

        Granted when nobody holds a live lease on that height (or the holder asks again);
        leases are kept in memory only: a restarted registry starts with none, which at worst
        lets two leaders race once (the loser's record is refused by the other nodes).
        """
        now = self._now_ms()
        holder = self._leases.get(height)
        if holder is not None and holder[0] != node_id and holder[1] > now:
            return False
        self._leases[height] = (node_id, now + ttl_ms)
        for old in [h for h in self._leases if h < height - 1000]:
            del self._leases[old]
        return True

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
        heartbeat_interval_s: float = 1.0,
        call_timeout_s: float = 10.0,
    ) -> None:
        self.registry = registry
        self.verifier = verifier
        self.info_envelope = info_envelope
        self.heartbeat_envelope = heartbeat_envelope
        self.heartbeat_interval_s = heartbeat_interval_s
        self.call_timeout_s = call_timeout_s
        self._members: list[Member] = []
        self._task: asyncio.Task[None] | None = None
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
        """Lease ledger ``height`` from the registry (see :meth:`RegistryCore.reserve`)."""
        return bool(await self._call("reserve", height, node_id, int(ttl_s * 1000)))

    async def start(self) -> None:
        """Register, take a first member list, and start heartbeating."""
        await self._call("register", self.info_envelope())
        await self.refresh()
        self._task = asyncio.create_task(self._beat_forever())

    async def beat(self) -> None:
        """One heartbeat (re-registering if the registry forgot us) and a member refresh."""
        known = await self._call("heartbeat", self.heartbeat_envelope())
        if not known:
            await self._call("register", self.info_envelope())
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
            await self._call("deregister", self.heartbeat_envelope())
