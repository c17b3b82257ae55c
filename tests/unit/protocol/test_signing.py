"""Envelope signing and verification: fail closed on every kind of tampering."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol.errors import (
    InvalidSignature,
    Malformed,
    Oversize,
    ProtocolError,
    StaleTimestamp,
    UnknownSigner,
    WrongKind,
    WrongSwarm,
)
from protocol.identity import Identity
from protocol.signing import (
    PAYLOAD_TYPES,
    Envelope,
    Limits,
    Verifier,
    seal,
    sign_payload,
    signing_bytes,
)
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2
from tests.unit.protocol.conftest import SWARM, make_ballot

FIELDS = ("payload", "signer", "signature")
ALL_KINDS = sorted(PAYLOAD_TYPES)
SLOW_OK = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def test_valid_envelope_verifies(verifier: Verifier, alice: Identity, clock: FakeClock) -> None:
    envelope = make_ballot(alice, clock)
    verified = verifier.verify(envelope.SerializeToString(), envelope_pb2.KIND_BALLOT)
    assert verified.signer_id == alice.node_id
    assert verified.query_id == b"q" * 16
    assert verified.message.verdicts[0].rationale == "A is right"


@SLOW_OK
@given(data=st.data())
def test_flipping_any_byte_fails(
    data: st.DataObject, verifier: Verifier, alice: Identity, clock: FakeClock
) -> None:
    envelope = make_ballot(alice, clock)
    field = data.draw(st.sampled_from(FIELDS))
    raw = bytearray(getattr(envelope, field))
    index = data.draw(st.integers(0, len(raw) - 1))
    bit = data.draw(st.integers(0, 7))
    raw[index] ^= 1 << bit
    tampered = Envelope()
    tampered.CopyFrom(envelope)
    setattr(tampered, field, bytes(raw))
    with pytest.raises(ProtocolError):
        verifier.verify(tampered.SerializeToString())


@SLOW_OK
@given(
    signed_kind=st.sampled_from(ALL_KINDS),
    claimed_kind=st.sampled_from(ALL_KINDS),
    other_swarm=st.text(min_size=0, max_size=20),
)
def test_signature_binds_kind_and_swarm(
    signed_kind: int, claimed_kind: int, other_swarm: str, alice: Identity
) -> None:
    payload = b"\x0a\x00"  # an empty context: parses as any kind
    envelope = sign_payload(alice, signed_kind, payload, SWARM)
    if claimed_kind != signed_kind:
        moved = Envelope(
            kind=claimed_kind, payload=payload, signer=envelope.signer, signature=envelope.signature
        )
        with pytest.raises(InvalidSignature):
            Verifier(SWARM).verify(moved, check_time=False)
    if other_swarm != SWARM:
        with pytest.raises(InvalidSignature):
            Verifier(other_swarm).verify(envelope, check_time=False)


def test_domain_separation_is_unambiguous() -> None:
    # The swarm id is length-prefixed, so bytes cannot slide between swarm id and payload.
    assert signing_bytes(1, "ab", b"c") != signing_bytes(1, "a", b"bc")
    with pytest.raises(Malformed):
        signing_bytes(1, "x" * 300, b"")


@pytest.mark.parametrize(
    "signature",
    [b"", b"\x00" * 63, b"\x00" * 64, None, "truncated", "extended"],
)
def test_empty_missing_or_truncated_signature_rejected(
    signature: bytes | str | None, verifier: Verifier, alice: Identity, clock: FakeClock
) -> None:
    envelope = make_ballot(alice, clock)
    tampered = Envelope()
    tampered.CopyFrom(envelope)
    if signature is None:
        tampered.ClearField("signature")
    elif signature == "truncated":
        tampered.signature = envelope.signature[:-1]
    elif signature == "extended":
        tampered.signature = envelope.signature + b"\x00"
    else:
        assert isinstance(signature, bytes)
        tampered.signature = signature
    with pytest.raises(InvalidSignature):
        verifier.verify(tampered)


@pytest.mark.parametrize("signer", [b"", b"\x01" * 31, b"\x01" * 33])
def test_bad_signer_key_rejected(
    signer: bytes, verifier: Verifier, alice: Identity, clock: FakeClock
) -> None:
    envelope = make_ballot(alice, clock)
    envelope.signer = signer
    with pytest.raises(InvalidSignature):
        verifier.verify(envelope)


def test_other_signer_key_rejected(
    verifier: Verifier, alice: Identity, bob: Identity, clock: FakeClock
) -> None:
    envelope = make_ballot(alice, clock)
    envelope.signer = bob.public_key
    with pytest.raises(InvalidSignature):
        verifier.verify(envelope)


def test_wrong_swarm_in_payload_rejected(alice: Identity, clock: FakeClock) -> None:
    # Signed for the right swarm id, but the payload names another one.
    ballot = messages_pb2.Ballot(
        context=messages_pb2.MessageContext(swarm_id="other", timestamp_ms=clock.time_ms()),
        ranker_id=alice.node_id,
    )
    envelope = seal(alice, envelope_pb2.KIND_BALLOT, ballot, SWARM)
    with pytest.raises(WrongSwarm):
        Verifier(SWARM, clock=clock).verify(envelope)


def test_signer_must_match_named_id(alice: Identity, bob: Identity, clock: FakeClock) -> None:
    ballot = messages_pb2.Ballot(
        context=messages_pb2.MessageContext(swarm_id=SWARM, timestamp_ms=clock.time_ms()),
        ranker_id=bob.node_id,
    )
    envelope = seal(alice, envelope_pb2.KIND_BALLOT, ballot, SWARM)
    with pytest.raises(Malformed, match="does not match"):
        Verifier(SWARM, clock=clock).verify(envelope)


def test_wrong_kind_rejected(verifier: Verifier, alice: Identity, clock: FakeClock) -> None:
    with pytest.raises(WrongKind):
        verifier.verify(make_ballot(alice, clock), envelope_pb2.KIND_CANDIDATE)
    with pytest.raises(WrongKind):
        seal(alice, envelope_pb2.KIND_QUERY, messages_pb2.Ballot(), SWARM)


@pytest.mark.parametrize("offset_ms", [-60_001, 60_001, -(10**12), 10**12])
def test_timestamp_window(
    offset_ms: int, verifier: Verifier, alice: Identity, clock: FakeClock
) -> None:
    envelope = make_ballot(alice, clock)
    clock.advance(-offset_ms)
    with pytest.raises(StaleTimestamp):
        verifier.verify(envelope)


def test_timestamp_edges_accepted(verifier: Verifier, alice: Identity, clock: FakeClock) -> None:
    envelope = make_ballot(alice, clock)
    clock.advance(60_000)
    assert verifier.verify(envelope).signer_id == alice.node_id
    clock.advance(-120_000)
    assert verifier.verify(envelope).signer_id == alice.node_id
    assert verifier.verify(envelope, check_time=False).signer_id == alice.node_id


def test_membership_hook(alice: Identity, bob: Identity, clock: FakeClock) -> None:
    verifier = Verifier(SWARM, clock=clock, is_active={alice.node_id}.__contains__)
    assert verifier.verify(make_ballot(alice, clock)).signer_id == alice.node_id
    with pytest.raises(UnknownSigner):
        verifier.verify(make_ballot(bob, clock))


def test_oversize_checked_before_signature(alice: Identity, clock: FakeClock) -> None:
    limits = Limits(max_envelope_bytes=4096, max_payload_bytes=512, per_kind_payload_bytes={})
    verifier = Verifier(SWARM, clock=clock, limits=limits)
    big = make_ballot(alice, clock, rationale="x" * 600)
    with pytest.raises(Oversize):
        verifier.verify(big)
    with pytest.raises(Oversize):
        verifier.verify(b"\x00" * 5000)
    # A forged (unsigned) oversize payload is refused as oversize: no crypto was spent.
    forged = Envelope(kind=envelope_pb2.KIND_BALLOT, payload=b"\x00" * 600)
    with pytest.raises(Oversize):
        verifier.verify(forged)


def test_fuzz_random_bytes_raise_only_typed_errors(verifier: Verifier) -> None:
    rng = random.Random(20261123)
    accepted = 0
    for _ in range(10_000):
        data = rng.randbytes(rng.randint(0, 300))
        try:
            verifier.verify(data)
            accepted += 1
        except ProtocolError:
            pass
    assert accepted == 0


def test_fuzz_mutated_envelopes_raise_only_typed_errors(
    verifier: Verifier, clock: FakeClock
) -> None:
    rng = random.Random(42)
    identities = [test_identity(i) for i in range(4)]
    valid = [make_ballot(identity, clock).SerializeToString() for identity in identities]
    accepted = 0
    for _ in range(10_000):
        data = bytearray(rng.choice(valid))
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            pos = rng.randrange(len(data))
            if op == 0:
                data[pos] ^= 1 << rng.randrange(8)
            elif op == 1:
                del data[pos : pos + rng.randint(1, 8)]
            elif op == 2:
                data[pos:pos] = rng.randbytes(rng.randint(1, 8))
            else:
                data[pos] = rng.randrange(256)
        if bytes(data) in valid:
            continue
        try:
            verifier.verify(bytes(data))
            accepted += 1
        except ProtocolError:
            pass
    assert accepted == 0
