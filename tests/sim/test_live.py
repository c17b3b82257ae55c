"""Live mode: the same small scenario through real node daemons over gRPC and through the fast
engine agrees within sampling error (issue 7, Done-when 5); live mode refuses behaviours the
node daemon cannot play."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from sim.cli import main
from sim.engine import DEFAULT_AGGREGATOR
from sim.live import LiveModeError, check_live, node_settings
from sim.runner import run_scenario
from sim.scenario import load_scenario

#: Two-sided 99.9% normal quantile: each check below fails about once in a thousand honest runs.
Z999 = 3.2905267314919255
#: The chance a uniform guess is right on the bank's 4-option questions.
CHANCE = 0.25


def test_live_refuses_behaviours_the_daemon_cannot_play(
    scenarios: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(LiveModeError, match="lazy"):
        check_live(load_scenario(scenarios / "mixed-small.toml"))
    with pytest.raises(LiveModeError, match="no calibration exams"):
        check_live(load_scenario(scenarios / "small-live.toml", {"nodes.honest.fresh": True}))
    check_live(load_scenario(scenarios / "small-live.toml"))
    with pytest.raises(LiveModeError, match="judging_ease"):  # the engine's judges differ
        check_live(load_scenario(scenarios / "small-live.toml", {"tasks.judging_ease": 0.0}))
    with pytest.raises(LiveModeError, match="trust off"):
        check_live(load_scenario(scenarios / "small-live.toml", {"swarm.trust": True}))
    path = scenarios / "clique-open.toml"
    assert main(["sim", "run", str(path), "--live", "--quiet", "--out", "/nonexistent"]) == 2
    assert "honest nodes only" in capsys.readouterr().err


def test_live_daemons_run_the_scenarios_gold_not_their_default(scenarios: Path) -> None:
    # the daemon's default gold (10%, more after contested rounds) let a live swarm learn a judge
    # weight the engine's gold-free run never has: its accuracy then swung with when its first
    # gold rounds fell (0.46 to 0.96 over 24 rounds of the same scenario)
    scenario = load_scenario(scenarios / "small-live.toml")
    common, per_node = node_settings(scenario)
    assert "--set=round_gold_fraction=0.0" in common
    assert f"--set=round_contested_gold={scenario.swarm.contested_gold!r}" in common
    assert len(per_node) == scenario.swarm.nodes


@pytest.mark.integration
@pytest.mark.ray
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_live_and_engine_agree_within_sampling_error(scenarios: Path, tmp_path: Path) -> None:
    path = scenarios / "small-live.toml"
    out = tmp_path / "live"
    assert main(["sim", "run", str(path), "--live", "--quiet", "--out", str(out)]) == 0
    live = json.loads((out / "results.json").read_text())
    # the engine over more rounds of the same scenario: a sharper estimate of the same rate
    engine = run_scenario(load_scenario(path, {"rounds": 2000}))

    assert live["mode"] == "live" and engine["mode"] == "engine"
    assert set(live) == set(engine) and set(live["aggregators"]) == set(engine["aggregators"])
    n_live, n_engine = live["rounds"], engine["rounds"]
    assert n_live == 200
    p_live = live["aggregators"][DEFAULT_AGGREGATOR]["accuracy"]
    p_engine = engine["aggregators"][DEFAULT_AGGREGATOR]["accuracy"]
    # both far above chance ...
    for p, n in ((p_live, n_live), (p_engine, n_engine)):
        assert (p - CHANCE) / math.sqrt(CHANCE * (1 - CHANCE) / n) > Z999, (p, n)
    # ... and the same rate: a two-sample test of proportions
    pooled = (p_live * n_live + p_engine * n_engine) / (n_live + n_engine)
    half = Z999 * math.sqrt(pooled * (1 - pooled) * (1 / n_live + 1 / n_engine))
    assert abs(p_live - p_engine) <= half, (p_live, p_engine, half)
    # every round of the live swarm was ranked over real ballots
    assert live["aggregators"][DEFAULT_AGGREGATOR]["judge_calls"] > 0
    assert live["oracle_accuracy"] >= p_live
