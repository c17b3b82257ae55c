"""Replay guard: idempotent retransmissions, equivocation evidence, concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from protocol.errors import Equivocation, InvalidEvidence, Malformed
from protocol.identity import Identity
from protocol.replay import ReplayGuard, make_evidence, verify_equivocation, verify_evidence
from protocol.signing import Envelope, Verifier
from protocol.testing import FakeClock
from protocol.v1 import envelope_pb2, messages_pb2
from tests.unit.protocol.conftest import SWARM, make_ballot


def test_same_envelope_twice_is_accepted_once(
    verifier: Verifier, alice: Identity, clock: FakeClock
) -> None:
    guard = ReplayGuard()
    envelope = make_ballot(alice, clock)
    first = guard.admit(verifier.verify(envelope.SerializeToString()))
    second = guard.admit(verifier.verify(envelope.SerializeToString()))
    assert (first.new, second.new) == (True, False)


def test_different_query_ids_are_independent(
    verifier: Verifier, alice: Identity, clock: FakeClock
) -> None:
    guard = ReplayGuard()
    for query_id in (b"a" * 16, b"b" * 16):
        assert guard.admit(verifier.verify(make_ballot(alice, clock, query_id=query_id))).new


def test_equivocation_yields_standalone_evidence(
    verifier: Verifier, alice: Identity, bob: Identity, clock: FakeClock
) -> None:
    guard = ReplayGuard()
    guard.admit(verifier.verify(make_ballot(alice, clock, rationale="A")))
    with pytest.raises(Equivocation) as info:
        guard.admit(verifier.verify(make_ballot(alice, clock, rationale="B")))
    error = info.value
    proven = verify_equivocation(error.first, error.second, SWARM)
    assert proven.offender_id == alice.node_id
    assert proven.kind == envelope_pb2.KIND_BALLOT
    # Sealed as a report by a third party, it verifies with nothing but the swarm id,
    # long after the replay window closed.
    report_envelope = make_evidence(bob, error, SWARM, clock)
    clock.advance(10**9)
    report = Verifier(SWARM, clock=clock).verify(
        report_envelope, envelope_pb2.KIND_EQUIVOCATION_EVIDENCE, check_time=False
    )
    assert report.signer_id == bob.node_id
    assert verify_evidence(report.message, SWARM).offender_id == alice.node_id


def test_retransmission_is_not_evidence(alice: Identity, clock: FakeClock) -> None:
    envelope = make_ballot(alice, clock)
    with pytest.raises(InvalidEvidence, match="retransmission"):
        verify_equivocation(envelope, envelope, SWARM)


def test_forged_evidence_rejected(alice: Identity, bob: Identity, clock: FakeClock) -> None:
    first = make_ballot(alice, clock, rationale="A")
    forged = Envelope()
    forged.CopyFrom(make_ballot(alice, clock, rationale="B"))
    forged.signature = bytes(64)
    with pytest.raises(InvalidEvidence):
        verify_equivocation(first, forged, SWARM)
    with pytest.raises(InvalidEvidence, match="different signers"):
        verify_equivocation(first, make_ballot(bob, clock), SWARM)
    with pytest.raises(InvalidEvidence, match="different queries"):
        verify_equivocation(first, make_ballot(alice, clock, query_id=b"z" * 16), SWARM)
    with pytest.raises(InvalidEvidence):
        verify_equivocation(first, make_ballot(alice, clock, rationale="B"), "other-swarm")


def test_non_round_kinds_are_not_guarded(alice: Identity, clock: FakeClock) -> None:
    from protocol.signing import seal

    beat = messages_pb2.Heartbeat(
        context=messages_pb2.MessageContext(swarm_id=SWARM, timestamp_ms=clock.time_ms()),
        node_id=alice.node_id,
    )
    verified = Verifier(SWARM, clock=clock).verify(
        seal(alice, envelope_pb2.KIND_HEARTBEAT, beat, SWARM)
    )
    with pytest.raises(Malformed):
        ReplayGuard().admit(verified)
    with pytest.raises(Malformed, match="no query id"):
        ReplayGuard().admit(Verifier(SWARM, clock=clock).verify(make_ballot(alice, clock, b"")))


def test_64_concurrent_deliveries_accepted_exactly_once(
    verifier: Verifier, alice: Identity, clock: FakeClock
) -> None:
    guard = ReplayGuard()
    data = make_ballot(alice, clock).SerializeToString()
    barrier = threading.Barrier(64)

    def deliver() -> bool:
        verified = verifier.verify(data)
        barrier.wait()
        return guard.admit(verified).new

    with ThreadPoolExecutor(max_workers=64) as pool:
        results = list(pool.map(lambda _: deliver(), range(64)))
    assert results.count(True) == 1
    assert results.count(False) == 63
