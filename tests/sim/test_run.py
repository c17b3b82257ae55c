"""Runs end to end: byte-identical results for one seed, the CLI's outputs, every shipped
scenario loads, and the paper-like margin over majority vote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.cli import main
from sim.engine import DEFAULT_AGGREGATOR, simulate
from sim.metrics import summarise, to_json
from sim.population import BEHAVIOUR_CODE
from sim.runner import run_scenario
from sim.scenario import load_scenario, with_seed


def test_same_seed_gives_identical_results_json(scenarios: Path, tmp_path: Path) -> None:
    path = scenarios / "mixed-small.toml"
    outputs = []
    for run in ("a", "b"):
        assert main(["sim", "run", str(path), "--out", str(tmp_path / run), "--quiet"]) == 0
        outputs.append((tmp_path / run / "results.json").read_bytes())
    assert outputs[0] == outputs[1]
    other = to_json(run_scenario(with_seed(load_scenario(path), 6)))
    assert other.encode() != outputs[0]  # the seed matters


def test_run_writes_the_three_outputs(scenarios: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert (
        main(["sim", "run", str(scenarios / "mixed-small.toml"), "--out", str(out), "--quiet"]) == 0
    )
    results = json.loads((out / "results.json").read_text())
    for name in ("results.json", "report.md", "accuracy.png", "reputation_share.png"):
        assert (out / name).stat().st_size > 0
    assert (out / "accuracy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert results["default_aggregator"] == DEFAULT_AGGREGATOR
    for row in results["aggregators"].values():
        low, high = row["accuracy_ci95"]
        assert 0.0 <= low <= row["accuracy"] <= high <= 1.0
        assert 0.0 <= row["capture_rate"] <= 1.0 and row["judge_calls"] >= 0
    assert results["aggregators"]["robust-bt"]["judge_calls"] > 0
    assert results["aggregators"]["majority"]["judge_calls"] == 0
    assert results["oracle_accuracy"] >= results["aggregators"]["robust-bt"]["accuracy"]
    share = results["adversary_reputation_share"]
    assert len(share["round"]) == len(share["share"]) and share["round"][-1] == 50
    assert "robust-bt" in (out / "report.md").read_text()


def test_bad_scenario_exits_2_with_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        'name = "x"\nrounds = 5\n[swarm]\nnodes = 4\nrankerz = 2\n[[nodes]]\nbehaviour = "honest"\n'
    )
    assert main(["sim", "run", str(bad), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "swarm.rankerz" in capsys.readouterr().err


@pytest.mark.parametrize(
    "name",
    [
        "paper-like",
        "clique-open",
        "clique-stealth",
        "sybil",
        "reputation-farmer",
        "prompt-injection",
        "small-live",
        "mixed-small",
        "adaptive",
        "sign-exploit",
    ],
)
def test_shipped_scenarios_load(scenarios: Path, name: str) -> None:
    scenario = load_scenario(scenarios / f"{name}.toml")
    assert scenario.name == name and sum(scenario.group_sizes) == scenario.swarm.nodes


def test_bad_behaviours_lose_reputation(scenarios: Path) -> None:
    # judges that are better than generators (judging_ease 1): at parity an inverted judge's
    # flipped verdicts are hard to tell from honest mistakes in an 8-node swarm
    scenario = load_scenario(
        scenarios / "mixed-small.toml", {"rounds": 120, "tasks.judging_ease": 1.0}
    )
    record = simulate(scenario)
    rep = record.final_reputation
    honest = float(rep[record.behaviour == BEHAVIOUR_CODE["honest"]].mean())
    for behaviour in ("lazy", "inverted", "dead", "slow"):
        assert float(rep[record.behaviour == BEHAVIOUR_CODE[behaviour]].mean()) < honest, behaviour
    # never answers: 2% lost on each of the ~100 rounds it owed a reply (0.5 * 0.98 ** 100)
    assert rep[record.behaviour == BEHAVIOUR_CODE["dead"]].max() < 0.1
    assert record.adversary_fraction == pytest.approx(1 / 8)


@pytest.mark.slow
def test_paper_like_default_learns_from_gold_to_follow_better_judges(scenarios: Path) -> None:
    """The paper's premise as an explicit assumption: judges one logit better than generators
    (tasks.judging_ease = 1), errors still correlated (judge_correlation 1, persuasiveness).
    With 10% gold rounds the default (the evidence reading) learns to read the judges: above
    majority vote, and no more than a point below plain BT (measured: 86.2% against majority
    64.3% and plain BT 72.2%; the calibrated rule 77.3%)."""
    scenario = load_scenario(
        scenarios / "paper-like.toml", {"tasks.judging_ease": 1.0, "swarm.gold_fraction": 0.1}
    )
    results = summarise(scenario, simulate(scenario))
    accuracy = {name: row["accuracy"] for name, row in results["aggregators"].items()}
    low, high = results["margin_default_vs_majority"]["ci95"]
    assert results["default_aggregator"] == DEFAULT_AGGREGATOR == "evidence"
    assert low > 0.0, (accuracy, low, high)
    assert 0.6 <= accuracy["majority"] <= 0.72  # calibrated near the paper's 68.69%
    assert accuracy["evidence"] > 0.7
    assert accuracy["evidence"] >= accuracy["plain-bt"] - 0.01
    assert accuracy["calibrated"] > 0.7


@pytest.mark.slow
@pytest.mark.parametrize("gold_fraction", [0.0, 0.1])
def test_paper_like_default_never_below_majority_at_judging_parity(
    scenarios: Path, gold_fraction: float
) -> None:
    """DESIGN's consensus principle at judging parity (the shipped default, judging_ease 0),
    where every judge-only aggregator falls 20 points below majority vote: without gold the
    default (the evidence reading) and the calibrated rule are majority vote; with gold they
    learn how far the judges add to the votes."""
    scenario = load_scenario(scenarios / "paper-like.toml", {"swarm.gold_fraction": gold_fraction})
    results = summarise(scenario, simulate(scenario))
    low, _ = results["margin_default_vs_majority"]["ci95"]
    assert low > -0.02
    robust = results["aggregators"]["robust-bt"]["accuracy"]
    assert results["aggregators"]["calibrated"]["accuracy"] > robust + 0.1


def test_seeds_report_means_with_intervals_across_seeds(scenarios: Path, tmp_path: Path) -> None:
    out = tmp_path / "seeds"
    path = scenarios / "mixed-small.toml"
    argv = ["sim", "run", str(path), "--out", str(out), "--quiet", "--seeds", "3"]
    assert main([*argv, "--seed", "5"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["seeds"] == [5, 6, 7] and results["interval"] == "student-t over seeds"
    singles = [run_scenario(with_seed(load_scenario(path), seed)) for seed in (5, 6, 7)]
    for name, row in results["aggregators"].items():
        per_seed = [single["aggregators"][name]["accuracy"] for single in singles]
        assert row["accuracy_per_seed"] == pytest.approx(per_seed, abs=1e-6)
        assert row["accuracy_mean"] == pytest.approx(sum(per_seed) / 3, abs=1e-6)
        low, high = row["accuracy_ci95"]
        assert low <= row["accuracy_mean"] <= high
        if len(set(per_seed)) > 1:  # seeds disagree: the interval has width
            assert high - low > 0.0
    assert "3 seeds (5, 6, 7" in (out / "report.md").read_text()
    assert main([*argv, "--seeds", "0"]) == 2


def test_rounds_with_nobody_admitted_fail_without_a_record() -> None:
    """Trust on and no fresh identity passes the exam: every round fails (no candidate), as a
    node's round without a quorum does, and reputations stay where they started."""
    from sim.scenario import parse_scenario

    data = {
        "name": "closed",
        "rounds": 5,
        "swarm": {"nodes": 4, "generators": 2, "rankers": 2, "trust": True},
        "nodes": [{"behaviour": "sybil", "grind": 4, "judging_skill": {"mean": -5, "sd": 0}}],
    }
    record = simulate(parse_scenario(data))
    assert record.admitted == 0 and not record.candidates.any()
    assert not record.correct["robust-bt"].any() and (record.final_reputation == 0.5).all()


@pytest.mark.slow
def test_farmers_capture_counts_only_attacks_and_contested_gold_cuts_the_decisive_ones(
    scenarios: Path,
) -> None:
    """Reputation farmers (30%, switching at round 200): no capture while they farm (their
    honest errors are not attacks); decisive captures are a subset of captures; extra gold
    after contested rounds (the node's default) cuts the decisive captures against the same
    swarm without it."""
    path = scenarios / "reputation-farmer.toml"
    with_extra = load_scenario(path)
    without = load_scenario(path, {"swarm.contested_gold": 0.0})
    assert with_extra.swarm.contested_gold == 0.3
    runs = {name: simulate(s) for name, s in (("extra", with_extra), ("none", without))}
    for record in runs.values():
        captured = record.captured[DEFAULT_AGGREGATOR]
        assert not captured[:200].any() and not record.decisive[:200].any()
        assert not (record.decisive & ~captured).any()
    assert runs["extra"].gold.mean() > runs["none"].gold.mean() + 0.03
    assert runs["extra"].decisive.sum() < runs["none"].decisive.sum()
