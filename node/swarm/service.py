"""The client-facing ``SwarmService`` (ask, get record, status): :class:`SwarmServicer`, whose
methods are one-line delegations to :class:`~node.swarm.node.SwarmNode`, with errors mapped
to status codes by :func:`node.transport.server.status_for`; and :class:`AskGuard`, who may
``Ask`` through a node's peer port and how much at once.

Why Ask is guarded here (issue 20, finding 11): every node serves ``SwarmService`` on its peer
port, so without a guard anyone who reaches that port runs rounds (model calls on the whole
swarm) past the HTTP gateway's API keys and concurrency limit. :class:`AskPolicy` mirrors the
gateway: optional API keys (gRPC metadata ``authorization: Bearer <key>``, compared in constant
time) and allowed client networks, then a cap on concurrent Asks per caller (a key, or the
client's address when it needs none). Without keys and networks Ask stays open (a private
swarm, ``swarmrank up``) but still capped per caller. ``GetRecord`` and ``Status`` are reads of
public ledger data and stay open.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from node.errors import ConfigError, NodeError, Overloaded, Unauthenticated
from node.swarm.node import SwarmNode
from protocol.errors import ProtocolError
from protocol.v1 import services_pb2_grpc

#: gRPC metadata key carrying ``Bearer <key>`` (lower case, as gRPC requires)
AUTH_METADATA_KEY = "authorization"
#: concurrent Asks one caller may have in flight by default (the gateway's own default limit)
DEFAULT_ASK_CONCURRENCY_PER_CALLER = 32


@dataclass(frozen=True)
class AskPolicy:
    """Who may Ask through the peer port (:class:`AskGuard`)."""

    api_keys: tuple[str, ...] = ()  # keys a caller may present; () = no key needed
    allowed_networks: tuple[str, ...] = ()  # CIDRs that need no key ("10.0.0.0/8")
    max_concurrent_per_caller: int = DEFAULT_ASK_CONCURRENCY_PER_CALLER

    @property
    def open(self) -> bool:
        """Whether anyone may Ask (no keys and no networks configured)."""
        return not self.api_keys and not self.allowed_networks


def load_ask_keys(path: Path) -> tuple[str, ...]:
    """Ask API keys from a file: one per line, ``#`` comments and blank lines skipped (the
    gateway's ``--api-keys-file`` format). Raises :class:`~node.errors.ConfigError`."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"ask_api_keys_file {path}: cannot read it ({exc})") from exc
    keys = tuple(k for k in (line.split("#", 1)[0].strip() for line in lines) if k)
    if not keys:
        raise ConfigError(f"ask_api_keys_file {path}: holds no key")
    return keys


def peer_host(peer: str) -> str:
    """The address part of a gRPC peer string (``"ipv4:10.0.0.7:5123"`` -> ``"10.0.0.7"``,
    ``"ipv6:[::1]:5123"`` -> ``"::1"``); anything else is returned unchanged."""
    kind, _, rest = peer.partition(":")
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6":
        return rest.rpartition(":")[0].strip("[]")
    return peer


class AskGuard:
    """Authenticates and limits ``Ask`` calls; see the module docstring.

    ``caller_of`` names the caller or raises :class:`~node.errors.Unauthenticated`;
    ``admit`` holds one of the caller's concurrency slots or raises
    :class:`~node.errors.Overloaded`. The table of in-flight counts only holds callers with a
    call in flight, so it is bounded by the server's concurrent RPCs.
    """

    def __init__(self, policy: AskPolicy | None = None) -> None:
        self.policy = policy or AskPolicy()
        if self.policy.max_concurrent_per_caller < 1:
            raise ValueError("max_concurrent_per_caller must be >= 1")
        if any(not key.strip() for key in self.policy.api_keys):
            raise ValueError("an Ask API key must not be empty")
        self._keys = [key.strip().encode() for key in self.policy.api_keys]
        self._networks = [
            ipaddress.ip_network(n, strict=False) for n in self.policy.allowed_networks
        ]
        self._in_flight: dict[str, int] = {}

    def _key_caller(self, metadata: Sequence[tuple[str, Any]]) -> str | None:
        for key, value in metadata:
            if key.lower() != AUTH_METADATA_KEY:
                continue
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            scheme, _, token = text.partition(" ")
            given = token.strip().encode()
            if scheme.lower() != "bearer" or not given:
                continue
            matches = [hmac.compare_digest(given, k) for k in self._keys]  # all, constant time
            if any(matches):
                return "key:" + hashlib.sha256(given).hexdigest()[:12]
        return None

    def _in_allowed_network(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self._networks)

    def caller_of(self, metadata: Sequence[tuple[str, Any]], peer: str) -> str:
        """The caller's name for limits: its key's digest, else its address; raises
        :class:`Unauthenticated` when the policy requires a key it did not present."""
        by_key = self._key_caller(metadata) if self._keys else None
        if by_key is not None:
            return by_key
        host = peer_host(peer)
        if self.policy.open or self._in_allowed_network(host):
            return "peer:" + host
        raise Unauthenticated(
            "Ask on this node needs 'authorization: Bearer <key>' with one of its API keys "
            f"(or a client in its allowed networks); {host or 'this client'} has neither",
            reason="unauthenticated",
        )

    @contextmanager
    def admit(self, caller: str) -> Iterator[None]:
        """Hold one of ``caller``'s concurrency slots for the duration of the block."""
        count = self._in_flight.get(caller, 0)
        if count >= self.policy.max_concurrent_per_caller:
            raise Overloaded(
                f"{caller} already has {count} Asks in flight on this node "
                f"(at most {self.policy.max_concurrent_per_caller}); retry later",
                reason="ask_concurrency",
            )
        self._in_flight[caller] = count + 1
        try:
            yield
        finally:
            left = self._in_flight[caller] - 1
            if left:
                self._in_flight[caller] = left
            else:
                del self._in_flight[caller]

    def in_flight(self, caller: str) -> int:
        """Asks ``caller`` has in flight now."""
        return self._in_flight.get(caller, 0)


class SwarmServicer(services_pb2_grpc.SwarmServiceServicer):
    """gRPC adapter for ``SwarmService``; errors map through
    :func:`node.transport.server.status_for`. ``Ask`` passes :class:`AskGuard` first."""

    def __init__(self, node: SwarmNode, guard: AskGuard | None = None) -> None:
        self.node = node
        self.guard = guard or AskGuard()

    async def Ask(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _serve(context, self._guarded_ask(request, context))

    async def _guarded_ask(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        caller = self.guard.caller_of(context.invocation_metadata() or (), context.peer() or "")
        with self.guard.admit(caller):
            return await self.node.handle_ask(request)

    async def GetRecord(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _serve(context, self.node.handle_get_record(request))

    async def Status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await _serve(context, self.node.handle_status(request))


async def _serve(context: grpc.aio.ServicerContext, coro: Any) -> Any:
    from node.transport.server import status_for

    try:
        return await coro
    except (NodeError, ProtocolError) as exc:
        code, _, message = status_for(exc)
        await context.abort(code, message)
