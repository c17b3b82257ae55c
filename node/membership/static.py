"""The membership a round needs: :class:`MembershipView`, and :class:`StaticMembership` for a
fixed peer list (tests, benchmarks, nodes without Ray); :func:`member_from_address` builds a
:class:`~node.membership.registry.registry.Member` from a peer's signed ``GetInfo`` reply.
:class:`~node.membership.registry.registry.RayMembership` is the view through the Ray registry."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import grpc

from node.membership.registry import Lease, Member, grant_lease
from node.transport.client import PeerClient
from protocol.v1 import messages_pb2


class MembershipView(Protocol):
    """Who is in the swarm, as this node currently sees it."""

    def members(self) -> list[Member]:
        """Live members, the local node included."""
        ...

    async def refresh(self) -> list[Member]:
        """Bring the view up to date (called by a leader before it selects)."""
        ...

    async def reserve(self, height: int, node_id: str, ttl_s: float) -> bool:
        """Lease ledger ``height`` to leader ``node_id`` for ``ttl_s``; False if taken."""
        ...


class LocalLeases:
    """Height leases for leaders in one process (tests, benchmarks): the registry's rule
    (:func:`~node.membership.registry.grant_lease`: one holder per live height) without
    signatures or a per-holder cap, since every leader here is this process's own."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._leases: dict[int, Lease] = {}

    def reserve(self, height: int, node_id: str, ttl_s: float) -> bool:
        now_ms = int(self.clock() * 1000)
        live = {h: lease for h, lease in self._leases.items() if lease.expires_ms > now_ms}
        # no per-holder cap: every leader here is this process's own
        granted = grant_lease(live, node_id, height, now_ms + int(ttl_s * 1000), cap=None)
        self._leases = live if granted is None else granted
        return granted is not None


class StaticMembership:
    """A fixed member list (tests, benchmarks, and swarms without Ray).

    Without ``leases`` every height lease is granted: such a swarm must have one leader at a
    time. Nodes sharing one :class:`LocalLeases` may lead concurrently.
    """

    def __init__(self, members: Sequence[Member] = (), leases: LocalLeases | None = None) -> None:
        self._members = list(members)
        self.leases = leases

    def members(self) -> list[Member]:
        return list(self._members)

    def set(self, members: Sequence[Member]) -> None:
        self._members = list(members)

    async def refresh(self) -> list[Member]:
        return self.members()

    async def reserve(self, height: int, node_id: str, ttl_s: float) -> bool:
        """From the shared :class:`LocalLeases`; without one every lease is granted (one
        leader at a time, or concurrent leaders would race on the ledger height)."""
        return True if self.leases is None else self.leases.reserve(height, node_id, ttl_s)


async def member_from_address(
    address: str,
    verifier: Any,
    timeout_s: float = 5.0,
    channel_credentials: grpc.ChannelCredentials | None = None,
) -> Member:
    """Fetch and verify a peer's signed NodeInfo and describe it as a :class:`Member`."""
    async with PeerClient(
        address, verifier, call_timeout_s=timeout_s, channel_credentials=channel_credentials
    ) as client:
        challenge = os.urandom(16)
        verified = await client.call_get_info(challenge)
    info: messages_pb2.NodeInfo = verified.message
    return Member(
        node_id=verified.signer_id,
        public_key=bytes(info.public_key),
        address=info.address or address,
        model=info.model,
        capabilities=tuple(info.capabilities),
        info_envelope=verified.envelope.SerializeToString(),
        last_seen_ms=int(time.time() * 1000),
    )
