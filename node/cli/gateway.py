"""``swarmrank gateway``: serve the OpenAI-compatible HTTP gateway (:mod:`node.gateway.app`) in
front of one or more nodes until SIGTERM / SIGINT.

Prints one JSON ready line on stdout (``{"event": "ready", "url": "http://HOST:PORT/v1",
"explorer": "http://HOST:PORT/explorer/", "nodes": [...], "auth": BOOL}``) once the port is
bound, like ``node run``. The swarm explorer page (:mod:`node.gateway.explorer`) is served on
the same port.

API keys (optional; without any the gateway is open, so bind it to a private address): one per
line in ``--api-keys-file`` (``#`` comments and blank lines skipped) and/or comma-separated in
the environment variable ``SWARMRANK_GATEWAY_API_KEYS``; never on the command line, where any
local user could read them in the process list.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from pathlib import Path

from node.daemon.lifecycle import stop_on_signals
from node.errors import ConfigError


def parse_nodes(text: str) -> list[str]:
    """Comma-separated ``host:port`` node addresses; at least one."""
    nodes = [n.strip() for n in text.split(",") if n.strip()]
    for node in nodes:
        host, sep, port = node.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ConfigError(f"invalid --nodes entry {node!r}: expected host:port")
    if not nodes:
        raise ConfigError("--nodes needs at least one host:port")
    return nodes


API_KEYS_ENV = "SWARMRANK_GATEWAY_API_KEYS"
#: the key the gateway (and `swarmrank ask`) present to nodes whose Ask needs one (issue 20)
ASK_KEY_ENV = "SWARMRANK_ASK_API_KEY"


def load_api_keys(path: str | None, environ: dict[str, str] | os._Environ[str]) -> list[str]:
    """The gateway's API keys from ``--api-keys-file`` and ``SWARMRANK_GATEWAY_API_KEYS``."""
    keys = [k.strip() for k in environ.get(API_KEYS_ENV, "").split(",") if k.strip()]
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--api-keys-file {path}: cannot read it ({exc})") from exc
        from_file = [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if not from_file:
            raise ConfigError(f"--api-keys-file {path}: holds no key")
        keys += from_file
    return keys


async def serve_gateway(
    nodes: list[str],
    listen: str,
    timeout_s: float,
    max_concurrent: int | None = None,
    api_keys: list[str] | None = None,
    node_api_key: str = "",
) -> int:
    from node.gateway.app import DEFAULT_MAX_CONCURRENT, Gateway

    if max_concurrent is None:
        max_concurrent = DEFAULT_MAX_CONCURRENT

    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"invalid --listen {listen!r}: expected host:port")
    try:
        gateway = Gateway(
            nodes,
            timeout_s=timeout_s,
            max_concurrent=max_concurrent,
            api_keys=api_keys or (),
            node_api_key=node_api_key,
        )
    except ValueError as exc:  # the Gateway validates its own settings
        raise ConfigError(f"gateway: {exc}") from exc
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_on_signals(loop, stop)
    url = await gateway.start(host, int(port))
    try:
        ready = {
            "event": "ready",
            "url": url,
            "explorer": gateway.explorer_url,
            "nodes": nodes,
            "auth": bool(api_keys),
        }
        print(json.dumps(ready), flush=True)
        await stop.wait()
    finally:
        await gateway.stop()
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    keys = load_api_keys(args.api_keys_file, os.environ)
    return asyncio.run(
        serve_gateway(
            parse_nodes(args.nodes),
            args.listen,
            args.timeout,
            args.max_concurrent,
            keys,
            os.environ.get(ASK_KEY_ENV, ""),
        )
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gateway = subparsers.add_parser(
        "gateway",
        help="serve the OpenAI-compatible HTTP gateway in front of nodes",
        description="Serve POST /v1/chat/completions, GET /v1/models, GET /healthz and the swarm "
        "explorer page (GET /explorer/); each completion is one consensus round through a node's "
        'SwarmService (failover in turn); "stream": true is answered with server-sent events.',
    )
    gateway.add_argument(
        "--nodes", required=True, help="comma-separated node gRPC addresses host:port"
    )
    gateway.add_argument("--listen", default="127.0.0.1:8080", help="HTTP bind host:port")
    gateway.add_argument(
        "--timeout", type=float, default=120.0, help="round deadline per request, seconds"
    )
    gateway.add_argument(
        "--max-concurrent",
        type=int,
        default=None,
        help="rounds served at once; more requests get 429 (default: 32)",
    )
    gateway.add_argument(
        "--api-keys-file",
        default=None,
        help=f"require 'Authorization: Bearer KEY' for one of the keys in this file (one per "
        f"line); keys may also come from ${API_KEYS_ENV} (comma-separated)",
    )
    gateway.set_defaults(handler=cmd_gateway)
