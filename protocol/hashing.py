"""Canonical hashes: record ids, query hashes, candidate content hashes and set digests.

All hashes are SHA-256 over bytes that are fixed by the protocol (signed payload bytes, UTF-8
text with a domain prefix), never over re-serialized protobuf objects.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from protocol.signing import Envelope

_CONTENT_TAG = b"swarmrank/v1/content\x00"
_SET_TAG = b"swarmrank/v1/candidate-set\x00"


def payload_hash(envelope: Envelope) -> bytes:
    """SHA-256 of an envelope's signed payload bytes (record ids, query hashes, ledger links)."""
    return hashlib.sha256(envelope.payload).digest()


def content_hash(answer: str) -> bytes:
    """The identity of an anonymised candidate: SHA-256 of its answer text."""
    return hashlib.sha256(_CONTENT_TAG + answer.encode("utf-8")).digest()


def candidate_set_digest(content_hashes: Iterable[bytes]) -> bytes:
    """Digest of an ordered candidate set, as carried by RankRequest and Ballot."""
    h = hashlib.sha256(_SET_TAG)
    for item in content_hashes:
        h.update(len(item).to_bytes(1, "big"))
        h.update(item)
    return h.digest()
