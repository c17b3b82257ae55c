"""Public test doubles for code built on the node (like ``trio.testing``).

* :class:`FakeBackend` — a scripted :class:`~node.backends.base.ModelBackend` that records calls.
* :func:`make_query`, :func:`make_rank_request` — signed leader requests with consistent
  hashes and digests, for driving :class:`~node.swarm.peer.Node` or a daemon from tests.
* :class:`MessageMutator` — random, type-aware mutations of signed protocol messages,
  re-signed by known identities, for fuzzing what a node accepts.
* :class:`FakeChatServer` — a real HTTP server on loopback that speaks the OpenAI
  chat-completions protocol, records every request and replies as scripted with
  :class:`FakeReply` (content, logprobs, HTTP errors, hangs, malformed bodies); drives
  :class:`~node.backends.openai.OpenAIBackend` in tests, ``doctor`` checks and simulations.
* :func:`perturbed_floats` — every ``exp``, ``log`` and ``expit`` the round computes scaled by
  ``1 + relative``: a stand-in for a machine whose math library rounds differently.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from aiohttp import web
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from node.backends.base import Answer, Judgement
from node.errors import BackendError
from protocol.hashing import candidate_set_digest, content_hash
from protocol.identity import Identity

if TYPE_CHECKING:
    from node.membership.registry import Member
from protocol.signing import PAYLOAD_TYPES, Clock, Envelope, seal
from protocol.v1 import envelope_pb2, messages_pb2


@dataclass
class FakeBackend:
    """Answers ``answer`` to every question and judges with ``judge_fn`` (default: "A").

    ``fail_generate`` / ``fail_judge`` make calls raise :class:`BackendError`; ``calls`` lists
    ``(op, args)`` in order.
    """

    answer: str = "42"
    judge_fn: Callable[[str, str, str], Judgement] = field(
        default=lambda q, a, b: Judgement(outcome="A", confidence=0.9, rationale="A is right")
    )
    fail_generate: bool = False
    fail_judge: bool = False
    delay_s: float = 0.0  # artificial latency of every call
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)

    @property
    def model_name(self) -> str:
        return "fake"

    async def generate(self, question: str, *, query_id: bytes) -> Answer:
        self.calls.append(("generate", (question,)))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_generate:
            raise BackendError("fake backend: generate failed")
        return Answer(text=self.answer, model="fake")

    async def judge(
        self, question: str, answer_a: str, answer_b: str, *, query_id: bytes
    ) -> Judgement:
        self.calls.append(("judge", (question, answer_a, answer_b)))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail_judge:
            raise BackendError("fake backend: judge failed")
        return self.judge_fn(question, answer_a, answer_b)

    async def health(self) -> bool:
        return True

    async def close(self) -> None:
        return None


def new_query_id() -> bytes:
    """A random 16-byte round id."""
    return os.urandom(16)


def make_query(
    leader: Identity,
    swarm_id: str,
    clock: Clock,
    *,
    question: str = "What is 17 + 25?",
    generator_ids: Sequence[str] = (),
    ranker_ids: Sequence[str] = (),
    query_id: bytes | None = None,
) -> Envelope:
    """A signed Query from ``leader``."""
    query = messages_pb2.Query(
        context=messages_pb2.MessageContext(
            swarm_id=swarm_id,
            query_id=query_id if query_id is not None else new_query_id(),
            timestamp_ms=clock.time_ms(),
        ),
        question=question,
        leader_id=leader.node_id,
        generator_ids=list(generator_ids),
        ranker_ids=list(ranker_ids),
    )
    return seal(leader, envelope_pb2.KIND_QUERY, query, swarm_id)


def make_rank_request(
    leader: Identity,
    swarm_id: str,
    clock: Clock,
    query: Envelope,
    answers: Sequence[str],
    assignments: dict[str, Sequence[tuple[int, int]]],
    *,
    digest: bytes | None = None,
) -> Envelope:
    """A signed RankRequest over ``answers`` for the Query ``query`` (same query id).

    ``digest`` overrides the candidate set digest (to test a leader that swapped candidates).
    """
    query_id = messages_pb2.Query.FromString(query.payload).context.query_id
    candidates = [
        messages_pb2.AnonymousCandidate(content_hash=content_hash(a), answer=a) for a in answers
    ]
    request = messages_pb2.RankRequest(
        context=messages_pb2.MessageContext(
            swarm_id=swarm_id, query_id=query_id, timestamp_ms=clock.time_ms()
        ),
        query=query,
        candidates=candidates,
        candidate_set_digest=digest
        if digest is not None
        else candidate_set_digest(c.content_hash for c in candidates),
        assignments=[
            messages_pb2.Assignment(
                ranker_id=ranker_id, pairs=[messages_pb2.Pair(a=a, b=b) for a, b in pairs]
            )
            for ranker_id, pairs in assignments.items()
        ],
    )
    return seal(leader, envelope_pb2.KIND_RANK_REQUEST, request, swarm_id)


#: edge values the mutator gives to numeric fields
_FUZZ_UINTS = [0, 1, 2, 3, 7, 2**31 - 1, 2**32 - 1, 2**63 - 1]
_FUZZ_INTS = [0, 1, -1, 5, -(2**31), 2**31 - 1, -(2**63), 2**63 - 1]
_FUZZ_FLOATS = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    1e-300,
    5e-324,
    1e308,
    float("nan"),
    float("inf"),
    -1e308,
]


class MessageMutator:
    """Random, type-aware mutations of protocol messages, for fuzzing what a node accepts
    from signers it trusts to sign but not to behave.

    :meth:`message` changes one field at a random depth: scalars get edge values (zero,
    extremes, NaN, infinities, empty and foreign strings), repeated fields are cleared,
    shortened, duplicated, reordered, extended or edited. A nested :class:`Envelope` whose
    signer is one of ``identities`` is decoded, mutated and re-signed by that identity, so the
    mutation reaches past the signature checks; other envelopes are mutated as raw messages.
    ``strings`` are extra values for string fields (node ids, say). All randomness comes from
    ``rng``.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        identities: Sequence[Identity],
        swarm_id: str,
        strings: Sequence[str] = (),
    ) -> None:
        self.rng = rng
        self.swarm_id = swarm_id
        self.strings = list(strings)
        self.by_key = {identity.public_key: identity for identity in identities}

    def pick(self, values: Sequence[Any]) -> Any:
        """One of ``values``, drawn from ``rng``."""
        return values[int(self.rng.integers(len(values)))]

    def scalar(self, field: FieldDescriptor) -> Any:
        """An edge value of ``field``'s scalar type."""
        t = field.type
        if t == FieldDescriptor.TYPE_BOOL:
            return bool(self.rng.integers(2))
        if t in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            return self.pick(_FUZZ_FLOATS)
        if t == FieldDescriptor.TYPE_STRING:
            return self.pick(["", "x", "3n", "full", "random-k", "\x00", *self.strings])
        if t == FieldDescriptor.TYPE_BYTES:
            return self.pick([b"", bytes(16), bytes(32), self.rng.bytes(32)])
        if t == FieldDescriptor.TYPE_ENUM:
            return self.pick([v.number for v in field.enum_type.values])
        if t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64):
            value = self.pick(_FUZZ_INTS)
            return (
                max(min(value, 2**31 - 1), -(2**31)) if t == FieldDescriptor.TYPE_INT32 else value
            )
        value = self.pick(_FUZZ_UINTS)
        return min(value, 2**32 - 1) if t == FieldDescriptor.TYPE_UINT32 else value

    def envelope(self, envelope: Envelope) -> None:
        """Mutate what an envelope carries and re-sign it as its signer would."""
        message_type = PAYLOAD_TYPES.get(envelope.kind)
        identity = self.by_key.get(bytes(envelope.signer))
        if message_type is None or identity is None:
            self.message(envelope)
            return
        inner = message_type.FromString(envelope.payload)
        self.message(inner)
        envelope.CopyFrom(seal(identity, envelope.kind, inner, self.swarm_id))

    def mutated(self, original: Envelope) -> Envelope:
        """A copy of ``original`` with one to three mutations (:meth:`envelope`)."""
        envelope = Envelope()
        envelope.CopyFrom(original)
        for _ in range(int(self.rng.integers(1, 4))):
            self.envelope(envelope)
        return envelope

    def message(self, message: Message) -> None:
        """Change one field of ``message`` (recursing into a nested message) in place."""
        fields = message.DESCRIPTOR.fields
        field = fields[int(self.rng.integers(len(fields)))]
        value = getattr(message, field.name)
        is_message = field.type == FieldDescriptor.TYPE_MESSAGE
        if field.is_repeated:
            self.repeated(field, value, is_message)
        elif is_message:
            if isinstance(value, Envelope):
                self.envelope(value)
            else:
                self.message(value)
        else:
            setattr(message, field.name, self.scalar(field))

    def repeated(self, field: FieldDescriptor, items: Any, is_message: bool) -> None:
        """Clear, shorten, duplicate into, reorder, extend or edit the repeated ``items``."""
        n = len(items)
        action = self.pick(["clear", "drop", "duplicate", "swap", "append", "edit"])
        if action == "clear":
            del items[:]
        elif action == "drop" and n:
            del items[int(self.rng.integers(n))]
        elif action == "duplicate" and n:
            item = items[int(self.rng.integers(n))]
            if is_message:
                items.add().CopyFrom(item)
            else:
                items.append(item)
        elif action == "swap" and n >= 2:
            i, j = (int(x) for x in self.rng.choice(n, 2, replace=False))
            if is_message:
                first = type(items[i])()
                first.CopyFrom(items[i])
                items[i].CopyFrom(items[j])
                items[j].CopyFrom(first)
            else:
                items[i], items[j] = items[j], items[i]
        elif action == "append":
            if is_message:
                items.add()
            else:
                items.append(self.scalar(field))
        elif n:  # edit one element
            index = int(self.rng.integers(n))
            if not is_message:
                items[index] = self.scalar(field)
            elif isinstance(items[index], Envelope):
                self.envelope(items[index])
            else:
                self.message(items[index])


@dataclass(frozen=True)
class FakeReply:
    """One scripted reply of :class:`FakeChatServer`; build it with the class methods.

    A reply first waits ``hang_s`` seconds (cut short when the server stops or the client
    goes away), then answers ``status`` with ``body`` if set, else with a chat completion whose
    message is ``content`` (for status 200) or an OpenAI-style error object (otherwise).
    """

    status: int = 200  # HTTP status
    content: str | None = None  # assistant message text of a 200 chat completion
    body: bytes | None = None  # raw response body; overrides content and the error object
    hang_s: float = 0.0  # seconds to wait before replying
    headers: Mapping[str, str] = field(default_factory=dict)  # extra response headers
    message: str = ""  # error message of a non-200 reply
    # (token, logprob) alternatives of the first generated token, served as the choice's
    # "logprobs" (chat-completions shape); None = no logprobs in the reply
    top_logprobs: tuple[tuple[str, float], ...] | None = None

    @classmethod
    def text(cls, content: str) -> FakeReply:
        """A 200 chat completion whose assistant message is ``content``."""
        return cls(content=content)

    @classmethod
    def verdict(
        cls,
        outcome: Literal["A", "B", "TIE"],
        *,
        rationale: str = "One answer is better.",
        confidence: float | None = None,
    ) -> FakeReply:
        """A well-formed judge reply: ``RATIONALE:``, optional ``CONFIDENCE:``, ``VERDICT:``."""
        lines = [f"RATIONALE: {rationale}"]
        if confidence is not None:
            lines.append(f"CONFIDENCE: {confidence:.2f}")
        lines.append(f"VERDICT: {outcome}")
        return cls(content="\n".join(lines))

    @classmethod
    def logprobs(cls, top_logprobs: Mapping[str, float]) -> FakeReply:
        """A one-token chat completion carrying ``top_logprobs`` (token -> natural-log prob),
        as a server answers ``max_tokens=1, logprobs=true``; the token is the likeliest one."""
        ranked = tuple(sorted(top_logprobs.items(), key=lambda item: -item[1]))
        return cls(content=ranked[0][0] if ranked else "", top_logprobs=ranked)

    @classmethod
    def error(
        cls, status: int, message: str = "", *, retry_after_s: float | None = None
    ) -> FakeReply:
        """An HTTP error (5xx, 429, 4xx) with an OpenAI-style ``{"error": {...}}`` body."""
        headers = {} if retry_after_s is None else {"Retry-After": f"{retry_after_s:g}"}
        return cls(status=status, message=message or f"fake error {status}", headers=headers)

    @classmethod
    def hang(cls, seconds: float, then: FakeReply | None = None) -> FakeReply:
        """Wait ``seconds`` (longer than the client's timeout, usually), then reply ``then``."""
        base = then if then is not None else cls.text("FINAL ANSWER: late")
        return cls(
            status=base.status,
            content=base.content,
            body=base.body,
            hang_s=seconds,
            headers=base.headers,
            message=base.message,
            top_logprobs=base.top_logprobs,
        )

    @classmethod
    def raw(cls, body: bytes, *, status: int = 200) -> FakeReply:
        """Any bytes as the body (a response that is not JSON or not a chat completion)."""
        return cls(status=status, body=body)


@dataclass(frozen=True)
class RecordedRequest:
    """One request :class:`FakeChatServer` received, as it arrived."""

    method: str  # "GET", "POST", ...
    path: str  # e.g. "/v1/chat/completions"
    headers: Mapping[str, str]  # request headers
    body: bytes  # raw request body
    json: Any  # the body decoded as JSON, or None when it is not JSON


class FakeChatServer:
    """An OpenAI-compatible chat-completions server on loopback, for tests.

    Serves ``POST /v1/chat/completions`` and ``GET /v1/models`` over real HTTP on
    ``127.0.0.1`` and an OS-chosen port (read :attr:`base_url` after :meth:`start`). Every
    request is recorded in :attr:`requests` before it is answered, so a test can assert on
    exactly what a client sent. Replies to chat requests come from, in order: the scripted
    queue (:meth:`script`, one reply per request), else ``responder(request_json)``, else
    ``default``. Invalid chat requests (not JSON, no ``model`` or ``messages``, ``stream``
    set) get a 400 and consume nothing; with ``api_key`` set, a request without that bearer
    token gets a 401 whose message echoes the token it was given (as some real servers do,
    so clients can be tested for redaction).

    Examples
    --------
    >>> async with FakeChatServer() as server:  # doctest: +SKIP
    ...     server.script(FakeReply.error(503), FakeReply.verdict("A"))
    ...     backend = OpenAIBackend(server.base_url, "fake-model", backoff_s=0)
    ...     assert (await backend.judge("q", "a", "b", query_id=b"q")).outcome == "A"
    ...     assert len(server.chat_requests) == 2
    """

    def __init__(
        self,
        *,
        model: str = "fake-model",
        default: FakeReply | None = None,
        responder: Callable[[Any], FakeReply] | None = None,
        api_key: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.model = model  # the id listed by /v1/models and reported in completions
        self.default = default if default is not None else FakeReply.text("FINAL ANSWER: 42")
        self.responder = responder  # computes a reply from the request JSON when unscripted
        self.api_key = api_key  # bearer token required on every request, None = open
        self.host = host
        self.models_status = 200  # status of GET /v1/models (set 503 to fail health checks)
        self.requests: list[RecordedRequest] = []  # every request received, in order
        self._queue: deque[FakeReply] = deque()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._stopping = asyncio.Event()
        self._port = 0

    async def start(self) -> None:
        """Bind ``host`` on a free port and start serving."""
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle_chat)
        app.router.add_get("/v1/models", self._handle_models)
        self._stopping = asyncio.Event()
        # handler_cancellation: a client that gave up (timeout) cancels its hanging handler
        self._runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        """Release hanging replies and stop serving."""
        self._stopping.set()
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> FakeChatServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound TCP port (0 before :meth:`start`)."""
        return self._port

    @property
    def base_url(self) -> str:
        """The API root to give a client, ``http://127.0.0.1:PORT/v1``."""
        if not self._port:
            raise RuntimeError("FakeChatServer is not started")
        return f"http://{self.host}:{self._port}/v1"

    def script(self, *replies: FakeReply) -> None:
        """Queue ``replies``; each chat request consumes the next one."""
        self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not yet consumed."""
        return len(self._queue)

    @property
    def chat_requests(self) -> list[Any]:
        """JSON bodies of the chat-completion requests received, in order."""
        return [
            r.json for r in self.requests if r.method == "POST" and r.path.endswith("/completions")
        ]

    async def _record(self, request: web.Request) -> RecordedRequest:
        body = await request.read()
        try:
            decoded: Any = json.loads(body) if body else None
        except ValueError:
            decoded = None
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            headers=dict(request.headers),
            body=body,
            json=decoded,
        )
        self.requests.append(recorded)
        return recorded

    def _unauthorized(self, request: web.Request) -> web.Response | None:
        if self.api_key is None:
            return None
        given = request.headers.get("Authorization", "")
        if given == f"Bearer {self.api_key}":
            return None
        token = given.removeprefix("Bearer ")
        return _error_response(401, f"Incorrect API key provided: {token}", "invalid_api_key")

    async def _handle_models(self, request: web.Request) -> web.Response:
        await self._record(request)
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        if self.models_status != 200:
            return _error_response(self.models_status, "models unavailable", "server_error")
        return web.json_response(
            {
                "object": "list",
                "data": [{"id": self.model, "object": "model", "owned_by": "swarmrank-fake"}],
            }
        )

    async def _handle_chat(self, request: web.Request) -> web.Response:
        recorded = await self._record(request)
        denied = self._unauthorized(request)
        if denied is not None:
            return denied
        body = recorded.json
        if not isinstance(body, dict):
            return _error_response(400, "request body is not a JSON object", "invalid_request")
        if not isinstance(body.get("model"), str) or not isinstance(body.get("messages"), list):
            return _error_response(400, "model and messages are required", "invalid_request")
        if body.get("stream"):
            return _error_response(400, "FakeChatServer does not stream", "invalid_request")
        if self._queue:
            reply = self._queue.popleft()
        elif self.responder is not None:
            reply = self.responder(body)
        else:
            reply = self.default
        if reply.hang_s > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), reply.hang_s)
        if reply.body is not None:
            return web.Response(
                status=reply.status,
                body=reply.body,
                headers=reply.headers,
                content_type="application/json",
            )
        if reply.status != 200:
            response = _error_response(reply.status, reply.message, "fake_error")
            response.headers.update(reply.headers)
            return response
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": reply.content},
            "finish_reason": "stop",
        }
        if reply.top_logprobs is not None:
            top = [{"token": t, "logprob": v, "bytes": None} for t, v in reply.top_logprobs]
            first = top[0] if top else {"token": "", "logprob": 0.0, "bytes": None}
            choice["logprobs"] = {"content": [{**first, "top_logprobs": top}]}
        return web.json_response(
            {
                "id": f"chatcmpl-fake-{next(self._ids)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": self.model,
                "choices": [choice],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            },
            headers=reply.headers,
        )


def _error_response(status: int, message: str, code: str) -> web.Response:
    """OpenAI's error shape: ``{"error": {"message", "type", "code"}}``."""
    return web.json_response(
        {"error": {"message": message, "type": code, "code": code}}, status=status
    )


@dataclass
class InProcessSwarm:
    """N :class:`~node.swarm.node.SwarmNode` s in this process, each behind its own gRPC server on
    loopback with its own SQLite store (see :func:`in_process_swarm`)."""

    nodes: list[Any]
    servers: list[Any]

    def members(self, indices: Sequence[int] | None = None) -> list[Any]:
        chosen = self.nodes if indices is None else [self.nodes[i] for i in indices]
        return [n.self_member() for n in chosen]

    def set_membership(self, indices: Sequence[int] | None = None) -> None:
        """Give every node the same static view: the nodes at ``indices`` (default all), and
        one shared table of height leases, so that several of them may lead at once."""
        from node.membership.static import LocalLeases, StaticMembership

        members = self.members(indices)
        leases = LocalLeases()
        for node in self.nodes:
            node.membership = StaticMembership(members, leases)

    async def settle(self, height: int, nodes: Sequence[Any] | None = None) -> None:
        """Wait until every node (or ``nodes``) has ``height`` records."""
        for _ in range(500):
            if all(n.store.head()[0] >= height for n in nodes or self.nodes):
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"heights {[n.store.head()[0] for n in self.nodes]} < {height}")

    async def wait_jailed(self, node_id: str, nodes: Sequence[Any] | None = None) -> bool:
        """Wait until every node (or ``nodes``) holds ``node_id`` jailed in its ledger state;
        ``False`` when that has not happened after about 6 s of polling (a height leased to
        a leader whose record was refused stays blocked for the lease's TTL, 3 s)."""
        for _ in range(300):
            if all(n.state.identity(node_id).status == "jailed" for n in nodes or self.nodes):
                return True
            await asyncio.sleep(0.02)
        return False


@contextlib.asynccontextmanager
async def in_process_swarm(
    tmp: Any,
    backends: Sequence[Any],
    *,
    swarm_id: str = "test-swarm",
    trust: Any = None,
    settings: Any = None,
    server_credentials: Sequence[Any] | None = None,
    channel_credentials: Sequence[Any] | None = None,
    first_identity: int = 0,
) -> Any:
    """Start one node per backend (identity ``test_identity(first_identity + i)``), all members
    of each other.

    ``server_credentials`` / ``channel_credentials`` (one per node, :mod:`node.transport.tls`)
    switch the transport to TLS or mutual TLS. Everything is stopped and closed on exit.
    """
    from pathlib import Path

    from node.ledger.store import Store
    from node.metrics import NodeMetrics
    from node.round.settings import RoundSettings
    from node.swarm.node import SwarmNode
    from node.swarm.service import SwarmServicer
    from node.transport.server import ExtraService, NodeServer
    from protocol.signing import SystemClock, Verifier
    from protocol.testing import test_identity
    from protocol.v1 import services_pb2_grpc

    settings = settings or RoundSettings(generate_deadline_ms=10_000, rank_deadline_ms=10_000)
    async with contextlib.AsyncExitStack() as stack:
        nodes: list[Any] = []
        servers: list[Any] = []
        for index, backend in enumerate(backends):
            store = Store(Path(tmp) / f"node{index}" / "state.db")
            stack.callback(store.close)
            node = SwarmNode(
                test_identity(first_identity + index),
                Verifier(swarm_id, clock=SystemClock()),
                backend,
                store,
                NodeMetrics(),
                settings=settings,
                trust=trust,
                channel_credentials=channel_credentials[index] if channel_credentials else None,
            )
            stack.push_async_callback(node.close)
            server = NodeServer(
                node,
                listen_address="127.0.0.1:0",
                server_credentials=server_credentials[index] if server_credentials else None,
                extra_services=[
                    ExtraService(
                        "protocol.v1.SwarmService",
                        SwarmServicer(node),
                        services_pb2_grpc.add_SwarmServiceServicer_to_server,
                    )
                ],
            )
            await server.start()
            stack.push_async_callback(server.stop, 0.2)
            nodes.append(node)
            servers.append(server)
        swarm = InProcessSwarm(nodes, servers)
        swarm.set_membership()
        yield swarm


@contextlib.contextmanager
def perturbed_floats(relative: float = 1e-12) -> Any:
    """While active, ``numpy.exp``, ``numpy.log`` and the ``expit`` the ranking core uses return
    their result times ``1 + relative``: what another CPU's SIMD kernels or another libm do to
    the last bits, much amplified (one ulp is about ``1.1e-16``). It patches module attributes,
    so it reaches code that looks them up at call time (numpy's own ``np.exp``, choix, the
    ranking core), in this process only.
    """
    import scipy.special

    import ranking.robust
    import ranking.uncertainty

    factor = 1.0 + relative

    def perturb(fn: Callable[..., Any]) -> Callable[..., Any]:
        def perturbed(*args: Any, **kwargs: Any) -> Any:
            result = fn(*args, **kwargs)
            if "out" in kwargs:
                result *= factor
                return result
            return result * factor

        return perturbed

    targets = [
        (np, "exp"),
        (np, "log"),
        (scipy.special, "expit"),
        (ranking.robust, "expit"),
        (ranking.uncertainty, "expit"),
    ]
    originals = [(module, name, getattr(module, name)) for module, name in targets]
    try:
        for module, name, original in originals:
            setattr(module, name, perturb(original))
        yield
    finally:
        for module, name, original in originals:
            setattr(module, name, original)


def offline_member(identity: Identity) -> Member:
    """A registry entry for ``identity`` with no reachable address (unit tests that call the
    leader's phases with fake peer clients)."""
    from node.membership.registry import Member

    return Member(
        node_id=identity.node_id,
        public_key=identity.public_key,
        address="unused:0",
        model="fake",
        capabilities=(),
        info_envelope=b"",
        last_seen_ms=0,
    )
