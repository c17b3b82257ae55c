"""The two error/status mappings: server side (status_for) and client side (error_from_rpc)."""

from __future__ import annotations

import grpc
import pytest

from node.errors import (
    BackendError,
    BackendTimeout,
    NotSelected,
    NotSupported,
    Overloaded,
    PeerTimeout,
    PeerUnavailable,
    Rejected,
    StoreError,
)
from node.transport.client import error_from_rpc
from node.transport.server import status_for
from protocol.errors import (
    Equivocation,
    InvalidEvidence,
    InvalidSignature,
    Malformed,
    Oversize,
    StaleTimestamp,
    UnknownSigner,
    WrongKind,
    WrongSwarm,
)
from protocol.v1 import envelope_pb2

S = grpc.StatusCode


@pytest.mark.parametrize(
    ("error", "code", "reason"),
    [
        (InvalidSignature("x"), S.UNAUTHENTICATED, "invalid_signature"),
        (UnknownSigner("x"), S.UNAUTHENTICATED, "unknown_signer"),
        (Malformed("x"), S.INVALID_ARGUMENT, "malformed"),
        (WrongKind("x"), S.INVALID_ARGUMENT, "wrong_kind"),
        (WrongSwarm("x"), S.INVALID_ARGUMENT, "wrong_swarm"),
        (StaleTimestamp("x"), S.INVALID_ARGUMENT, "stale_timestamp"),
        (InvalidEvidence("x"), S.INVALID_ARGUMENT, "invalid_evidence"),
        (Oversize("x"), S.RESOURCE_EXHAUSTED, "oversize"),
        (Overloaded("x"), S.RESOURCE_EXHAUSTED, "overloaded"),
        (
            Equivocation("x", envelope_pb2.Envelope(), envelope_pb2.Envelope()),
            S.ALREADY_EXISTS,
            "equivocation",
        ),
        (NotSelected("x"), S.FAILED_PRECONDITION, "not_selected"),
        (NotSupported("x"), S.UNIMPLEMENTED, "notsupported"),
        (BackendTimeout("x"), S.DEADLINE_EXCEEDED, "backendtimeout"),
        (BackendError("x"), S.UNAVAILABLE, "backenderror"),
    ],
)
def test_status_for(error: Exception, code: grpc.StatusCode, reason: str) -> None:
    got_code, got_reason, details = status_for(error)
    assert (got_code, got_reason, details) == (code, reason, "x")


def test_unexpected_errors_hide_their_text() -> None:
    assert status_for(KeyError("secret detail")) == (S.INTERNAL, "internal", "internal error")
    code, _, details = status_for(StoreError("/path/db: disk I/O error"))
    assert code is S.INTERNAL and "/path" not in details


def rpc_error(code: grpc.StatusCode, reason: str = "") -> grpc.aio.AioRpcError:
    trailing = grpc.aio.Metadata(("swarmrank-reason", reason)) if reason else grpc.aio.Metadata()
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), trailing, details="why")


@pytest.mark.parametrize(
    ("code", "error_type"),
    [
        (S.UNAVAILABLE, PeerUnavailable),
        (S.CANCELLED, PeerUnavailable),
        (S.DEADLINE_EXCEEDED, PeerTimeout),
        (S.RESOURCE_EXHAUSTED, Overloaded),
        (S.UNAUTHENTICATED, Rejected),
        (S.INVALID_ARGUMENT, Rejected),
        (S.ALREADY_EXISTS, Rejected),
        (S.INTERNAL, Rejected),
    ],
)
def test_error_from_rpc(code: grpc.StatusCode, error_type: type[Exception]) -> None:
    error = error_from_rpc(rpc_error(code), "peer:1")
    assert type(error) is error_type
    assert "peer:1" in str(error) and code.name in str(error)


def test_error_from_rpc_carries_status_and_reason() -> None:
    error = error_from_rpc(rpc_error(S.ALREADY_EXISTS, "equivocation"))
    assert isinstance(error, Rejected)
    assert (error.status, error.reason) == ("ALREADY_EXISTS", "equivocation")
    over = error_from_rpc(rpc_error(S.RESOURCE_EXHAUSTED, "oversize"))
    assert isinstance(over, Overloaded) and over.reason == "oversize"
