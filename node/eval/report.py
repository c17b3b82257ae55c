"""``report.md`` (pure text from the summary) and the PNG plots of an eval run (matplotlib with
the Agg backend, imported lazily)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

#: the headline rows: (key in results.json, label)
HEADLINES = (
    ("swarm", "swarm (consensus)"),
    ("majority", "majority of its generators"),
    ("best_single", "best single node"),
    ("any_candidate", "some candidate right (ceiling)"),
)

#: the headlines' bar labels
PLOT_LABELS = {
    "swarm": "swarm",
    "majority": "majority\nvote",
    "best_single": "best\nsingle node",
    "any_candidate": "some\ncandidate right",
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _signed(x: float) -> str:
    return f"{100 * x:+.1f}"


def render_report(summary: Mapping[str, Any], meta: Mapping[str, Any]) -> str:
    """The markdown report of ``summary`` (:func:`node.eval.stats.summarise_results`);
    ``meta`` says how the run was made (command, swarm, question file)."""
    lines = [
        "# swarmrank eval",
        "",
        f"Questions: {summary['questions']} from `{meta.get('questions_file', '?')}` "
        f"(failed rounds: {summary['failed']}, counted wrong).",
        f"Swarm: {meta.get('swarm', '?')}.",
        f"Command: `{meta.get('command', '?')}`",
        "",
        "| | accuracy | 95% interval (Wilson) | right / asked |",
        "|---|---|---|---|",
    ]
    for key, label in HEADLINES:
        low, high = summary["intervals"][key]
        counts = summary["counts"][key]
        lines.append(
            f"| {label} | {_pct(summary['accuracy'][key])} | {_pct(low)} - {_pct(high)} "
            f"| {counts['correct']} / {counts['n']} |"
        )
    lines += ["", "Paired differences (percentage points, Newcombe's 95% interval):", ""]
    for key, label in (
        ("swarm_minus_majority", "swarm - majority"),
        ("swarm_minus_best_single", "swarm - best single node"),
    ):
        d = summary["paired_differences"][key]
        lines.append(
            f"* {label}: {_signed(d['estimate'])} [{_signed(d['lower'])}, {_signed(d['upper'])}]"
            f" over {d['n']} questions ({d['first_only']} right only by the swarm, "
            f"{d['second_only']} only by the other)"
        )
    lines += [
        "",
        f"Judge calls per question: {summary['judge_calls_per_question']:.1f}; "
        f"seconds per question: {summary['seconds_per_question']:.2f}; "
        f"majority ties (broken by the record's seeded cluster order): "
        f"{summary['majority_ties']}.",
        "",
        "## Nodes (as generators; a round selects some of them)",
        "",
        "| node | model | accuracy | 95% interval | answered |",
        "|---|---|---|---|---|",
    ]
    for node_id, row in summary["nodes"].items():
        mark = " (best)" if node_id == summary["best_single_node"] else ""
        lines.append(
            f"| `{node_id[:12]}`{mark} | {row['model'] or '?'} | {_pct(row['estimate'])} "
            f"| {_pct(row['lower'])} - {_pct(row['upper'])} | {row['n']} |"
        )
    lines += ["", "## By kind", "", "| kind | n | swarm | majority | some candidate |"]
    lines.append("|---|---|---|---|---|")
    for kind, row in summary["by_kind"].items():
        lines.append(
            f"| {kind} | {row['n']} | {_pct(row['swarm'])} | {_pct(row['majority'])} "
            f"| {_pct(row['any_candidate'])} |"
        )
    lines += [
        "",
        "Scoring: normalised exact match with aliases (the node's answer normal form). The best "
        "single node is picked after the fact on the same questions, so its figure is "
        "optimistic.",
        "",
        "![accuracy](accuracy.png)",
        "",
        "![by kind](by_kind.png)",
        "",
    ]
    return "\n".join(lines)


def write_plots(summary: Mapping[str, Any], out_dir: Path) -> list[Path]:
    """``accuracy.png`` (headlines and nodes with Wilson intervals) and ``by_kind.png``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    labels: list[str] = []
    values: list[float] = []
    errors: list[Sequence[float]] = []
    for key, _label in HEADLINES:
        low, high = summary["intervals"][key]
        value = summary["accuracy"][key]
        labels.append(PLOT_LABELS[key])
        values.append(value)
        errors.append((value - low, high - value))
    for node_id, row in summary["nodes"].items():
        labels.append(f"{row['model'] or 'node'}\n{node_id[:8]}")
        values.append(row["estimate"])
        errors.append((row["estimate"] - row["lower"], row["upper"] - row["estimate"]))
    out_dir.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(labels)), 4.0))
    colours = ["C0", "C1", "C2", "C7"] + ["C4"] * (len(labels) - len(HEADLINES))
    yerr = [[e[0] for e in errors], [e[1] for e in errors]]
    ax.bar(range(len(labels)), values, yerr=yerr, capsize=4, color=colours)
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (95% Wilson interval)")
    ax.set_title(f"swarmrank eval: {summary['questions']} questions")
    fig.tight_layout()
    accuracy_png = out_dir / "accuracy.png"
    fig.savefig(accuracy_png, dpi=120)
    plt.close(fig)

    kinds = list(summary["by_kind"])
    fig, ax = plt.subplots(figsize=(max(5.0, 1.6 * len(kinds)), 3.6))
    width = 0.27
    for offset, (key, label) in enumerate(
        (("swarm", "swarm"), ("majority", "majority"), ("any_candidate", "some candidate"))
    ):
        xs = [i + (offset - 1) * width for i in range(len(kinds))]
        ax.bar(xs, [summary["by_kind"][k][key] for k in kinds], width, label=label)
    ax.set_xticks(range(len(kinds)), [f"{k}\n(n={summary['by_kind'][k]['n']})" for k in kinds])
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.legend(fontsize=8)
    fig.tight_layout()
    kind_png = out_dir / "by_kind.png"
    fig.savefig(kind_png, dpi=120)
    plt.close(fig)
    return [accuracy_png, kind_png]
