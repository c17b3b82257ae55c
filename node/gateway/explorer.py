"""The swarm explorer: a web page served by the gateway, its JSON endpoints and its event
stream.

Routes (all ``GET``):

================================  ===========================================================
``/explorer/``                    the page (static HTML, JS and CSS under ``/explorer/static/``,
                                  no third-party code, no build step)
``/explorer/api/overview``        swarm id, the answering node, ledger height and head
``/explorer/api/members``         members (reputation, trust status, stake, liveness, model)
                                  and each one's reputation by ledger height, as seen here
``/explorer/api/rounds``          the latest rounds, newest first (``?limit=N``, at most 50)
``/explorer/api/records/{id}``    one record by id (64 hex digits): the round, its signatures'
                                  status and the node whose ledger holds it
``/explorer/api/events``          server-sent events: ``hello`` (overview), ``round`` (a round
                                  as it is appended), ``members``, ``ledger``
================================  ===========================================================

Everything comes from the nodes over ``SwarmService`` (``Status`` and ``GetRecord``, through
the gateway's :meth:`~node.gateway.app.Gateway.call_status` and
:meth:`~node.gateway.app.Gateway.call_get_record`): while a page listens, the explorer polls
``Status`` every ``poll_s`` and walks new records back from the ledger head; a round the gateway
itself served is fetched from its leader at once, so it reaches pages without waiting for the
poll. Node load does not grow with the number of pages: one poller, ``Status`` answers cached
for ``poll_s``, record views cached by id, at most ``max_subscribers`` event streams.

The explorer is read-only. With API keys configured, its endpoints need the same
``Authorization: Bearer`` key as ``/v1/*`` (the page asks for it once and keeps it in the tab's
session storage); the static files are open. Member addresses are shown only to a caller with a
valid key, or to anyone when no key is configured (as ``/healthz`` does). Candidate text is
untrusted: the page renders it with ``textContent`` only, and every explorer response carries
a Content-Security-Policy that allows no inline script, so markup in an answer is inert twice
over.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import grpc
from aiohttp import web

from node.gateway.views import finite, members_view, round_view
from node.logging import get_logger
from protocol.signing import Envelope
from protocol.v1 import services_pb2

STATIC_DIR = Path(__file__).parent / "static"
#: rounds kept for ``/explorer/api/rounds`` and new pages
KEEP_ROUNDS = 50
#: record views cached by id
KEEP_VIEWS = 256
#: records walked back from a new head in one poll
MAX_WALK = 20
#: reputation points kept per member, and members tracked
KEEP_HISTORY = 200
MAX_TRACKED = 1024
DEFAULT_POLL_S = 1.0
DEFAULT_MAX_SUBSCRIBERS = 32
#: events one slow page may have queued before its stream is closed (it reconnects)
QUEUE_SIZE = 64
KEEPALIVE_S = 15.0
#: how often an idle event stream checks that its page is still there, seconds
_CHECK_S = 1.0
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
log = get_logger("explorer")


class SwarmSource(Protocol):
    """What the explorer needs of the gateway."""

    def authorized(self, request: web.Request) -> bool: ...

    async def call_status(
        self, address: str | None = None
    ) -> tuple[str, services_pb2.StatusResponse]: ...

    async def call_get_record(
        self, record_id: bytes, address: str | None = None
    ) -> tuple[str, Envelope]: ...


def _error(
    status: int, message: str, code: str, kind: str = "invalid_request_error"
) -> web.Response:
    """An OpenAI-shaped error reply, like the rest of the gateway's."""
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    return web.json_response(body, status=status)


@dataclass(eq=False)
class _Subscriber:
    queue: asyncio.Queue[tuple[str, Any]] = field(
        default_factory=lambda: asyncio.Queue(maxsize=QUEUE_SIZE)
    )


class Explorer:
    """The explorer's state and routes (see the module docstring)."""

    def __init__(
        self,
        source: SwarmSource,
        *,
        poll_s: float = DEFAULT_POLL_S,
        max_subscribers: int = DEFAULT_MAX_SUBSCRIBERS,
        auth_required: bool = False,
    ) -> None:
        self.source = source
        self.poll_s = poll_s
        self.max_subscribers = max_subscribers
        self.auth_required = auth_required
        self._rounds: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._views: OrderedDict[str, tuple[str, dict[str, Any]]] = OrderedDict()
        self._status: services_pb2.StatusResponse | None = None
        self._status_address = ""
        self._status_at = -1e9
        self._history: dict[str, list[list[float]]] = {}
        self._subscribers: set[_Subscriber] = set()
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._poller: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- routes ---------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/explorer", self.handle_redirect)
        app.router.add_get("/explorer/", self.handle_page)
        app.router.add_static("/explorer/static/", STATIC_DIR, append_version=False)
        app.router.add_get("/explorer/api/overview", self.handle_overview)
        app.router.add_get("/explorer/api/members", self.handle_members)
        app.router.add_get("/explorer/api/rounds", self.handle_rounds)
        app.router.add_get("/explorer/api/records/{record_id}", self.handle_record)
        app.router.add_get("/explorer/api/events", self.handle_events)
        app.on_response_prepare.append(self._security_headers)
        app.on_shutdown.append(self._end_streams)
        app.on_cleanup.append(self._close)

    @staticmethod
    async def _security_headers(request: web.Request, response: web.StreamResponse) -> None:
        if request.path.startswith("/explorer"):
            response.headers["Content-Security-Policy"] = CSP
            response.headers["X-Content-Type-Options"] = "nosniff"
            response.headers["Referrer-Policy"] = "no-referrer"

    async def _end_streams(self, _app: web.Application) -> None:
        """End every event stream, so the server's shutdown does not wait for them."""
        for subscriber in list(self._subscribers):
            while not subscriber.queue.empty():
                subscriber.queue.get_nowait()
            subscriber.queue.put_nowait(("_close", None))

    async def _close(self, _app: web.Application) -> None:
        tasks = [*self._tasks, *([self._poller] if self._poller else [])]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def handle_redirect(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound("/explorer/")

    async def handle_page(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html")

    def _refused(self, request: web.Request) -> web.Response | None:
        if self.source.authorized(request):
            return None
        response = _error(
            401,
            "missing or invalid API key: send 'Authorization: Bearer <key>'",
            "invalid_api_key",
        )
        response.headers["WWW-Authenticate"] = "Bearer"
        return response

    async def _guarded(
        self, request: web.Request, build: Callable[[], Awaitable[dict[str, Any]]]
    ) -> web.StreamResponse:
        """Answer with ``await build()`` as JSON; 401 without a key, 503 when no node answers."""
        refused = self._refused(request)
        if refused is not None:
            return refused
        try:
            return web.json_response(await build())
        except grpc.aio.AioRpcError as exc:
            return _error(503, f"swarm: {exc.details()}", exc.code().name.lower(), "swarm_error")

    async def handle_overview(self, request: web.Request) -> web.StreamResponse:
        async def build() -> dict[str, Any]:
            await self.refresh()
            return self.overview()

        return await self._guarded(request, build)

    async def handle_members(self, request: web.Request) -> web.StreamResponse:
        addresses = self.source.authorized(request)

        async def build() -> dict[str, Any]:
            await self.refresh()
            return self.members(addresses=addresses)

        return await self._guarded(request, build)

    async def handle_rounds(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)  # the key before anything else
        if refused is not None:
            return refused
        text = request.query.get("limit", str(KEEP_ROUNDS))
        if not (text.isascii() and text.isdigit() and len(text) <= 3):
            text = "0"
        if not 1 <= int(text) <= KEEP_ROUNDS:
            return _error(400, f"'limit' must be an integer from 1 to {KEEP_ROUNDS}", "bad_limit")
        limit = int(text)

        async def build() -> dict[str, Any]:
            await self.refresh()
            return {"rounds": list(reversed(self._rounds.values()))[:limit]}

        return await self._guarded(request, build)

    async def handle_record(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        text = request.match_info["record_id"]
        if len(text) != 64 or not all(c in "0123456789abcdefABCDEF" for c in text):
            return _error(400, "a record id is 64 hexadecimal digits", "bad_record_id")
        record_id = bytes.fromhex(text)

        async def build() -> dict[str, Any]:
            found = await self.record(record_id)
            if found is None:
                raise _NotFoundError
            return found

        try:
            return await self._guarded(request, build)
        except _NotFoundError:
            return _error(404, f"no node behind this gateway holds record {text}", "not_found")

    async def handle_events(self, request: web.Request) -> web.StreamResponse:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if len(self._subscribers) >= self.max_subscribers:
            response = _error(
                429,
                f"the explorer serves at most {self.max_subscribers} event streams",
                "too_many_streams",
                "rate_limit_error",
            )
            response.headers["Retry-After"] = "5"
            return response
        stream = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                "X-Accel-Buffering": "no",
            }
        )
        await stream.prepare(request)
        subscriber = _Subscriber()
        self._subscribers.add(subscriber)
        self._ensure_poller()
        try:
            await _send(stream, "hello", self.overview())
            quiet_since = time.monotonic()
            while True:
                try:
                    name, data = await asyncio.wait_for(subscriber.queue.get(), _CHECK_S)
                except TimeoutError:
                    transport = request.transport
                    if transport is None or transport.is_closing():
                        break  # the page went away
                    if time.monotonic() - quiet_since >= KEEPALIVE_S:
                        await stream.write(b": keep-alive\n\n")
                        quiet_since = time.monotonic()
                    continue
                if name == "_close":
                    break  # this page fell behind, or the gateway stops; a page reconnects
                await _send(stream, name, data)
                quiet_since = time.monotonic()
        except ConnectionResetError:
            pass
        finally:
            self._subscribers.discard(subscriber)
        with contextlib.suppress(ConnectionResetError):
            await stream.write_eof()
        return stream

    # -- state ------------------------------------------------------------------------------

    def overview(self) -> dict[str, Any]:
        status = self._status
        return {
            "swarm_id": status.swarm_id if status else None,
            "node_id": status.node_id if status else None,
            "height": status.ledger_height if status else None,
            "head": status.ledger_head.hex() if status else None,
            "members": len(status.members) if status else 0,
            "alive": sum(m.alive for m in status.members) if status else 0,
            "auth_required": self.auth_required,
        }

    def members(self, *, addresses: bool) -> dict[str, Any]:
        status = self._status
        return {
            "members": members_view(status, addresses=addresses) if status else [],
            "history": {k: list(v) for k, v in self._history.items()},
        }

    async def refresh(self, max_age: float | None = None) -> None:
        """Read ``Status`` unless a fresh answer is cached; take in records new since."""
        max_age = self.poll_s if max_age is None else max_age
        if time.monotonic() - self._status_at < max_age:
            return
        async with self._lock:
            if time.monotonic() - self._status_at < max_age:
                return
            address, status = await self.source.call_status()
            previous = self._status
            self._status, self._status_address = status, address
            self._status_at = time.monotonic()
            if previous is None or previous.ledger_head != status.ledger_head:
                self._track_reputations(status)
                if status.ledger_head:
                    await self._walk_back(address, status.swarm_id, bytes(status.ledger_head))
                self._publish("ledger", self.overview())
            if previous is None or _member_digest(previous) != _member_digest(status):
                # Every subscriber passed the key check, so addresses may go to all of them.
                self._publish("members", self.members(addresses=True))

    async def record(self, record_id: bytes) -> dict[str, Any] | None:
        """The view of one record with the node whose ledger holds it, or ``None``."""
        key = record_id.hex()
        cached = self._views.get(key)
        if cached is None:
            if self._status is None:
                await self.refresh()
            try:
                address, envelope = await self.source.call_get_record(record_id)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == grpc.StatusCode.NOT_FOUND:
                    return None
                raise
            swarm_id = self._status.swarm_id if self._status else ""
            cached = (address, round_view(envelope, swarm_id))
            self._remember(key, cached)
        address, view = cached
        holder = self._node_id_at(address)
        return {
            **view,
            "ledger": {
                "held_by": holder,
                "verified": True,
                "note": "appended to that node's ledger only after its record check verified "
                "every signature and recomputed the round",
            },
        }

    def round_finished(self, address: str, record_id: bytes) -> None:
        """A round the gateway served: fetch its record from the leader and push it now."""
        if not self._subscribers:
            return  # nobody watching; a page that connects later reads it from the ledger

        async def push() -> None:
            try:
                _, envelope = await self.source.call_get_record(record_id, address)
            except grpc.aio.AioRpcError as exc:
                log.info("explorer: could not fetch record %s: %s", record_id.hex(), exc.code())
                return
            swarm_id = self._status.swarm_id if self._status else ""
            view = round_view(envelope, swarm_id)
            self._remember(record_id.hex(), (address, view))
            self._add_round(view)
            self._wake.set()  # the members' reputations moved: poll now

        task = asyncio.get_running_loop().create_task(push())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _walk_back(self, address: str, swarm_id: str, head: bytes) -> None:
        """Views of the records from ``head`` back to the newest one already shown."""
        new: list[dict[str, Any]] = []
        record_id = head
        while record_id and record_id.hex() not in self._rounds and len(new) < MAX_WALK:
            cached = self._views.get(record_id.hex())
            if cached is None:
                try:
                    holder, envelope = await self.source.call_get_record(record_id, address)
                except grpc.aio.AioRpcError as exc:
                    if exc.code() != grpc.StatusCode.NOT_FOUND:
                        raise
                    break
                cached = (holder, round_view(envelope, swarm_id))
                self._remember(record_id.hex(), cached)
            view = cached[1]
            new.append(view)
            if "error" in view:
                break
            record_id = bytes.fromhex(view["previous_record_id"])
        for view in reversed(new):
            self._add_round(view)

    def _add_round(self, view: dict[str, Any]) -> None:
        key = view["record_id"]
        if key in self._rounds:
            return
        self._rounds[key] = view
        while len(self._rounds) > KEEP_ROUNDS:
            self._rounds.popitem(last=False)
        self._publish("round", view)

    def _remember(self, key: str, entry: tuple[str, dict[str, Any]]) -> None:
        self._views[key] = entry
        self._views.move_to_end(key)
        while len(self._views) > KEEP_VIEWS:
            self._views.popitem(last=False)

    def _track_reputations(self, status: services_pb2.StatusResponse) -> None:
        height = float(status.ledger_height)
        for member in status.members:
            points = self._history.get(member.node_id)
            if points is None:
                if len(self._history) >= MAX_TRACKED:
                    continue
                points = self._history[member.node_id] = []
            reputation = finite(member.reputation)
            if reputation is None:
                continue
            if points and points[-1][0] == height:
                points[-1][1] = reputation
            else:
                points.append([height, reputation])
            del points[:-KEEP_HISTORY]

    def _node_id_at(self, address: str) -> str | None:
        status = self._status
        if status is not None and address == self._status_address:
            return str(status.node_id)
        if status is not None:
            for member in status.members:
                if member.address == address:
                    return str(member.node_id)
        return None

    def _publish(self, name: str, data: Any) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber.queue.put_nowait((name, data))
            except asyncio.QueueFull:
                while not subscriber.queue.empty():
                    subscriber.queue.get_nowait()
                subscriber.queue.put_nowait(("_close", None))

    def _ensure_poller(self) -> None:
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        """Poll while any page listens."""
        while self._subscribers:
            try:
                await self.refresh(max_age=0)
            except grpc.aio.AioRpcError as exc:
                log.info("explorer: status poll failed: %s", exc.code())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll_s)


class _NotFoundError(Exception):
    """No node holds the record asked for."""


def _member_digest(status: services_pb2.StatusResponse) -> tuple[Any, ...]:
    return tuple(
        (m.node_id, m.reputation, m.alive, m.trust_status, m.stake, m.model) for m in status.members
    )


async def _send(stream: web.StreamResponse, name: str, data: Any) -> None:
    """One named server-sent event carrying ``data`` as JSON."""
    await stream.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
