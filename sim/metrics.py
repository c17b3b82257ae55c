"""Summaries of a run: accuracy with intervals, capture rate, cost, reputation share.

This module owns :func:`summarise` (:class:`~sim.engine.RunRecord` -> the ``results.json``
document), :func:`wilson_interval`, :func:`paired_margin` and :func:`to_json` (the canonical,
byte-stable serialisation: sorted keys, floats rounded to :data:`DECIMALS`, no timestamps).
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from sim.engine import AGGREGATORS, DEFAULT_AGGREGATOR, JUDGED, RunRecord
from sim.scenario import Scenario, scenario_to_dict

__all__ = ["DECIMALS", "paired_margin", "summarise", "to_json", "wilson_interval"]

#: Decimal places kept for every float in ``results.json`` (byte-stable output).
DECIMALS = 6
#: At most this many points of the reputation-share curve go into ``results.json``.
SHARE_POINTS = 200
Z95 = 1.959963984540054
RESULTS_VERSION = 1


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


def summarise(scenario: Scenario, record: RunRecord) -> dict[str, Any]:
    """The ``results.json`` document of one run (see the README for its fields)."""
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
            "accuracy_ci95": [low, high],
            "capture_rate": captures / int(decided.sum()) if decided.any() else 0.0,
            "judge_calls": calls,
            "judge_calls_per_round": calls / rounds,
        }
    mean, low, high = paired_margin(record.correct[DEFAULT_AGGREGATOR], record.correct["majority"])
    step = max(1, math.ceil(rounds / SHARE_POINTS))
    points = list(range(step - 1, rounds, step))
    if points[-1] != rounds - 1:
        points.append(rounds - 1)
    return {
        "version": RESULTS_VERSION,
        "scenario": scenario_to_dict(scenario),
        "rounds": rounds,
        "default_aggregator": DEFAULT_AGGREGATOR,
        "aggregators": aggregators,
        "oracle_accuracy": aggregators["oracle"]["accuracy"],
        "margin_default_vs_majority": {"mean": mean, "ci95": [low, high]},
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
