"""``swarmrank doctor``: run the checks of :mod:`node.daemon.run.doctor` and print them as a table
(or ``--json``); exit 1 when any check failed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from node.cli.node import add_config_flags
from node.daemon.doctor import DEFAULT_TIMEOUT_S, CheckResult, health_error, run_checks

# --- output and the command ---------------------------------------------------------------------


def format_results(results: Sequence[CheckResult]) -> str:
    lines = []
    for result in results:
        lines.append(f"{result.status.upper():4}  {result.name:<10}  {result.detail}")
        if result.fix:
            lines.append(f"      {'':<10}  fix: {result.fix}")
    failed = [r.name for r in results if r.status == "fail"]
    lines.append(f"doctor: {len(failed)} failed" + (f" ({', '.join(failed)})" if failed else ""))
    return "\n".join(lines)


def cmd_doctor(args: argparse.Namespace) -> int:
    from node.cli.node import overrides_from_args
    from node.config import load_config
    from node.logging import configure_logging
    from node.transport.tls import channel_credentials_from_config

    configure_logging("error", "text")
    config_path = Path(args.config).expanduser() if args.config else None
    config = load_config(config_path, overrides=overrides_from_args(args))
    if args.health_only:
        credentials = channel_credentials_from_config(config)  # same TLS as the node's
        error = asyncio.run(health_error(args.health_only, args.timeout, credentials))
        if error is not None:
            print(f"{args.health_only}: {error}", file=sys.stderr)
            return 1
        print(f"{args.health_only}: SERVING")
        return 0
    results = asyncio.run(
        run_checks(config, timeout_s=args.timeout, clock_offset_s=args.clock_offset_s)
    )
    ok = all(r.status != "fail" for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "checks": [asdict(r) for r in results]}, indent=2))
    else:
        print(format_results(results))
    return 0 if ok else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    doctor = subparsers.add_parser(
        "doctor",
        help="check a node's key, Ray, registry, clock, gRPC port and model backend",
        description="Check what a node needs to join a swarm; prints pass/fail and a fix for "
        "each check and exits 1 when any fails. Takes the same configuration as 'node run'.",
    )
    add_config_flags(
        doctor,
        {
            "listen": "gRPC bind host:port",
            "advertise": "host:port peers dial (checked for reachability)",
            "data-dir": "state directory",
            "ray-address": "Ray cluster to check",
            "metrics": None,
            "log-level": None,
            "sim-seed": None,
        },
    )
    doctor.add_argument(
        "--set", action="append", metavar="FIELD=VALUE", help="set any config field (repeatable)"
    )
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    doctor.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="budget of each check, seconds"
    )
    doctor.add_argument(
        "--clock-offset-s",
        type=float,
        default=0.0,
        help="pretend the local clock is off by this many seconds (rehearse clock skew)",
    )
    doctor.add_argument(
        "--health-only",
        metavar="ADDRESS",
        help="only ask the gRPC health service at HOST:PORT; exit 0 when SERVING",
    )
    doctor.set_defaults(handler=cmd_doctor)
