"""Shared helpers for benchmark scripts: a best-of-N timer and JSON/table output."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from typing import Any


def best_rate(fn: Callable[[], object], iterations: int, repeats: int = 5) -> float:
    """Operations per second of ``fn``: the best of ``repeats`` runs of ``iterations`` calls.

    Best-of-N is the least noisy estimator on a shared machine (noise only ever slows a run).
    """
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        best = min(best, time.perf_counter() - start)
    return iterations / best


def machine() -> dict[str, Any]:
    """A short description of the machine, stored next to every result."""
    import os

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }


def emit(result: dict[str, Any], json_output: bool, lines: list[str]) -> None:
    """Print ``result`` as JSON, or the human-readable ``lines``."""
    if json_output:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print("\n".join(lines))
