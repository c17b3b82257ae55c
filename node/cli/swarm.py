"""``swarmrank ask | status | ledger verify``: talk to a running swarm.

They find the swarm ``up`` started on this machine (:mod:`node.cli.main.state`) unless
``--address`` / ``--data-dir`` name another one."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from node.cli.state import DEFAULT_STATE_DIR, read_up_state
from node.transport.client import call_status


def _addresses(args: argparse.Namespace) -> list[str]:
    if args.address:
        return [args.address]
    return [n["address"] for n in read_up_state(args.state_dir)["nodes"]]


# --- ask ---


def _print_answer(response: Any, console: Any) -> None:
    import math

    from rich.table import Table

    console.print(f"[bold]Consensus answer:[/bold] {response.answer}")
    table = Table(title="Candidates (the winner first; the judges' Bradley-Terry strength)")
    for column in ("#", "answer", "votes", "strength", "interval", "generators"):
        table.add_column(column)
    tied = set(response.tied_for_first)
    for c in response.candidates:
        mark = " *" if c.index in tied else ""
        table.add_row(
            f"{c.index}{mark}" + (" <-" if c.index == response.winner else ""),
            c.answer[:80],
            f"{c.share:.0%}",
            f"{c.strength:+.3f}",
            f"[{c.lower:+.2f}, {c.upper:+.2f}]",
            str(len(c.generator_ids)),
        )
    console.print(table)
    console.print(f"tied for first (*): {sorted(tied)}")
    if response.consensus >= 2:
        chances = ", ".join(f"#{c.index} {c.posterior:.0%}" for c in response.candidates)
        console.print(
            "decided by the evidence reading (the votes, and each node's gold record and "
            "verdicts once gold rounds have shown they help; the chance each answer is right: "
            f"{chances})"
        )
    elif response.consensus >= 1:
        weight = response.judge_weight
        if math.isinf(weight):
            how = "the judges alone (the gold record says the votes add nothing)"
        elif weight > 0:
            how = f"the generators' vote and the judges (judge weight {weight:.3g})"
        elif weight < 0:
            how = (
                f"the generators' vote, against the judges' preference (judge weight "
                f"{weight:.3g}: on gold rounds the answer the judges favoured was less often "
                "right than the vote alone says)"
            )
        else:
            how = (
                "the generators' vote, each weighed by its gold record (the judges have not "
                "shown on gold rounds that they know better)"
            )
        console.print(f"decided by {how}")
    console.print(
        f"record {response.record_id.hex()} at height {response.height}, "
        f"leader {response.leader_id[:12]}, {len(response.participants)} participants, "
        f"absent: {list(response.absent) or 'none'}, {response.latency_ms:.1f} ms"
    )


async def call_ask(
    addresses: list[str], question: str, timeout_s: float, node_api_key: str = ""
) -> Any:
    from node.gateway.app import Gateway

    gateway = Gateway(addresses, timeout_s=timeout_s, node_api_key=node_api_key)
    try:
        return await gateway.call_ask(question)
    finally:
        for channel in gateway._channels.values():
            await channel.close()


def cmd_ask(args: argparse.Namespace) -> int:
    import grpc
    from rich.console import Console

    from node.gateway.app import response_to_json

    try:
        from node.cli.gateway import ASK_KEY_ENV

        node_api_key = os.environ.get(ASK_KEY_ENV, "")
        response = asyncio.run(
            call_ask(_addresses(args), args.question, args.timeout, node_api_key)
        )
    except grpc.aio.AioRpcError as exc:
        print(f"swarmrank: error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(response_to_json(response), indent=2))
    else:
        _print_answer(response, Console())
    return 0


# --- status ---


def cmd_status(args: argparse.Namespace) -> int:
    import grpc
    from rich.console import Console
    from rich.table import Table

    addresses = _addresses(args)
    try:
        status = asyncio.run(call_status(addresses[0]))
    except grpc.aio.AioRpcError as exc:
        print(
            f"swarmrank: error: {addresses[0]}: {exc.code().name}: {exc.details()}", file=sys.stderr
        )
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "swarm_id": status.swarm_id,
                    "node_id": status.node_id,
                    "ledger_height": status.ledger_height,
                    "ledger_head": status.ledger_head.hex(),
                    "members": [
                        {
                            "node_id": m.node_id,
                            "address": m.address,
                            "model": m.model,
                            "reputation": m.reputation,
                            "alive": m.alive,
                            "last_seen_s": m.last_seen_s,
                            "numerics": m.numerics,
                            "trust_status": m.trust_status,
                            "stake": m.stake,
                        }
                        for m in status.members
                    ],
                },
                indent=2,
            )
        )
        return 0
    console = Console()
    console.print(
        f"swarm [bold]{status.swarm_id}[/bold] as seen by {status.node_id[:12]}: "
        f"ledger height {status.ledger_height}"
    )
    table = Table()
    trust = any(m.trust_status for m in status.members)
    columns = ["node id", "address", "model", "reputation", "alive", "last seen", "numerics"]
    for column in columns + (["trust", "stake"] if trust else []):
        table.add_column(column)
    for m in status.members:
        table.add_row(
            m.node_id[:16],
            m.address,
            m.model,
            f"{m.reputation:.3f}",
            "yes" if m.alive else "no",
            f"{m.last_seen_s:.1f} s ago",
            m.numerics or "-",
            *([m.trust_status, f"{m.stake:g}"] if trust else []),
        )
    console.print(table)
    note = numerics_note([m.numerics for m in status.members])
    if note:
        console.print(f"[dim]note:[/dim] {note}")
    return 0


def numerics_note(fingerprints: list[str]) -> str:
    """A note when members advertise different numerics fingerprints (empty: one or none).

    Information only: records made under ``numerics = 1`` verify across float builds
    (:mod:`node.round.tolerance`)."""
    distinct = sorted({f for f in fingerprints if f})
    if len(distinct) <= 1:
        return ""
    return (
        f"members run {len(distinct)} float builds ({', '.join(distinct)}); their records "
        "verify across builds (numerics 1), but ledger records from before numerics 1 replay "
        "bit for bit only on one build"
    )


# --- ledger verify ---


def cmd_ledger_verify(args: argparse.Namespace) -> int:
    from node.errors import LedgerMismatch
    from node.ledger.replay import ledger_swarm_id, replay_ledger
    from node.ledger.store import Store

    if args.data_dir:
        data_dirs = [Path(args.data_dir).expanduser()]
    else:
        data_dirs = [Path(n["data_dir"]) for n in read_up_state(args.state_dir)["nodes"]]
    if args.gold_bank:
        from node.round.gold import load_private_bank, use_private_bank

        # a swarm with a private bank draws some gold from it: replaying its gold rounds needs it
        use_private_bank(load_private_bank(Path(args.gold_bank).expanduser()))
    failed = 0
    for data_dir in data_dirs:
        database = data_dir / "node.sqlite3"
        if not database.exists():
            print(f"{data_dir}: no node database ({database} missing)", file=sys.stderr)
            failed += 1
            continue
        store = Store(database)
        try:
            swarm_id = args.swarm_id or ledger_swarm_id(store) or "swarmrank-local"
            summary = replay_ledger(store, swarm_id)
        except LedgerMismatch as exc:
            hint = ""
            if "gold task" in str(exc) and not args.gold_bank:
                hint = " (a swarm with a private gold bank: pass it with --gold-bank FILE)"
            print(f"{data_dir}: FAILED at height {exc.height}: {exc}{hint}", file=sys.stderr)
            failed += 1
            continue
        finally:
            store.close()
        print(
            f"{data_dir}: OK, {summary.records} records, head {summary.head.hex()[:16] or '-'}, "
            f"{len(summary.reputations)} reputations recomputed and equal to the stored view"
        )
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--address", help="a node's gRPC HOST:PORT (default: the local 'up' swarm)")
        p.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), help=argparse.SUPPRESS)
        p.add_argument("--json", action="store_true", help="machine-readable output")

    ask = subparsers.add_parser("ask", help="ask the swarm a question")
    ask.add_argument("question")
    ask.add_argument("--timeout", type=float, default=60.0, help="round deadline, seconds")
    common(ask)
    ask.set_defaults(handler=cmd_ask)

    status = subparsers.add_parser("status", help="members, reputations and ledger height")
    common(status)
    status.set_defaults(handler=cmd_status)

    ledger = subparsers.add_parser("ledger", help="ledger tools")
    ledger_sub = ledger.add_subparsers(dest="ledger_command", metavar="ACTION", required=True)
    verify = ledger_sub.add_parser(
        "verify", help="replay a node's ledger: signatures, links, winners and reputations"
    )
    verify.add_argument("--data-dir", help="the node's data directory (default: every 'up' node)")
    verify.add_argument("--swarm-id", help="swarm id (default: the one stored with the ledger)")
    verify.add_argument(
        "--gold-bank",
        help="the swarm's private gold bank (its nodes' round_gold_bank_file), if it has one",
    )
    verify.add_argument("--state-dir", default=str(DEFAULT_STATE_DIR), help=argparse.SUPPRESS)
    verify.set_defaults(handler=cmd_ledger_verify)
