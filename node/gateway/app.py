"""OpenAI-compatible HTTP gateway in front of a swarm (aiohttp).

Serves ``POST /v1/chat/completions``, ``GET /v1/models``, ``GET /healthz`` and ``GET /metrics``
(Prometheus: requests by mode and outcome, latency, rounds in flight). Each chat
completion runs one consensus round through a node's ``SwarmService.Ask`` over gRPC; the reply
is a standard ``chat.completion`` whose message content is the consensus answer, and the
evidence (record id, strengths with intervals, tied-for-first set, participants) rides in the
extra top-level field ``swarmrank``, which OpenAI clients ignore and expose as an extra.
Errors use OpenAI's error shape ``{"error": {"message", "type", "param", "code"}}``; what a
request may hold, and the 400 / 413 / 415 it gets otherwise, is :mod:`node.gateway.request`'s
(checked before any round starts).

``"stream": true`` is served as OpenAI's server-sent events, for the clients and chat UIs that
always stream: a consensus answer exists only once the round is over, so while it runs the
gateway sends an SSE comment every ``keepalive_s`` (proxies and clients see a live
connection), then ``chat.completion.chunk`` s with the role, the whole answer, and
``finish_reason: "stop"`` with the evidence in ``swarmrank``; a usage chunk when
``stream_options.include_usage`` is set; then ``data: [DONE]``. A round that fails after the
stream began ends with an ``{"error": ...}`` event; a client that goes away cancels its round.

With ``api_keys`` set, every ``/v1/*`` request must carry ``Authorization: Bearer <key>`` for
one of them (compared in constant time), else 401 ``invalid_api_key``, OpenAI's shape, so
clients configured with ``api_key=...`` work unchanged; ``/healthz`` and ``/metrics`` stay
open for probes and Prometheus, but ``/healthz`` lists the node addresses behind the gateway
only to a caller with a valid key (to others it answers ``{"status": "ok"}``).

At most ``max_concurrent`` rounds run at once through one gateway; a request beyond that gets
429 (``rate_limit_error``, ``Retry-After: 1``) at once rather than queueing rounds the swarm
cannot absorb. A path or method the router does not serve also answers in OpenAI's error shape.

The swarm explorer (``/explorer/``, ``/`` redirects there) is :mod:`node.gateway.explorer`; it
reads the nodes through :meth:`Gateway.call_status` and :meth:`Gateway.call_get_record`, and
each round this gateway serves is pushed to open pages as soon as it is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import json
import random
import time
from collections.abc import Sequence
from typing import Any

import grpc
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from node.gateway.explorer import Explorer
from node.gateway.request import MAX_BODY_BYTES, RequestError, parse_chat_request
from node.logging import get_logger
from protocol.signing import Envelope
from protocol.v1 import services_pb2, services_pb2_grpc

MODEL_ID = "swarmrank-consensus"
#: seconds between SSE keep-alive comments while a streamed round runs
DEFAULT_KEEPALIVE_S = 5.0
#: deadline of the explorer's Status / GetRecord calls, seconds
_QUICK_RPC_S = 5.0
#: codes after which the next node is tried
_TRY_NEXT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
#: rounds one gateway runs at once; more get 429
DEFAULT_MAX_CONCURRENT = 32
_LATENCY_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
log = get_logger("gateway")


def response_to_json(response: services_pb2.AskResponse) -> dict[str, Any]:
    """The consensus evidence of an AskResponse as plain JSON."""
    return {
        "answer": response.answer,
        "record_id": response.record_id.hex(),
        "height": response.height,
        "leader_id": response.leader_id,
        "latency_ms": round(response.latency_ms, 3),
        "candidates": [
            {
                "index": c.index,
                "answer": c.answer,
                "strength": c.strength,
                "interval": [c.lower, c.upper],
                "generators": list(c.generator_ids),
            }
            for c in response.candidates
        ],
        "tied_for_first": list(response.tied_for_first),
        "participants": list(response.participants),
        "absent": list(response.absent),
    }


#: no token counts: the answer comes from a swarm, not from one model
_NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def _error_body(message: str, kind: str, code: str, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _error(
    status: int, message: str, kind: str, code: str, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(_error_body(message, kind, code), status=status, headers=headers)


def _swarm_error(exc: grpc.aio.AioRpcError) -> tuple[int, dict[str, Any]]:
    """HTTP status and OpenAI-shaped error body for a failed ``Ask``."""
    status = {
        grpc.StatusCode.INVALID_ARGUMENT: 400,
        grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
        grpc.StatusCode.DEADLINE_EXCEEDED: 504,
    }.get(exc.code(), 503)
    return status, _error_body(f"swarm: {exc.details()}", "swarm_error", exc.code().name.lower())


def _completion_id(response: services_pb2.AskResponse) -> str:
    """The chat completion id: from the record id, so a reply names its round."""
    return "chatcmpl-" + response.record_id.hex()[:24]


async def _event(stream: web.StreamResponse, data: dict[str, Any]) -> None:
    """Write one server-sent event carrying ``data`` as JSON."""
    await stream.write(b"data: " + json.dumps(data).encode() + b"\n\n")


class Gateway:
    """The HTTP gateway; ``node_addresses`` are tried in turn (failover on UNAVAILABLE)."""

    def __init__(
        self,
        node_addresses: Sequence[str],
        *,
        timeout_s: float = 120.0,
        keepalive_s: float = DEFAULT_KEEPALIVE_S,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        api_keys: Sequence[str] = (),
        node_api_key: str = "",
    ) -> None:
        if not node_addresses:
            raise ValueError("the gateway needs at least one node address")
        if not keepalive_s > 0:
            raise ValueError(f"keepalive_s must be > 0, got {keepalive_s!r}")
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be >= 1, got {max_concurrent!r}")
        self.node_addresses = list(node_addresses)
        self.timeout_s = timeout_s
        self.keepalive_s = keepalive_s
        self.max_concurrent = max_concurrent
        if any(not key.strip() for key in api_keys):
            raise ValueError("an API key must not be empty")
        self._api_keys = [key.strip().encode() for key in api_keys]
        #: presented to nodes that require a key for Ask on their peer port (issue 20)
        self._ask_metadata = (
            (("authorization", f"Bearer {node_api_key.strip()}"),) if node_api_key.strip() else ()
        )
        self._in_flight = 0
        self.registry = CollectorRegistry()
        self._requests = Counter(
            "swarmrank_gateway_requests",
            "Chat completions by mode (json, stream) and outcome (HTTP status; for streams "
            "stream_error when the round failed after the stream began, client_gone when the "
            "client left mid-round); mode - counts /v1 requests refused before reading the body "
            "(401 without a valid API key, 429 over the concurrency limit)",
            ["mode", "outcome"],
            registry=self.registry,
        )
        self._latency = Histogram(
            "swarmrank_gateway_request_seconds",
            "Wall time of one chat completion (the consensus round and its reply), by mode",
            ["mode"],
            buckets=_LATENCY_BUCKETS_S,
            registry=self.registry,
        )
        Gauge(
            "swarmrank_gateway_rounds_in_flight",
            "Chat completions being served now",
            registry=self.registry,
        ).set_function(lambda: self._in_flight)
        self._channels = {a: grpc.aio.insecure_channel(a) for a in self.node_addresses}
        # Start at a random node so one-shot clients (`swarmrank ask`) spread leadership.
        offset = random.randrange(len(self.node_addresses))
        order = [*range(offset, len(self.node_addresses)), *range(offset)]
        self._next = itertools.cycle(order)
        self.app = web.Application(
            client_max_size=MAX_BODY_BYTES, middlewares=[self._json_errors, self._authorize]
        )
        self.app.router.add_post("/v1/chat/completions", self.handle_chat)
        self.app.router.add_get("/v1/models", self.handle_models)
        self.app.router.add_get("/healthz", self.handle_health)
        self.app.router.add_get("/metrics", self.handle_metrics)
        self.app.router.add_get("/", self.handle_root)
        self.explorer = Explorer(self, auth_required=bool(self._api_keys))
        self.explorer.add_routes(self.app)
        self.app.on_cleanup.append(self._close)
        self._runner: web.AppRunner | None = None
        self.url = ""
        self.explorer_url = ""

    def authorized(self, request: web.Request) -> bool:
        """Whether ``request`` carries ``Authorization: Bearer <key>`` for a configured key
        (always true when none is configured)."""
        if not self._api_keys:
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        given = token.strip().encode()
        # Compare against every key, so the time taken does not tell which one matched.
        matches = [hmac.compare_digest(given, key) for key in self._api_keys]
        return scheme.lower() == "bearer" and any(matches)

    @web.middleware
    async def _json_errors(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """The router's own 4xx (no such path, wrong method) in OpenAI's error shape too."""
        try:
            response: web.StreamResponse = await handler(request)
        except web.HTTPException as exc:
            if not 400 <= exc.status < 500:
                raise
            code = exc.reason.lower().replace(" ", "_")
            return _error(
                exc.status,
                f"{exc.reason}: {request.method} {request.path}",
                "invalid_request_error",
                code,
                headers={k: v for k, v in exc.headers.items() if k in ("Allow", "Retry-After")},
            )
        return response

    @web.middleware
    async def _authorize(self, request: web.Request, handler: Any) -> web.StreamResponse:
        """Require a configured API key on ``/v1/*`` (see the module docstring)."""
        if request.path.startswith("/v1/") and not self.authorized(request):
            self._requests.labels("-", "401").inc()
            return _error(
                401,
                "missing or invalid API key: send 'Authorization: Bearer <key>'",
                "invalid_request_error",
                "invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        response: web.StreamResponse = await handler(request)
        return response

    async def _close(self, _app: web.Application) -> None:
        for channel in self._channels.values():
            await channel.close()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = any free port); returns the base URL ``http://h:p/v1``."""
        # The body's Content-Encoding is decoded by node.gateway.request, bounded and typed;
        # aiohttp's own decoder answers an unknown one with an untyped 400 before any handler.
        self._runner = web.AppRunner(self.app, access_log=None, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addresses = self._runner.addresses
        bound = addresses[0][1] if addresses else port
        self.url = f"http://{host}:{bound}/v1"
        self.explorer_url = f"http://{host}:{bound}/explorer/"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def call_ask(self, question: str) -> services_pb2.AskResponse:
        """Ask the swarm through the next node; fail over to the others when one is down."""
        last: grpc.aio.AioRpcError | None = None
        for _ in range(len(self.node_addresses)):
            address = self.node_addresses[next(self._next)]
            stub = services_pb2_grpc.SwarmServiceStub(self._channels[address])  # type: ignore[no-untyped-call]
            try:
                response: services_pb2.AskResponse = await stub.Ask(
                    services_pb2.AskRequest(
                        question=question, timeout_ms=int(self.timeout_s * 1000)
                    ),
                    timeout=self.timeout_s + 5,
                    metadata=self._ask_metadata,
                )
                self.round_finished(address, bytes(response.record_id))
                return response
            except grpc.aio.AioRpcError as exc:
                last = exc
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE,):
                    raise
        assert last is not None  # the loop ran at least once (node_addresses is non-empty)
        raise last

    async def call_status(
        self, address: str | None = None
    ) -> tuple[str, services_pb2.StatusResponse]:
        """``Status`` of the first node that answers, from ``address`` (default: the first
        configured node) on in the configured order; returns ``(address, status)``."""
        last: grpc.aio.AioRpcError | None = None
        for candidate in self._order_from(address):
            stub = services_pb2_grpc.SwarmServiceStub(self._channels[candidate])  # type: ignore[no-untyped-call]
            try:
                status: services_pb2.StatusResponse = await stub.Status(
                    services_pb2.StatusRequest(), timeout=_QUICK_RPC_S
                )
                return candidate, status
            except grpc.aio.AioRpcError as exc:
                last = exc
                if exc.code() not in _TRY_NEXT:
                    raise
        assert last is not None  # the loop ran at least once (node_addresses is non-empty)
        raise last

    async def call_get_record(
        self, record_id: bytes, address: str | None = None
    ) -> tuple[str, Envelope]:
        """The signed record ``record_id`` from the first node that holds it, asking
        ``address`` first; returns ``(address, envelope)``; ``NOT_FOUND`` when none does."""
        last: grpc.aio.AioRpcError | None = None
        for candidate in self._order_from(address):
            stub = services_pb2_grpc.SwarmServiceStub(self._channels[candidate])  # type: ignore[no-untyped-call]
            try:
                record: Envelope = await stub.GetRecord(
                    services_pb2.GetRecordRequest(record_id=record_id), timeout=_QUICK_RPC_S
                )
                return candidate, record
            except grpc.aio.AioRpcError as exc:
                last = exc
                if exc.code() not in (*_TRY_NEXT, grpc.StatusCode.NOT_FOUND):
                    raise
        assert last is not None
        raise last

    def _order_from(self, address: str | None) -> list[str]:
        """The configured nodes, ``address`` first."""
        if address is None or address not in self._channels:
            return list(self.node_addresses)
        return [address, *(a for a in self.node_addresses if a != address)]

    def round_finished(self, address: str, record_id: bytes) -> None:
        """A round served through this gateway finished (led by the node at ``address``)."""
        self.explorer.round_finished(address, record_id)

    async def handle_root(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/explorer/")

    async def handle_chat(self, request: web.Request) -> web.StreamResponse:
        """One chat completion, within the concurrency limit, counted and timed."""
        if self._in_flight >= self.max_concurrent:
            self._requests.labels("-", "429").inc()
            return _error(
                429,
                f"the gateway is running its limit of {self.max_concurrent} concurrent rounds; "
                "retry shortly",
                "rate_limit_error",
                "too_many_rounds",
                headers={"Retry-After": "1"},
            )
        self._in_flight += 1
        start = time.perf_counter()
        mode = "json"
        outcome = "500"
        try:
            mode, reply, outcome = await self._chat(request)
            return reply
        finally:
            self._in_flight -= 1
            self._requests.labels(mode, outcome).inc()
            self._latency.labels(mode).observe(time.perf_counter() - start)

    async def _chat(self, request: web.Request) -> tuple[str, web.StreamResponse, str]:
        """(mode, reply, outcome) of one chat completion."""
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            reply = _error(
                413,
                f"the request body is larger than {MAX_BODY_BYTES} bytes",
                "invalid_request_error",
                "body_too_large",
            )
            return "json", reply, "413"
        except web.RequestPayloadError as exc:  # a broken chunked body, say
            reply = _error(
                400,
                f"the request body could not be read: {exc}",
                "invalid_request_error",
                "bad_body",
            )
            return "json", reply, "400"
        try:
            chat = parse_chat_request(
                raw, request.headers.get("Content-Type"), request.headers.get("Content-Encoding")
            )
        except RequestError as exc:
            return "json", web.json_response(exc.body(), status=exc.status), str(exc.status)
        if chat.stream:
            stream, outcome = await self._stream_chat(request, chat.question, chat.include_usage)
            return "stream", stream, outcome
        question = chat.question
        try:
            response = await self.call_ask(question)
        except grpc.aio.AioRpcError as exc:
            status, error = _swarm_error(exc)
            return "json", web.json_response(error, status=status), str(status)
        evidence = response_to_json(response)
        return (
            "json",
            web.json_response(
                {
                    "id": _completion_id(response),
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": MODEL_ID,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": response.answer},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _NO_USAGE,
                    "swarmrank": evidence,
                }
            ),
            "200",
        )

    async def _stream_chat(
        self, request: web.Request, question: str, include_usage: bool
    ) -> tuple[web.StreamResponse, str]:
        """The round as server-sent events (see the module docstring), and its outcome: "200",
        "stream_error" (the round failed; the stream ends with an error event) or
        "client_gone" (the client left mid-stream; its round was cancelled)."""
        stream = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",  # nginx: do not buffer the keep-alives
            }
        )
        await stream.prepare(request)
        try:
            return stream, await self._stream_round(stream, question, include_usage)
        except ConnectionResetError:
            log.info("stream client went away; its round was cancelled")
            return stream, "client_gone"

    async def _stream_round(
        self, stream: web.StreamResponse, question: str, include_usage: bool
    ) -> str:
        round_task = asyncio.create_task(self.call_ask(question))
        try:
            while not round_task.done():
                await asyncio.wait({round_task}, timeout=self.keepalive_s)
                if not round_task.done():
                    await stream.write(b": consensus round in progress\n\n")
            response = round_task.result()
        except grpc.aio.AioRpcError as exc:
            _, error = _swarm_error(exc)
            await _event(stream, error)
            await stream.write_eof()
            return "stream_error"
        finally:
            if not round_task.done():  # the client went away mid-round: stop asking for it
                round_task.cancel()
                with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                    await round_task
        chunk_id = _completion_id(response)
        created = int(time.time())

        def chunk(delta: dict[str, str], finish: str | None, **extra: Any) -> dict[str, Any]:
            return {
                "id": chunk_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": MODEL_ID,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }

        await _event(stream, chunk({"role": "assistant", "content": ""}, None))
        await _event(stream, chunk({"content": response.answer}, None))
        await _event(stream, chunk({}, "stop", swarmrank=response_to_json(response)))
        if include_usage:
            await _event(stream, {**chunk({}, None), "choices": [], "usage": _NO_USAGE})
        await stream.write(b"data: [DONE]\n\n")
        await stream.write_eof()
        return "200"

    async def handle_models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "swarmrank"}
                ],
            }
        )

    async def handle_metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    async def handle_health(self, request: web.Request) -> web.Response:
        """Liveness for probes; the node addresses behind the gateway only for a caller with
        a valid API key when keys are configured (they are internal addresses)."""
        if not self.authorized(request):
            return web.json_response({"status": "ok"})
        return web.json_response({"status": "ok", "nodes": self.node_addresses})
