"""The round benchmark at a tiny size: real nodes, real gRPC, every record on every ledger."""

from __future__ import annotations

import json
from typing import Any

import pytest

from bench import bench_round

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("one_process", [True, False], ids=["one-process", "processes"])
def test_bench_round_tiny_swarm(capsys: pytest.CaptureFixture[str], one_process: bool) -> None:
    # in one process both schedules side by side; one process per node: the adaptive one
    schedules = ("3n", "adaptive") if one_process else ("adaptive",)
    result = bench_round.run(
        json_output=True,
        sizes=[3],
        rounds=3,
        warmup=1,
        one_process=one_process,
        schedules=schedules,
        judge_budget=6,
    )

    assert json.loads(capsys.readouterr().out) == result
    assert [s["schedule"] for s in result["sizes"]] == list(schedules)
    assert result["judge_budget"] == 6
    for size in result["sizes"]:
        check_size(size, one_process)
    adaptive = result["sizes"][-1]
    assert adaptive["judge_budget"] == 6 and adaptive["judge_calls_max"] <= 6
    assert sum(adaptive["stop_reasons"].values()) <= 3
    assert set(adaptive["stop_reasons"]) <= {"separated", "budget", "max-waves", "exhausted"}
    if one_process:
        three_n = result["sizes"][0]
        assert three_n["judge_budget"] is None and three_n["stop_reasons"] == {}
        assert three_n["waves_mean"] <= 1.0


def check_size(size: dict[str, Any], one_process: bool) -> None:
    """One size's row: timings, CPU, record checks and ledgers, judge calls."""
    assert isinstance(size["judge_calls_mean"], float) and size["judge_calls_mean"] >= 0
    assert size["nodes"] == 3
    assert size["rounds"] == 3
    assert size["mode"] == ("one-process" if one_process else "processes")
    for timing in ("round", "ask", "bare_fanout3", "signed_getinfo_fanout3", "record_check"):
        assert 0 < size[timing]["p50_ms"] <= size[timing]["p99_ms"], timing
    assert size["rounds_per_s"] > 0
    assert size["ratio"] > 0 and size["ask_ratio"] > 0
    assert 1 <= size["candidates_mean"] <= 2  # 3 nodes: at most 2 generators
    phases = size["leader_phase_mean_ms"]
    assert set(phases) == {"generate", "rank", "aggregate", "record"}
    assert all(v >= 0 for v in phases.values()) and phases["generate"] > 0
    # The phases are the ask path, less selection and setup: they sum to at most its mean.
    assert sum(phases.values()) <= size["ask"]["mean_ms"]
    # The CPU all nodes spent per round, and the floor it puts under a round on this machine.
    assert size["swarm_cpu_ms_per_round"] > 0 and size["cpus"] >= 1
    assert size["cpu_floor_ms"] == pytest.approx(
        size["swarm_cpu_ms_per_round"] / size["cpus"], 1e-2
    )
    if one_process:
        assert size["leader_cpu_ms_per_round"] is None
    else:  # the leader's CPU and each member's, measured in their own processes
        leader, member = size["leader_cpu_ms_per_round"], size["member_cpu_ms_per_round"]
        assert leader > 0 and member > 0
        assert size["swarm_cpu_ms_per_round"] == pytest.approx(leader + 2 * member, 1e-2)
    # Every non-leader node checked each timed round's record once.
    assert size["record_check_ms_per_round"] > 0
    # Warm-up and timed rounds each appended one record on every node, the same one.
    assert size["ledger_heights"] == [4, 4, 4]
    assert size["ledger_heads_agree"] is True


def test_swarmrank_bench_round_cli(capsys: pytest.CaptureFixture[str]) -> None:
    """``swarmrank bench round ...`` runs the same benchmark with its own options."""
    from node.cli.main import main

    argv = ["bench", "--json", "round", "--sizes", "3", "--rounds", "2", "--warmup", "1"]
    assert main([*argv, "--one-process", "--schedules", "adaptive", "--judge-budget", "5"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["benchmark"] == "round" and result["mode"] == "one-process"
    (size,) = result["sizes"]
    assert size["nodes"] == 3 and size["rounds"] == 2
    assert size["schedule"] == "adaptive" and size["judge_budget"] == 5
    assert size["ledger_heights"] == [3, 3, 3]


def test_swarmrank_bench_rejects_unknown_names() -> None:
    from node.cli.main import main

    with pytest.raises(SystemExit) as exc:
        main(["bench", "nonsense"])
    assert exc.value.code == 2


def test_table_output_with_progress(capsys: pytest.CaptureFixture[str]) -> None:
    """Without --json: the table on stdout, and a progress bar per size on stderr that reaches
    100% (every node started, every warm-up and timed round ticked)."""
    result = bench_round.run(json_output=False, sizes=[3], rounds=2, warmup=1)
    out, err = capsys.readouterr()
    assert "swarm round vs three bare gRPC fan-outs" in out and "ask/bare" in out
    assert "judge calls and latency per round, by pair schedule" in out
    for schedule in ("3n", "adaptive"):
        assert f"3 nodes, {schedule}: start, then rounds" in err
    assert "100%" in err
    assert [s["rounds"] for s in result["sizes"]] == [2, 2]
