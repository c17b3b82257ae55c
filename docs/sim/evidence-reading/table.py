"""Summarise an evidence-reading directory (docs/sim/evidence-reading, measured while the
calibrated rule was the default; docs/sim/evidence-default, with the reading as the default):
the evidence reading against the vote, plain BT and the calibrated rule, per scenario and along
the judging-strength and clique sweeps, with paired 95% intervals across seeds (the same seeds
for every aggregator: differences per seed, Student-t), and the capture rates.

Run from the repository root after the directory's ``run.sh``:

    .venv/bin/python docs/sim/evidence-reading/table.py DIR > DIR/table.md

(``DIR`` defaults to this file's directory.)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sim.metrics import seed_interval

HERE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
SHOWN = ("majority", "plain-bt", "robust-bt", "calibrated", "evidence", "best-single")


def _paired(a: list[float], b: list[float]) -> str:
    diff = [100.0 * (x - y) for x, y in zip(a, b, strict=True)]
    low, high = seed_interval(diff, -100.0, 100.0)
    return f"{np.mean(diff):+.1f} ({low:+.1f} to {high:+.1f})"


def _row(
    label: str, per_seed: dict[str, list[float]], captures: dict[str, float], decisive: float
) -> str:
    cells = [f"{100 * np.mean(per_seed[a]):.1f}" for a in SHOWN]
    best_rule = np.maximum(per_seed["majority"], per_seed["plain-bt"]).tolist()
    return (
        f"| {label} | "
        + " | ".join(cells)
        + f" | {_paired(per_seed['evidence'], per_seed['majority'])}"
        + f" | {_paired(per_seed['evidence'], best_rule)}"
        + f" | {_paired(per_seed['evidence'], per_seed['calibrated'])}"
        + f" | {100 * captures['calibrated']:.1f} / {100 * captures['evidence']:.1f}"
        + f" | {100 * decisive:.1f} |"
    )


def _run(path: Path) -> tuple[dict[str, list[float]], dict[str, float], float]:
    results: dict[str, Any] = json.loads(path.read_text())
    aggs = results["aggregators"]
    return (
        {a: aggs[a]["accuracy_per_seed"] for a in SHOWN},
        {a: aggs[a]["capture_rate"] for a in SHOWN},
        float(results["decisive_capture_rate"]),
    )


def _sweep(path: Path) -> list[tuple[str, dict[str, list[float]], dict[str, float], float]]:
    sweep: dict[str, Any] = json.loads(path.read_text())
    out = []
    for point in sweep["points"]:
        label = ", ".join(f"`{k}={v}`" for k, v in point["params"].items())
        decisive = float(point["decisive_capture_rate"])
        out.append((label, point["accuracy_per_seed"], point["capture_rate"], decisive))
    return out


def _default() -> str:
    """The default aggregator the directory's runs were made under."""
    first = json.loads((HERE / "paper-like" / "results.json").read_text())
    return str(first["default_aggregator"])


def main() -> None:
    default = _default()
    header = (
        "| scenario | "
        + " | ".join(SHOWN)
        + " | evidence - majority | evidence - max(majority, plain BT) | evidence - calibrated"
        + f" | capture % calibrated / evidence | decisive capture % ({default}) |"
    )
    rule = "|---" * (len(SHOWN) + 6) + "|"
    lines = [
        f"Default: {default} (reputation follows its winner). Accuracy % (means over 5 seeds);",
        "differences in points with paired 95% intervals across seeds. Capture: rounds whose",
        "winner an attacking adversary submitted while a correct answer was available (the wide",
        "rate, honest generators' own errors included); decisive: those the default, deciding",
        "the round again without the attackers' candidates and verdicts, would have answered",
        "right.",
        "",
        header,
        rule,
    ]
    for name in ("paper-like", "weak-judge", "reputation-farmer"):
        path = HERE / name / "results.json"
        if path.exists():
            lines.append(_row(name, *_run(path)))
    injection = HERE / "prompt-injection" / "sweep.json"
    if injection.exists():
        for label, *point in _sweep(injection):
            lines.append(_row(f"prompt-injection {label}", *point))
    aware = HERE / "gold-aware-clique" / "sweep.json"
    if aware.exists():
        for label, *point in _sweep(aware):
            lines.append(_row(f"gold-aware 30% open clique {label}", *point))
    for name in ("clique-open", "clique-stealth"):
        path = HERE / f"{name}-sweep" / "sweep.json"
        if path.exists():
            lines += ["", f"{name} sweep (50 nodes, 400 rounds):", "", header, rule]
            for label, *point in _sweep(path):
                lines.append(_row(label, *point))
    judging = HERE / "judging-sweep" / "sweep.json"
    if judging.exists():
        lines += ["", "Judging-strength sweep (paper-like):", "", header, rule]
        for label, *point in _sweep(judging):
            lines.append(_row(label, *point))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
