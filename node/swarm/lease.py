"""Before leading a round: :func:`fresh_members` (the membership view, refreshed when the
registry answers) and :func:`reserve_next_height` (the swarm-wide lease on the ledger height
the round's record will take).

Two leaders building records at one height would fork the ledger, so the membership's
coordinator (the Ray registry) grants each height to one leader at a time. A refused lease
means another leader's record is on its way: catch up and ask again, until the round's
deadline. The coordinator can delay a round but cannot forge one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from node.errors import RoundFailed
from node.logging import get_logger
from node.membership.registry import Member
from node.membership.static import MembershipView

log = get_logger("swarm")


async def fresh_members(membership: MembershipView) -> list[Member]:
    """The membership view, refreshed when the registry answers (else the cached one)."""
    try:
        return list(await membership.refresh())
    except Exception as exc:  # the registry is slow or restarting: use the cached view
        log.warning("membership refresh failed", extra={"error": str(exc)[:200]})
        return list(membership.members())


async def reserve_next_height(
    membership: MembershipView,
    node_id: str,
    height: Callable[[], int],
    catch_up: Callable[[], Awaitable[object]],
    *,
    ttl_s: float,
    timeout_ms: int = 0,
) -> None:
    """Take the lease on this node's next ledger height (``height()``) for ``node_id``.

    While another leader holds it, ``catch_up`` (fetch that leader's record) and try again;
    :class:`RoundFailed` once ``timeout_ms`` (0: ``ttl_s``) has passed.
    """
    deadline = time.monotonic() + (timeout_ms / 1000 if timeout_ms else ttl_s)
    while True:
        at = height()
        if await membership.reserve(at, node_id, ttl_s):
            return
        if time.monotonic() > deadline:
            raise RoundFailed(
                f"height {at} is leased to another leader and its record did not "
                "arrive in time; ask again"
            )
        await catch_up()
        await asyncio.sleep(0.05)
