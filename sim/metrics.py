"""Summaries of a run: accuracy with intervals, capture rate, cost, reputation share.

This module owns :func:`summarise` (:class:`~sim.engine.RunRecord` -> the ``results.json``
document of one seed), :func:`summarise_seeds` (several seeds' documents -> one document of
means with 95% intervals across seeds), :func:`wilson_interval`, :func:`paired_margin`,
:func:`seed_interval` and :func:`to_json` (the canonical, byte-stable serialisation: sorted
keys, floats rounded to :data:`DECIMALS`, no timestamps).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.engine import AGGREGATORS, DEFAULT_AGGREGATOR, JUDGED, RunRecord
from sim.scenario import Scenario, scenario_to_dict

__all__ = [
    "DECIMALS",
    "paired_margin",
    "seed_interval",
    "summarise",
    "summarise_seeds",
    "to_json",
    "wilson_interval",
]

#: Decimal places kept for every float in ``results.json`` (byte-stable output).
DECIMALS = 6
#: At most this many points of the reputation-share curve go into ``results.json``.
SHARE_POINTS = 200
Z95 = 1.959963984540054
RESULTS_VERSION = 2
#: Two-sided 95% quantiles of Student's t by degrees of freedom (1..30); beyond, the normal's.
_T95 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95% by default)."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    denominator = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def paired_margin(
    first: npt.NDArray[np.bool_], second: npt.NDArray[np.bool_], z: float = Z95
) -> tuple[float, float, float]:
    """Mean of ``first - second`` over rounds and its normal-approximation 95% interval.

    Both aggregators saw the same draws, so the per-round difference is the right unit: its
    variance already accounts for their correlation.
    """
    diff = first.astype(np.float64) - second.astype(np.float64)
    n = diff.shape[0]
    mean = float(diff.mean()) if n else 0.0
    sd = float(diff.std(ddof=1)) if n > 1 else 0.0
    half = z * sd / math.sqrt(n) if n else 0.0
    return mean, mean - half, mean + half


def seed_interval(values: list[float], low: float = 0.0, high: float = 1.0) -> tuple[float, float]:
    """Student-t 95% interval of the mean of per-seed values, clipped to ``[low, high]``.

    Seeds are independent replications (population, tasks and every draw differ), so their
    spread is the honest uncertainty of a headline; a single seed has no interval across
    seeds (``(low, high)``).
    """
    n = len(values)
    if n < 2:
        return (low, high)
    mean = float(np.mean(values))
    sd = float(np.std(values, ddof=1))
    t = _T95[n - 2] if n - 1 <= len(_T95) else Z95
    half = t * sd / math.sqrt(n)
    return (max(low, mean - half), min(high, mean + half))


def summarise(scenario: Scenario, record: RunRecord) -> dict[str, Any]:
    """The ``results.json`` document of one run (see the README for its fields).

    ``accuracy_ci95`` is the Wilson interval over rounds; ``accuracy_mean`` equals
    ``accuracy`` (the fields of :func:`summarise_seeds`, so both documents read alike).
    """
    rounds = scenario.rounds
    decided = record.correct_present
    aggregators: dict[str, Any] = {}
    for name in AGGREGATORS:
        correct = record.correct[name]
        hits = int(correct.sum())
        low, high = wilson_interval(hits, rounds)
        captures = int(record.captured[name].sum())
        calls = int(record.judge_calls.sum()) if name in JUDGED else 0
        aggregators[name] = {
            "accuracy": hits / rounds,
            "accuracy_mean": hits / rounds,
            "accuracy_ci95": [low, high],
            "capture_rate": captures / int(decided.sum()) if decided.any() else 0.0,
            "judge_calls": calls,
            "judge_calls_per_round": calls / rounds,
        }
    mean, low, high = paired_margin(record.correct[DEFAULT_AGGREGATOR], record.correct["majority"])
    bt_mean, bt_low, bt_high = paired_margin(
        record.correct[DEFAULT_AGGREGATOR], record.correct["plain-bt"]
    )
    step = max(1, math.ceil(rounds / SHARE_POINTS))
    points = list(range(step - 1, rounds, step))
    if points[-1] != rounds - 1:
        points.append(rounds - 1)
    return {
        "version": RESULTS_VERSION,
        "scenario": scenario_to_dict(scenario),
        "seeds": [scenario.seed],
        "interval": "wilson over rounds",
        "attack_rounds": int(record.attacked.sum()),
        "rounds": rounds,
        "default_aggregator": DEFAULT_AGGREGATOR,
        "aggregators": aggregators,
        "oracle_accuracy": aggregators["oracle"]["accuracy"],
        "margin_default_vs_majority": {"mean": mean, "ci95": [low, high]},
        "margin_default_vs_plain_bt": {"mean": bt_mean, "ci95": [bt_low, bt_high]},
        "decisive_capture_rate": (
            int(record.decisive.sum()) / int(decided.sum()) if decided.any() else 0.0
        ),
        "adversary_fraction": record.adversary_fraction,
        "admitted_nodes": record.admitted,
        "gold_rounds": int(record.gold.sum()),
        "mean_candidates": float(record.candidates.mean()),
        "mean_items": float(record.items.mean()),
        "adversary_reputation_share": {
            "round": [p + 1 for p in points],
            "share": [float(record.adversary_share[p]) for p in points],
            "final": float(record.adversary_share[-1]),
        },
    }


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        rounded = round(value, DECIMALS)
        return 0.0 if rounded == 0 else rounded
    if isinstance(value, dict):
        return {str(k): _rounded(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(v) for v in value]
    if isinstance(value, np.generic):
        return _rounded(value.item())
    return value


def to_json(document: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, 2-space indent, floats rounded, trailing newline."""
    return json.dumps(_rounded(document), indent=2, sort_keys=True) + "\n"


def summarise_seeds(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One document from the :func:`summarise` documents of several seeds of one scenario.

    Every accuracy, capture rate, margin and reputation share is the mean over seeds;
    ``accuracy_ci95`` and the margin's ``ci95`` are Student-t 95% intervals across seeds
    (:func:`seed_interval`), and ``accuracy_per_seed`` lists the seeds' values in ``seeds``
    order. ``scenario`` is the first seed's. One run is returned unchanged.
    """
    if not runs:
        raise ValueError("summarise_seeds needs at least one run")
    if len(runs) == 1:
        return runs[0]
    first = runs[0]

    def mean(values: list[float]) -> float:
        return float(np.mean(values))

    aggregators: dict[str, Any] = {}
    for name in first["aggregators"]:
        rows = [run["aggregators"][name] for run in runs]
        accuracy = [float(row["accuracy"]) for row in rows]
        low, high = seed_interval(accuracy)
        aggregators[name] = {
            "accuracy": mean(accuracy),
            "accuracy_mean": mean(accuracy),
            "accuracy_ci95": [low, high],
            "accuracy_per_seed": accuracy,
            "capture_rate": mean([row["capture_rate"] for row in rows]),
            "judge_calls": int(sum(row["judge_calls"] for row in rows)),
            "judge_calls_per_round": mean([row["judge_calls_per_round"] for row in rows]),
        }

    def margin(key: str) -> dict[str, Any]:
        values = [float(run[key]["mean"]) for run in runs]
        return {
            "mean": mean(values),
            "ci95": list(seed_interval(values, -1.0, 1.0)),
            "per_seed": values,
        }

    shares = [run["adversary_reputation_share"] for run in runs]
    finals = [float(share["final"]) for share in shares]
    return {
        "version": RESULTS_VERSION,
        "scenario": first["scenario"],
        "seeds": [int(run["scenario"]["seed"]) for run in runs],
        "interval": "student-t over seeds",
        "rounds": first["rounds"],
        "default_aggregator": first["default_aggregator"],
        "aggregators": aggregators,
        "oracle_accuracy": aggregators["oracle"]["accuracy"],
        "margin_default_vs_majority": margin("margin_default_vs_majority"),
        "margin_default_vs_plain_bt": margin("margin_default_vs_plain_bt"),
        "decisive_capture_rate": mean([run["decisive_capture_rate"] for run in runs]),
        "adversary_fraction": first["adversary_fraction"],
        "admitted_nodes": mean([run["admitted_nodes"] for run in runs]),
        "gold_rounds": mean([run["gold_rounds"] for run in runs]),
        "attack_rounds": mean([run["attack_rounds"] for run in runs]),
        "mean_candidates": mean([run["mean_candidates"] for run in runs]),
        "mean_items": mean([run["mean_items"] for run in runs]),
        "adversary_reputation_share": {
            "round": first["adversary_reputation_share"]["round"],
            "share": [
                mean(list(values)) for values in zip(*(s["share"] for s in shares), strict=True)
            ],
            "final": mean(finals),
            "final_ci95": list(seed_interval(finals)),
        },
    }
