"""A node's outgoing links to its peers: :class:`PeerLinks`.

Owns the cached :class:`~node.transport.client.PeerClient` per member, the background tasks
(broadcasts, catch-up, gold rounds) a node must wait for or cancel when it closes, the
deadline-bound fan-out a leader's phases call through (:data:`node.round.leader.FanOut`), and
the fire-and-forget sends (``call_submit_record``, ``call_submit_evidence``) whose failure is
logged, never raised: a peer that does not answer is a normal outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

import grpc

from node.errors import NodeError
from node.logging import get_logger
from node.membership.registry import Member
from node.transport.client import PeerClient
from protocol.errors import ProtocolError
from protocol.signing import Envelope, Verified, Verifier

log = get_logger("swarm")


class PeerLinks:
    """Clients, background tasks and fan-outs towards a node's peers.

    Parameters
    ----------
    verifier
        Verifies every reply (each client also requires the member's node id as signer).
    channel_credentials
        TLS credentials for outgoing calls (``None`` = plaintext); see
        :mod:`node.transport.tls`.
    """

    def __init__(
        self, verifier: Verifier, channel_credentials: grpc.ChannelCredentials | None = None
    ) -> None:
        self.verifier = verifier
        self.channel_credentials = channel_credentials
        self.clients: dict[str, PeerClient] = {}
        #: tasks started by :meth:`spawn`, awaited or cancelled by :meth:`close`
        self.background: set[asyncio.Task[Any]] = set()

    def client(self, member: Member) -> PeerClient:
        """A cached client for ``member`` (replies must be signed by its node id)."""
        client = self.clients.get(member.node_id)
        if client is None or client.address != member.address:
            client = PeerClient(
                member.address,
                self.verifier,
                expected_node_id=member.node_id,
                channel_credentials=self.channel_credentials,
            )
            self.clients[member.node_id] = client
        return client

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run ``coro`` in the background until it ends or :meth:`close` cancels it."""
        task = asyncio.create_task(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def close(self) -> None:
        """Cancel background tasks, wait for them, and close every channel."""
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        for client in self.clients.values():
            await client.close()
        self.clients.clear()

    async def fan_out(
        self,
        members: Sequence[Member],
        call: Callable[[PeerClient], Awaitable[Verified]],
        timeout_s: float,
    ) -> list[Verified]:
        """Call every member concurrently; keep the verified replies that arrived in time."""
        if not members:
            return []

        async def one(member: Member) -> Verified | None:
            try:
                return await call(self.client(member))
            except (NodeError, ProtocolError) as exc:
                log.info(
                    "peer did not answer",
                    extra={"peer": member.node_id, "error": str(exc)[:200]},
                )
                return None

        tasks = [asyncio.create_task(one(m)) for m in members]
        done, pending = await asyncio.wait(tasks, timeout=timeout_s + 0.5)
        for task in pending:
            task.cancel()
        return [r for t in done if (r := t.result()) is not None]

    async def send_record(self, member: Member, record: Envelope, timeout_s: float) -> None:
        """``SubmitRecord`` to one peer; a refusal or a failure is logged."""
        try:
            ack = await self.client(member).call_submit_record(record, timeout_s=timeout_s)
            if not ack.accepted:
                log.warning(
                    "peer refused record", extra={"peer": member.node_id, "reason": ack.reason}
                )
        except NodeError as exc:
            log.info("record not delivered", extra={"peer": member.node_id, "error": str(exc)})

    async def send_evidence(self, member: Member, report: Envelope, timeout_s: float) -> None:
        """``SubmitEvidence`` to one peer; a failure is logged."""
        try:
            await self.client(member).call_submit_evidence(report, timeout_s=timeout_s)
        except NodeError as exc:
            log.info("evidence not delivered", extra={"peer": member.node_id, "error": str(exc)})
