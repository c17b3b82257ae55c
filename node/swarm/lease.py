"""Before leading a round: :func:`fresh_members` (the membership view, refreshed when the
registry answers); before recording it: :func:`reserve_next_height` (the swarm-wide lease on
the ledger height the record takes).

Concurrent rounds, one ledger (issue 18). A round is opened on the ledger as it stands: its
Query names that position (``height``, ``previous_record_hash``), which seeds the selection
and the gold draw and fixes the state its pool, reputations and ballot weights come from.
The round then runs without holding anything, so many run at once on one leader and on many.
Its record is linked to the ledger's head as it stands when the round ends, at most
:data:`~node.round.check.CHECKPOINT_WINDOW` records after the opened position, and only that
append is serialised:

* **Two honest nodes never disagree on the ledger.** A record is appended only at the height
  right after its node's head and only linked to that head; the coordinator (the Ray
  registry, :func:`node.membership.registry.reserve_height`) grants each height to one leader
  at a time, and a leader keeps the lease past its append for :data:`COMMIT_LEASE_S`, so a
  leader that has not received the record yet cannot be granted its height; a leader refused
  a height catches up (fetches the record) and asks for the next. Every member checks a record
  against its own ledger, and the ledger state moves by records in ledger order only, so the
  same records give every node the same state. (A coordinator that loses its leases, say on a
  restart, can let two leaders race once; the loser's record is refused by the others, as
  before.)
* **A leader cannot grind the selection.** The seed is the query id and the opened position's
  hash; the position must be one of the member's own ledger within the window (a leader cannot
  invent the state it selected from), the query id is bound into every signed message of the
  round, and the round's participants sign over the Query. Choosing among the last
  :data:`~node.round.check.CHECKPOINT_WINDOW` positions multiplies what a leader could already
  try with fresh query ids (issue 20, finding 4) by at most that window.

The coordinator can delay a round but cannot forge one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from node.errors import RoundFailed
from node.logging import get_logger
from node.membership.registry import Member
from node.membership.static import MembershipView

#: how long a leader's lease on the height its record takes lasts: the append is quick, but
#: the lease must outlive the record's broadcast, or a leader that has not received it yet
#: could be granted the same height
COMMIT_LEASE_S = 3.0

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
) -> int:
    """Take the lease on this node's next ledger height (``height()``) for ``node_id``
    (a record's append, see the module docstring).

    While another leader holds it, ``catch_up`` (fetch that leader's record) and try again;
    :class:`RoundFailed` once ``timeout_ms`` (0: ``ttl_s``) has passed. Returns the height
    leased.
    """
    deadline = time.monotonic() + (timeout_ms / 1000 if timeout_ms else ttl_s)
    while True:
        at = height()
        if await membership.reserve(at, node_id, ttl_s):
            return at
        if time.monotonic() > deadline:
            raise RoundFailed(
                f"height {at} is leased to another leader and its record did not "
                "arrive in time; ask again"
            )
        await catch_up()
        await asyncio.sleep(0.05)
