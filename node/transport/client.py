"""Outgoing calls to a peer node: :class:`PeerClient` and :func:`error_from_rpc`.

Owns one ``grpc.aio`` channel per peer, the deadline on every call (``call_timeout_s`` unless
a call passes its own), verification of every signed reply with the caller's
:class:`~protocol.signing.Verifier`, and the mapping of gRPC status codes to
:mod:`node.errors` in exactly one function, :func:`error_from_rpc`:

=================================  ==========================================================
status                             error
=================================  ==========================================================
UNAVAILABLE, CANCELLED             :class:`~node.errors.PeerUnavailable`
DEADLINE_EXCEEDED                  :class:`~node.errors.PeerTimeout`
RESOURCE_EXHAUSTED                 :class:`~node.errors.Overloaded` (``status`` and ``reason``
                                   tell oversize from load)
anything else                      :class:`~node.errors.Rejected` with ``status`` and the
                                   peer's ``swarmrank-reason`` (e.g. ``"equivocation"``)
=================================  ==========================================================

A reply that fails verification raises :class:`~node.errors.InvalidReply`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc

from node.errors import InvalidReply, NodeError, Overloaded, PeerTimeout, PeerUnavailable, Rejected
from protocol.errors import ProtocolError
from protocol.hashing import payload_hash
from protocol.identity import node_id_from_public_key
from protocol.signing import Envelope, Verified, Verifier
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2, services_pb2_grpc

REASON_KEY = "swarmrank-reason"  # same key as node.server.REASON_KEY (kept import-free)

T = TypeVar("T")


def error_from_rpc(exc: grpc.aio.AioRpcError, address: str = "") -> NodeError:
    """The :mod:`node.errors` error for a failed call; the one status-to-error mapping."""
    code = exc.code()
    reason = ""
    for key, value in exc.trailing_metadata() or ():
        if key == REASON_KEY:
            reason = value if isinstance(value, str) else value.decode("utf-8", "replace")
    where = f"peer {address}: " if address else ""
    message = f"{where}{code.name}: {exc.details() or 'no details'}"
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
        return PeerUnavailable(message)
    if code is grpc.StatusCode.DEADLINE_EXCEEDED:
        return PeerTimeout(message)
    if code is grpc.StatusCode.RESOURCE_EXHAUSTED:
        return Overloaded(message, status=code.name, reason=reason or "resource_exhausted")
    return Rejected(message, status=code.name, reason=reason)


class PeerClient:
    """Calls one peer's NodeService; see the module docstring.

    Parameters
    ----------
    address
        The peer's "host:port".
    verifier
        Verifies replies (the caller's swarm id, clock and window).
    expected_node_id
        When given, replies must be signed by this node id.
    call_timeout_s
        Default deadline of every call, seconds.
    max_receive_message_bytes, max_send_message_bytes
        Channel message size limits.
    channel_credentials
        TLS credentials (:mod:`node.transport.tls`); ``None`` dials plaintext. A failed handshake
        (no or an untrusted certificate) surfaces as :class:`~node.errors.PeerUnavailable`.
    tls_server_name
        Expected name in the peer's certificate when it differs from the dialled host
        (``grpc.ssl_target_name_override``); empty = the host.
    """

    def __init__(
        self,
        address: str,
        verifier: Verifier,
        *,
        expected_node_id: str | None = None,
        call_timeout_s: float = 10.0,
        max_receive_message_bytes: int = 8 * 1024 * 1024,
        max_send_message_bytes: int = 8 * 1024 * 1024,
        channel_credentials: grpc.ChannelCredentials | None = None,
        tls_server_name: str = "",
    ) -> None:
        self.address = address
        self.verifier = verifier
        self.expected_node_id = expected_node_id
        self.call_timeout_s = call_timeout_s
        options: list[tuple[str, str | int]] = [
            ("grpc.max_receive_message_length", max_receive_message_bytes),
            ("grpc.max_send_message_length", max_send_message_bytes),
        ]
        if channel_credentials is None:
            self.channel = grpc.aio.insecure_channel(address, options=options)
        else:
            if tls_server_name:
                options.append(("grpc.ssl_target_name_override", tls_server_name))
            self.channel = grpc.aio.secure_channel(address, channel_credentials, options=options)
        self.stub = services_pb2_grpc.NodeServiceStub(self.channel)  # type: ignore[no-untyped-call]

    async def close(self) -> None:
        """Close the channel."""
        await self.channel.close()

    async def __aenter__(self) -> PeerClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- generic call ---

    async def call(self, method: str, request: Any, *, timeout_s: float | None = None) -> Any:
        """Call any unary NodeService ``method`` ("SubmitRecord") with a deadline; errors are
        mapped by :func:`error_from_rpc`."""
        rpc: Callable[..., Awaitable[Any]] = getattr(self.stub, method)
        try:
            return await rpc(request, timeout=timeout_s or self.call_timeout_s)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc, self.address) from exc

    def _verify(self, reply: Envelope, kind: int) -> Verified:
        try:
            verified = self.verifier.verify(reply, kind)
        except ProtocolError as exc:
            raise InvalidReply(
                f"peer {self.address}: reply failed verification: {exc}", reason=exc.reason
            ) from exc
        if self.expected_node_id is not None and verified.signer_id != self.expected_node_id:
            raise InvalidReply(
                f"peer {self.address}: reply signed by {verified.signer_id}, "
                f"expected {self.expected_node_id}",
                reason="unexpected_signer",
            )
        return verified

    # --- NodeService ---

    async def call_get_info(
        self, challenge: bytes = b"", *, timeout_s: float | None = None
    ) -> Verified:
        """The peer's signed NodeInfo; checks the challenge echo and the key binding."""
        reply = await self.call(
            "GetInfo", messages_pb2.InfoRequest(challenge=challenge), timeout_s=timeout_s
        )
        verified = self._verify(reply, envelope_pb2.KIND_NODE_INFO)
        info: messages_pb2.NodeInfo = verified.message
        if info.challenge != challenge:
            raise InvalidReply(f"peer {self.address}: NodeInfo does not echo the challenge")
        if node_id_from_public_key(info.public_key) != info.node_id:
            raise InvalidReply(f"peer {self.address}: NodeInfo public key does not match its id")
        return verified

    async def call_generate(self, query: Envelope, *, timeout_s: float | None = None) -> Verified:
        """Send a signed Query; return the verified Candidate answering exactly that Query."""
        reply = await self.call("Generate", query, timeout_s=timeout_s)
        verified = self._verify(reply, envelope_pb2.KIND_CANDIDATE)
        if verified.message.query_hash != payload_hash(query):
            raise InvalidReply(f"peer {self.address}: Candidate answers another Query")
        return verified

    async def call_rank(self, request: Envelope, *, timeout_s: float | None = None) -> Verified:
        """Send a signed RankRequest; return the verified Ballot over the same candidate set."""
        reply = await self.call("Rank", request, timeout_s=timeout_s)
        verified = self._verify(reply, envelope_pb2.KIND_BALLOT)
        sent = messages_pb2.RankRequest.FromString(request.payload)
        if verified.message.candidate_set_digest != sent.candidate_set_digest:
            raise InvalidReply(f"peer {self.address}: Ballot is over another candidate set")
        return verified

    async def call_submit_record(
        self, record: Envelope, *, timeout_s: float | None = None
    ) -> services_pb2.RecordAck:
        """Send a signed ConsensusRecord; the peer's verdict."""
        ack: services_pb2.RecordAck = await self.call("SubmitRecord", record, timeout_s=timeout_s)
        return ack

    async def call_submit_evidence(
        self, evidence: Envelope, *, timeout_s: float | None = None
    ) -> services_pb2.RecordAck:
        """Send a signed EquivocationEvidence report."""
        ack: services_pb2.RecordAck = await self.call(
            "SubmitEvidence", evidence, timeout_s=timeout_s
        )
        return ack

    async def call_get_records(
        self, from_height: int, limit: int = 0, *, timeout_s: float | None = None
    ) -> Sequence[Envelope]:
        """Ledger record envelopes from ``from_height`` (unverified: the ledger layer verifies
        records against its own chain)."""
        request = services_pb2.GetRecordsRequest(from_height=from_height, limit=limit)
        try:
            stream = self.stub.GetRecords(request, timeout=timeout_s or self.call_timeout_s)
            return [envelope async for envelope in stream]
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc, self.address) from exc


async def call_status(address: str) -> Any:
    """One ``SwarmService.Status`` call over a plain channel (``status``, ``up``, tests)."""
    import grpc

    from protocol.v1 import services_pb2, services_pb2_grpc

    async with grpc.aio.insecure_channel(address) as channel:
        stub = services_pb2_grpc.SwarmServiceStub(channel)  # type: ignore[no-untyped-call]
        return await stub.Status(services_pb2.StatusRequest(), timeout=10)
