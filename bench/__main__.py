"""Run every benchmark: ``python -m bench [--json] [NAME ...]`` (``make bench``,
``swarmrank bench``)."""

from __future__ import annotations

import argparse
import importlib
import json
from collections.abc import Sequence
from typing import Any

BENCHMARKS = {
    "envelope": "bench.bench_envelope",
    "aggregate": "bench.bench_aggregate",
    "round": "bench.bench_round",
    "sim": "bench.bench_sim",
    "load": "bench.bench_load",
    "llama": "bench.bench_llama",
    "real-round": "bench.bench_real_round",
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run swarmrank benchmarks.")
    parser.add_argument("names", nargs="*", choices=[*BENCHMARKS, []], help="default: all")
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    for name in args.names or list(BENCHMARKS):
        module = importlib.import_module(BENCHMARKS[name])
        if not args.json:
            print(f"== {name} ==")
        results[name] = module.run(json_output=False) if not args.json else _quiet(module)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))


def _quiet(module: Any) -> Any:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return module.run(json_output=False)


if __name__ == "__main__":
    main()
