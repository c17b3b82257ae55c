"""The explorer's HTTP side over loopback, against a gateway whose swarm is a fake ledger
(:class:`node.gateway.testing.FakeSwarmGateway`): the JSON endpoints read the ledger, the event
stream pushes a round as soon as the gateway served it, API keys gate the data (not the static
page), member addresses need a key, limits and bad input get typed 4xx, and every explorer
response carries the Content-Security-Policy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from node.gateway.explorer import CSP
from node.gateway.testing import FakeSwarmGateway

pytestmark = pytest.mark.integration
KEY = "explorer-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
QUESTION = {"messages": [{"role": "user", "content": "What is 17 + 25?"}]}


async def _events(reply: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, Any]]:
    """The named events of an SSE reply, as ``(name, data)``."""
    name = ""
    async for raw in reply.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            yield name, json.loads(line[len("data: ") :])


async def _until_round(reply: aiohttp.ClientResponse, record_id: str) -> list[str]:
    """Event names up to the ``round`` event of ``record_id``."""
    names = []
    async for name, data in _events(reply):
        names.append(name)
        if name == "round" and data["record_id"] == record_id:
            return names
    raise AssertionError(f"the stream ended before round {record_id}: {names}")


async def test_endpoints_read_the_ledger_and_events_push_rounds() -> None:
    gateway = FakeSwarmGateway()
    url = await gateway.start()
    base = url.removesuffix("/v1")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{url}/chat/completions", json=QUESTION) as reply:
                first = (await reply.json())["swarmrank"]["record_id"]
            async with session.get(f"{base}/explorer/api/events") as stream:
                assert stream.headers["Content-Type"] == "text/event-stream"
                assert stream.headers["Content-Security-Policy"] == CSP
                async with session.post(f"{url}/chat/completions", json=QUESTION) as reply:
                    second = (await reply.json())["swarmrank"]["record_id"]
                names = await asyncio.wait_for(_until_round(stream, second), 30)
            assert names[0] == "hello"
            async with session.get(f"{base}/explorer/api/rounds") as reply:
                rounds = (await reply.json())["rounds"]
            async with session.get(f"{base}/explorer/api/rounds?limit=1") as reply:
                newest = (await reply.json())["rounds"]
            async with session.get(f"{base}/explorer/api/records/{first}") as reply:
                record = await reply.json()
            async with session.get(f"{base}/explorer/api/overview") as reply:
                overview = await reply.json()
            async with session.get(f"{base}/explorer/api/members") as reply:
                members = await reply.json()
    finally:
        await gateway.stop()
    assert [r["record_id"] for r in rounds] == [second, first]
    assert [r["record_id"] for r in newest] == [second]
    assert rounds[0]["question"] == "What is 17 + 25?" and rounds[0]["answer"] == "42"
    assert record["record_id"] == first and record["height"] == 0 and record["signatures_valid"]
    assert record["ledger"]["held_by"] == overview["node_id"]
    assert overview["height"] == 2 and overview["head"] == second
    assert overview["auth_required"] is False
    assert len(members["members"]) == 4 and all("address" in m for m in members["members"])
    assert gateway.rounds == 2


async def test_keys_gate_the_data_and_the_addresses_not_the_page() -> None:
    gateway = FakeSwarmGateway(api_keys=[KEY])
    url = await gateway.start()
    base = url.removesuffix("/v1")
    api = f"{base}/explorer/api"
    # Without the key even a malformed request learns nothing but 401.
    paths = ["overview", "members", "rounds", "rounds?limit=0", "records/" + "0" * 64]
    paths += ["records/xyz", "events"]
    try:
        async with aiohttp.ClientSession() as session:
            for path in paths:
                for headers in ({}, {"Authorization": "Bearer nope"}):
                    async with session.get(f"{api}/{path}", headers=headers) as reply:
                        assert reply.status == 401, path
                        assert (await reply.json())["error"]["code"] == "invalid_api_key"
            async with session.get(f"{base}/explorer/") as page:
                assert page.status == 200 and "swarmrank explorer" in await page.text()
                assert page.headers["Content-Security-Policy"] == CSP
            async with session.get(f"{api}/members", headers=AUTH) as reply:
                members = (await reply.json())["members"]
            async with session.get(f"{api}/overview", headers=AUTH) as reply:
                assert (await reply.json())["auth_required"] is True
    finally:
        await gateway.stop()
    assert len(members) == 4 and all(m["address"].startswith("10.0.0.") for m in members)


async def test_bad_input_and_limits_get_typed_4xx() -> None:
    gateway = FakeSwarmGateway()
    gateway.explorer.max_subscribers = 1
    url = await gateway.start()
    api = url.removesuffix("/v1") + "/explorer/api"
    cases = {
        "records/xyz": (400, "bad_record_id"),
        "records/" + "g" * 64: (400, "bad_record_id"),
        "records/" + "ab" * 32: (404, "not_found"),
        "rounds?limit=0": (400, "bad_limit"),
        "rounds?limit=51": (400, "bad_limit"),
        "rounds?limit=%F0%9F%98%80": (400, "bad_limit"),
        "rounds?limit=" + "9" * 5000: (400, "bad_limit"),
    }
    try:
        async with aiohttp.ClientSession() as session:
            for path, (status, code) in cases.items():
                async with session.get(f"{api}/{path}") as reply:
                    assert reply.status == status, path
                    assert (await reply.json())["error"]["code"] == code, path
            async with session.get(f"{api}/events") as first:
                assert first.status == 200
                async with session.get(f"{api}/events") as second:
                    assert second.status == 429 and second.headers["Retry-After"] == "5"
                    assert (await second.json())["error"]["type"] == "rate_limit_error"
    finally:
        await gateway.stop()


async def test_static_files_and_redirects() -> None:
    gateway = FakeSwarmGateway()
    url = await gateway.start()
    base = url.removesuffix("/v1")
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/", "/explorer"):
                async with session.get(base + path, allow_redirects=False) as reply:
                    assert reply.status == 302 and reply.headers["Location"] == "/explorer/"
            for name, kind in (("explorer.js", "javascript"), ("explorer.css", "text/css")):
                async with session.get(f"{base}/explorer/static/{name}") as reply:
                    assert reply.status == 200 and kind in reply.headers["Content-Type"]
                    assert reply.headers["X-Content-Type-Options"] == "nosniff"
            for path in ("/explorer/static/", "/explorer/static/../app.py"):
                async with session.get(base + path) as reply:
                    assert reply.status in (403, 404), path
    finally:
        await gateway.stop()


def test_the_page_renders_untrusted_text_only_as_text() -> None:
    """A static guard beside the browser test: the page's script never parses markup."""
    from node.gateway.explorer import STATIC_DIR

    script = (STATIC_DIR / "explorer.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script.replace("never innerHTML", ""), sink
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP
