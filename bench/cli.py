"""``swarmrank bench [NAME [OPTIONS ...]]``: the benchmarks of :mod:`bench` as a sub-command
that :mod:`node.cli.main.main` loads by name, like ``sim``'s (no module of ``node`` imports
``bench``).

Without a name every benchmark runs (``python -m bench``); with one, its own options follow,
e.g. ``swarmrank bench round --sizes 4,16,32 --json`` (``python -m bench.bench_round``).
"""

from __future__ import annotations

import argparse
import importlib


def cmd_bench(args: argparse.Namespace) -> int:
    from bench.__main__ import BENCHMARKS
    from bench.__main__ import main as run_all

    options = [*args.options, *(["--json"] if args.json else [])]
    if args.name is None:
        run_all(options)
    else:
        importlib.import_module(BENCHMARKS[args.name]).main(options)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from bench.__main__ import BENCHMARKS

    parser = subparsers.add_parser(
        "bench",
        help="run the benchmarks (envelope, aggregate, round, sim)",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "name", nargs="?", choices=sorted(BENCHMARKS), help="one benchmark (default: all)"
    )
    parser.add_argument(
        "options",
        nargs=argparse.REMAINDER,
        help="the benchmark's own options, e.g. --json, or --sizes 4,16 for round",
    )
    parser.set_defaults(handler=cmd_bench)
