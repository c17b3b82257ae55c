"""Generate, Rank and SubmitEvidence requests mutated at every depth and re-signed by their
signers get a reply or a typed refusal that maps to a gRPC status other than INTERNAL: never an
unexpected exception."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import numpy as np
import pytest

from node.ledger.store import Store
from node.swarm.peer import Node
from node.testing import FakeBackend, MessageMutator, make_query, make_rank_request
from node.transport.server import status_for
from protocol.errors import Equivocation
from protocol.replay import make_evidence
from protocol.signing import PAYLOAD_TYPES, Envelope, Verifier
from protocol.testing import FakeClock, test_identity

SWARM = "fuzz-requests"
LEADER = test_identity(1)
ME = test_identity(2)
REPORTER = test_identity(4)
TRIALS = 300


async def _fuzz(
    handle: Callable[[Envelope], Awaitable[object]],
    original: Envelope,
    seed: int,
) -> dict[str, int]:
    """Mutate ``original``'s payload ``TRIALS`` times, re-sign it as its signer and hand it to
    ``handle``; return how often each outcome (``reply`` or a status name) came back."""
    rng = np.random.default_rng(seed)
    identities = [LEADER, ME, REPORTER]
    mutator = MessageMutator(rng, identities, SWARM, strings=[i.node_id for i in identities])
    outcomes: dict[str, int] = {}
    for _ in range(TRIALS):
        envelope = mutator.mutated(original)  # re-signed by the original signers
        try:
            await handle(envelope)
            outcome = "reply"
        except Exception as exc:  # the property under test: typed errors only
            code, _, _ = status_for(exc)
            message = PAYLOAD_TYPES[envelope.kind].FromString(envelope.payload)
            assert code is not grpc.StatusCode.INTERNAL, f"{type(exc).__name__}: {exc}\n{message}"
            outcome = code.name
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


@pytest.fixture
def node(tmp_path: Path) -> Node:
    clock = FakeClock()
    store = Store(tmp_path / "db.sqlite3")
    backend = FakeBackend(answer="42")
    return Node(ME, Verifier(SWARM, clock=clock, window_ms=60_000), backend, store)


async def test_mutated_queries(node: Node) -> None:
    clock = node.verifier.clock
    original = make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id, LEADER.node_id])
    await node.handle_generate(original)  # the unmutated query is answered
    outcomes = await _fuzz(node.handle_generate, original, 7)
    # Mutations that keep the node selected (a new query id, say) are answered; the rest are
    # refused for what they break.
    assert outcomes.get("reply", 0) > 0 and len(outcomes) >= 3, outcomes


async def test_mutated_rank_requests(node: Node) -> None:
    clock = node.verifier.clock
    query = make_query(LEADER, SWARM, clock, ranker_ids=[ME.node_id])
    original = make_rank_request(
        LEADER, SWARM, clock, query, ["4", "5", "6"], {ME.node_id: [(0, 1), (1, 2), (2, 0)]}
    )
    await node.handle_rank(original)
    outcomes = await _fuzz(node.handle_rank, original, 8)
    assert outcomes.get("reply", 0) > 0 and len(outcomes) >= 3, outcomes


async def test_mutated_equivocation_reports(node: Node) -> None:
    clock = node.verifier.clock
    query_id = b"e" * 16
    first = make_query(LEADER, SWARM, clock, query_id=query_id)
    second = make_query(LEADER, SWARM, clock, question="different", query_id=query_id)
    error = Equivocation("two queries", first=first, second=second)
    original = make_evidence(REPORTER, error, SWARM, clock)
    assert (await node.handle_submit_evidence(original)).accepted
    outcomes = await _fuzz(node.handle_submit_evidence, original, 9)
    assert outcomes.get("reply", 0) > 0 and len(outcomes) >= 2, outcomes
