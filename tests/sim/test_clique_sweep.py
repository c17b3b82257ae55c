"""The clique sweep: plain BT collapses under an open clique, the default degrades
gracefully when judges are better than generators and 10% of rounds are gold (assumptions
stated in :data:`ASSUMPTIONS`; the shipped scenarios run neither, see docs/sim/README.md), and
a small sweep runs as Ray tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim.engine import simulate
from sim.report import write_sweep
from sim.runner import run_sweep, sweep_json
from sim.scenario import load_scenario

ROUNDS = 300
#: what the graceful degradation rests on: judges one logit better than generators, and gold
#: rounds (the node's default has none) that the clique does not exploit (not gold_aware)
ASSUMPTIONS = {"tasks.judging_ease": 1.0, "swarm.gold_fraction": 0.1}


def accuracies(path: Path, fraction: float) -> dict[str, float]:
    overrides = {**ASSUMPTIONS, "nodes.clique.fraction": fraction, "rounds": ROUNDS}
    scenario = load_scenario(path, overrides)
    record = simulate(scenario)
    return {name: float(hits.mean()) for name, hits in record.correct.items()}


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["open", "stealth"])
def test_plain_collapses_and_default_degrades_gracefully(scenarios: Path, mode: str) -> None:
    """0 to 40% colluders: plain BT falls away while the default keeps most of its accuracy
    (reputation leans on gold rounds, so a clique cannot buy reputation by winning consensus
    rounds). The full 0-48% sweep over 5 seeds is in docs/sim/README.md."""
    path = scenarios / f"clique-{mode}.toml"
    none, some, many, heavy = (accuracies(path, f) for f in (0.0, 0.2, 0.3, 0.4))
    assert heavy["robust-bt"] > heavy["plain-bt"] + 0.1  # plain BT collapses first
    assert heavy["robust-bt"] > 0.7  # the default degrades gracefully at 40%
    plain_drop = none["plain-bt"] - many["plain-bt"]
    robust_drop = none["robust-bt"] - many["robust-bt"]
    assert some["robust-bt"] >= some["plain-bt"]
    assert some["robust-bt"] > some["majority"] + 0.05
    # one seed of 300 rounds: each accuracy is within about 4 points (95%); the default (the
    # evidence reading), the calibrated rule and robust BT stay clearly above majority vote at
    # 30% and 40%
    assert many["robust-bt"] > many["majority"] + 0.05
    for rule in ("calibrated", "evidence"):
        assert many[rule] > many["majority"] + 0.05
        assert heavy[rule] > heavy["majority"] + 0.1
    if mode == "open":
        assert robust_drop < plain_drop  # graceful: loses less than plain BT
        assert many["robust-bt"] > many["plain-bt"] + 0.05
        assert some["robust-bt"] > none["robust-bt"] - 0.1  # a 20% clique costs little
        assert many["robust-bt"] > 0.75


@pytest.mark.ray
@pytest.mark.slow
def test_small_sweep_over_ray(scenarios: Path, tmp_path: Path) -> None:
    sweep = run_sweep(
        scenarios / "mixed-small.toml",
        [("nodes.inverted.count", [0, 2]), ("rounds", [20])],
        num_cpus=2,
    )
    points = sweep["points"]
    assert [p["params"] for p in points] == [
        {"nodes.inverted.count": 0, "rounds": 20},
        {"nodes.inverted.count": 2, "rounds": 20},
    ]
    assert points[0]["adversary_fraction"] == 0.0
    assert points[1]["adversary_fraction"] == pytest.approx(2 / 8)
    paths = write_sweep(sweep, sweep_json(sweep), tmp_path)
    assert all(p.stat().st_size > 0 for p in paths)
    assert sweep_json(sweep) == (tmp_path / "sweep.json").read_text()
