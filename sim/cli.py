"""``swarmrank sim run`` and ``swarmrank sim sweep``.

This module owns :func:`add_sim_commands` (wired into the ``swarmrank`` console script by
``node/cli.py``) and the two command handlers; ``python -m sim.cli`` runs them standalone.
Errors in scenario files or parameters print one line naming the key and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console

from sim.errors import SimError

__all__ = ["add_sim_commands", "main"]


def add_sim_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add ``sim run`` and ``sim sweep`` to a ``swarmrank`` sub-command parser."""
    sim = subparsers.add_parser("sim", help="simulate adversarial swarms (fast engine)")
    commands = sim.add_subparsers(dest="sim_command", required=True)

    run = commands.add_parser("run", help="run one scenario and write its report")
    run.add_argument("scenario", type=Path, help="scenario TOML file (see sim/scenarios/)")
    run.add_argument(
        "--out", type=Path, default=None, help="output directory (default: sim-out/NAME)"
    )
    run.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    run.add_argument(
        "--seeds",
        type=int,
        default=1,
        metavar="N",
        help="run N seeds (the seed and the N - 1 after it); report means with 95%% intervals "
        "across seeds",
    )
    run.add_argument("--quiet", action="store_true", help="no progress bar or table")
    run.add_argument(
        "--live",
        action="store_true",
        help="run through real node daemons over gRPC (small honest scenarios; starts Ray)",
    )
    run.set_defaults(func=cmd_run, handler=cmd_run)

    sweep = commands.add_parser("sweep", help="run a parameter sweep as Ray tasks")
    sweep.add_argument("scenario", type=Path, help="scenario TOML file")
    sweep.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="PATH=V1,V2,...",
        help="a swept parameter, e.g. nodes.clique.fraction=0,0.1,0.2 (repeatable: product)",
    )
    sweep.add_argument("--out", type=Path, default=None, help="output directory")
    sweep.add_argument("--seed", type=int, default=None, help="override the scenario's seed")
    sweep.add_argument(
        "--seeds", type=int, default=1, metavar="N", help="seeds per point (means across seeds)"
    )
    sweep.add_argument("--ray-address", default=None, help="join this Ray cluster instead")
    sweep.add_argument("--num-cpus", type=int, default=2, help="local Ray CPUs (default 2)")
    sweep.add_argument("--quiet", action="store_true", help="no table")
    sweep.set_defaults(func=cmd_sweep, handler=cmd_sweep)


def cmd_run(args: argparse.Namespace) -> int:
    """``sim run``: simulate, write results.json, report.md and plots, print the table."""
    from sim.metrics import to_json
    from sim.report import run_table, write_run
    from sim.runner import run_scenario
    from sim.scenario import load_scenario, with_seed

    console = Console(stderr=True)
    try:
        scenario = load_scenario(args.scenario)
        if args.seed is not None:
            scenario = with_seed(scenario, args.seed)
    except SimError as exc:
        print(f"swarmrank sim: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path("sim-out") / scenario.name
    try:
        results = run_scenario(
            scenario, show_progress=not args.quiet, live=args.live, seeds=args.seeds
        )
    except SimError as exc:
        print(f"swarmrank sim: {exc}", file=sys.stderr)
        return 2
    paths = write_run(results, to_json(results), out)
    if not args.quiet:
        console.print(run_table(results))
        console.print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """``sim sweep``: fan the points out over Ray, write sweep.json, sweep.md and the plot."""
    from sim.report import sweep_table, write_sweep
    from sim.runner import run_sweep, sweep_json
    from sim.scenario import parse_param

    console = Console(stderr=True)
    try:
        params = [parse_param(spec) for spec in args.param]
        sweep = run_sweep(
            args.scenario,
            params,
            ray_address=args.ray_address,
            num_cpus=args.num_cpus,
            seed=args.seed,
            seeds=args.seeds,
            on_done=None if args.quiet else lambda d, n: console.print(f"point {d}/{n} done"),
        )
    except SimError as exc:
        print(f"swarmrank sim: {exc}", file=sys.stderr)
        return 2
    out = args.out or Path("sim-out") / f"{args.scenario.stem}-sweep"
    paths = write_sweep(sweep, sweep_json(sweep), out)
    if not args.quiet:
        console.print(sweep_table(sweep["points"]))
        console.print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Standalone entry point: ``python -m sim.cli sim run ...``."""
    parser = argparse.ArgumentParser(prog="swarmrank")
    add_sim_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
