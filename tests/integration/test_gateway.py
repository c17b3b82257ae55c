"""The HTTP gateway: its streaming mode (``"stream": true``) in front of an in-process swarm of
real gRPC nodes: the official ``openai`` client streams the consensus answer, keep-alives flow
while the round runs, a failed round ends the stream with an OpenAI-shaped error event; and the
concurrency limit (429) and /metrics."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.backends.sim import SimBackend
from node.gateway.app import Gateway
from node.round.settings import RoundSettings
from node.testing import in_process_swarm

pytestmark = pytest.mark.integration
SETTINGS = RoundSettings(generate_deadline_ms=5000, rank_deadline_ms=5000)
QUESTION: list[Any] = [{"role": "user", "content": "What is 17 + 25?"}]


def _backends(latency_ms: float = 0.0) -> list[SimBackend]:
    return [
        SimBackend(seed=i, generation_skill=3.0, judging_skill=4.0, latency_ms=latency_ms)
        for i in range(4)
    ]


async def _events(url: str, body: dict[str, Any]) -> tuple[list[str], list[Any]]:
    """POST ``body`` and split the SSE stream into comment lines and decoded data events."""
    comments: list[str] = []
    events: list[Any] = []
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{url}/chat/completions", json=body) as reply,
    ):
        assert reply.status == 200
        assert reply.headers["Content-Type"].startswith("text/event-stream")
        async for raw in reply.content:
            line = raw.decode().rstrip("\n")
            if line.startswith(":"):
                comments.append(line)
            elif line.startswith("data: "):
                data = line[len("data: ") :]
                events.append(data if data == "[DONE]" else json.loads(data))
    return comments, events


async def test_openai_client_streams_the_consensus(tmp_path: Path) -> None:
    from openai import AsyncOpenAI

    async with in_process_swarm(tmp_path, _backends(), settings=SETTINGS) as swarm:
        gateway = Gateway([n.address for n in swarm.servers], timeout_s=30)
        url = await gateway.start()
        try:
            client = AsyncOpenAI(base_url=url, api_key="not-needed", max_retries=0)
            stream = await client.chat.completions.create(
                model="swarmrank-consensus",
                messages=QUESTION,
                stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
            await client.close()
        finally:
            await gateway.stop()
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finals = [c for c in chunks if c.choices and c.choices[0].finish_reason == "stop"]
    assert len(finals) == 1
    evidence = (finals[0].model_extra or {})["swarmrank"]
    assert content and content == evidence["answer"]
    assert len(evidence["record_id"]) == 64 and evidence["participants"]
    assert chunks[-1].usage is not None and not chunks[-1].choices
    assert {c.id for c in chunks} == {"chatcmpl-" + evidence["record_id"][:24]}


async def test_keepalives_flow_while_the_round_runs(tmp_path: Path) -> None:
    async with in_process_swarm(tmp_path, _backends(latency_ms=300), settings=SETTINGS) as swarm:
        gateway = Gateway([n.address for n in swarm.servers], timeout_s=30, keepalive_s=0.05)
        url = await gateway.start()
        try:
            body = {"model": "swarmrank-consensus", "messages": QUESTION, "stream": True}
            comments, events = await _events(url, body)
        finally:
            await gateway.stop()
    # Generate and Rank each take >= 300 ms at the backend: several keep-alives before data.
    assert len(comments) >= 3 and set(comments) == {": consensus round in progress"}
    assert events[-1] == "[DONE]"
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[1]["choices"][0]["delta"]["content"] == events[-2]["swarmrank"]["answer"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_a_failed_round_ends_the_stream_with_an_error_event() -> None:
    gateway = Gateway([f"127.0.0.1:{_closed_port()}"], timeout_s=2, keepalive_s=0.05)
    url = await gateway.start()
    try:
        body = {"model": "swarmrank-consensus", "messages": QUESTION, "stream": True}
        _, events = await asyncio.wait_for(_events(url, body), 30)
    finally:
        await gateway.stop()
    assert len(events) == 1, events
    error = events[0]["error"]
    assert error["type"] == "swarm_error" and error["code"] == "unavailable"


async def test_bad_requests_are_refused_before_streaming() -> None:
    gateway = Gateway([f"127.0.0.1:{_closed_port()}"], timeout_s=2)
    url = await gateway.start()
    try:
        async with aiohttp.ClientSession() as session:
            body = {"model": "swarmrank-consensus", "messages": [], "stream": True}
            async with session.post(f"{url}/chat/completions", json=body) as reply:
                assert reply.status == 400
                assert (await reply.json())["error"]["code"] == "bad_request"
    finally:
        await gateway.stop()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_concurrency_limit_and_metrics(tmp_path: Path) -> None:
    async with in_process_swarm(tmp_path, _backends(latency_ms=300), settings=SETTINGS) as swarm:
        gateway = Gateway([n.address for n in swarm.servers], timeout_s=30, max_concurrent=1)
        url = await gateway.start()
        body = {"model": "swarmrank-consensus", "messages": QUESTION}
        try:
            async with aiohttp.ClientSession() as session:

                async def post() -> tuple[int, Any, str | None]:
                    async with session.post(f"{url}/chat/completions", json=body) as reply:
                        return reply.status, await reply.json(), reply.headers.get("Retry-After")

                first = asyncio.create_task(post())
                for _ in range(200):
                    if gateway._in_flight == 1:
                        break
                    await asyncio.sleep(0.01)
                refused = await post()  # the first round is still running
                served = await first
                async with session.get(f"{url.removesuffix('/v1')}/metrics") as reply:
                    assert reply.status == 200
                    samples = _samples(await reply.text())
        finally:
            await gateway.stop()
    assert served[0] == 200 and served[1]["choices"][0]["message"]["content"]
    status, error, retry_after = refused
    assert status == 429 and retry_after == "1"
    assert error["error"]["type"] == "rate_limit_error"
    requests = "swarmrank_gateway_requests_total"
    assert samples[(requests, (("mode", "json"), ("outcome", "200")))] == 1
    assert samples[(requests, (("mode", "-"), ("outcome", "429")))] == 1
    assert samples[("swarmrank_gateway_request_seconds_count", (("mode", "json"),))] == 1
    assert samples[("swarmrank_gateway_rounds_in_flight", ())] == 0


async def test_a_client_that_leaves_mid_round_cancels_it(tmp_path: Path) -> None:
    async with in_process_swarm(tmp_path, _backends(latency_ms=400), settings=SETTINGS) as swarm:
        gateway = Gateway([n.address for n in swarm.servers], timeout_s=30, keepalive_s=0.05)
        url = await gateway.start()
        body = {"model": "swarmrank-consensus", "messages": QUESTION, "stream": True}
        try:
            async with aiohttp.ClientSession() as session:
                reply = await session.post(f"{url}/chat/completions", json=body)
                first = await reply.content.readline()
                assert first.startswith(b": consensus round in progress")
                reply.close()  # hang up while the round runs
            for _ in range(300):
                if gateway._in_flight == 0:
                    break
                await asyncio.sleep(0.01)
            async with (
                aiohttp.ClientSession() as session,
                session.get(f"{url.removesuffix('/v1')}/metrics") as metrics,
            ):
                samples = _samples(await metrics.text())
        finally:
            await gateway.stop()
        await asyncio.sleep(1.0)  # past the backend latency: a round still running would finish
        heights = {node.store.head()[0] for node in swarm.nodes}
    assert gateway._in_flight == 0
    outcome = (("mode", "stream"), ("outcome", "client_gone"))
    assert samples[("swarmrank_gateway_requests_total", outcome)] == 1
    # The cancelled Ask stopped the round before it was recorded anywhere.
    assert heights == {0}


async def test_api_keys_are_required_when_configured(tmp_path: Path) -> None:
    import openai

    async with in_process_swarm(tmp_path, _backends(), settings=SETTINGS) as swarm:
        gateway = Gateway(
            [n.address for n in swarm.servers], timeout_s=30, api_keys=["k-one", "k-two"]
        )
        url = await gateway.start()
        base = url.removesuffix("/v1")
        try:
            good = openai.AsyncOpenAI(base_url=url, api_key="k-two", max_retries=0)
            reply = await good.chat.completions.create(
                model="swarmrank-consensus",
                messages=QUESTION,
            )
            extra = reply.model_extra or {}
            assert reply.choices[0].message.content == extra["swarmrank"]["answer"]
            await good.close()
            bad = openai.AsyncOpenAI(base_url=url, api_key="k-three", max_retries=0)
            with pytest.raises(openai.AuthenticationError) as refused:
                await bad.chat.completions.create(
                    model="swarmrank-consensus",
                    messages=QUESTION,
                )
            assert refused.value.code == "invalid_api_key"
            with pytest.raises(openai.AuthenticationError):
                await bad.models.list()
            await bad.close()
            async with aiohttp.ClientSession() as session:
                # Probes and Prometheus need no key; a missing header is refused like a bad one.
                for path in ("/healthz", "/metrics"):
                    async with session.get(base + path) as open_reply:
                        assert open_reply.status == 200
                async with session.get(f"{url}/models") as no_key:
                    assert no_key.status == 401
                    assert no_key.headers["WWW-Authenticate"] == "Bearer"
            await swarm.settle(1)
            # Only the authorised request ran a round.
            assert {node.store.head()[0] for node in swarm.nodes} == {1}
        finally:
            await gateway.stop()


def test_api_keys_load_from_file_and_environment(tmp_path: Path) -> None:
    from node.cli.gateway import API_KEYS_ENV, load_api_keys
    from node.errors import ConfigError

    keys = tmp_path / "keys"
    keys.write_text("# operators\nkey-a\n\n  key-b  \n", encoding="utf-8")
    assert load_api_keys(str(keys), {API_KEYS_ENV: "env-1, env-2,"}) == [
        "env-1",
        "env-2",
        "key-a",
        "key-b",
    ]
    assert load_api_keys(None, {}) == []
    (tmp_path / "empty").write_text("# nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="holds no key"):
        load_api_keys(str(tmp_path / "empty"), {})
    with pytest.raises(ConfigError, match="cannot read"):
        load_api_keys(str(tmp_path / "absent"), {})
    with pytest.raises(ValueError, match="empty"):
        Gateway(["127.0.0.1:1"], api_keys=[" "])
