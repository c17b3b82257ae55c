"""``swarmrank gateway``: serve the OpenAI-compatible HTTP gateway (:mod:`node.gateway`) in
front of one or more nodes until SIGTERM / SIGINT.

Prints one JSON ready line on stdout (``{"event": "ready", "url": "http://HOST:PORT/v1",
"nodes": [...]}``) once the port is bound, like ``node run``.
"""

from __future__ import annotations

import argparse
import asyncio
import json

from node.errors import ConfigError
from node.lifecycle import stop_on_signals


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


async def serve_gateway(
    nodes: list[str], listen: str, timeout_s: float, max_concurrent: int | None = None
) -> int:
    from node.gateway import DEFAULT_MAX_CONCURRENT, Gateway

    if max_concurrent is None:
        max_concurrent = DEFAULT_MAX_CONCURRENT

    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"invalid --listen {listen!r}: expected host:port")
    if max_concurrent < 1:
        raise ConfigError(f"invalid --max-concurrent {max_concurrent}: must be at least 1")
    gateway = Gateway(nodes, timeout_s=timeout_s, max_concurrent=max_concurrent)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_on_signals(loop, stop)
    url = await gateway.start(host, int(port))
    try:
        print(json.dumps({"event": "ready", "url": url, "nodes": nodes}), flush=True)
        await stop.wait()
    finally:
        await gateway.stop()
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    return asyncio.run(
        serve_gateway(parse_nodes(args.nodes), args.listen, args.timeout, args.max_concurrent)
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    gateway = subparsers.add_parser(
        "gateway",
        help="serve the OpenAI-compatible HTTP gateway in front of nodes",
        description="Serve POST /v1/chat/completions, GET /v1/models and GET /healthz; each "
        "completion is one consensus round through a node's SwarmService (failover in turn); "
        '"stream": true is answered with server-sent events.',
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
    gateway.set_defaults(handler=cmd_gateway)
