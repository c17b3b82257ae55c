"""gRPC transport of a node: :class:`NodeServicer`, :class:`NodeServer`, :func:`status_for`.

Owns the adaptation of ``NodeService`` calls to :class:`node.swarm.peer.Node` (each generated method
is a one-line delegation through :meth:`NodeServicer._serve`, which times the call, counts it,
logs refusals and maps errors), and the ``grpc.aio`` server with its limits, the standard health
service and server reflection. Errors become status codes in exactly one place,
:func:`status_for`:

==========================================  ======================  =============================
error                                       status                  why
==========================================  ======================  =============================
InvalidSignature, UnknownSigner             UNAUTHENTICATED         who signed is not acceptable
Unauthenticated                             UNAUTHENTICATED         a client without its API key
Malformed, WrongKind, WrongSwarm,           INVALID_ARGUMENT        the request itself is wrong
StaleTimestamp, InvalidEvidence
Oversize, Overloaded                        RESOURCE_EXHAUSTED      a size or load limit
Equivocation, Replayed                      ALREADY_EXISTS          the (signer, kind, query id)
                                                                    slot holds another message
NotSelected, Rejected                       FAILED_PRECONDITION     valid, but not for this node
NotSupported                                UNIMPLEMENTED
BackendTimeout                              DEADLINE_EXCEEDED       the model was too slow
BackendError                                UNAVAILABLE             the model failed; retry later
StoreError, anything else                   INTERNAL                details logged, not sent
==========================================  ======================  =============================

The machine-readable reason (``ProtocolError.reason`` or the node error's) travels in the
trailing metadata key ``swarmrank-reason``; :mod:`node.transport.client` turns both back into
errors.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from node.errors import (
    BackendError,
    BackendTimeout,
    NotFound,
    NotSupported,
    Overloaded,
    Rejected,
    RoundFailed,
    StoreError,
    Unauthenticated,
)
from node.logging import get_logger
from node.swarm.peer import Node
from protocol.errors import (
    Equivocation,
    InvalidEvidence,
    InvalidSignature,
    Malformed,
    Oversize,
    ProtocolError,
    Replayed,
    StaleTimestamp,
    UnknownSigner,
    WrongKind,
    WrongSwarm,
)
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2, services_pb2_grpc

NODE_SERVICE = "protocol.v1.NodeService"
SWARM_SERVICE = "protocol.v1.SwarmService"
REASON_KEY = "swarmrank-reason"

T = TypeVar("T")
log = get_logger("server")

#: (error type, status, reason override); the first matching row wins, so subclasses come first
_STATUS_TABLE: tuple[tuple[type[BaseException], grpc.StatusCode], ...] = (
    (InvalidSignature, grpc.StatusCode.UNAUTHENTICATED),
    (UnknownSigner, grpc.StatusCode.UNAUTHENTICATED),
    (Oversize, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Equivocation, grpc.StatusCode.ALREADY_EXISTS),
    (Replayed, grpc.StatusCode.ALREADY_EXISTS),
    (Malformed, grpc.StatusCode.INVALID_ARGUMENT),
    (WrongKind, grpc.StatusCode.INVALID_ARGUMENT),
    (WrongSwarm, grpc.StatusCode.INVALID_ARGUMENT),
    (StaleTimestamp, grpc.StatusCode.INVALID_ARGUMENT),
    (InvalidEvidence, grpc.StatusCode.INVALID_ARGUMENT),
    (ProtocolError, grpc.StatusCode.INVALID_ARGUMENT),
    (Overloaded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (Rejected, grpc.StatusCode.FAILED_PRECONDITION),
    (NotSupported, grpc.StatusCode.UNIMPLEMENTED),
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (RoundFailed, grpc.StatusCode.UNAVAILABLE),
    (BackendTimeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (BackendError, grpc.StatusCode.UNAVAILABLE),
    (StoreError, grpc.StatusCode.INTERNAL),
)


def status_for(exc: BaseException) -> tuple[grpc.StatusCode, str, str]:
    """Map an error raised while serving to ``(status, reason, details)``: the one place.

    ``details`` is safe to send: protocol and node errors are written for the peer; anything
    unexpected is reported as an internal error without its text.
    """
    for error_type, code in _STATUS_TABLE:
        if isinstance(exc, error_type):
            if isinstance(exc, StoreError):
                return code, "store", "the node's state store failed"
            reason = getattr(exc, "reason", "") or type(exc).__name__.lower()
            return code, str(reason), str(exc)
    return grpc.StatusCode.INTERNAL, "internal", "internal error"


#: request message type of each NodeService method; requests arrive as raw bytes (see
#: :func:`add_node_servicer`) and are parsed inside the error mapping, so garbage from a peer
#: is INVALID_ARGUMENT rather than gRPC's UNKNOWN for a failing deserializer
REQUEST_TYPES: dict[str, type[Message]] = {
    "GetInfo": messages_pb2.InfoRequest,
    "Generate": envelope_pb2.Envelope,
    "Rank": envelope_pb2.Envelope,
    "SubmitRecord": envelope_pb2.Envelope,
    "SubmitEvidence": envelope_pb2.Envelope,
    "GetRecords": services_pb2.GetRecordsRequest,
}


def _parse_request(method: str, request: Any) -> Any:
    message_type = REQUEST_TYPES[method]
    if isinstance(request, message_type):
        return request
    try:
        return message_type.FromString(bytes(request))
    except (DecodeError, RecursionError, ValueError, TypeError) as exc:
        raise Malformed(f"{method} request does not parse as {message_type.__name__}") from exc


def _serialize(message: Message) -> bytes:
    return bytes(message.SerializeToString())


def add_node_servicer(servicer: NodeServicer, server: grpc.aio.Server) -> None:
    """Register ``servicer`` like the generated ``add_NodeServiceServicer_to_server``, but
    with raw-bytes requests (parsed by :meth:`NodeServicer._serve`)."""
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method in REQUEST_TYPES:
        behaviour = getattr(servicer, method)
        if method == "GetRecords":
            handlers[method] = grpc.unary_stream_rpc_method_handler(
                behaviour, response_serializer=_serialize
            )
        else:
            handlers[method] = grpc.unary_unary_rpc_method_handler(
                behaviour, response_serializer=_serialize
            )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(NODE_SERVICE, handlers),))


class NodeServicer(services_pb2_grpc.NodeServiceServicer):
    """``NodeService`` over gRPC; every method delegates to the matching ``Node.handle_*``."""

    def __init__(self, node: Node) -> None:
        self.node = node

    async def GetInfo(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._serve("GetInfo", context, self.node.handle_get_info, request)

    async def Generate(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._serve("Generate", context, self.node.handle_generate, request)

    async def Rank(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._serve("Rank", context, self.node.handle_rank, request)

    async def SubmitRecord(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._serve("SubmitRecord", context, self.node.handle_submit_record, request)

    async def SubmitEvidence(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._serve(
            "SubmitEvidence", context, self.node.handle_submit_evidence, request
        )

    async def GetRecords(
        self, request: Any, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[Any]:
        async for item in self._serve_stream(
            "GetRecords", context, self.node.handle_get_records, request
        ):
            yield item

    async def _serve(
        self,
        method: str,
        context: grpc.aio.ServicerContext,
        handler: Callable[[Any], Awaitable[T]],
        request: Any,
    ) -> T:
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            return await handler(_parse_request(method, request))
        except Exception as exc:
            code, reason, details = self._refuse(method, context, exc)
            await context.abort(code, details, trailing_metadata=((REASON_KEY, reason),))
            raise  # unreachable: abort raises
        finally:
            self._count(method, code, start)

    async def _serve_stream(
        self,
        method: str,
        context: grpc.aio.ServicerContext,
        handler: Callable[[Any], AsyncIterator[T]],
        request: Any,
    ) -> AsyncIterator[T]:
        start = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            async for item in handler(_parse_request(method, request)):
                yield item
        except Exception as exc:
            code, reason, details = self._refuse(method, context, exc)
            await context.abort(code, details, trailing_metadata=((REASON_KEY, reason),))
        finally:
            self._count(method, code, start)

    def _refuse(
        self, method: str, context: grpc.aio.ServicerContext, exc: Exception
    ) -> tuple[grpc.StatusCode, str, str]:
        code, reason, details = status_for(exc)
        metrics = self.node.metrics
        if code is grpc.StatusCode.INTERNAL:
            log.error(
                "request failed",
                exc_info=exc,
                extra={"method": method, "peer": context.peer(), "status": code.name},
            )
        else:
            metrics.rejected.labels(reason).inc()
            log.warning(
                "request refused: %s",
                details,
                extra={
                    "method": method,
                    "peer": context.peer(),
                    "status": code.name,
                    "reason": reason,
                },
            )
        return code, reason, details

    def _count(self, method: str, code: grpc.StatusCode, start: float) -> None:
        metrics = self.node.metrics
        metrics.requests.labels(method, code.name).inc()
        metrics.request_latency.labels(method).observe(time.perf_counter() - start)


@dataclass(frozen=True)
class ExtraService:
    """Another servicer to host next to NodeService (the swarm layer adds SwarmService)."""

    name: str  # full service name for health and reflection, e.g. "protocol.v1.SwarmService"
    servicer: object  # the servicer instance
    add_to_server: Callable[[Any, grpc.aio.Server], None]  # generated add_*Servicer_to_server


class NodeServer:
    """A ``grpc.aio`` server hosting a :class:`Node` with health, reflection and limits.

    ``start()`` binds ``listen_address`` (port 0 picks a free port) and returns the bound
    "host:port"; ``stop(grace_s)`` marks health NOT_SERVING, then drains in-flight calls for
    up to ``grace_s`` before cancelling them. ``server_credentials`` (:mod:`node.transport.tls`)
    switches the port to TLS, or mutual TLS when they require client certificates.
    """

    def __init__(
        self,
        node: Node,
        *,
        listen_address: str = "127.0.0.1:0",
        max_receive_message_bytes: int = 8 * 1024 * 1024,
        max_send_message_bytes: int = 8 * 1024 * 1024,
        max_concurrent_rpcs: int | None = 64,
        extra_services: Sequence[ExtraService] = (),
        server_credentials: grpc.ServerCredentials | None = None,
    ) -> None:
        self.node = node
        # None serves plaintext (loopback, trusted networks); see node.tls for TLS and mTLS.
        self.server_credentials = server_credentials
        self.listen_address = listen_address
        self.options = [
            ("grpc.max_receive_message_length", max_receive_message_bytes),
            ("grpc.max_send_message_length", max_send_message_bytes),
            ("grpc.so_reuseport", 0),
        ]
        self.max_concurrent_rpcs = max_concurrent_rpcs
        self.extra_services = list(extra_services)
        self.health = health.aio.HealthServicer()
        self.servicer = NodeServicer(node)
        self.server: grpc.aio.Server | None = None
        self.address = ""

    @property
    def service_names(self) -> list[str]:
        """Services hosted besides health and reflection."""
        return [NODE_SERVICE, *(s.name for s in self.extra_services)]

    async def start(self) -> str:
        """Bind, start serving and return the bound address."""
        server = grpc.aio.server(
            options=self.options, maximum_concurrent_rpcs=self.max_concurrent_rpcs
        )
        add_node_servicer(self.servicer, server)
        for extra in self.extra_services:
            extra.add_to_server(extra.servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, server)
        names = [
            *self.service_names,
            health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
            reflection.SERVICE_NAME,
        ]
        reflection.enable_server_reflection(names, server)
        host, _, _ = self.listen_address.rpartition(":")
        if self.server_credentials is None:
            port = server.add_insecure_port(self.listen_address)
        else:
            port = server.add_secure_port(self.listen_address, self.server_credentials)
        if port == 0:
            raise OSError(f"could not bind {self.listen_address}")
        await server.start()
        self.server = server
        self.address = f"{host}:{port}"
        if not self.node.address:
            self.node.address = self.address
        for name in ("", *self.service_names):
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"address": self.address, "node_id": self.node.node_id})
        return self.address

    async def stop(self, grace_s: float | None = 5.0) -> None:
        """Stop accepting calls and drain in-flight ones for up to ``grace_s`` seconds."""
        if self.server is None:
            return
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace_s)
        self.server = None
        log.info("stopped", extra={"address": self.address})

    async def wait_for_termination(self) -> None:
        """Wait until the server stops."""
        if self.server is not None:
            await self.server.wait_for_termination()


__all__ = [
    "NODE_SERVICE",
    "REASON_KEY",
    "SWARM_SERVICE",
    "ExtraService",
    "NodeServer",
    "NodeServicer",
    "add_node_servicer",
    "status_for",
]
