"""Reports of runs and sweeps: ``results.json``, ``report.md``, PNG plots, terminal tables.

This module owns the file outputs (:func:`write_run`, :func:`write_sweep`), the plots
(matplotlib with the Agg backend, imported lazily so the engine never loads it) and the rich
summary tables (:func:`run_table`, :func:`sweep_table`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from sim.engine import AGGREGATORS, DEFAULT_AGGREGATOR

__all__ = ["run_table", "sweep_table", "write_run", "write_sweep"]

#: Aggregators shown in tables and plots: every one but the oracle (drawn as a line instead).
PLOT_AGGREGATORS = tuple(name for name in AGGREGATORS if name != "oracle")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _margin(margin: dict[str, Any] | None) -> str:
    """A paired margin in points with its interval (sweeps written before margins: n/a)."""
    if margin is None:
        return "n/a"
    low, high = margin["ci95"]
    return f"{100 * margin['mean']:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})"


def _count(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def run_table(results: dict[str, Any]) -> Table:
    """A rich table of one run's aggregators."""
    name = results["scenario"]["name"]
    table = Table(title=f"{name}: {results['rounds']} rounds")
    for column in ("aggregator", "accuracy", "95% interval", "capture", "judge calls/round"):
        table.add_column(column, justify="left" if column == "aggregator" else "right")
    for agg in AGGREGATORS:
        row = results["aggregators"][agg]
        low, high = row["accuracy_ci95"]
        label = f"{agg} (default)" if agg == results["default_aggregator"] else agg
        table.add_row(
            label,
            _pct(row["accuracy"]),
            f"{_pct(low)} - {_pct(high)}",
            _pct(row["capture_rate"]),
            f"{row['judge_calls_per_round']:.1f}",
        )
    return table


def markdown_table(results: dict[str, Any]) -> str:
    """The aggregator table of one run in Markdown."""
    lines = [
        "| aggregator | accuracy | 95% interval | capture rate | judge calls / round |",
        "|---|---:|---:|---:|---:|",
    ]
    for agg in AGGREGATORS:
        row = results["aggregators"][agg]
        low, high = row["accuracy_ci95"]
        label = f"**{agg}** (default)" if agg == results["default_aggregator"] else agg
        lines.append(
            f"| {label} | {_pct(row['accuracy'])} | {_pct(low)} - {_pct(high)} | "
            f"{_pct(row['capture_rate'])} | {row['judge_calls_per_round']:.1f} |"
        )
    return "\n".join(lines)


def write_run(results: dict[str, Any], results_json: str, out_dir: Path) -> list[Path]:
    """Write ``results.json``, ``report.md``, ``accuracy.png`` and ``reputation_share.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "results.json", out_dir / "report.md"]
    paths[0].write_text(results_json, encoding="utf-8")
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7, 3.8))
    names = [a for a in PLOT_AGGREGATORS]
    acc = [results["aggregators"][a]["accuracy"] for a in names]
    low = [acc[i] - results["aggregators"][a]["accuracy_ci95"][0] for i, a in enumerate(names)]
    high = [results["aggregators"][a]["accuracy_ci95"][1] - acc[i] for i, a in enumerate(names)]
    colours = ["tab:red" if a == DEFAULT_AGGREGATOR else "tab:blue" for a in names]
    ax.bar(names, acc, yerr=[low, high], capsize=4, color=colours)
    ax.axhline(results["oracle_accuracy"], color="grey", linestyle="--", label="oracle")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% interval)")
    ax.set_title(results["scenario"]["name"])
    ax.legend(loc="lower right")
    fig.tight_layout()
    paths.append(out_dir / "accuracy.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    share = results["adversary_reputation_share"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.plot(share["round"], share["share"], color="tab:red", label="adversaries")
    ax.axhline(
        results["adversary_fraction"], color="grey", linestyle="--", label="population share"
    )
    ax.set_xlabel("round")
    ax.set_ylabel("share of reputation")
    ax.set_ylim(0, 1)
    ax.legend(loc="upper right")
    fig.tight_layout()
    paths.append(out_dir / "reputation_share.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    margin = results["margin_default_vs_majority"]
    seeds = results.get("seeds", [results["scenario"]["seed"]])
    seed_text = (
        f"seed {seeds[0]}"
        if len(seeds) == 1
        else f"{len(seeds)} seeds ({', '.join(str(s) for s in seeds)}; means, 95% intervals "
        "across seeds)"
    )
    default_row = results["aggregators"][results["default_aggregator"]]
    report = [
        f"# {results['scenario']['name']}",
        "",
        f"{results['rounds']} rounds, {seed_text}, "
        f"{results['scenario']['swarm']['nodes']} nodes "
        f"({_pct(results['adversary_fraction'])} adversarial, "
        f"{_count(results['admitted_nodes'])} admitted), {_count(results['gold_rounds'])} gold "
        f"rounds, adversaries attacked in {_count(results.get('attack_rounds', 0))}"
        + (" (means over seeds)." if len(seeds) > 1 else "."),
        "",
        markdown_table(results),
        "",
        f"Oracle (some candidate correct): {_pct(results['oracle_accuracy'])}. "
        f"Default ({results['default_aggregator']}) minus majority vote: "
        f"{100 * margin['mean']:+.1f} points "
        f"(95% interval {100 * margin['ci95'][0]:+.1f} to {100 * margin['ci95'][1]:+.1f}); "
        f"minus plain BT: {_margin(results.get('margin_default_vs_plain_bt'))}.",
        "",
        f"Default's capture rate: {_pct(default_row['capture_rate'])}"
        " of the rounds with a correct candidate went to an answer an attacking adversary "
        "submitted; decisive captures (without the attackers' candidates and verdicts it would "
        f"have answered correctly): {_pct(results.get('decisive_capture_rate', 0.0))}.",
        "",
        f"Adversaries' final share of reputation: {_pct(share['final'])}.",
        "",
        "![accuracy](accuracy.png)",
        "",
        "![reputation share](reputation_share.png)",
        "",
    ]
    paths[1].write_text("\n".join(report), encoding="utf-8")
    return paths


def sweep_table(points: Sequence[dict[str, Any]]) -> Table:
    """A rich table of a sweep: one row per point."""
    table = Table(title="sweep")
    table.add_column("parameters")
    table.add_column("adversaries", justify="right")
    for agg in PLOT_AGGREGATORS:
        table.add_column(agg, justify="right")
    for point in points:
        params = ", ".join(f"{k}={v}" for k, v in point["params"].items())
        table.add_row(
            params,
            _pct(point["adversary_fraction"]),
            *(_pct(point["accuracy"][agg]) for agg in PLOT_AGGREGATORS),
        )
    return table


def write_sweep(sweep: dict[str, Any], sweep_json: str, out_dir: Path) -> list[Path]:
    """Write ``sweep.json``, ``sweep.md`` and ``accuracy_vs_adversary.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / "sweep.json", out_dir / "sweep.md"]
    paths[0].write_text(sweep_json, encoding="utf-8")
    points = sweep["points"]
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [p["adversary_fraction"] for p in points]
    by_share = len(set(xs)) > 1
    if not by_share:  # a sensitivity sweep: one point per parameter combination
        xs = list(range(len(points)))
    order = sorted(range(len(points)), key=lambda i: (xs[i], i))
    for agg in PLOT_AGGREGATORS:
        ys = [points[i]["accuracy"][agg] for i in order]
        lo = [ys[k] - points[i]["accuracy_ci95"][agg][0] for k, i in enumerate(order)]
        hi = [points[i]["accuracy_ci95"][agg][1] - ys[k] for k, i in enumerate(order)]
        style = {"linewidth": 2.5} if agg == DEFAULT_AGGREGATOR else {"linewidth": 1.2}
        ax.errorbar([xs[i] for i in order], ys, yerr=[lo, hi], label=agg, capsize=3, **style)
    if by_share:
        ax.set_xlabel("adversaries' share of nodes")
    else:
        labels = [
            ", ".join(f"{k.split('.')[-1]}={v}" for k, v in p["params"].items()) for p in points
        ]
        ax.set_xticks(xs, labels, rotation=30, ha="right", fontsize=7)
        ax.set_xlabel("parameters")
    ax.set_ylabel("accuracy (95% interval)")
    ax.set_ylim(0, 1)
    ax.set_title(sweep["scenario"])
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out_dir / "accuracy_vs_adversary.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    seeds = points[0].get("seeds", []) if points else []
    lines = [
        f"# sweep of {sweep['scenario']}",
        "",
        *(
            [f"Means over {len(seeds)} seeds ({', '.join(map(str, seeds))}) per point.", ""]
            if len(seeds) > 1
            else []
        ),
        "| parameters | adversaries | "
        + " | ".join(PLOT_AGGREGATORS)
        + f" | {DEFAULT_AGGREGATOR} 95% interval | {DEFAULT_AGGREGATOR} - majority, points"
        f" (95%) | {DEFAULT_AGGREGATOR} - plain BT, points (95%) | adversary reputation (final) |",
        "|---|---:|" + "---:|" * (len(PLOT_AGGREGATORS) + 4),
    ]
    for point in points:
        params = ", ".join(f"`{k}={v}`" for k, v in point["params"].items())
        cells = " | ".join(_pct(point["accuracy"][a]) for a in PLOT_AGGREGATORS)
        low, high = point["accuracy_ci95"][DEFAULT_AGGREGATOR]
        share = _pct(point["final_adversary_reputation_share"])
        margins = " | ".join(
            _margin(point.get(key))
            for key in ("margin_default_vs_majority", "margin_default_vs_plain_bt")
        )
        lines.append(
            f"| {params} | {_pct(point['adversary_fraction'])} | {cells} | "
            f"{_pct(low)} - {_pct(high)} | {margins} | {share} |"
        )
    lines += ["", "![accuracy vs adversary share](accuracy_vs_adversary.png)", ""]
    paths[1].write_text("\n".join(lines), encoding="utf-8")
    return paths
