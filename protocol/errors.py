"""Errors of the ``protocol`` package: one tree, every failure at a trust boundary is typed.

::

    ProtocolError (ValueError)
    ├── Malformed            bytes that do not parse, or fields out of range
    ├── Oversize             payload or envelope larger than the configured limit
    ├── InvalidSignature     missing, truncated or wrong signature, or a bad public key
    ├── WrongKind            a valid envelope of a kind the receiver did not expect
    ├── WrongSwarm           signed for another swarm id
    ├── StaleTimestamp       signing time outside the accepted window (expired or future)
    ├── UnknownSigner        signer not a known, active member
    ├── Replayed             a message the receiver refuses to accept again
    │   └── Equivocation     same (signer, kind, query id), different payload; carries evidence
    ├── InvalidEvidence      an equivocation report that does not prove equivocation
    └── IdentityError        key files
        ├── KeyFileExists        refusing to overwrite an existing key
        ├── KeyFileMissing       no key at the path
        ├── KeyFilePermissions   key readable by group or others
        └── KeyFileCorrupt       not an Ed25519 private key

Every error's message says what was wrong in words an operator can act on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from protocol.v1.envelope_pb2 import Envelope


class ProtocolError(ValueError):
    """Base of every error raised by the protocol package."""

    #: short machine-readable reason, used as a metrics label
    reason: str = "protocol_error"


class Malformed(ProtocolError):
    """Bytes that do not parse as the expected message, or fields out of range."""

    reason = "malformed"


class Oversize(ProtocolError):
    """A payload or envelope over the configured size limit (checked before parsing)."""

    reason = "oversize"


class InvalidSignature(ProtocolError):
    """A missing, truncated or wrong signature, or a public key that is not Ed25519."""

    reason = "invalid_signature"


class WrongKind(ProtocolError):
    """An envelope of a kind the receiver did not expect at this endpoint."""

    reason = "wrong_kind"


class WrongSwarm(ProtocolError):
    """A payload whose context names another swarm."""

    reason = "wrong_swarm"


class StaleTimestamp(ProtocolError):
    """A signing time outside the accepted window (too old or in the future)."""

    reason = "stale_timestamp"


class UnknownSigner(ProtocolError):
    """A signer that is not a known, active member."""

    reason = "unknown_signer"


class Replayed(ProtocolError):
    """A message the receiver will not accept again."""

    reason = "replayed"


class Equivocation(Replayed):
    """Two different payloads from one signer for the same (kind, query id).

    ``first`` is the envelope accepted earlier, ``second`` the conflicting one; together they are
    self-contained evidence (see :func:`protocol.replay.verify_evidence`).
    """

    reason = "equivocation"

    def __init__(self, message: str, first: Envelope, second: Envelope) -> None:
        super().__init__(message)
        self.first = first
        self.second = second


class InvalidEvidence(ProtocolError):
    """An equivocation report that does not prove equivocation."""

    reason = "invalid_evidence"


class IdentityError(ProtocolError):
    """Problems with a node's key file."""

    reason = "identity"


class KeyFileExists(IdentityError):
    """Refusing to overwrite an existing key file."""


class KeyFileMissing(IdentityError):
    """No key file at the given path."""


class KeyFilePermissions(IdentityError):
    """A key file readable or writable by group or others."""


class KeyFileCorrupt(IdentityError):
    """A key file that is not an Ed25519 private key."""
