"""``swarmrank eval`` end to end against a live swarm over gRPC: ten questions of the shipped
set through four in-process sim nodes (``--address``), then the same command again, which finds
every answer in ``answers.jsonl`` and asks nothing (the ledgers do not grow).

A second test runs ``eval`` the way a user does without ``--address``: it starts its own local
swarm (Ray and node daemons), asks, and stops it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from node.backends.sim import SimBackend
from node.cli.main import main
from node.testing import in_process_swarm

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
QUESTIONS = ROOT / "data" / "questions" / "questions.jsonl"
LIMIT = 10


def _check_results(out: Path, questions: int) -> dict[str, Any]:
    results: dict[str, Any] = json.loads((out / "results.json").read_text())
    assert results["questions"] == questions
    accuracy = results["accuracy"]
    for key in ("swarm", "majority", "best_single", "any_candidate"):
        assert 0.0 <= accuracy[key] <= 1.0
        low, high = results["intervals"][key]
        assert low <= accuracy[key] <= high
    assert accuracy["nodes"], "every generator's accuracy is reported"
    assert accuracy["any_candidate"] >= max(accuracy["swarm"], accuracy["majority"])
    difference = results["paired_differences"]["swarm_minus_majority"]
    assert difference["lower"] <= difference["estimate"] <= difference["upper"]
    assert difference["n"] == questions
    answers = [json.loads(line) for line in (out / "answers.jsonl").read_text().splitlines()]
    judge_calls = sum(a["judge_calls"] for a in answers) / questions
    assert results["judge_calls_per_question"] == pytest.approx(judge_calls)
    assert results["seconds_per_question"] > 0
    assert (out / "report.md").read_text().startswith("# swarmrank eval")
    for plot in ("accuracy.png", "by_kind.png"):
        assert (out / plot).read_bytes().startswith(b"\x89PNG")
    assert len(answers) == questions
    return results


@pytest.mark.timeout(240)
async def test_eval_through_a_live_swarm_then_resumes_without_asking(tmp_path: Path) -> None:
    backends = [SimBackend(seed=i, generation_skill=0.5 + i, judging_skill=2.0) for i in range(4)]
    out = tmp_path / "eval"
    async with in_process_swarm(tmp_path / "swarm", backends) as swarm:
        argv = [
            "eval",
            str(QUESTIONS),
            "--out",
            str(out),
            "--limit",
            str(LIMIT),
            "--address",
            swarm.servers[0].address,
            "--address",
            swarm.servers[1].address,
            "--timeout",
            "30",
        ]
        assert await asyncio.to_thread(main, argv) == 0
        results = _check_results(out, LIMIT)
        await swarm.settle(LIMIT)
        heights = [node.store.head()[0] for node in swarm.nodes]
        assert min(heights) == LIMIT  # one round per question
        known = {node.node_id for node in swarm.nodes}
        assert set(results["accuracy"]["nodes"]) <= known
        first = (out / "answers.jsonl").read_text()

        assert await asyncio.to_thread(main, argv) == 0  # resumes: everything is answered
        assert [node.store.head()[0] for node in swarm.nodes] == heights
        assert (out / "answers.jsonl").read_text() == first
        assert json.loads((out / "results.json").read_text())["accuracy"] == results["accuracy"]

        argv[argv.index("--limit") + 1] = str(LIMIT + 2)  # two more: only those are asked
        assert await asyncio.to_thread(main, argv) == 0
        await swarm.settle(LIMIT + 2)
        assert max(node.store.head()[0] for node in swarm.nodes) == LIMIT + 2
        _check_results(out, LIMIT + 2)


@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_eval_starts_its_own_local_swarm_and_stops_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, state = tmp_path / "eval", tmp_path / "state"
    argv = ["eval", str(QUESTIONS), "--out", str(out), "--limit", "5", "--nodes", "3"]
    argv += ["--backend", "sim", "--state-dir", str(state)]
    assert main(argv) == 0
    results = _check_results(out, 5)
    assert "local, 3 nodes, backend sim" in results["meta"]["swarm"]
    assert not (state / "up.json").exists()  # the swarm was stopped
    first = capsys.readouterr()
    assert "starting a local swarm" in first.err

    assert main(argv) == 0  # everything answered: no swarm is started, nothing is asked
    again = capsys.readouterr()
    assert "5 already answered" in again.out
    assert "starting a local swarm" not in again.err


@pytest.mark.parametrize("local", [["--nodes", "3"], ["--set", "round_gold_fraction=0"]])
def test_address_and_a_local_swarm_are_exclusive(
    capsys: pytest.CaptureFixture[str], local: list[str]
) -> None:
    argv = ["eval", str(QUESTIONS), "--out", "unused", "--address", "127.0.0.1:1", *local]
    assert main(argv) == 2
    assert "--nodes/--backend/--set do not apply" in capsys.readouterr().err
