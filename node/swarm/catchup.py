"""Catching up with peers' ledgers: :func:`catch_up`.

A node that missed records (it was down, or a record arrived from a height ahead of its own)
fetches them from peers (``GetRecords``) and submits each to itself, so every fetched record
is checked exactly like a submitted one: a lying peer can only fail to help.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from node.errors import NodeError
from node.logging import get_logger
from node.membership.registry import Member
from node.transport.client import PeerClient
from protocol.signing import Envelope
from protocol.v1 import services_pb2

log = get_logger("swarm")


async def catch_up(
    members: Sequence[Member],
    *,
    self_id: str,
    client: Callable[[Member], PeerClient],
    submit: Callable[[Envelope], Awaitable[services_pb2.RecordAck]],
    height: Callable[[], int],
    batch: int = 100,
) -> int:
    """Fetch the records this node misses from each of ``members`` in turn and ``submit``
    them; returns how many were appended.

    ``height`` reads this node's ledger height; ``submit`` is its own ``SubmitRecord``
    handler. A peer is left at its first refused record, an empty or short batch, or a
    transport error.
    """
    added = 0
    for member in members:
        if member.node_id == self_id:
            continue
        while True:
            at = height()
            try:
                envelopes = await client(member).call_get_records(at, batch)
            except NodeError as exc:
                log.info(
                    "catch-up peer unavailable",
                    extra={"peer": member.node_id, "error": str(exc)},
                )
                break
            if not envelopes:
                break
            progressed = False
            for item in envelopes:
                ack = await submit(item)
                if not ack.accepted:
                    break
                if ack.height > at:
                    added += 1
                    at = ack.height
                    progressed = True
            if not progressed or len(envelopes) < batch:
                break
    return added


class SingleFlight:
    """Runs ``start()`` in the background unless its last run is still going: a flood of
    records "from ahead" starts one catch-up, not one each (issue 20, finding 6)."""

    def __init__(
        self, start: Callable[[], Awaitable[Any]], background: set[asyncio.Task[Any]]
    ) -> None:
        self.start = start
        self.background = background
        self.running: asyncio.Task[Any] | None = None

    def __call__(self) -> None:
        if self.running is not None and not self.running.done():
            return
        self.running = asyncio.ensure_future(self.start())
        self.background.add(self.running)
        self.running.add_done_callback(self.background.discard)
