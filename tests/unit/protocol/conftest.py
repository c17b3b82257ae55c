"""Fixtures for protocol tests: a fixed clock, a swarm id and deterministic identities."""

from __future__ import annotations

import os

import pytest

from protocol.identity import Identity
from protocol.signing import Envelope, Verifier, seal
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2

SWARM = "test-swarm"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def verifier(clock: FakeClock) -> Verifier:
    return Verifier(SWARM, clock=clock, window_ms=60_000)


def make_ballot(
    identity: Identity,
    clock: FakeClock,
    query_id: bytes = b"q" * 16,
    swarm_id: str = SWARM,
    rationale: str = "A is right",
) -> Envelope:
    ballot = messages_pb2.Ballot(
        context=messages_pb2.MessageContext(
            swarm_id=swarm_id, query_id=query_id, timestamp_ms=clock.time_ms()
        ),
        ranker_id=identity.node_id,
        candidate_set_digest=os.urandom(0) + b"d" * 32,
        verdicts=[
            messages_pb2.Verdict(a=0, b=1, outcome=messages_pb2.OUTCOME_A, rationale=rationale)
        ],
    )
    return seal(identity, envelope_pb2.KIND_BALLOT, ballot, swarm_id)


@pytest.fixture
def alice() -> Identity:
    return test_identity(1)


@pytest.fixture
def bob() -> Identity:
    return test_identity(2)
