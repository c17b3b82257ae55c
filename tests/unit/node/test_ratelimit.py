"""Per-identity rate limits: the token-bucket rule (pure, fake clock), the bounded table, the
Node hook (no model work over the limit) and the daemon wiring."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.config import load_config
from node.daemon.run import build_node, make_rate_limiter
from node.errors import ConfigError, Overloaded
from node.ledger.store import Store
from node.swarm.peer import Node
from node.testing import FakeBackend, make_query, make_rank_request
from node.transport.ratelimit import RateLimiter, TokenBucket, take_token
from protocol.signing import Verifier
from protocol.testing import FakeClock, test_identity

SWARM = "test-swarm"
LEADER = test_identity(1)
OTHER_LEADER = test_identity(3)
ME = test_identity(2)


class Seconds:
    """A settable monotonic clock in seconds."""

    def __init__(self) -> None:
        self.now_s = 100.0

    def __call__(self) -> float:
        return self.now_s


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    clock = Seconds()
    limiter = RateLimiter(rate_per_s=2.0, burst=3, clock=clock)
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b")  # buckets are per identity
    clock.now_s += 0.49
    assert not limiter.allow("a")
    clock.now_s += 0.02  # half a second in total: one token at 2/s
    assert limiter.allow("a") and not limiter.allow("a")
    clock.now_s += 100.0  # refill is capped at the burst
    assert [limiter.allow("a") for _ in range(4)] == [True, True, True, False]


def test_clock_going_backwards_refills_nothing() -> None:
    allowed, bucket = take_token(TokenBucket(0.0, 50.0), 10.0, rate_per_s=1.0, burst=5)
    assert not allowed and bucket.tokens == 0.0 and bucket.updated_s == 50.0


def test_table_is_bounded_lru() -> None:
    clock = Seconds()
    limiter = RateLimiter(rate_per_s=1.0, burst=1, clock=clock, max_identities=2)
    assert limiter.allow("a") and limiter.allow("b")
    assert not limiter.allow("a")  # "a" is now the most recent
    assert limiter.allow("c")  # evicts "b", the least recently seen
    assert len(limiter) == 2 and "b" not in limiter and "a" in limiter


def test_limiter_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        RateLimiter(0.0, 1)
    with pytest.raises(ValueError):
        RateLimiter(1.0, 0)


@given(
    gaps=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=60),
    rate=st.floats(min_value=0.1, max_value=20.0),
    burst=st.integers(min_value=1, max_value=10),
)
@settings(max_examples=200, deadline=None)
def test_never_more_than_burst_plus_rate_times_elapsed(
    gaps: list[float], rate: float, burst: int
) -> None:
    clock = Seconds()
    start = clock.now_s
    limiter = RateLimiter(rate, burst, clock)
    allowed = 0
    for gap in gaps:
        clock.now_s += gap
        allowed += limiter.allow("x")
    assert allowed <= burst + rate * (clock.now_s - start) + 1e-9


# --- the Node hook ---


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "db.sqlite3") as s:
        yield s


def _node(
    store: Store, backend: FakeBackend, clock: FakeClock, limiter: RateLimiter | None
) -> Node:
    verifier = Verifier(SWARM, clock=clock, window_ms=60_000)
    return Node(ME, verifier, backend, store, rate_limiter=limiter)


async def _flood(node: Node, clock: FakeClock, leader: object = LEADER) -> list[str]:
    """Two Generates and two Ranks from one leader; the outcome of each."""
    outcomes = []
    for _ in range(2):
        query = make_query(leader, SWARM, clock, generator_ids=[ME.node_id])  # type: ignore[arg-type]
        try:
            await node.handle_generate(query)
            outcomes.append("ok")
        except Overloaded as exc:
            assert LEADER.node_id in str(exc) and exc.reason == "rate_limited"
            outcomes.append("limited")
    for _ in range(2):
        query = make_query(leader, SWARM, clock, ranker_ids=[ME.node_id])  # type: ignore[arg-type]
        request = make_rank_request(
            leader,
            SWARM,
            clock,
            query,
            ["1", "2"],
            {ME.node_id: [(0, 1)]},  # type: ignore[arg-type]
        )
        try:
            await node.handle_rank(request)
            outcomes.append("ok")
        except Overloaded:
            outcomes.append("limited")
    return outcomes


async def test_over_the_limit_no_backend_call(store: Store) -> None:
    clock = FakeClock()
    backend = FakeBackend()
    seconds = Seconds()
    node = _node(store, backend, clock, RateLimiter(rate_per_s=0.001, burst=2, clock=seconds))
    assert await _flood(node, clock) == ["ok", "ok", "limited", "limited"]
    assert [op for op, _ in backend.calls] == ["generate", "generate"]
    # Another identity has its own bucket.
    query = make_query(OTHER_LEADER, SWARM, clock, generator_ids=[ME.node_id])
    await node.handle_generate(query)
    assert len(backend.calls) == 3


async def test_without_a_limiter_the_same_flood_is_served(store: Store) -> None:
    clock = FakeClock()
    backend = FakeBackend()
    node = _node(store, backend, clock, None)
    assert await _flood(node, clock) == ["ok"] * 4
    assert [op for op, _ in backend.calls] == ["generate", "generate", "judge", "judge"]


# --- config and daemon wiring ---


def test_config_fields_and_wiring(store: Store) -> None:
    off = load_config(None, environ={})
    assert off.rate_limit_per_s == 0.0 and make_rate_limiter(off) is None
    on = load_config(
        None, environ={"SWARMRANK_RATE_LIMIT_PER_S": "5", "SWARMRANK_RATE_LIMIT_BURST": "7"}
    )
    node = build_node(on, ME, FakeBackend(), store)
    assert node.rate_limiter is not None
    assert (node.rate_limiter.rate_per_s, node.rate_limiter.burst) == (5.0, 7)
    with pytest.raises(ConfigError, match="rate_limit_burst"):
        load_config(None, environ={"SWARMRANK_RATE_LIMIT_BURST": "0"})
    with pytest.raises(ConfigError, match="rate_limit_per_s"):
        load_config(None, environ={"SWARMRANK_RATE_LIMIT_PER_S": "-1"})
