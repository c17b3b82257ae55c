"""Per-identity rate limits: :class:`TokenBucket`, :func:`take_token` and :class:`RateLimiter`.

Owns the token-bucket rule and the bounded table of buckets keyed by *verified* node id. The
rule is a pure function in the ``decide(ctx, state) -> (decision, new_state)`` shape:
:func:`take_token` maps a bucket and the current time to (allowed, new bucket). The limiter is the
thin stateful shell around it: one bucket per identity in an LRU table of at most
``max_identities`` entries, time from an injected monotonic clock (seconds), so tests drive it
with a fake clock and no sleeping.

Why per verified identity and not per connection: a caller is only known once its envelope's
signature has been checked (:mod:`node.swarm.peer` asks the limiter right after verification and
before any backend call), and a peer can open any number of connections. Requests that fail
verification are not charged to anyone: they never reach the model either.

Memory is bounded by the LRU: evicting an identity forgets its bucket, which comes back full.
Since buckets are only created for verified members of the swarm, ``max_identities`` above the
membership size makes eviction unreachable in practice.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter", "TokenBucket", "take_token"]


@dataclass(frozen=True)
class TokenBucket:
    """A bucket holding ``tokens`` (fractional) as of monotonic time ``updated_s``."""

    tokens: float
    updated_s: float


def take_token(
    bucket: TokenBucket | None, now_s: float, rate_per_s: float, burst: int, cost: float = 1.0
) -> tuple[bool, TokenBucket]:
    """Refill ``bucket`` at ``rate_per_s`` up to ``burst`` tokens, then try to take ``cost``.

    ``None`` is a new caller: a full bucket. A clock that goes backwards refills nothing (the
    elapsed time is clamped at 0). Returns whether the request is allowed and the new bucket (a
    refused request takes nothing, so a caller that keeps hammering still gets a token back
    every ``1 / rate_per_s`` seconds).
    """
    if bucket is None:
        tokens = float(burst)
        updated = now_s
    else:
        elapsed = max(now_s - bucket.updated_s, 0.0)
        tokens = min(float(burst), bucket.tokens + elapsed * rate_per_s)
        updated = max(now_s, bucket.updated_s)
    if tokens >= cost:
        return True, TokenBucket(tokens - cost, updated)
    return False, TokenBucket(tokens, updated)


class RateLimiter:
    """Token buckets keyed by node id, at most ``max_identities`` of them (LRU).

    Parameters
    ----------
    rate_per_s
        Sustained requests per second per identity (> 0).
    burst
        Bucket size: requests an idle identity may send at once (>= 1).
    clock
        Monotonic seconds; defaults to :func:`time.monotonic`.
    max_identities
        Buckets kept; the least recently seen identity is forgotten beyond this.
    """

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_identities: int = 10_000,
    ) -> None:
        if not (math.isfinite(rate_per_s) and rate_per_s > 0.0):
            raise ValueError(f"rate_per_s must be finite and > 0, got {rate_per_s!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        if max_identities < 1:
            raise ValueError(f"max_identities must be >= 1, got {max_identities!r}")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.clock = clock
        self.max_identities = max_identities
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, node_id: str, cost: float = 1.0) -> bool:
        """Charge ``cost`` to ``node_id``; False when its bucket is empty."""
        allowed, bucket = take_token(
            self._buckets.get(node_id), self.clock(), self.rate_per_s, self.burst, cost
        )
        self._buckets[node_id] = bucket
        self._buckets.move_to_end(node_id)
        while len(self._buckets) > self.max_identities:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)

    def __contains__(self, node_id: object) -> bool:
        return node_id in self._buckets
