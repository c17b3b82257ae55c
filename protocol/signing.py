"""Signed envelopes: sealing messages and verifying received bytes.

Owns the domain tags, the exact bytes that are signed, per-kind payload types and size limits,
and :class:`Verifier`, the single path every received envelope takes. The order of checks is a
security property: sizes first (cheap, before any parsing of the payload), then the signature
over the exact received payload bytes, then parsing, then swarm id, signer binding, membership
and the timestamp window. Replay and equivocation checks live in :mod:`protocol.replay`.
"""

from __future__ import annotations

import functools
import struct
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError, Message

from protocol.errors import (
    InvalidSignature,
    Malformed,
    Oversize,
    StaleTimestamp,
    UnknownSigner,
    WrongKind,
    WrongSwarm,
)
from protocol.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, node_id_from_public_key
from protocol.v1 import envelope_pb2, messages_pb2

Envelope = envelope_pb2.Envelope
Kind = envelope_pb2.Kind

DOMAIN_PREFIX = b"swarmrank/v1/"
MAX_SWARM_ID_BYTES = 255

#: payload message type of each kind
PAYLOAD_TYPES: dict[int, type[Message]] = {
    envelope_pb2.KIND_NODE_INFO: messages_pb2.NodeInfo,
    envelope_pb2.KIND_QUERY: messages_pb2.Query,
    envelope_pb2.KIND_CANDIDATE: messages_pb2.Candidate,
    envelope_pb2.KIND_RANK_REQUEST: messages_pb2.RankRequest,
    envelope_pb2.KIND_BALLOT: messages_pb2.Ballot,
    envelope_pb2.KIND_CONSENSUS_RECORD: messages_pb2.ConsensusRecord,
    envelope_pb2.KIND_EQUIVOCATION_EVIDENCE: messages_pb2.EquivocationEvidence,
    envelope_pb2.KIND_HEARTBEAT: messages_pb2.Heartbeat,
}

#: field of each payload naming its signer's node id; the signer's key must hash to it
SIGNER_ID_FIELDS: dict[int, str] = {
    envelope_pb2.KIND_NODE_INFO: "node_id",
    envelope_pb2.KIND_QUERY: "leader_id",
    envelope_pb2.KIND_CANDIDATE: "generator_id",
    envelope_pb2.KIND_BALLOT: "ranker_id",
    envelope_pb2.KIND_CONSENSUS_RECORD: "leader_id",
    envelope_pb2.KIND_EQUIVOCATION_EVIDENCE: "reporter_id",
    envelope_pb2.KIND_HEARTBEAT: "node_id",
}


def kind_name(kind: int) -> str:
    """Name of a kind (``"KIND_BALLOT"``), or ``"KIND_<n>"`` for unknown numbers."""
    try:
        return str(envelope_pb2.Kind.Name(kind))
    except ValueError:
        return f"KIND_{kind}"


@functools.cache
def domain_tag(kind: int) -> bytes:
    """The domain separation tag signed in front of a payload of ``kind``."""
    return DOMAIN_PREFIX + kind_name(kind).encode("ascii") + b"\x00"


def signing_bytes(kind: int, swarm_id: str, payload: bytes) -> bytes:
    """The exact bytes an envelope's signature covers.

    ``tag(kind) || u8 len(swarm_id) || swarm_id || payload``: the length prefix keeps the
    swarm id and the payload from sliding into each other.
    """
    swarm = swarm_id.encode("utf-8")
    if len(swarm) > MAX_SWARM_ID_BYTES:
        raise Malformed(f"swarm id longer than {MAX_SWARM_ID_BYTES} bytes")
    return b"".join((domain_tag(kind), struct.pack(">B", len(swarm)), swarm, payload))


def sign_payload(identity: Identity, kind: int, payload: bytes, swarm_id: str) -> Envelope:
    """Sign already-serialized ``payload`` bytes as ``kind`` for ``swarm_id``."""
    signature = identity.sign(signing_bytes(kind, swarm_id, payload))
    return Envelope(kind=kind, payload=payload, signer=identity.public_key, signature=signature)  # type: ignore[arg-type]


def seal(identity: Identity, kind: int, message: Message, swarm_id: str) -> Envelope:
    """Serialize ``message`` once and sign the bytes; the envelope carries those exact bytes."""
    expected = PAYLOAD_TYPES.get(kind)
    if expected is None or not isinstance(message, expected):
        raise WrongKind(f"cannot seal a {type(message).__name__} as {kind_name(kind)}")
    return sign_payload(identity, kind, message.SerializeToString(), swarm_id)


@functools.lru_cache(maxsize=4096)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    # Decoding a point costs a sizeable share of a verification; members sign often.
    return Ed25519PublicKey.from_public_bytes(raw)


def check_signature(envelope: Envelope, swarm_id: str) -> None:
    """Raise :class:`InvalidSignature` unless the envelope's signature is valid for ``swarm_id``.

    Fails closed: an empty, short or long signature or key is rejected before any crypto runs.
    """
    if len(envelope.signer) != PUBLIC_KEY_BYTES:
        raise InvalidSignature(
            f"signer key is {len(envelope.signer)} bytes; expected {PUBLIC_KEY_BYTES}"
        )
    if len(envelope.signature) != SIGNATURE_BYTES:
        raise InvalidSignature(
            f"signature is {len(envelope.signature)} bytes; expected {SIGNATURE_BYTES}"
        )
    try:
        key = _public_key(bytes(envelope.signer))
        key.verify(envelope.signature, signing_bytes(envelope.kind, swarm_id, envelope.payload))
    except (_CryptoInvalidSignature, ValueError) as exc:
        raise InvalidSignature(
            f"bad {kind_name(envelope.kind)} signature from "
            f"{node_id_from_public_key(envelope.signer)}"
        ) from exc


def parse_envelope(data: bytes, max_envelope_bytes: int) -> Envelope:
    """Parse envelope bytes after checking their size; typed errors only."""
    if len(data) > max_envelope_bytes:
        raise Oversize(f"envelope of {len(data)} bytes exceeds the {max_envelope_bytes}-byte limit")
    envelope = Envelope()
    try:
        envelope.ParseFromString(data)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise Malformed("bytes do not parse as an Envelope") from exc
    return envelope


def parse_payload(envelope: Envelope) -> Message:
    """Parse an envelope's payload into the message type of its kind (no signature check)."""
    message_type = PAYLOAD_TYPES.get(envelope.kind)
    if message_type is None:
        raise Malformed(f"unknown message kind {envelope.kind}")
    message = message_type()
    try:
        message.ParseFromString(envelope.payload)
    except (DecodeError, RecursionError, ValueError) as exc:
        raise Malformed(f"payload does not parse as {message_type.__name__}") from exc
    return message


class Clock(Protocol):
    """A source of wall-clock time in milliseconds since the Unix epoch."""

    def time_ms(self) -> int: ...


class SystemClock:
    """The machine's wall clock."""

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Limits:
    """Size limits, enforced before any payload is parsed."""

    max_envelope_bytes: int = 8 * 1024 * 1024  # whole serialized envelope
    max_payload_bytes: int = 256 * 1024  # default payload limit for kinds not listed below
    #: per-kind payload limits; records and rank requests embed other envelopes
    per_kind_payload_bytes: dict[int, int] = field(
        default_factory=lambda: {
            envelope_pb2.KIND_RANK_REQUEST: 4 * 1024 * 1024,
            envelope_pb2.KIND_CONSENSUS_RECORD: 8 * 1024 * 1024 - 1024,
            envelope_pb2.KIND_EQUIVOCATION_EVIDENCE: 8 * 1024 * 1024 - 1024,
        }
    )

    def payload_limit(self, kind: int) -> int:
        """The payload size limit for ``kind``, in bytes."""
        return self.per_kind_payload_bytes.get(kind, self.max_payload_bytes)


@dataclass(frozen=True)
class Verified:
    """An envelope that passed :meth:`Verifier.verify`, with its parsed payload."""

    envelope: Envelope
    message: Any  # the payload message of ``kind`` (see PAYLOAD_TYPES)
    kind: int
    signer_id: str
    query_id: bytes
    timestamp_ms: int


class Verifier:
    """Verifies received envelopes for one swarm.

    Parameters
    ----------
    swarm_id
        The receiver's swarm; payloads naming another are rejected.
    clock
        Source of "now" for the timestamp window.
    window_ms
        Accepted distance between a payload's timestamp and now, both directions.
    limits
        Size limits (checked before parsing).
    is_active
        Optional membership predicate on node ids; ``None`` accepts any valid signer.
    """

    def __init__(
        self,
        swarm_id: str,
        clock: Clock | None = None,
        window_ms: int = 300_000,
        limits: Limits | None = None,
        is_active: Callable[[str], bool] | None = None,
    ) -> None:
        self.swarm_id = swarm_id
        self.clock: Clock = clock or SystemClock()
        self.window_ms = window_ms
        self.limits = limits or Limits()
        self.is_active = is_active

    def verify(
        self,
        data: bytes | Envelope,
        expected: int | Iterable[int] | None = None,
        *,
        check_time: bool = True,
    ) -> Verified:
        """Verify ``data`` (envelope bytes or a parsed envelope) and parse its payload.

        ``expected`` restricts the accepted kinds. ``check_time=False`` skips the timestamp
        window, for records replayed from a ledger. Raises only :class:`ProtocolError` subclasses.
        """
        if isinstance(data, bytes | bytearray | memoryview):
            envelope = parse_envelope(bytes(data), self.limits.max_envelope_bytes)
        elif isinstance(data, Envelope):
            envelope = data
        else:
            raise Malformed(f"expected envelope bytes, got {type(data).__name__}")
        kind = envelope.kind
        if kind not in PAYLOAD_TYPES:
            raise Malformed(f"unknown message kind {kind}")
        if expected is not None:
            allowed = {expected} if isinstance(expected, int) else set(expected)
            if kind not in allowed:
                names = ", ".join(sorted(kind_name(k) for k in allowed))
                raise WrongKind(f"got {kind_name(kind)}; this endpoint accepts {names}")
        limit = self.limits.payload_limit(kind)
        if len(envelope.payload) > limit:
            raise Oversize(
                f"{kind_name(kind)} payload of {len(envelope.payload)} bytes exceeds "
                f"the {limit}-byte limit"
            )
        check_signature(envelope, self.swarm_id)
        message = parse_payload(envelope)
        context = message.context
        if context.swarm_id != self.swarm_id:
            raise WrongSwarm(f"message is for swarm {context.swarm_id!r}, not {self.swarm_id!r}")
        signer_id = node_id_from_public_key(envelope.signer)
        id_field = SIGNER_ID_FIELDS.get(kind)
        if id_field is not None and getattr(message, id_field) != signer_id:
            raise Malformed(f"{kind_name(kind)}.{id_field} does not match the signing key")
        if self.is_active is not None and not self.is_active(signer_id):
            raise UnknownSigner(f"signer {signer_id} is not an active member of the swarm")
        timestamp_ms = int(context.timestamp_ms)
        if check_time:
            skew_ms = timestamp_ms - self.clock.time_ms()
            if skew_ms > self.window_ms:
                raise StaleTimestamp(f"timestamp is {skew_ms} ms in the future")
            if -skew_ms > self.window_ms:
                raise StaleTimestamp(f"timestamp expired {-skew_ms} ms ago")
        return Verified(
            envelope=envelope,
            message=message,
            kind=kind,
            signer_id=signer_id,
            query_id=bytes(context.query_id),
            timestamp_ms=timestamp_ms,
        )
