"""The ``swarmrank`` command line.

Each area registers its own sub-commands through a ``register(subparsers)`` function listed in
:data:`COMMAND_MODULES`; this module only builds the parser and maps typed errors to exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

#: modules contributing sub-commands, (module, function): ``function(subparsers) -> None``
COMMAND_MODULES: tuple[tuple[str, str], ...] = (
    ("node.cli.keys", "register"),
    ("node.cli.certs", "register"),
    ("node.cli.node", "register"),
    ("node.cli.swarm", "register"),
    ("node.cli.up", "register_up"),
    ("node.cli.doctor", "register"),
    ("node.cli.gateway", "register"),
    ("node.cli.models", "register"),
    ("node.cli.eval", "register"),
    ("bench.cli", "register"),
    ("sim.cli", "add_sim_commands"),
)

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The full ``swarmrank`` parser."""
    parser = argparse.ArgumentParser(
        prog="swarmrank",
        description="Swarm inference with peer-ranked consensus.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module, function in COMMAND_MODULES:
        getattr(importlib.import_module(module), function)(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``swarmrank`` console script; returns the exit code."""
    from node.errors import NodeError
    from protocol.errors import ProtocolError

    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except (NodeError, ProtocolError) as exc:
        print(f"swarmrank: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
