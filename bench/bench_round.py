"""Round latency of a swarm of real nodes against the bare gRPC fan-outs a round needs.

``python -m bench.bench_round [--json] [--sizes 4,16,32] [--rounds M] [--warmup W]``.

For each size N, one asyncio loop starts N :class:`~node.swarm.SwarmNode` s, each behind its
own ``grpc.aio`` :class:`~node.server.NodeServer` on ``127.0.0.1:0`` with its own SQLite
:class:`~node.store.Store` in a temporary directory, a deterministic identity
(:func:`protocol.testing.test_identity`) and the instant ``sim`` backend; every node's
:class:`~node.swarm.StaticMembership` is all N members. Node 0 leads M sequential rounds (one
leader, because concurrent leaders race on the ledger height). A round is timed from
``ask()`` until every node has appended its record, i.e. the three phases Generate, Rank and
the record broadcast; ``ask_ms`` is what the asker waits for (the broadcast runs after it).

In the same run, over the leader's own peer channels, the benchmark times the transport floor of
those three phases: three sequential fan-outs of one unary call to all N nodes. The floor call
is the standard ``grpc.health.v1.Health/Check`` every NodeServer hosts (no signing, no store);
a signed ``GetInfo`` fan-out x3 is reported next to it. The target (issue 5, Done-when 7) is
``round_p50 / bare_fanout3_p50 <= 2``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.common import emit, machine
from node.backends.sim import SimBackend
from node.server import NodeServer
from node.swarm import RoundSettings, SwarmNode
from node.testing import in_process_swarm

SWARM = "bench-round"
DEFAULT_SIZES = (4, 16, 32)
TARGET_RATIO = 2.0
#: rounds per size when not given: enough for a p99 that means something, few enough that
#: 32 nodes on 2 cores stay within a minute
DEFAULT_ROUNDS = {4: 30, 16: 30, 32: 20}
DEFAULT_WARMUP = 3
FANOUT_REPEATS = 30  # bare fan-out x3 samples per size


@dataclass
class Swarm:
    """N nodes and their servers, all in this process."""

    nodes: list[SwarmNode]
    servers: list[NodeServer]

    @property
    def leader(self) -> SwarmNode:
        return self.nodes[0]

    def heights(self) -> list[int]:
        return [node.store.head()[0] for node in self.nodes]

    def heads_agree(self) -> bool:
        """Whether every node's ledger ends in the same record."""
        return len({node.store.head()[1] for node in self.nodes}) == 1


async def start_swarm(n_nodes: int, data_dir: Path, stack: AsyncExitStack) -> Swarm:
    """Start ``n_nodes`` sim nodes with real gRPC servers; ``stack`` tears them down."""
    settings = RoundSettings(generate_deadline_ms=20_000, rank_deadline_ms=20_000)
    backends = [SimBackend(seed=index) for index in range(n_nodes)]
    started = await stack.enter_async_context(
        in_process_swarm(data_dir, backends, swarm_id=SWARM, settings=settings)
    )
    return Swarm(started.nodes, started.servers)


def time_record_checks(swarm: Swarm) -> list[float]:
    """Collect the duration of every record acceptance (verify every signature, recompute the
    round, append, update reputations) on every node. The step is synchronous, so its wall
    time is its CPU time; in one process the N nodes' checks run one after another, which is
    the main reason a round here costs more than in a swarm of separate machines."""
    samples: list[float] = []
    for node in swarm.nodes:
        accept = node._accept_record_locked

        def timed(envelope: Any, accept: Callable[[Any], Any] = accept) -> Any:
            start = time.perf_counter()
            try:
                return accept(envelope)
            finally:
                samples.append(time.perf_counter() - start)

        node._accept_record_locked = timed  # type: ignore[method-assign]
    return samples


def question_for(index: int) -> str:
    """A question the sim model answers, different for every round.

    Three-digit products are hard enough for the sim model (difficulty 0.9) that generators
    disagree, so rounds have several candidates and a real Rank phase; with one candidate
    there is nothing to judge and the round would skip it.
    """
    return f"What is {347 + 7 * index} x {829 - 13 * index}?"


async def lead_round(swarm: Swarm, index: int) -> tuple[float, float, int]:
    """Lead one round; return (ask_s, round_s, candidates): the asker's wait, the time until
    every node has appended the record, and how many distinct answers were ranked."""
    leader = swarm.leader
    start = time.perf_counter()
    result = await leader.ask(question_for(index))
    asked = time.perf_counter()
    # The broadcast to the other members runs in the leader's background tasks.
    await asyncio.gather(*list(leader._background))
    done = time.perf_counter()
    return asked - start, done - start, len(result.response.candidates)


async def fan_out_x3(calls: Sequence[Callable[[], Awaitable[Any]]]) -> float:
    """Three sequential fan-outs of ``calls`` (each concurrent), like a round's three phases."""
    start = time.perf_counter()
    for _ in range(3):
        await asyncio.gather(*(call() for call in calls))
    return time.perf_counter() - start


def summary_ms(samples_s: Sequence[float]) -> dict[str, float]:
    """p50 / p99 / mean of ``samples_s`` in milliseconds."""
    ms = sorted(s * 1000 for s in samples_s)
    if len(ms) == 1:
        p50 = p99 = ms[0]
    else:
        cuts = statistics.quantiles(ms, n=100, method="inclusive")
        p50, p99 = statistics.median(ms), cuts[98]
    return {
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


async def measure_size(n_nodes: int, rounds: int, warmup: int) -> dict[str, Any]:
    """Start a swarm of ``n_nodes``, time ``rounds`` rounds and the bare fan-outs."""
    with tempfile.TemporaryDirectory(prefix="swarmrank-bench-round-") as tmp:
        async with AsyncExitStack() as stack:
            swarm = await start_swarm(n_nodes, Path(tmp), stack)
            leader = swarm.leader
            members = leader.membership.members()
            clients = [leader.client(m) for m in members]
            health_stubs = [health_pb2_grpc.HealthStub(c.channel) for c in clients]
            health_request = health_pb2.HealthCheckRequest(service="")
            bare_calls = [
                (lambda stub=stub: stub.Check(health_request, timeout=10.0))
                for stub in health_stubs
            ]
            info_calls = [
                (lambda client=client: client.call_get_info(os.urandom(16))) for client in clients
            ]

            for i in range(warmup):  # opens every channel, warms caches and code paths
                await lead_round(swarm, i)
                await fan_out_x3(bare_calls)
                await fan_out_x3(info_calls)

            ask_s: list[float] = []
            round_s: list[float] = []
            ranked = 0
            check_s = time_record_checks(swarm)
            started = time.perf_counter()
            for i in range(warmup, warmup + rounds):
                asked, total, n_candidates = await lead_round(swarm, i)
                ask_s.append(asked)
                round_s.append(total)
                ranked += n_candidates >= 2
            rounds_elapsed_s = time.perf_counter() - started

            bare_s = [await fan_out_x3(bare_calls) for _ in range(FANOUT_REPEATS)]
            info_s = [await fan_out_x3(info_calls) for _ in range(FANOUT_REPEATS)]
            heights = swarm.heights()
            heads_agree = swarm.heads_agree()

    round_ms = summary_ms(round_s)
    bare_ms = summary_ms(bare_s)
    return {
        "nodes": n_nodes,
        "rounds": rounds,
        "warmup_rounds": warmup,
        "round": round_ms,
        "ask": summary_ms(ask_s),
        "rounds_with_rank_phase": ranked,
        "rounds_per_s": round(rounds / rounds_elapsed_s, 3),
        "bare_fanout3": bare_ms,
        "signed_getinfo_fanout3": summary_ms(info_s),
        "ratio": round(round_ms["p50_ms"] / bare_ms["p50_ms"], 3),
        "record_check": summary_ms(check_s),
        "record_check_ms_per_round": round(sum(check_s) * 1000 / rounds, 3),
        "ledger_heights": heights,
        "ledger_heads_agree": heads_agree,
    }


def print_table(sizes: list[dict[str, Any]]) -> None:
    """A rich table of the per-size results (times in ms)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="swarm round vs three bare gRPC fan-outs (sim backend, instant; ms)")
    columns = ["nodes", "rounds", "round p50", "round p99", "ask p50", "rounds/s"]
    columns += ["bare x3 p50", "bare x3 p99", "GetInfo x3 p50", "ratio", "check p50"]
    for column in columns:
        table.add_column(column, justify="right")
    for row in sizes:
        ratio = row["ratio"]
        colour = "green" if ratio <= TARGET_RATIO else "red"
        table.add_row(
            str(row["nodes"]),
            str(row["rounds"]),
            f"{row['round']['p50_ms']:.1f}",
            f"{row['round']['p99_ms']:.1f}",
            f"{row['ask']['p50_ms']:.1f}",
            f"{row['rounds_per_s']:.2f}",
            f"{row['bare_fanout3']['p50_ms']:.2f}",
            f"{row['bare_fanout3']['p99_ms']:.2f}",
            f"{row['signed_getinfo_fanout3']['p50_ms']:.2f}",
            f"[{colour}]{ratio:.1f}x[/{colour}]",
            f"{row['record_check']['p50_ms']:.2f}",
        )
    table.caption = (
        f"ratio = round p50 / bare x3 p50, target <= {TARGET_RATIO:g}x; round = ask() until "
        "every node appended the record; bare = Health/Check fan-out to all N, three times; "
        "check = one node accepting one record (verify, recompute, append), which the N nodes "
        "of this one process run one after another"
    )
    Console(width=max(132, Console().width)).print(table)


def run(
    json_output: bool = False,
    sizes: Sequence[int] = DEFAULT_SIZES,
    rounds: int | None = None,
    warmup: int = DEFAULT_WARMUP,
) -> dict[str, Any]:
    """Measure every size in ``sizes``; print a table (or JSON) and return the result."""

    async def measure_all() -> list[dict[str, Any]]:
        return [await measure_size(n, rounds or DEFAULT_ROUNDS.get(n, 20), warmup) for n in sizes]

    per_size = asyncio.run(measure_all())
    result = {
        "benchmark": "round",
        "backend": "sim (latency_ms=0)",
        "leader": "node 0, sequential rounds",
        "round_timing": "ask() until every node appended the record",
        "bare_call": "grpc.health.v1.Health/Check over the leader's peer channels",
        "target_ratio": TARGET_RATIO,
        "sizes": per_size,
        "machine": machine(),
    }
    if json_output:
        emit(result, True, [])
    else:
        print_table(per_size)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated node counts"
    )
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per size")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed rounds")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    run(args.json, sizes, args.rounds, args.warmup)


if __name__ == "__main__":
    main()
