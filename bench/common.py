"""Shared helpers for benchmark scripts: a best-of-N timer and JSON/table output."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable, Sequence
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


def main_with_options(
    run: Callable[[bool, Sequence[str]], object], argv: Sequence[str] | None = None
) -> None:
    """``main`` of a benchmark whose ``run(json_output, options)`` parses its own options
    (``--json`` among them): the command line's, or ``argv``."""
    import sys

    options = list(sys.argv[1:] if argv is None else argv)
    run("--json" in options, options)
