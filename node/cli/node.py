"""``swarmrank node run``: start a node daemon (see :mod:`node.daemon.run`).

Flags override the config file and the ``SWARMRANK_*`` environment (:mod:`node.config`);
``--set FIELD=VALUE`` reaches any config field by name.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from node.errors import ConfigError

#: flag -> config field for the common settings
FLAG_FIELDS: dict[str, str] = {
    "listen": "listen_address",
    "advertise": "advertise_address",
    "data_dir": "data_dir",
    "key": "key_path",
    "swarm_id": "swarm_id",
    "backend": "backend",
    "metrics": "metrics_address",
    "log_level": "log_level",
    "ray_address": "ray_address",
    "sim_seed": "sim_seed",
}


def overrides_from_args(args: argparse.Namespace) -> dict[str, object]:
    """Command-line values as raw config overrides (``None`` = flag not given)."""
    overrides: dict[str, object] = {
        field: getattr(args, flag) for flag, field in FLAG_FIELDS.items()
    }
    for item in args.set or ():
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"invalid --set {item!r}: expected FIELD=VALUE")
        overrides[name.strip()] = value
    return overrides


def cmd_node_run(args: argparse.Namespace) -> int:
    from node.config import load_config
    from node.daemon.run import run_node

    config_path = Path(args.config).expanduser() if args.config else None
    config = load_config(config_path, overrides=overrides_from_args(args))
    return asyncio.run(run_node(config, init_key=args.init_key))


#: help text of each config flag (flag name without dashes -> help)
CONFIG_FLAG_HELP: dict[str, str] = {
    "config": "TOML config file (see node/example.toml)",
    "listen": "gRPC bind host:port (port 0 = free port)",
    "advertise": "host:port peers should dial",
    "data-dir": "state directory (SQLite)",
    "key": "Ed25519 key file",
    "swarm-id": "swarm id",
    "backend": "model backend: sim, openai or llama (--set llama_model=NAME|PATH)",
    "metrics": 'Prometheus bind host:port; "" disables',
    "log-level": "debug, info, warning or error",
    "ray-address": "Ray cluster to join",
    "sim-seed": "seed of the sim backend",
}


def add_config_flags(
    parser: argparse.ArgumentParser, help_overrides: dict[str, str | None] | None = None
) -> None:
    """The config flags shared by every command that loads a NodeConfig (see FLAG_FIELDS);
    ``help_overrides`` rewords a flag's help, or hides it with ``None``."""
    overrides = help_overrides or {}
    for flag, text in CONFIG_FLAG_HELP.items():
        shown = overrides.get(flag, text)
        parser.add_argument(f"--{flag}", help=argparse.SUPPRESS if shown is None else shown)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    node = subparsers.add_parser("node", help="run a node daemon")
    node_sub = node.add_subparsers(dest="node_command", metavar="ACTION", required=True)
    run = node_sub.add_parser(
        "run",
        help="serve NodeService until SIGTERM/SIGINT",
        description="Serve NodeService until SIGTERM/SIGINT. Prints one JSON 'ready' line "
        "on stdout with the bound addresses; logs go to stderr.",
    )
    add_config_flags(run)
    run.add_argument(
        "--set",
        action="append",
        metavar="FIELD=VALUE",
        help="set any config field (repeatable)",
    )
    run.add_argument(
        "--init-key",
        action="store_true",
        help="create the key file (mode 0600) if it does not exist",
    )
    run.set_defaults(handler=cmd_node_run)
