"""Errors of the ``node`` package.

::

    NodeError (Exception)
    ├── ConfigError          an invalid configuration value; names the field and accepted values
    ├── BackendError         the model backend failed (HTTP error, bad reply, crash)
    │   └── BackendTimeout   the backend did not answer in time
    ├── PeerUnavailable      a peer could not be reached
    ├── PeerTimeout          a peer did not answer before the deadline
    ├── Overloaded           a local limit (concurrency, rate) was exceeded
    ├── Rejected             a peer or the local node refused a message (with the reason)
    │   ├── NotSelected      this node is not a generator / ranker of the round it was asked for
    │   ├── Unauthenticated  a client call without the credentials this node requires (API key)
    │   └── RecordRejected   a consensus record that does not verify or recompute (names the field)
    ├── NotSupported         an endpoint this node does not serve (yet)
    ├── InvalidReply         a peer's reply failed verification (bad signature, wrong content)
    ├── StoreError           the durable state store failed (disk full, corrupt database)
    ├── RoundFailed          a round could not reach its quorum
    ├── NotFound             a requested record or object does not exist on this node
    ├── LedgerMismatch       ``ledger verify`` found a record that does not replay
    └── ModelError           a model file cannot be provided (in :mod:`node.models.errors`:
                             ModelNotFound, ModelCorrupt, ModelFormatError)
"""

from __future__ import annotations


class NodeError(Exception):
    """Base of every error raised by the node package."""


class ConfigError(NodeError):
    """An invalid configuration value."""


class BackendError(NodeError):
    """The model backend failed."""


class BackendTimeout(BackendError):
    """The model backend did not answer in time."""


class PeerUnavailable(NodeError):
    """A peer could not be reached."""


class PeerTimeout(NodeError):
    """A peer did not answer before the deadline."""


class Overloaded(NodeError):
    """A limit (concurrency, message size, rate) was exceeded, locally or at a peer.

    ``status`` / ``reason`` are set when a peer reported it (``"RESOURCE_EXHAUSTED"``,
    ``"oversize"``), empty for local limits.
    """

    reason: str = "overloaded"

    def __init__(self, message: str, *, status: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        if reason:
            self.reason = reason


class Rejected(NodeError):
    """A message was refused.

    ``status`` is the gRPC status name when the refusal came from a peer (``"INVALID_ARGUMENT"``),
    ``reason`` the machine-readable reason it sent (a ``ProtocolError.reason`` such as
    ``"equivocation"``), both empty for local refusals.
    """

    reason: str = "rejected"

    def __init__(self, message: str, *, status: str = "", reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        if reason:
            self.reason = reason


class NotSelected(Rejected):
    """This node is not among the generators / rankers of the round it was asked to serve."""

    reason = "not_selected"


class Unauthenticated(Rejected):
    """A client call without the credentials this node requires (``Ask`` without a valid API
    key, :mod:`node.swarm.service`); maps to ``UNAUTHENTICATED``."""

    reason = "unauthenticated"


class NotSupported(NodeError):
    """An endpoint this node does not serve (yet)."""


class InvalidReply(NodeError):
    """A peer's reply failed verification; ``reason`` is the protocol reason."""

    def __init__(self, message: str, *, reason: str = "invalid_reply") -> None:
        super().__init__(message)
        self.reason = reason


class StoreError(NodeError):
    """The durable state store failed."""


class RoundFailed(NodeError):
    """A round could not complete: no quorum, or its ballots cannot be aggregated."""


class NotFound(NodeError):
    """A requested record or object does not exist on this node."""


class RecordRejected(Rejected):
    """A consensus record that does not verify or does not recompute.

    ``field`` names what mismatched (``"signature"``, ``"ballot[3]"``, ``"strengths"`` ...).
    """

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(f"record rejected: {field}: {detail}")
        self.field = field
        self.detail = detail


class LedgerMismatch(NodeError):
    """``ledger verify`` found a record (or the reputation table) that does not replay."""

    def __init__(self, height: int, message: str) -> None:
        super().__init__(message)
        self.height = height
