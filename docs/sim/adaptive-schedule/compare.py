"""Adaptive schedule against 3n on the same seeds (issue 17): accuracy of every aggregator and
mean judge calls per round, written to results.json, README.md's tables and accuracy_vs_calls.png.

Run from the repository root (about 20 minutes on 2 cores)::

    .venv/bin/python docs/sim/adaptive-schedule/compare.py --seeds 8 --jobs 2

For each scenario the 3n runs come first; the adaptive budgets are fractions of their mean judge
calls per round (``--fractions``). Adaptive rounds read the 3n round's verdicts where they ask
the same call (:mod:`sim.engine`), so a seed's two runs see the same tasks and, until their
reputations part, the same verdicts.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from sim.engine import JUDGED, simulate
from sim.metrics import seed_interval
from sim.scenario import load_scenario

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
SCENARIOS: dict[str, dict[str, Any]] = {
    "paper-like": {},
    "clique-open": {"nodes.clique.fraction": 0.3},
    "clique-stealth": {"nodes.clique.fraction": 0.3},
    "weak-judge": {},
}
SHOWN = ("majority", *JUDGED)


def _run(job: tuple[str, dict[str, Any], int]) -> dict[str, Any]:
    name, overrides, seed = job
    scenario = load_scenario(ROOT / "sim" / "scenarios" / f"{name}.toml", overrides)
    scenario = load_scenario(
        ROOT / "sim" / "scenarios" / f"{name}.toml", {**overrides, "seed": scenario.seed + seed}
    )
    record = simulate(scenario)
    return {
        "accuracy": {k: float(record.correct[k].mean()) for k in SHOWN},
        "captured": {k: float(record.captured[k].mean()) for k in SHOWN},
        "judge_calls": float(record.judge_calls.mean()),
        "seed": scenario.seed,
    }


def _paired(job: tuple[str, dict[str, Any], int, int]) -> dict[str, Any]:
    """One short seed, 3n and adaptive: per-round correctness of both (paired round by round:
    same tasks, and before reputations part, the same selections and verdicts)."""
    name, overrides, seed, budget = job
    path = ROOT / "sim" / "scenarios" / f"{name}.toml"
    base = load_scenario(path, overrides)
    fixed = simulate(load_scenario(path, {**overrides, "seed": base.seed + seed}))
    adaptive_overrides = {
        **overrides,
        "seed": base.seed + seed,
        "swarm.schedule": "adaptive",
        "swarm.judge_budget": budget,
    }
    adaptive = simulate(load_scenario(path, adaptive_overrides))
    return {
        "diff": {k: (adaptive.correct[k].astype(float) - fixed.correct[k]).tolist() for k in SHOWN},
        "calls_3n": float(fixed.judge_calls.mean()),
        "calls_adaptive": float(adaptive.judge_calls.mean()),
    }


def paired_short(
    pool: ProcessPoolExecutor, results: dict[str, Any], seeds: int, rounds: int
) -> dict[str, Any]:
    """Round-by-round paired differences over the first ``rounds`` rounds of ``seeds`` further
    seeds (1000 on), at each scenario's budget of the main table (:func:`at_a_third`)."""
    out: dict[str, Any] = {"seeds": seeds, "rounds": rounds, "scenarios": {}}
    for name in _ordered(results):
        entry = results["scenarios"][name]
        budget = int(at_a_third(entry)["judge_budget"])
        overrides = {**entry["overrides"], "rounds": rounds}
        runs = list(pool.map(_paired, [(name, overrides, 1000 + s, budget) for s in range(seeds)]))
        summary: dict[str, Any] = {
            "judge_budget": budget,
            "calls_3n": float(np.mean([r["calls_3n"] for r in runs])),
            "calls_adaptive": float(np.mean([r["calls_adaptive"] for r in runs])),
            "difference": {},
        }
        for key in SHOWN:
            diff = np.concatenate([r["diff"][key] for r in runs])
            half = 1.96 * float(diff.std(ddof=1)) / math.sqrt(diff.shape[0])
            mean = float(diff.mean())
            summary["difference"][key] = {"mean": mean, "low": mean - half, "high": mean + half}
        out["scenarios"][name] = summary
    return out


def _runs(pool: ProcessPoolExecutor, jobs: Sequence[tuple[str, dict[str, Any], int]]) -> list[Any]:
    return list(pool.map(_run, jobs))


def _summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {"judge_calls": float(np.mean([r["judge_calls"] for r in runs]))}
    out["accuracy"] = {k: float(np.mean([r["accuracy"][k] for r in runs])) for k in SHOWN}
    out["seeds"] = runs
    return out


def _difference(first: list[dict[str, Any]], second: list[dict[str, Any]], key: str) -> Any:
    diffs = [a["accuracy"][key] - b["accuracy"][key] for a, b in zip(first, second, strict=True)]
    low, high = seed_interval(diffs, -1.0, 1.0)
    return {"mean": float(np.mean(diffs)), "low": low, "high": high}


def compare(
    seeds: int,
    jobs: int,
    fractions: Sequence[float],
    rounds: int | None = None,
    short_seeds: int = 60,
    short_rounds: int = 40,
) -> dict[str, Any]:
    results: dict[str, Any] = {"seeds": seeds, "fractions": list(fractions), "scenarios": {}}
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for name, scenario_overrides in SCENARIOS.items():
            overrides = dict(scenario_overrides)
            if rounds is not None:
                overrides["rounds"] = rounds
            fixed = _runs(pool, [(name, overrides, s) for s in range(seeds)])
            calls = float(np.mean([r["judge_calls"] for r in fixed]))
            entry: dict[str, Any] = {"overrides": overrides, "3n": _summary(fixed), "adaptive": []}
            for fraction in fractions:
                budget = max(1, math.floor(fraction * calls))
                adaptive_overrides = {
                    **overrides,
                    "swarm.schedule": "adaptive",
                    "swarm.judge_budget": budget,
                }
                runs = _runs(pool, [(name, adaptive_overrides, s) for s in range(seeds)])
                summary = _summary(runs)
                summary["fraction"] = fraction
                summary["judge_budget"] = budget
                summary["difference"] = {k: _difference(runs, fixed, k) for k in SHOWN}
                entry["adaptive"].append(summary)
            results["scenarios"][name] = entry
            print(f"{name}: done", flush=True)
        results["paired"] = paired_short(pool, results, short_seeds, short_rounds)
    return results


def _ordered(results: dict[str, Any]) -> list[str]:
    return [name for name in SCENARIOS if name in results["scenarios"]]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def at_a_third(entry: dict[str, Any]) -> dict[str, Any]:
    """The adaptive budget with most judge calls that still spends at most a third of 3n's
    (the smallest budget when none does)."""
    third = entry["3n"]["judge_calls"] / 3.0
    within = [a for a in entry["adaptive"] if a["judge_calls"] <= third]
    pool = within or [min(entry["adaptive"], key=lambda a: a["judge_calls"])]
    return max(pool, key=lambda a: a["judge_calls"])


def tables(results: dict[str, Any]) -> str:
    lines = []
    for name in _ordered(results):
        entry = results["scenarios"][name]
        fixed = entry["3n"]
        adaptive = at_a_third(entry)
        ratio = adaptive["judge_calls"] / fixed["judge_calls"]
        lines.append(
            f"### {name}\n\n3n: {fixed['judge_calls']:.1f} judge calls per round; adaptive "
            f"(judge_budget = {adaptive['judge_budget']}): {adaptive['judge_calls']:.1f} "
            f"({ratio:.2f} of 3n).\n"
        )
        lines.append("| aggregator | 3n | adaptive | adaptive - 3n (points, 95% over seeds) |")
        lines.append("|---|---:|---:|---:|")
        for key in SHOWN:
            d = adaptive["difference"][key]
            lines.append(
                f"| {key} | {_pct(fixed['accuracy'][key])} | {_pct(adaptive['accuracy'][key])} "
                f"| {_points(d['mean'])} [{_points(d['low'])}, {_points(d['high'])}] |"
            )
        lines.append("")
    paired = results.get("paired")
    if paired:
        lines.append(
            f"### Paired round by round: the first {paired['rounds']} rounds of "
            f"{paired['seeds']} further seeds\n"
        )
        lines.append(
            "| scenario | judge calls 3n / adaptive | "
            + " | ".join(SHOWN)
            + " |\n|---|---:|"
            + "---:|" * len(SHOWN)
        )
        for name in [n for n in SCENARIOS if n in paired["scenarios"]]:
            summary = paired["scenarios"][name]
            cells = [
                f"{_points(d['mean'])} [{_points(d['low'])}, {_points(d['high'])}]"
                for d in (summary["difference"][k] for k in SHOWN)
            ]
            lines.append(
                f"| {name} | {summary['calls_3n']:.1f} / {summary['calls_adaptive']:.1f} | "
                + " | ".join(cells)
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    names = _ordered(results)
    cols = 2
    rows = math.ceil(len(names) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(10, 3.6 * rows + 0.6), squeeze=False)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax, name in zip(axes.flat, names, strict=False):
        entry = results["scenarios"][name]
        fixed = entry["3n"]
        for i, key in enumerate(SHOWN):
            colour = f"C{i}"
            xs = [a["judge_calls"] for a in entry["adaptive"]]
            ys = [100 * a["accuracy"][key] for a in entry["adaptive"]]
            ax.plot(xs, ys, "o-", color=colour, label=key, ms=4)
            ax.plot([fixed["judge_calls"]], [100 * fixed["accuracy"][key]], "s", color=colour, ms=7)
        ax.set_title(name)
        ax.set_xlabel("mean judge calls per round")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(SHOWN), fontsize=8)
    fig.suptitle("adaptive schedule (dots: judge budgets) against 3n (squares), same seeds")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--fractions", default="0.1667,0.3333,0.4,0.6667")
    parser.add_argument("--rounds", type=int, default=None, help="override (smoke runs)")
    parser.add_argument("--short-seeds", type=int, default=60)
    parser.add_argument("--short-rounds", type=int, default=40)
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--from-json", type=Path, help="redraw tables and plot from results.json")
    parser.add_argument(
        "--paired-only", action="store_true", help="with --from-json: redo the paired table only"
    )
    args = parser.parse_args(argv)
    fractions = [float(x) for x in args.fractions.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    if args.from_json is not None:
        results = json.loads(args.from_json.read_text())
        if args.paired_only:
            with ProcessPoolExecutor(max_workers=args.jobs) as pool:
                results["paired"] = paired_short(pool, results, args.short_seeds, args.short_rounds)
            text = json.dumps(results, indent=1, sort_keys=True) + "\n"
            (args.out / "results.json").write_text(text)
    else:
        results = compare(
            args.seeds, args.jobs, fractions, args.rounds, args.short_seeds, args.short_rounds
        )
        text = json.dumps(results, indent=1, sort_keys=True) + "\n"
        (args.out / "results.json").write_text(text)
    (args.out / "tables.md").write_text(tables(results) + "\n")
    plot(results, args.out / "accuracy_vs_calls.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
