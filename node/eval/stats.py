"""Pure statistics of an eval run: Wilson score intervals for accuracies, Newcombe's interval
for a paired difference of two accuracies on the same questions, and :func:`summarise_results`,
the dict that becomes ``results.json``.

References: E. B. Wilson (1927), "Probable inference, the law of succession, and statistical
inference", JASA 22; R. G. Newcombe (1998), "Improved confidence intervals for the difference
between binomial proportions based on paired data", Statistics in Medicine 17 (method 10).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from node.eval.scoring import QuestionResult

#: two-sided 95% normal quantile
Z95 = 1.959963984540054


@dataclass(frozen=True)
class Interval:
    """An estimate with its lower and upper bound."""

    estimate: float
    lower: float
    upper: float

    def to_json(self) -> dict[str, float]:
        return {"estimate": self.estimate, "lower": self.lower, "upper": self.upper}


def wilson_interval(successes: int, n: int, z: float = Z95) -> Interval:
    """The Wilson score interval of a proportion ``successes / n``; ``n = 0`` gives [0, 1]
    around 0."""
    if n <= 0:
        return Interval(0.0, 0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} not in [0, {n}]")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    lower = 0.0 if successes == 0 else max(0.0, centre - half)
    upper = 1.0 if successes == n else min(1.0, centre + half)
    return Interval(p, lower, upper)


@dataclass(frozen=True)
class PairedDifference:
    """Accuracy of ``first`` minus ``second`` on the same questions, with Newcombe's interval
    and the discordant counts (questions only one of the two got right)."""

    interval: Interval
    n: int
    first_only: int
    second_only: int

    def to_json(self) -> dict[str, Any]:
        return {
            **self.interval.to_json(),
            "n": self.n,
            "first_only": self.first_only,
            "second_only": self.second_only,
        }


def paired_difference(
    first: Sequence[bool], second: Sequence[bool], z: float = Z95
) -> PairedDifference:
    """Newcombe's hybrid score interval (method 10) for ``mean(first) - mean(second)``."""
    if len(first) != len(second):
        raise ValueError("paired samples must have the same length")
    n = len(first)
    if n == 0:
        return PairedDifference(Interval(0.0, -1.0, 1.0), 0, 0, 0)
    a = sum(1 for x, y in zip(first, second, strict=True) if x and y)
    b = sum(1 for x, y in zip(first, second, strict=True) if x and not y)
    c = sum(1 for x, y in zip(first, second, strict=True) if y and not x)
    d = n - a - b - c
    one, two = wilson_interval(a + b, n, z), wilson_interval(a + c, n, z)
    p1, p2 = one.estimate, two.estimate
    denominator = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(denominator) if denominator else 0.0
    lo1, hi1 = p1 - one.lower, one.upper - p1
    lo2, hi2 = p2 - two.lower, two.upper - p2
    delta = math.sqrt(max(0.0, lo1 * lo1 - 2 * phi * lo1 * hi2 + hi2 * hi2))
    epsilon = math.sqrt(max(0.0, hi1 * hi1 - 2 * phi * hi1 * lo2 + lo2 * lo2))
    estimate = p1 - p2
    interval = Interval(estimate, max(-1.0, estimate - delta), min(1.0, estimate + epsilon))
    return PairedDifference(interval, n, b, c)


def _accuracy(flags: Sequence[bool]) -> dict[str, Any]:
    interval = wilson_interval(sum(flags), len(flags))
    return {**interval.to_json(), "n": len(flags), "correct": int(sum(flags))}


def node_accuracies(
    results: Sequence[QuestionResult], models: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """Each generator's accuracy over the questions it answered (with its model name)."""
    answered: dict[str, list[bool]] = {}
    for result in results:
        for node_id, correct in result.node_correct.items():
            answered.setdefault(node_id, []).append(bool(correct))
    return {
        node_id: {**_accuracy(flags), "model": models.get(node_id, "")}
        for node_id, flags in sorted(answered.items())
    }


def best_node(nodes: Mapping[str, Mapping[str, Any]]) -> str:
    """The node with the highest accuracy (ties: more questions, then node id); ``""`` if none.

    Chosen after the fact on the same questions, so its accuracy is optimistic."""
    if not nodes:
        return ""
    return min(nodes, key=lambda n: (-nodes[n]["estimate"], -nodes[n]["n"], n))


def _by_kind(results: Sequence[QuestionResult]) -> dict[str, dict[str, Any]]:
    kinds: dict[str, list[QuestionResult]] = {}
    for result in results:
        kinds.setdefault(result.kind, []).append(result)
    return {
        kind: {
            "n": len(group),
            "swarm": _accuracy([r.swarm_correct for r in group])["estimate"],
            "majority": _accuracy([r.majority_correct for r in group])["estimate"],
            "any_candidate": _accuracy([r.any_candidate_correct for r in group])["estimate"],
        }
        for kind, group in sorted(kinds.items())
    }


def summarise_results(
    results: Sequence[QuestionResult], models: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The ``results.json`` summary of per-question results (see the README's eval section).

    ``accuracy`` holds point estimates; ``intervals`` their 95% Wilson intervals;
    ``paired_differences`` swarm - majority (all questions) and swarm - best single (the
    questions the best node answered) with Newcombe's paired interval.
    """
    nodes = node_accuracies(results, models or {})
    best = best_node(nodes)
    swarm = [r.swarm_correct for r in results]
    majority = [r.majority_correct for r in results]
    best_rows = [r for r in results if best in r.node_correct]
    best_flags = [bool(r.node_correct[best]) for r in best_rows]
    rows = {
        "swarm": _accuracy(swarm),
        "majority": _accuracy(majority),
        "best_single": _accuracy(best_flags),
        "any_candidate": _accuracy([r.any_candidate_correct for r in results]),
    }
    n = len(results)
    return {
        "questions": n,
        "failed": sum(1 for r in results if r.error),
        "accuracy": {
            **{name: row["estimate"] for name, row in rows.items()},
            "nodes": {node_id: row["estimate"] for node_id, row in nodes.items()},
        },
        "intervals": {name: [row["lower"], row["upper"]] for name, row in rows.items()},
        "counts": {name: {"correct": row["correct"], "n": row["n"]} for name, row in rows.items()},
        "nodes": nodes,
        "best_single_node": best,
        "majority_ties": sum(1 for r in results if r.majority_tied),
        "paired_differences": {
            "swarm_minus_majority": paired_difference(swarm, majority).to_json(),
            "swarm_minus_best_single": paired_difference(
                [r.swarm_correct for r in best_rows], best_flags
            ).to_json(),
        },
        "by_kind": _by_kind(results),
        "judge_calls_per_question": sum(r.judge_calls for r in results) / n if n else 0.0,
        "seconds_per_question": sum(r.seconds for r in results) / n if n else 0.0,
    }
