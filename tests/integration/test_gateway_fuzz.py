"""The gateway under a property-based fuzz (issue 19): arbitrary JSON, deep nesting, wrong
types for every documented field, random bytes, odd charsets, content types and content
encodings, with and without an API key, sent over HTTP on loopback to a gateway whose swarm is
a counting fake ledger (:class:`~node.gateway.testing.FakeSwarmGateway`). Every reply is a 2xx
or a typed 4xx (OpenAI's error shape), never a 5xx; a refused request starts no round and an
accepted one exactly one; the streaming path ends with ``[DONE]``; the HTTP status agrees with
the pure validator's verdict; and the explorer's JSON endpoints, under random paths, queries,
methods and keys, answer the same way and start no round."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

from node.gateway.app import Gateway
from node.gateway.request import MAX_BODY_BYTES, RequestError, parse_chat_request
from node.gateway.testing import FakeSwarmGateway
from protocol.hashing import payload_hash

pytestmark = pytest.mark.integration
KEY = "fuzz-key"
USER = [{"role": "user", "content": "What is 17 + 25?"}]


@dataclass
class Reply:
    status: int
    content_type: str
    body: bytes


class Harness:
    """A :class:`CountingGateway` on loopback, served by a private event loop, so hypothesis'
    synchronous examples can each send one request."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.gateway, self.session = self.loop.run_until_complete(self._start())
        self.url = self.gateway.url

    @staticmethod
    async def _start() -> tuple[FakeSwarmGateway, aiohttp.ClientSession]:
        # Both bind to the running loop (the gateway's gRPC channels too): made inside it.
        gateway = FakeSwarmGateway(api_keys=[KEY], keepalive_s=0.01)
        await gateway.start()
        return gateway, aiohttp.ClientSession(auto_decompress=False)

    def request(
        self, method: str, path: str, raw: bytes = b"", headers: dict[str, Any] | None = None
    ) -> Reply:
        async def send() -> Reply:
            all_headers = {"Content-Type": "application/json", **(headers or {})}
            skip = [] if all_headers.get("Content-Type") is not None else ["Content-Type"]
            all_headers = {k: v for k, v in all_headers.items() if v is not None}
            async with self.session.request(
                method,
                self.url.removesuffix("/v1") + path,
                data=raw,
                headers=all_headers,
                skip_auto_headers=skip,
            ) as reply:
                return Reply(
                    reply.status, reply.headers.get("Content-Type", ""), await reply.read()
                )

        return self.loop.run_until_complete(asyncio.wait_for(send(), 30))

    def close(self) -> None:
        self.loop.run_until_complete(self.session.close())
        self.loop.run_until_complete(self.gateway.stop())
        self.loop.close()


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    h = Harness()
    try:
        yield h
    finally:
        h.close()


def _check_error(reply: Reply) -> dict[str, Any]:
    """A typed 4xx: OpenAI's error shape, JSON."""
    assert 400 <= reply.status < 500, (reply.status, reply.body[:300])
    assert reply.content_type.startswith("application/json"), reply.content_type
    error = json.loads(reply.body)["error"]
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["type"], str) and isinstance(error["code"], str)
    assert "param" in error
    return dict(error)


def _check_stream(reply: Reply) -> None:
    """A finished SSE stream: keep-alive comments, chunks, a final chunk, ``[DONE]``."""
    assert reply.content_type.startswith("text/event-stream")
    lines = [ln for ln in reply.body.decode().split("\n") if ln]
    events = [ln.removeprefix("data: ") for ln in lines if ln.startswith("data: ")]
    assert all(ln.startswith((":", "data: ")) for ln in lines), lines
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    finals = [c for c in chunks if c["choices"] and c["choices"][0]["finish_reason"] == "stop"]
    assert len(finals) == 1 and finals[0]["swarmrank"]["answer"] == "42"


def _check(harness: Harness, raw: bytes, headers: dict[str, Any], expect: int | None) -> Reply:
    """Send one chat completion; check the reply's shape and the rounds it started."""
    before = harness.gateway.rounds
    reply = harness.request("POST", "/v1/chat/completions", raw, headers)
    assert reply.status < 500, (reply.status, reply.body[:300])
    started = harness.gateway.rounds - before
    if currently_in_test_context():  # --hypothesis-show-statistics tallies the outcomes
        event(f"status {reply.status} {reply.content_type.split(';')[0]}")
    if reply.status == 200:
        assert started == 1
        if reply.content_type.startswith("text/event-stream"):
            _check_stream(reply)
        else:
            assert json.loads(reply.body)["choices"][0]["message"]["content"] == "42"
    else:
        _check_error(reply)
        assert started == 0, "a refused request started a round"
    if expect is not None:
        assert reply.status == expect, (reply.status, reply.body[:300])
    return reply


def _expected(raw: bytes, content_type: str | None, content_encoding: str | None = None) -> int:
    """The status the pure validator predicts for an authorised request."""
    try:
        parse_chat_request(raw, content_type, content_encoding)
    except RequestError as exc:
        return exc.status
    return 200


AUTH = {"Authorization": f"Bearer {KEY}"}
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=16,
)
#: a valid and a wrong value for every documented field
GOOD = {
    "model": st.just("swarmrank-consensus"),
    "messages": st.sampled_from(
        [
            USER,
            [{"role": "system", "content": "Be brief."}, *USER],
            [{"role": "user", "content": [{"type": "text", "text": "What is 6 x 7?"}]}],
        ]
    ),
    "stream": st.booleans(),
    "max_tokens": st.integers(1, 4096),
    "max_completion_tokens": st.integers(1, 4096),
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "presence_penalty": st.floats(-2, 2),
    "frequency_penalty": st.floats(-2, 2),
    "n": st.just(1),
    "seed": st.integers(),
    "logprobs": st.booleans(),
    "stop": st.one_of(st.text(max_size=5), st.lists(st.text(max_size=5), max_size=4)),
    "user": st.text(max_size=20),
    "metadata": st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4),
}
FIELDS = [*GOOD, "stream_options"]


@st.composite
def chat_bodies(draw: st.DrawFn) -> dict[str, Any]:
    """A chat body, streamed or not, whose other fields are valid, absent, null or arbitrary
    JSON of any type (valid ones often enough that both paths are served)."""
    body: dict[str, Any] = {
        "model": "swarmrank-consensus",
        "messages": draw(GOOD["messages"]),
        "stream": draw(st.booleans()),
    }
    if body["stream"] and draw(st.booleans()):
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(FIELDS), max_size=4, unique=True)):
        choice = draw(st.sampled_from(["good", "good", "null", "absent", "any"]))
        if choice == "absent":
            body.pop(name, None)
        elif choice == "null":
            body[name] = None
        elif choice == "any" or name not in GOOD:
            body[name] = draw(JSON_VALUES)
        else:
            body[name] = draw(GOOD[name])
    return body


def _deep(depth: int, array: bool) -> bytes:
    """A chat body whose ``messages`` nests ``depth`` arrays or objects deep."""
    opener, closer = (b"[", b"]") if array else (b'{"a":', b"}")
    return b'{"model":"x","messages":' + opener * depth + b"1" + closer * depth + b"}"


RAW_BODIES = st.one_of(
    chat_bodies().map(lambda b: json.dumps(b).encode()),
    chat_bodies().map(lambda b: json.dumps(b).encode()),
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.builds(_deep, st.integers(1, 6000), st.booleans()),
    st.binary(max_size=200),
    st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
CONTENT_TYPES = st.one_of(
    st.just("application/json"),
    st.just("application/json"),
    st.none(),
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "application/json; charset=UTF-16",
            "application/json; charset=latin-1",
            "application/vnd.api+json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "",
        ]
    ),
    st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(RAW_BODIES, CONTENT_TYPES)
def test_any_body_and_content_type_get_a_2xx_or_a_typed_4xx(
    harness: Harness, raw: bytes, content_type: str | None
) -> None:
    """With a valid key the HTTP status is exactly the pure validator's verdict."""
    _check(harness, raw, {**AUTH, "Content-Type": content_type}, _expected(raw, content_type))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    chat_bodies(),
    st.sampled_from(["utf-8", "utf-16", "utf-32", "utf-8-sig", "latin-1"]),
    st.sampled_from(
        ["none", "gzip", "deflate", "gzip-lie", "br-lie", "x-unknown", "identity", "gzip-bomb"]
    ),
    st.sampled_from(["valid", "wrong", "missing", "basic"]),
)
def test_odd_encodings_and_credentials_get_a_2xx_or_a_typed_4xx(
    harness: Harness, body: dict[str, Any], charset: str, encoding: str, auth: str
) -> None:
    text = json.dumps(body, ensure_ascii=False)
    raw = text.encode(charset, "replace")
    content_type = f"application/json; charset={charset}"
    headers: dict[str, Any] = {"Content-Type": content_type}
    if encoding == "gzip":
        raw, headers["Content-Encoding"] = gzip.compress(raw), "gzip"
    elif encoding == "deflate":
        raw, headers["Content-Encoding"] = zlib.compress(raw), "deflate"
    elif encoding == "gzip-bomb":
        raw, headers["Content-Encoding"] = gzip.compress(raw + b" " * (2 * MAX_BODY_BYTES)), "gzip"
    elif encoding != "none":
        headers["Content-Encoding"] = encoding.removesuffix("-lie")
    headers["Authorization"] = {
        "valid": f"Bearer {KEY}",
        "wrong": "Bearer not-the-key",
        "missing": None,
        "basic": f"Basic {KEY}",
    }[auth]
    expect = (
        401 if auth != "valid" else _expected(raw, content_type, headers.get("Content-Encoding"))
    )
    _check(harness, raw, headers, expect)


def test_the_filed_cases_and_the_size_limit(harness: Harness) -> None:
    """Issue 19's two cases, over HTTP: 400s naming the field; and 413 past 1 MiB."""
    deep = b'{"model":"x","messages":' + b"[" * 5000 + b"]" * 5000 + b"}"
    error = _check_error(_check(harness, deep, AUTH, 400))
    assert error["code"] == "too_deep"
    raw = json.dumps({"model": "x", "messages": USER, "stream": "yes"}).encode()
    error = _check_error(_check(harness, raw, AUTH, 400))
    assert (error["type"], error["param"], error["code"]) == (
        "invalid_request_error",
        "stream",
        "invalid_type",
    )
    big = json.dumps({"messages": [{"role": "user", "content": "x" * MAX_BODY_BYTES}]}).encode()
    assert _check_error(_check(harness, big, AUTH, 413))["code"] == "body_too_large"
    stream = json.dumps({"messages": USER, "stream": True}).encode()
    _check(harness, stream, AUTH, 200)


def test_healthz_shows_node_addresses_only_with_a_key(harness: Harness) -> None:
    """Issue 20, finding 11: with keys configured, /healthz is liveness only without one."""
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": KEY}):
        reply = harness.request("GET", "/healthz", headers=headers)
        assert reply.status == 200 and json.loads(reply.body) == {"status": "ok"}
    reply = harness.request("GET", "/healthz", headers=AUTH)
    assert json.loads(reply.body) == {"status": "ok", "nodes": ["127.0.0.1:9"]}


def _query(path: str, value: str) -> str:
    from urllib.parse import urlencode

    return f"{path}?{urlencode({'limit': value})}"


def _record_path(text: str) -> str:
    from urllib.parse import quote

    return "/explorer/api/records/" + quote(text, safe="")


HEX = "0123456789abcdef"
EXPLORER_PATHS = st.one_of(
    st.sampled_from(
        [
            "/explorer/api/overview",
            "/explorer/api/members",
            "/explorer/api/rounds",
            "/explorer/",
            "/explorer/static/explorer.js",
            "/explorer/static/../app.py",
            "/explorer/api/",
            "/v1/nowhere",
            "/",
        ]
    ),
    st.text(max_size=8).map(lambda t: _query("/explorer/api/rounds", t)),
    st.integers(-5, 80).map(lambda n: _query("/explorer/api/rounds", str(n))),
    st.text(max_size=70).map(_record_path),
    st.text(HEX + "ABCDEFxyz", min_size=62, max_size=66).map(_record_path),
    st.just("RECORD"),  # the id of a record the fake ledger holds
    st.text(st.characters(codec="ascii", exclude_characters="?#"), max_size=30).map(
        lambda t: "/explorer/api/" + t.lstrip("/")
    ),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    EXPLORER_PATHS,
    st.sampled_from(["GET", "GET", "GET", "GET", "POST", "DELETE", "HEAD"]),
    st.sampled_from(["valid", "valid", "wrong", "missing"]),
)
def test_explorer_endpoints_get_a_2xx_or_a_typed_4xx(
    harness: Harness, path: str, method: str, auth: str
) -> None:
    record_id = None
    if path == "RECORD":
        if not harness.gateway.records:
            body = json.dumps({"messages": USER}).encode()
            harness.request("POST", "/v1/chat/completions", body, AUTH)
        record_id = payload_hash(harness.gateway.records[-1]).hex()
        path = _record_path(record_id)
    key = {"valid": f"Bearer {KEY}", "wrong": "Bearer x", "missing": None}[auth]
    before = harness.gateway.rounds
    reply = harness.request(method, path, b"", {"Authorization": key})
    if currently_in_test_context():
        event(f"explorer {reply.status}")
    assert reply.status < 500, (path, reply.status, reply.body[:300])
    assert harness.gateway.rounds == before, "an explorer read started a round"
    if reply.status >= 400 and method != "HEAD":
        _check_error(reply)
    if record_id is not None and auth == "valid" and method == "GET":
        assert reply.status == 200 and json.loads(reply.body)["record_id"] == record_id


async def test_healthz_without_keys_lists_the_nodes() -> None:
    gateway = Gateway(["127.0.0.1:9"])
    url = await gateway.start()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(url.removesuffix("/v1") + "/healthz") as reply,
        ):
            assert await reply.json() == {"status": "ok", "nodes": ["127.0.0.1:9"]}
    finally:
        await gateway.stop()
