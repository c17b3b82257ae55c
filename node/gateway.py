"""OpenAI-compatible HTTP gateway in front of a swarm (aiohttp).

Serves ``POST /v1/chat/completions``, ``GET /v1/models`` and ``GET /healthz``. Each chat
completion runs one consensus round through a node's ``SwarmService.Ask`` over gRPC; the reply
is a standard ``chat.completion`` whose message content is the consensus answer, and the
evidence (record id, strengths with intervals, tied-for-first set, participants) rides in the
extra top-level field ``swarmrank``, which OpenAI clients ignore and expose as an extra.
Errors use OpenAI's error shape ``{"error": {"message", "type", "code"}}``.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from collections.abc import Sequence
from typing import Any

import grpc
from aiohttp import web

from node.logging import get_logger
from protocol.v1 import services_pb2, services_pb2_grpc

MODEL_ID = "swarmrank-consensus"
MAX_BODY_BYTES = 1024 * 1024
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


def _error(status: int, message: str, kind: str, code: str) -> web.Response:
    return web.json_response(
        {"error": {"message": message, "type": kind, "code": code}}, status=status
    )


def _question(body: Any) -> str:
    """The question: the content of the last user message (string or text parts)."""
    if not isinstance(body, dict):
        raise ValueError("the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            text = content
        elif isinstance(content, list):
            text = "".join(
                part.get("text", "")
                for part in content
                if isinstance(part, dict) and part.get("type") == "text"
            )
        else:
            raise ValueError("a user message's 'content' must be a string or a list of parts")
        if text.strip():
            return text
    raise ValueError("no user message with text content")


class Gateway:
    """The HTTP gateway; ``node_addresses`` are tried in turn (failover on UNAVAILABLE)."""

    def __init__(self, node_addresses: Sequence[str], *, timeout_s: float = 120.0) -> None:
        if not node_addresses:
            raise ValueError("the gateway needs at least one node address")
        self.node_addresses = list(node_addresses)
        self.timeout_s = timeout_s
        self._channels = {a: grpc.aio.insecure_channel(a) for a in self.node_addresses}
        # Start at a random node so one-shot clients (`swarmrank ask`) spread leadership.
        offset = random.randrange(len(self.node_addresses))
        order = [*range(offset, len(self.node_addresses)), *range(offset)]
        self._next = itertools.cycle(order)
        self.app = web.Application(client_max_size=MAX_BODY_BYTES)
        self.app.router.add_post("/v1/chat/completions", self.handle_chat)
        self.app.router.add_get("/v1/models", self.handle_models)
        self.app.router.add_get("/healthz", self.handle_health)
        self.app.on_cleanup.append(self._close)
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _close(self, _app: web.Application) -> None:
        for channel in self._channels.values():
            await channel.close()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve on ``host:port`` (0 = any free port); returns the base URL ``http://h:p/v1``."""
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        addresses = self._runner.addresses
        bound = addresses[0][1] if addresses else port
        self.url = f"http://{host}:{bound}/v1"
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
                )
                return response
            except grpc.aio.AioRpcError as exc:
                last = exc
                if exc.code() not in (grpc.StatusCode.UNAVAILABLE,):
                    raise
        assert last is not None  # the loop ran at least once (node_addresses is non-empty)
        raise last

    async def handle_chat(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
            question = _question(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            return _error(
                400, "the request body is not valid JSON", "invalid_request_error", "bad_json"
            )
        except ValueError as exc:
            return _error(400, str(exc), "invalid_request_error", "bad_request")
        if body.get("stream"):
            return _error(
                400,
                "streaming is not supported: a consensus answer exists only after the round",
                "invalid_request_error",
                "stream_unsupported",
            )
        try:
            response = await self.call_ask(question)
        except grpc.aio.AioRpcError as exc:
            status = {
                grpc.StatusCode.INVALID_ARGUMENT: 400,
                grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
                grpc.StatusCode.DEADLINE_EXCEEDED: 504,
            }.get(exc.code(), 503)
            return _error(status, f"swarm: {exc.details()}", "swarm_error", exc.code().name.lower())
        evidence = response_to_json(response)
        return web.json_response(
            {
                "id": "chatcmpl-" + response.record_id.hex()[:24],
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
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
                "swarmrank": evidence,
            }
        )

    async def handle_models(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "object": "list",
                "data": [
                    {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "swarmrank"}
                ],
            }
        )

    async def handle_health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "nodes": self.node_addresses})
