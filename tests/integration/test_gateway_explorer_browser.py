"""The swarm explorer in a real browser (issue 15): headless Chromium (Debian's ``chromium``,
driven by Playwright) loads the page of a gateway in front of an in-process swarm with API keys,
a round asked through the API appears on the page pushed (no reload), with its answer, its
strengths and the members; candidate text full of markup is shown as text and runs nothing;
the page's ask box runs a round through the gateway with the key; and a record looked up by id
shows its signatures verified and the node whose ledger holds it. Skips, saying why, when
Chromium or Playwright is missing (``.ci/run`` installs Chromium).

Set ``SWARMRANK_EXPLORER_SCREENSHOT=PATH`` to keep the page's screenshot (the README's).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from node.backends.base import Judgement
from node.gateway.app import Gateway
from node.round.settings import RoundSettings
from node.testing import FakeBackend, in_process_swarm

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
KEY = "explorer-key"
SETTINGS = RoundSettings(generate_deadline_ms=5000, rank_deadline_ms=5000)
#: every candidate carries markup that would run if it were rendered as HTML
HOSTILE = "{n} <script>window.__xss='s{i}'</script><img src=x onerror=\"window.__xss='i{i}'\">"
NODES = 6  # three generators per round (at most half the pool), each with its own answer


def _judge(question: str, a: str, b: str) -> Judgement:
    """Judges that know the answer is 42, so strengths spread."""
    if a.startswith("42") == b.startswith("42"):
        return Judgement(outcome="tie", confidence=None, rationale="")
    return Judgement(outcome="A" if a.startswith("42") else "B", confidence=0.9, rationale="")


def _backends() -> list[FakeBackend]:
    return [
        FakeBackend(answer=HOSTILE.format(i=i, n=40 + i), judge_fn=_judge) for i in range(NODES)
    ]


async def _ask(url: str, question: str) -> tuple[dict[str, Any], float]:
    """Ask through the API with the key; the evidence and when the reply came."""
    body = {"model": "swarmrank-consensus", "messages": [{"role": "user", "content": question}]}
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{url}/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
        ) as reply,
    ):
        assert reply.status == 200, await reply.text()
        evidence: dict[str, Any] = (await reply.json())["swarmrank"]
    return evidence, time.monotonic()


async def _until(page: Any, script: str, timeout_s: float = 15.0) -> None:
    """Poll ``script`` in the page until it is true. (Playwright's ``wait_for_function`` evals
    a string, which the explorer's Content-Security-Policy forbids, as it should.)"""
    deadline = time.monotonic() + timeout_s
    while not await page.evaluate(script):
        assert time.monotonic() < deadline, f"still false after {timeout_s} s: {script}"
        await asyncio.sleep(0.02)


async def test_the_explorer_shows_rounds_as_they_finish(tmp_path: Path) -> None:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="playwright is not installed (pip install playwright)"
    )
    async with in_process_swarm(tmp_path, _backends(), settings=SETTINGS) as swarm:
        gateway = Gateway(
            [n.address for n in swarm.servers], timeout_s=30, api_keys=[KEY], keepalive_s=1
        )
        url = await gateway.start()
        base = url.removesuffix("/v1")
        errors: list[str] = []
        try:
            async with playwright_api.async_playwright() as playwright:
                browser = await playwright.chromium.launch(
                    executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
                )
                page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(f"{base}/explorer/")
                # Keys are configured: the page asks for one before it shows anything.
                await page.wait_for_selector("#key-bar:not([hidden])")
                await page.fill("#key-input", KEY)
                await page.click("#key-form button")
                await _until(page, "document.getElementById('live').textContent === 'live'")
                await _until(page, "document.querySelectorAll('#members tbody tr').length === 6")
                await page.evaluate("window.__loaded = 'once'")

                evidence, answered_at = await _ask(url, "What is 17 + 25?")
                card = f'article.round[data-record-id="{evidence["record_id"]}"]'
                await page.wait_for_selector(card, timeout=10_000)
                delay_s = time.monotonic() - answered_at
                print(f"round on the page {delay_s:.3f} s after the API answered")

                assert await page.evaluate("window.__loaded") == "once"  # pushed, not reloaded
                assert (await page.text_content(f"{card} .answer")) == evidence["answer"]
                shown = await page.eval_on_selector_all(
                    f"{card} tr[data-index]",
                    "rows => rows.map(r => [r.dataset.index, r.querySelector('.strength')"
                    ".textContent, r.querySelector('.candidate-text').textContent])",
                )
                expected = {
                    str(c["index"]): (f"{c['strength']:.3f}", c["answer"])
                    for c in evidence["candidates"]
                }
                assert {i: (s, text) for i, s, text in shown} == expected
                members = await page.eval_on_selector_all(
                    "#members tbody tr", "rows => rows.map(r => r.dataset.nodeId)"
                )
                assert sorted(members) == sorted(n.node_id for n in swarm.nodes)

                # Hostile candidate text is text: shown verbatim, no element made, nothing run.
                texts = [text for _, _, text in shown]
                assert all("<script>" in t and "<img src=x onerror=" in t for t in texts)
                assert await page.locator(f"{card} img, {card} script").count() == 0
                assert await page.evaluate("window.__xss") is None

                # The ask box runs a round through the gateway, with the key the page holds.
                await page.fill("#ask-input", "What is 6 x 7?")
                await page.click("#ask-button")
                await page.wait_for_selector("#ask-result .answer", timeout=30_000)
                await _until(page, "document.querySelectorAll('article.round').length === 2")
                assert await page.evaluate("window.__xss") is None
                # The win matrix of the round asked from the page, as a heatmap.
                newest = "article.round:first-child"
                await page.click(f"{newest} details summary")
                clusters = await page.locator(f"{newest} tr[data-index]").count()
                assert clusters > 1
                cells = await page.locator(f"{newest} svg.heatmap rect").count()
                assert cells == clusters * clusters
                screenshot = os.environ.get("SWARMRANK_EXPLORER_SCREENSHOT")
                await page.screenshot(
                    path=screenshot or str(tmp_path / "explorer.png"), full_page=True
                )
                # The ledger: a record by id, its signatures checked, held by a node.
                await page.click(f"{card} .record-link")
                await page.wait_for_selector("#record .verified")
                held = await page.text_content("#record .verified")
                assert held is not None and held.startswith("In the ledger of ")
                assert await page.input_value("#record-input") == evidence["record_id"]
                signatures = await page.locator("#record ul.signatures li").all_text_contents()
                assert signatures and all(t.endswith(": valid") for t in signatures)
                await browser.close()
        finally:
            await gateway.stop()
    assert errors == []
