"""Replay and equivocation checks, and self-contained equivocation evidence.

:class:`ReplayGuard` admits each round-bound message once per (signer, kind, round slot): a
byte-identical retransmission is recognised as a duplicate (idempotent), a *different* payload
under the same key raises :class:`~protocol.errors.Equivocation` carrying both envelopes.
A round slot (:func:`round_slot`) is the query id, and for the RankRequests and Ballots of an
adaptive round's later waves the query id and the wave they name (signed): a leader asks, and
a ranker answers, once per wave, so equivocation is two different payloads for the *same*
wave.
Storage is pluggable (:class:`ReplayStore`): :class:`MemoryReplayStore` here, a durable SQLite
store in ``node.store`` so a restart does not re-open the window.
:func:`verify_evidence` checks such a pair with nothing but the swarm id.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Protocol

from protocol.errors import Equivocation, InvalidEvidence, Malformed, ProtocolError
from protocol.identity import Identity, node_id_from_public_key
from protocol.signing import (
    Clock,
    Envelope,
    SystemClock,
    Verified,
    check_signature,
    kind_name,
    parse_payload,
    seal,
)
from protocol.v1 import envelope_pb2, messages_pb2

#: kinds bound to one round; only these are replay-guarded (they carry a query id)
ROUND_KINDS = frozenset(
    {
        envelope_pb2.KIND_QUERY,
        envelope_pb2.KIND_CANDIDATE,
        envelope_pb2.KIND_RANK_REQUEST,
        envelope_pb2.KIND_BALLOT,
        envelope_pb2.KIND_CONSENSUS_RECORD,
    }
)

ReplayKey = tuple[bytes, int, bytes]  # (signer public key, kind, round slot)

#: kinds whose payload names a wave (``RankRequest.wave``, ``Ballot.wave``)
WAVE_KINDS = frozenset({envelope_pb2.KIND_RANK_REQUEST, envelope_pb2.KIND_BALLOT})


def round_slot(kind: int, message: Any) -> bytes:
    """The slot a round message fills once: its query id, followed for wave ``k >= 1`` of a
    RankRequest or Ballot by ``b"/wave" + k`` (4 bytes, big-endian). Wave 0, and every message
    of the fixed schedules, keeps the bare query id, so old keys and evidence are unchanged."""
    query_id = bytes(message.context.query_id)
    wave = int(message.wave) if kind in WAVE_KINDS else 0
    return query_id if wave == 0 else query_id + b"/wave" + wave.to_bytes(4, "big")


class ReplayStore(Protocol):
    """Storage for the first envelope seen under each replay key."""

    def put_if_absent(self, key: ReplayKey, envelope_bytes: bytes) -> bytes | None:
        """Store ``envelope_bytes`` under ``key`` unless present; return what was there, or
        ``None`` when this call stored it. Must be atomic."""
        ...


class MemoryReplayStore:
    """Thread-safe in-memory :class:`ReplayStore`."""

    def __init__(self) -> None:
        self._seen: dict[ReplayKey, bytes] = {}
        self._lock = threading.Lock()

    def put_if_absent(self, key: ReplayKey, envelope_bytes: bytes) -> bytes | None:
        with self._lock:
            existing = self._seen.get(key)
            if existing is None:
                self._seen[key] = envelope_bytes
            return existing

    def __len__(self) -> int:
        return len(self._seen)


@dataclass(frozen=True)
class Admission:
    """Outcome of :meth:`ReplayGuard.admit` for a message that is not an equivocation."""

    new: bool  # True the first time; False for a byte-identical retransmission


class ReplayGuard:
    """Admits each (signer, kind, query id) once; see the module docstring."""

    def __init__(self, store: ReplayStore | None = None) -> None:
        self.store: ReplayStore = store if store is not None else MemoryReplayStore()

    def admit(self, verified: Verified) -> Admission:
        """Record ``verified`` (already signature-checked) and classify it.

        Raises :class:`Malformed` for kinds that carry no query id and
        :class:`Equivocation` for a conflicting payload.
        """
        if verified.kind not in ROUND_KINDS:
            raise Malformed(f"{kind_name(verified.kind)} is not a round message")
        if not verified.query_id:
            raise Malformed(f"{kind_name(verified.kind)} carries no query id")
        envelope = verified.envelope
        slot = round_slot(verified.kind, verified.message)
        key: ReplayKey = (bytes(envelope.signer), verified.kind, slot)
        existing = self.store.put_if_absent(key, envelope.SerializeToString())
        if existing is None:
            return Admission(new=True)
        first = Envelope.FromString(existing)
        if first.payload == envelope.payload:
            return Admission(new=False)
        raise Equivocation(
            f"{verified.signer_id} signed two different {kind_name(verified.kind)} payloads "
            f"for query {verified.query_id.hex()}",
            first=first,
            second=envelope,
        )


@dataclass(frozen=True)
class ProvenEquivocation:
    """What a valid piece of evidence proves."""

    offender_id: str
    kind: int
    query_id: bytes
    wave: int = 0  # the wave both payloads name (RankRequest, Ballot; 0 otherwise)


def verify_equivocation(first: Envelope, second: Envelope, swarm_id: str) -> ProvenEquivocation:
    """Check that two envelopes prove equivocation, with nothing but the swarm id.

    Both must carry valid signatures by one signer, be of one round kind, name ``swarm_id`` and
    the same non-empty query id (and, for RankRequests and Ballots, the same wave: two waves'
    requests or ballots are two slots, :func:`round_slot`), and differ in payload. Timestamps
    are not checked: evidence stays valid after the replay window closes. Raises
    :class:`InvalidEvidence`.
    """
    try:
        if first.signer != second.signer:
            raise InvalidEvidence("the two envelopes have different signers")
        if first.kind != second.kind or first.kind not in ROUND_KINDS:
            raise InvalidEvidence("the two envelopes are not of one round kind")
        if first.payload == second.payload:
            raise InvalidEvidence(
                "the two payloads are identical: a retransmission, not equivocation"
            )
        check_signature(first, swarm_id)
        check_signature(second, swarm_id)
        messages = [parse_payload(e) for e in (first, second)]
        contexts = [m.context for m in messages]
    except InvalidEvidence:
        raise
    except ProtocolError as exc:
        raise InvalidEvidence(f"evidence does not verify: {exc}") from exc
    if any(c.swarm_id != swarm_id for c in contexts):
        raise InvalidEvidence("evidence names another swarm")
    if not contexts[0].query_id or contexts[0].query_id != contexts[1].query_id:
        raise InvalidEvidence("the two payloads are for different queries")
    if round_slot(first.kind, messages[0]) != round_slot(first.kind, messages[1]):
        raise InvalidEvidence("the two payloads are for different waves of the round")
    return ProvenEquivocation(
        offender_id=node_id_from_public_key(first.signer),
        kind=first.kind,
        query_id=bytes(contexts[0].query_id),
        wave=int(messages[0].wave) if first.kind in WAVE_KINDS else 0,
    )


def make_evidence(
    reporter: Identity,
    error: Equivocation,
    swarm_id: str,
    clock: Clock | None = None,
) -> Envelope:
    """Seal an :class:`Equivocation` as a signed ``EquivocationEvidence`` report."""
    proven = verify_equivocation(error.first, error.second, swarm_id)
    report = messages_pb2.EquivocationEvidence(
        context=messages_pb2.MessageContext(
            swarm_id=swarm_id,
            query_id=proven.query_id,
            timestamp_ms=(clock or SystemClock()).time_ms(),
        ),
        reporter_id=reporter.node_id,
        first=error.first,
        second=error.second,
    )
    return seal(reporter, envelope_pb2.KIND_EQUIVOCATION_EVIDENCE, report, swarm_id)


def verify_evidence(report: messages_pb2.EquivocationEvidence, swarm_id: str) -> ProvenEquivocation:
    """Verify the pair inside an ``EquivocationEvidence`` report (:func:`verify_equivocation`)."""
    return verify_equivocation(report.first, report.second, swarm_id)
