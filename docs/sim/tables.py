"""Print the tables of docs/sim/README.md from the outputs `regenerate.sh` writes.

Run from the repository root after `bash docs/sim/regenerate.sh`:

    .venv/bin/python docs/sim/tables.py > /tmp/tables.md

Every number in the README's tables comes from this script; the prose around them is written
by hand from the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

D = Path(__file__).resolve().parent
FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.48)


def results(name: str) -> dict[str, Any]:
    return json.loads((D / name / "results.json").read_text(encoding="utf-8"))


def sweep(name: str) -> list[dict[str, Any]]:
    return json.loads((D / name / "sweep.json").read_text(encoding="utf-8"))["points"]


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def interval(low: float, high: float) -> str:
    return f"{100 * low:.1f}–{100 * high:.1f}"


def margin(m: dict[str, Any]) -> str:
    low, high = m["ci95"]
    return f"{100 * m['mean']:+.1f} ({100 * low:+.1f} to {100 * high:+.1f})"


def table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    head = list(header)
    lines = ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def point(points: list[dict[str, Any]], **params: Any) -> dict[str, Any]:
    for p in points:
        if all(p["params"].get(k.replace("__", ".")) == v for k, v in params.items()):
            return p
    raise KeyError(params)


def headlines() -> str:
    rows = []
    for name in ("paper-like", "sybil", "reputation-farmer", "prompt-injection"):
        r = results(name)
        acc = r["aggregators"]
        default = acc["calibrated"]
        rows.append(
            [
                f"[{name}]({name}/report.md)",
                pct(acc["majority"]["accuracy"]),
                pct(acc["plain-bt"]["accuracy"]),
                pct(acc["robust-bt"]["accuracy"]),
                f"**{pct(default['accuracy'])}** ({interval(*default['accuracy_ci95'])})",
                margin(r["margin_default_vs_majority"]),
                pct(default["capture_rate"]),
                pct(r.get("decisive_capture_rate", 0.0)),
                f"{100 * r['gold_rounds'] / r['rounds']:.1f}",
                pct(r["adversary_reputation_share"]["final"]),
            ]
        )
    return table(
        [
            "scenario",
            "majority",
            "plain BT",
            "robust BT",
            "**default** (95% interval)",
            "default - majority, points",
            "default capture",
            "decisive capture",
            "gold rounds per 100",
            "adversary reputation (final)",
        ],
        rows,
    )


def clique_rows(
    prefix: str, names: dict[str, str], fmt: Callable[[str], str] = str
) -> list[list[str]]:
    rows = []
    for kind, path in names.items():
        points = sweep(path)
        for label, key in (
            ("majority", "majority"),
            ("plain BT", "plain-bt"),
            ("robust BT", "robust-bt"),
            ("**default**", "calibrated"),
        ):
            values = [
                pct(point(points, nodes__clique__fraction=f)["accuracy"][key]) for f in FRACTIONS
            ]
            if key == "calibrated":
                values = [f"**{v}**" for v in values]
            rows.append([f"{kind}: {prefix}{label}", *values])
    return rows


def cliques(paths: dict[str, str]) -> str:
    header = ["clique share", *(f"{round(100 * f)}%" for f in FRACTIONS)]
    return table(header, clique_rows("", paths))


def judging() -> str:
    rows = []
    for p in sweep("judging-sweep"):
        acc = p["accuracy"]
        rows.append(
            [
                f"judging_ease={p['params']['tasks.judging_ease']}",
                pct(acc["majority"]),
                pct(acc["plain-bt"]),
                pct(acc["robust-bt"]),
                pct(acc["calibrated"]),
                margin(p["margin_default_vs_majority"]),
                margin(p["margin_default_vs_plain_bt"]),
            ]
        )
    return table(
        [
            "point",
            "majority",
            "plain-bt",
            "robust-bt",
            "calibrated",
            "default - majority",
            "default - plain BT",
        ],
        rows,
    )


def no_gold() -> str:
    rows = []
    for name in ("paper-like", "prompt-injection", "reputation-farmer"):
        for p in sweep(f"gold/{name}"):
            acc = p["accuracy"]
            label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in p["params"].items())
            rows.append(
                [
                    f"{name}, {label}",
                    pct(acc["majority"]),
                    pct(acc["plain-bt"]),
                    pct(acc["robust-bt"]),
                    f"**{pct(acc['calibrated'])}**",
                    pct(p["capture_rate"]["calibrated"]),
                    pct(p.get("decisive_capture_rate", 0.0)),
                ]
            )
    first = table(
        [
            "scenario, point",
            "majority",
            "plain BT",
            "robust BT",
            "default",
            "default capture",
            "decisive capture",
        ],
        rows,
    )
    header = ["clique share, no gold", *(f"{round(100 * f)}%" for f in FRACTIONS)]
    second = []
    for kind in ("open", "stealth"):
        points = sweep(f"gold/clique-{kind}-sweep-no-gold")
        for label, key in (
            ("majority = default", "calibrated"),
            ("plain BT", "plain-bt"),
            ("robust BT", "robust-bt"),
        ):
            second.append(
                [
                    f"{kind}: {label}",
                    *(
                        pct(point(points, nodes__clique__fraction=f)["accuracy"][key])
                        for f in FRACTIONS
                    ),
                ]
            )
    return first + "\n\n" + table(header, second)


def one_parameter(path: str, param: str) -> str:
    """A sweep over one parameter: the baselines and the default with its interval."""
    rows = []
    for p in sweep(path):
        acc = p["accuracy"]
        lo, hi = p["accuracy_ci95"]["calibrated"]
        rows.append(
            [
                str(p["params"][param]),
                pct(acc["majority"]),
                pct(acc["plain-bt"]),
                pct(acc["robust-bt"]),
                f"**{pct(acc['calibrated'])}** ({interval(lo, hi)})",
            ]
        )
    header = f"`{param.split('.')[-1]}`"
    return table([header, "majority", "plain BT", "robust BT", "**default**"], rows)


def sensitivity() -> str:
    out = [one_parameter("sensitivity/judging-ease", "tasks.judging_ease")]

    def cell(p: dict[str, Any]) -> str:
        lo, hi = p["accuracy_ci95"]["calibrated"]
        return (
            f"{pct(p['accuracy']['calibrated'])} ({interval(lo, hi)}) "
            f"[{pct(p['accuracy']['robust-bt'])}]"
        )

    corr = sweep("sensitivity/judge-correlation")
    pers = sweep("sensitivity/persuasiveness")
    rows = []
    for c in (0, 1, 2):
        rows.append(
            [
                f"`judge_correlation = {c}`",
                *(
                    cell(point(corr, tasks__judging_ease=e, tasks__judge_correlation=c))
                    for e in (0, 1)
                ),
            ]
        )
    for sd in (0, 1, 2):
        rows.append(
            [
                f"persuasiveness sd {sd}",
                *(
                    cell(point(pers, tasks__judging_ease=e, tasks__persuasiveness__sd=sd))
                    for e in (0, 1)
                ),
            ]
        )
    majorities = [p["accuracy"]["majority"] for p in corr + pers]
    out.append(
        table(["", "`judging_ease = 0`", "`judging_ease = 1`"], rows)
        + f"\n\nmajority range: {pct(min(majorities))}–{pct(max(majorities))}"
    )
    out.append(one_parameter("sensitivity/answer-split", "tasks.answer_split"))
    gold = sweep("sensitivity/gold")
    rows = []
    for g in (0.0, 0.1, 0.2):
        cells = []
        for e in (0, 1):
            for d in (0, 1):
                p = point(
                    gold,
                    tasks__judging_ease=e,
                    swarm__gold_fraction=g,
                    swarm__gold_detection=d,
                )
                cells.append(f"{cell(p)}, {pct(p['final_adversary_reputation_share'])}%")
        rows.append([f"gold {g}", *cells])
    out.append(
        table(
            [
                "",
                "parity, undetectable",
                "parity, detectable",
                "ease 1, undetectable",
                "ease 1, detectable",
            ],
            rows,
        )
    )
    return "\n\n".join(out)


def assumed() -> str:
    rows = []
    for name in ("sybil", "reputation-farmer", "prompt-injection"):
        p = sweep(f"assumed/{name}")[0]
        acc = p["accuracy"]
        lo, hi = p["accuracy_ci95"]["calibrated"]
        rows.append(
            [
                name,
                pct(acc["majority"]),
                pct(acc["plain-bt"]),
                pct(acc["robust-bt"]),
                f"**{pct(acc['calibrated'])}** ({interval(lo, hi)})",
                pct(p["final_adversary_reputation_share"]) + "%",
            ]
        )
    first = table(
        ["scenario", "majority", "plain BT", "robust BT", "**default**", "adversary reputation"],
        rows,
    )
    second = cliques(
        {"open": "assumed/clique-open-sweep", "stealth": "assumed/clique-stealth-sweep"}
    )
    return first + "\n\n" + second


def adaptive() -> str:
    rows = []
    for option in (
        "gold-aware",
        "opportunistic",
        "inflate-confidence",
        "abstain-when-losing",
        "grind",
        "patience",
    ):
        points = sweep(f"adaptive/{option}")
        twin, adapted = points[0], points[-1]

        def pair(key: str, twin: dict[str, Any] = twin, adapted: dict[str, Any] = adapted) -> str:
            return f"{pct(twin['accuracy'][key])} -> {pct(adapted['accuracy'][key])}"

        rows.append(
            [
                option,
                pair("majority"),
                pair("plain-bt"),
                pair("robust-bt"),
                pair("calibrated"),
                f"{pct(twin['final_adversary_reputation_share'])}% -> "
                f"{pct(adapted['final_adversary_reputation_share'])}%",
            ]
        )
    return table(
        ["option (twin -> adaptive)", "majority", "plain BT", "robust BT", "**default**", "team"],
        rows,
    )


def main() -> None:
    sections = {
        "Headlines": headlines(),
        "Cliques (node defaults)": cliques(
            {"open": "clique-open-sweep", "stealth": "clique-stealth-sweep"}
        ),
        "Judging-strength sweep": judging(),
        "Without gold": no_gold(),
        "Sensitivity": sensitivity(),
        "Assumed": assumed(),
        "Adaptive adversaries": adaptive(),
    }
    for title, text in sections.items():
        print(f"## {title}\n\n{text}\n")


if __name__ == "__main__":
    main()
