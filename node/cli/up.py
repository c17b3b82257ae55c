"""``swarmrank up`` and ``swarmrank demo``: start a :class:`~node.daemon.run.local.LocalSwarm`,
print where it listens, and (``demo``) ask one question and shut it down cleanly."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from node.daemon.lifecycle import stop_on_signals
from node.daemon.local import DEFAULT_STATE_DIR, DEMO_QUESTION, LOCAL_BACKENDS, LocalSwarm

#: how long nodes get to load their models and join (the llama ones load and verify GGUFs)
READY_TIMEOUT_S = {"sim": 60.0, "llama": 300.0}
#: how long a silent member stays in the registry (llama nodes share the CPUs with their models)
EVICTION_TIMEOUT_S = {"sim": 6.0, "llama": 30.0}


def _print_up(swarm: LocalSwarm) -> None:
    print(f"swarm {swarm.swarm_id}: {len(swarm.nodes)} nodes up (Ray at {swarm.ray_address})")
    for node in swarm.nodes:
        print(f"  node {node.index}: {node.node_id[:16]} gRPC {node.address}")
    print(f"gateway: {swarm.gateway.url}  (OpenAI-compatible; model 'swarmrank-consensus')")
    print(f"explorer: {swarm.gateway.explorer_url}  (rounds, members and ledger, live)")
    if swarm.backend == "llama":  # rounds of real models take longer than ask's default 60 s
        print('ask with: swarmrank ask --timeout 120 "What is the capital of France?"')
    else:
        print('ask with: swarmrank ask "What is 17 + 25?"')


async def _run_up(args: argparse.Namespace, question: str | None) -> int:
    swarm = LocalSwarm(
        nodes=args.nodes,
        state_dir=Path(args.state_dir),
        swarm_id=args.swarm_id,
        gateway_port=args.gateway_port,
        fresh=args.fresh,
        node_args=tuple(f"--set={item}" for item in args.set or ()),
        backend=args.backend,
        ready_timeout_s=READY_TIMEOUT_S[args.backend],
        eviction_timeout_s=EVICTION_TIMEOUT_S[args.backend],
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    stop_on_signals(loop, stop)
    kind = "simulated" if args.backend == "sim" else "llama.cpp"
    print(f"starting Ray and {args.nodes} {kind} nodes ...", flush=True)
    await swarm.start()
    try:
        _print_up(swarm)
        if question is not None:
            from rich.console import Console

            from node.cli.swarm import _print_answer

            print(f"\nasking: {question}", flush=True)
            response = await swarm.gateway.call_ask(question)
            _print_answer(response, Console())
            return 0
        print("Ctrl-C to stop.", flush=True)
        await stop.wait()
        return 0
    finally:
        print("stopping ...", flush=True)
        await swarm.stop()


def cmd_up(args: argparse.Namespace) -> int:
    return asyncio.run(_run_up(args, args.ask))


def cmd_demo(args: argparse.Namespace) -> int:
    return asyncio.run(_run_up(args, args.question))


def register_up(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def common(p: argparse.ArgumentParser, nodes: int) -> None:
        p.add_argument("--nodes", type=int, default=nodes, help="number of nodes")
        p.add_argument(
            "--backend",
            choices=LOCAL_BACKENDS,
            default="sim",
            help="sim (simulated models) or llama (the shipped GGUF models, alternating)",
        )
        p.add_argument("--swarm-id", default="swarmrank-local", help="swarm id")
        p.add_argument("--gateway-port", type=int, default=0, help="HTTP port (0 = free port)")
        p.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), help="state directory")
        p.add_argument("--fresh", action="store_true", help="wipe the state directory first")
        p.add_argument(
            "--set",
            action="append",
            metavar="FIELD=VALUE",
            help="node config for every node, e.g. round_rank_deadline_ms=5000 (repeatable)",
        )

    up = subparsers.add_parser("up", help="start an embedded local swarm (Ray + N nodes)")
    common(up, 5)
    up.add_argument("--ask", help="ask one question, print the answer, and shut down")
    up.set_defaults(handler=cmd_up)

    demo = subparsers.add_parser("demo", help="start a local swarm, ask one question, stop")
    common(demo, 5)
    demo.add_argument("question", nargs="?", default=DEMO_QUESTION)
    demo.set_defaults(handler=cmd_demo)
