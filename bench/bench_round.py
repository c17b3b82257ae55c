"""Round latency of a swarm of real nodes against the bare gRPC fan-outs a round needs.

``python -m bench.bench_round [--json] [--sizes 4,16,32] [--rounds M] [--warmup W]
[--one-process] [--schedules 3n,adaptive] [--judge-budget B]``.

For each size N the benchmark starts N :class:`~node.swarm.node.SwarmNode` s, each behind its own
``grpc.aio`` :class:`~node.transport.server.NodeServer` on ``127.0.0.1:0`` with its own SQLite
:class:`~node.ledger.store.Store` in a temporary directory, a deterministic identity
(:func:`protocol.testing.test_identity`) and the instant ``sim`` backend; every node's
:class:`~node.membership.static.StaticMembership` is all N members. By default each node is its own
OS process, as deployed (``--one-process``: all in one event loop, where the N nodes' work runs
one after another). Node 0 leads M sequential rounds (one leader, because concurrent leaders
race on the ledger height). Two timings per round:

* ``ask``: ``ask()`` until it returns the answer, i.e. Generate and Rank fan-outs, the
  aggregation and the leader's signed record appended to its own ledger; the record broadcast
  then runs in the background.
* ``round``: ``ask()`` until every node has checked the record (verify every signature,
  recompute the round) and appended it: the three phases Generate, Rank and record broadcast.

In the same run, over the leader's own peer channels, the benchmark times the transport floor of
those three phases: three sequential fan-outs of one unary call to all N nodes. The floor call
is the standard ``grpc.health.v1.Health/Check`` every NodeServer hosts (no signing, no store);
a signed ``GetInfo`` fan-out x3 is reported next to it. The target (issue 5, Done-when 7) is
``round_p50 / bare_fanout3_p50 <= 2``.

Each size runs once per pair schedule (``--schedules``, default both ``3n`` and ``adaptive``
with ``--judge-budget`` calls per round, issue 17), each on a fresh swarm with the same
questions, and reports the judge calls per round (the verdicts the record's ballots carry:
one model call each) and the waves beside the latencies, so the two schedules compare side by
side.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import dataclasses
import multiprocessing
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
from node.membership.static import StaticMembership
from node.round.settings import RoundSettings
from node.swarm.node import SwarmNode
from node.testing import in_process_swarm
from node.transport.server import NodeServer
from protocol.v1 import messages_pb2

SWARM = "bench-round"
DEFAULT_SIZES = (4, 16, 32)
TARGET_RATIO = 2.0
#: rounds per size when not given: enough for a p99 that means something, few enough that
#: 32 nodes on 2 cores stay within a minute
DEFAULT_ROUNDS = {4: 30, 16: 30, 32: 20}
DEFAULT_WARMUP = 3
FANOUT_REPEATS = 30  # bare fan-out x3 samples per size
#: CPUs this process may run on (what the N node processes share)
CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
#: generous deadlines: the benchmark times rounds, it must not cut them short
SETTINGS = RoundSettings(generate_deadline_ms=20_000, rank_deadline_ms=20_000)
#: the pair schedules compared by default
DEFAULT_SCHEDULES = ("3n", "adaptive")
#: judge calls per round under "adaptive" when not given: about a third of what 3n asks of a
#: 16-node swarm's rounds here (question_for: about four distinct answers per round)
DEFAULT_JUDGE_BUDGET = 48


def settings_for(schedule: str, judge_budget: int = DEFAULT_JUDGE_BUDGET) -> RoundSettings:
    """The benchmark's round settings under ``schedule`` (``judge_budget``: adaptive only)."""
    if schedule == "adaptive":
        return dataclasses.replace(SETTINGS, schedule=schedule, judge_budget=judge_budget)
    return dataclasses.replace(SETTINGS, schedule=schedule)


@dataclass
class Swarm:
    """N nodes and their servers, all in this process."""

    nodes: list[SwarmNode]
    servers: list[NodeServer]

    @property
    def leader(self) -> SwarmNode:
        return self.nodes[0]


async def start_swarm(
    n_nodes: int, data_dir: Path, stack: AsyncExitStack, settings: RoundSettings = SETTINGS
) -> Swarm:
    """Start ``n_nodes`` sim nodes with real gRPC servers; ``stack`` tears them down."""
    backends = [SimBackend(seed=index) for index in range(n_nodes)]
    started = await stack.enter_async_context(
        in_process_swarm(data_dir, backends, swarm_id=SWARM, settings=settings)
    )
    return Swarm(started.nodes, started.servers)


def time_record_checks(
    nodes: Sequence[SwarmNode], cpu_window: tuple[int, int] | None = None
) -> tuple[list[float], dict[str, float]]:
    """Collect the duration of every record acceptance (verify every signature, recompute the
    round, append, update reputations) on every node in ``nodes``. The step is synchronous: in
    one process its wall time is its CPU time, and the N nodes' checks run one after another;
    with one process per node it is wall time, which includes waiting for a CPU.

    With ``cpu_window = (first, last)`` (one node per process) also mark this process's CPU
    time (``time.process_time``) when the ledger first reaches ``first`` records and when it
    reaches ``last``: the CPU spent on the rounds in between (Generate, Rank and the record
    check), as keys ``start`` and ``end`` of the returned dict."""
    samples: list[float] = []
    marks: dict[str, float] = {}
    if cpu_window is not None and cpu_window[0] == 0:
        marks["start"] = time.process_time()
    for node in nodes:
        accept = node._accept_record_locked

        def timed(
            envelope: Any, node: SwarmNode = node, accept: Callable[[Any], Any] = accept
        ) -> Any:
            start = time.perf_counter()
            try:
                return accept(envelope)
            finally:
                samples.append(time.perf_counter() - start)
                if cpu_window is not None:
                    height = node.store.head()[0]
                    if height == cpu_window[0]:
                        marks.setdefault("start", time.process_time())
                    elif height == cpu_window[1]:
                        marks.setdefault("end", time.process_time())

        node._accept_record_locked = timed  # type: ignore[method-assign]
    return samples, marks


def question_for(index: int) -> str:
    """A question the sim model answers, different for every round.

    Three-digit products are hard enough for the sim model (difficulty 0.9) that generators
    disagree, so rounds have several candidates and a real Rank phase; with one candidate
    there is nothing to judge and the round would skip it.
    """
    return f"What is {347 + 7 * index} x {829 - 13 * index}?"


@dataclass(frozen=True)
class Led:
    """One led round: the asker's wait, the time until every node has appended the record,
    how many distinct answers were ranked, the judge calls its ballots answered, its waves
    (1 under a fixed schedule) and why it stopped (adaptive)."""

    ask_s: float
    round_s: float
    candidates: int
    judge_calls: int
    waves: int
    stop_reason: str


def judge_calls(record_env: Any) -> tuple[int, int, str]:
    """(verdicts over the record's ballots, waves, stop reason) of a recorded round."""
    record = messages_pb2.ConsensusRecord.FromString(record_env.payload)
    calls = sum(len(messages_pb2.Ballot.FromString(e.payload).verdicts) for e in record.ballots)
    first = messages_pb2.RankRequest.FromString(record.rank_request.payload)
    asked = any(a.pairs for a in first.assignments)
    return calls, (1 + len(record.wave_requests)) if asked else 0, record.stop_reason


async def lead_round(leader: SwarmNode, index: int) -> Led:
    """Lead one round and time it (:class:`Led`)."""
    start = time.perf_counter()
    result = await leader.ask(question_for(index))
    asked = time.perf_counter()
    # The broadcast runs in the leader's background tasks; each SubmitRecord call returns once
    # its node has checked and appended the record.
    await asyncio.gather(*list(leader._background))
    done = time.perf_counter()
    calls, waves, reason = judge_calls(result.record)
    n_candidates = len(result.response.candidates)
    return Led(asked - start, done - start, n_candidates, calls, waves, reason)


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


ROUND_PHASES = ("generate", "rank", "aggregate", "record")


def phase_seconds(node: SwarmNode) -> dict[str, float]:
    """Total seconds ``node`` has spent in each phase of the rounds it led (its
    ``swarmrank_node_round_phase_seconds`` histogram)."""
    registry = node.metrics.registry
    name = "swarmrank_node_round_phase_seconds_sum"
    return {p: registry.get_sample_value(name, {"phase": p}) or 0.0 for p in ROUND_PHASES}


Tick = Callable[[], None]


def _no_tick() -> None:
    return None


async def lead_and_measure(
    leader: SwarmNode, rounds: int, warmup: int, tick: Tick = _no_tick
) -> dict[str, Any]:
    """From the leader: ``warmup`` untimed rounds, ``rounds`` timed ones, then the bare
    fan-outs over the leader's own peer channels. Raw samples in seconds; ``tick`` is called
    after every round (progress)."""
    members = leader.membership.members()
    clients = [leader.client(m) for m in members]
    health_stubs = [health_pb2_grpc.HealthStub(c.channel) for c in clients]
    health_request = health_pb2.HealthCheckRequest(service="")
    bare_calls = [
        (lambda stub=stub: stub.Check(health_request, timeout=10.0)) for stub in health_stubs
    ]
    info_calls = [
        (lambda client=client: client.call_get_info(os.urandom(16))) for client in clients
    ]
    for i in range(warmup):  # opens every channel, warms caches and code paths
        await lead_round(leader, i)
        await fan_out_x3(bare_calls)
        await fan_out_x3(info_calls)
        tick()
    ask_s: list[float] = []
    round_s: list[float] = []
    ranked = 0
    candidates: list[int] = []
    calls: list[int] = []
    waves: list[int] = []
    reasons: list[str] = []
    phases_before = phase_seconds(leader)
    started = time.perf_counter()
    cpu_started = time.process_time()
    for i in range(warmup, warmup + rounds):
        led = await lead_round(leader, i)
        ask_s.append(led.ask_s)
        round_s.append(led.round_s)
        ranked += led.candidates >= 2
        candidates.append(led.candidates)
        calls.append(led.judge_calls)
        waves.append(led.waves)
        reasons.append(led.stop_reason)
        tick()
    elapsed = time.perf_counter() - started
    cpu_s = time.process_time() - cpu_started
    phases_after = phase_seconds(leader)
    bare_s = [await fan_out_x3(bare_calls) for _ in range(FANOUT_REPEATS)]
    info_s = [await fan_out_x3(info_calls) for _ in range(FANOUT_REPEATS)]
    return {
        "ask_s": ask_s,
        "round_s": round_s,
        "ranked": ranked,
        "candidates": candidates,
        "judge_calls": calls,
        "waves": waves,
        "stop_reasons": reasons,
        "elapsed_s": elapsed,
        "cpu_s": cpu_s,
        "phase_s": {k: phases_after[k] - phases_before[k] for k in ROUND_PHASES},
        "bare_s": bare_s,
        "info_s": info_s,
    }


def size_result(
    n_nodes: int,
    rounds: int,
    warmup: int,
    mode: str,
    lead: dict[str, Any],
    check_s: Sequence[float],
    heads: Sequence[tuple[int, bytes]],
    member_cpu_s: Sequence[float] = (),
    settings: RoundSettings = SETTINGS,
) -> dict[str, Any]:
    """The per-size result from the leader's samples, every node's record-check times,
    every node's ledger head and, with one process per node, the CPU seconds each member's
    process spent on the timed rounds (in one process the leader's CPU time is every node's)."""
    round_ms = summary_ms(lead["round_s"])
    ask_ms = summary_ms(lead["ask_s"])
    bare_ms = summary_ms(lead["bare_s"])
    cpu_ms = (lead["cpu_s"] + sum(member_cpu_s)) * 1000 / rounds
    # On a machine with fewer CPUs than nodes the nodes' work queues for the CPUs: no round
    # can take less wall time than its CPU time divided by the CPUs.
    floor_ms = cpu_ms / CPUS
    return {
        "nodes": n_nodes,
        "mode": mode,
        "schedule": settings.schedule,
        "judge_budget": settings.judge_budget or None,
        # judge calls (model calls) per timed round: the verdicts its record's ballots carry
        "judge_calls_mean": round(statistics.fmean(lead["judge_calls"]), 2),
        "judge_calls_max": max(lead["judge_calls"]),
        "waves_mean": round(statistics.fmean(lead["waves"]), 2),
        "stop_reasons": dict(collections.Counter(r for r in lead["stop_reasons"] if r)),
        "rounds": rounds,
        "warmup_rounds": warmup,
        "round": round_ms,
        "ask": ask_ms,
        "rounds_with_rank_phase": lead["ranked"],
        # distinct answers per round: a ranker judges ~3 pairs per answer ("3n" schedule)
        "candidates_mean": round(statistics.fmean(lead["candidates"]), 2),
        "rounds_per_s": round(rounds / lead["elapsed_s"], 3),
        "bare_fanout3": bare_ms,
        "signed_getinfo_fanout3": summary_ms(lead["info_s"]),
        "ratio": round(round_ms["p50_ms"] / bare_ms["p50_ms"], 3),
        # mean milliseconds per timed round in each phase the leader ran (ask = their sum)
        "leader_phase_mean_ms": {
            k: round(v * 1000 / rounds, 3) for k, v in lead["phase_s"].items()
        },
        "ask_ratio": round(ask_ms["p50_ms"] / bare_ms["p50_ms"], 3),
        # CPU time of all N nodes per timed round, and that divided by this machine's CPUs
        "swarm_cpu_ms_per_round": round(cpu_ms, 3),
        "cpus": CPUS,
        "cpu_floor_ms": round(floor_ms, 3),
        "cpu_floor_ratio": round(floor_ms / bare_ms["p50_ms"], 3),
        # one process per node: the leader's share and the mean member's (ms per round)
        "leader_cpu_ms_per_round": round(lead["cpu_s"] * 1000 / rounds, 3)
        if member_cpu_s
        else None,
        "member_cpu_ms_per_round": (
            round(statistics.fmean(member_cpu_s) * 1000 / rounds, 3) if member_cpu_s else None
        ),
        "record_check": summary_ms(check_s) if check_s else {},
        "record_check_ms_per_round": round(sum(check_s) * 1000 / rounds, 3),
        "ledger_heights": [h for h, _ in heads],
        "ledger_heads_agree": len({head for _, head in heads}) == 1,
    }


async def measure_size_one_process(
    n_nodes: int,
    rounds: int,
    warmup: int,
    tick: Tick = _no_tick,
    settings: RoundSettings = SETTINGS,
) -> dict[str, Any]:
    """All ``n_nodes`` nodes in this process and event loop: their work runs one after
    another, so this measures the swarm's total CPU per round more than its latency."""
    with tempfile.TemporaryDirectory(prefix="swarmrank-bench-round-") as tmp:
        async with AsyncExitStack() as stack:
            swarm = await start_swarm(n_nodes, Path(tmp), stack, settings)
            for _ in range(n_nodes):
                tick()
            check_s, _ = time_record_checks(swarm.nodes)
            lead = await lead_and_measure(swarm.leader, rounds, warmup, tick)
            heads = [node.store.head() for node in swarm.nodes]
    # Warm-up rounds' checks are not timed: drop them (the first warmup * (n - 1) samples).
    check_s = check_s[warmup * (n_nodes - 1) :]
    return size_result(
        n_nodes, rounds, warmup, "one-process", lead, check_s, heads, settings=settings
    )


# --- one process per node -------------------------------------------------------------------

#: seconds to wait for a node process to start, or for the leader to finish a size
PROCESS_START_TIMEOUT_S = 300.0
LEAD_TIMEOUT_S = 1800.0


def _node_process(
    index: int, data_dir: str, conn: Any, rounds: int, warmup: int, settings: RoundSettings
) -> None:
    """Entry point of one node process (see :func:`measure_size_processes`)."""
    asyncio.run(_node_main(index, Path(data_dir), conn, rounds, warmup, settings))


async def _node_main(
    index: int, data_dir: Path, conn: Any, rounds: int, warmup: int, settings: RoundSettings
) -> None:
    async with AsyncExitStack() as stack:
        started = await stack.enter_async_context(
            in_process_swarm(
                data_dir,
                [SimBackend(seed=index)],
                swarm_id=SWARM,
                settings=settings,
                first_identity=index,
            )
        )
        node: SwarmNode = started.nodes[0]
        conn.send(node.self_member())
        members = await asyncio.to_thread(conn.recv)
        node.membership = StaticMembership(members)
        check_s, window = time_record_checks([node], (warmup, warmup + rounds))
        if index == 0:

            def tick() -> None:
                conn.send(PROGRESS)

            conn.send(await lead_and_measure(node, rounds, warmup, tick))
        await asyncio.to_thread(conn.recv)  # the parent's "stop"
        # The leader checks no record of its own; the others skip their warm-up checks.
        cpu_s = window["end"] - window["start"] if index else 0.0  # the leader reports its own
        conn.send({"check_s": check_s[warmup:], "head": node.store.head(), "cpu_s": cpu_s})


#: what the leader process sends after each round, before its result
PROGRESS = "progress"


def _receive(conn: Any, timeout_s: float, what: str, tick: Tick = _no_tick) -> Any:
    """The next message on ``conn`` that is not a progress tick (those call ``tick``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if not conn.poll(max(deadline - time.monotonic(), 0.0)):
            raise RuntimeError(f"bench round: no {what} within {timeout_s:g} s")
        message = conn.recv()
        if message != PROGRESS:
            return message
        tick()


def measure_size_processes(
    n_nodes: int,
    rounds: int,
    warmup: int,
    tick: Tick = _no_tick,
    settings: RoundSettings = SETTINGS,
) -> dict[str, Any]:
    """Each node in its own OS process (``spawn``), as deployed: its own interpreter, event
    loop, gRPC server and SQLite store; node 0 leads. Nodes share this machine's CPUs, so on a
    machine with fewer cores than nodes their work still queues."""
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="swarmrank-bench-round-") as tmp:
        conns: list[Any] = []
        procs: list[Any] = []
        try:
            for index in range(n_nodes):
                parent, child = ctx.Pipe()
                proc = ctx.Process(
                    target=_node_process,
                    args=(index, str(Path(tmp) / f"node{index}"), child, rounds, warmup, settings),
                    daemon=True,
                )
                proc.start()
                conns.append(parent)
                procs.append(proc)
            members = []
            for conn in conns:
                members.append(_receive(conn, PROCESS_START_TIMEOUT_S, "member"))
                tick()
            for conn in conns:
                conn.send(members)
            lead = _receive(conns[0], LEAD_TIMEOUT_S, "result from the leader", tick)
            for conn in conns:
                conn.send("stop")
            finals = [_receive(c, PROCESS_START_TIMEOUT_S, "final report") for c in conns]
            for proc in procs:
                proc.join(timeout=30)
        finally:
            for proc in procs:
                if proc.is_alive():
                    proc.kill()
    check_s = [s for final in finals for s in final["check_s"]]
    heads = [final["head"] for final in finals]
    member_cpu_s = [final["cpu_s"] for final in finals[1:]]
    return size_result(
        n_nodes, rounds, warmup, "processes", lead, check_s, heads, member_cpu_s, settings
    )


def print_table(sizes: list[dict[str, Any]]) -> None:
    """A rich table of the per-size results (times in ms)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="swarm round vs three bare gRPC fan-outs (sim backend, instant; ms)")
    columns = ["nodes", "schedule", "mode", "rounds", "judge calls", "round p50", "round p99"]
    columns += ["ask p50", "ask p99"]
    columns += ["rounds/s", "bare x3 p50", "bare x3 p99", "round/bare", "ask/bare", "check p50"]
    for column in columns:
        table.add_column(column, justify="right")

    def coloured(ratio: float) -> str:
        colour = "green" if ratio <= TARGET_RATIO else "red"
        return f"[{colour}]{ratio:.1f}x[/{colour}]"

    for row in sizes:
        table.add_row(
            str(row["nodes"]),
            row["schedule"],
            row["mode"],
            str(row["rounds"]),
            f"{row['judge_calls_mean']:.1f}",
            f"{row['round']['p50_ms']:.1f}",
            f"{row['round']['p99_ms']:.1f}",
            f"{row['ask']['p50_ms']:.1f}",
            f"{row['ask']['p99_ms']:.1f}",
            f"{row['rounds_per_s']:.2f}",
            f"{row['bare_fanout3']['p50_ms']:.2f}",
            f"{row['bare_fanout3']['p99_ms']:.2f}",
            coloured(row["ratio"]),
            coloured(row["ask_ratio"]),
            f"{row['record_check'].get('p50_ms', float('nan')):.2f}",
        )
    table.caption = (
        f"target <= {TARGET_RATIO:g}x; round = ask() until every node checked and appended the "
        "record; ask = until the leader returned the answer and its signed, appended record "
        "(the broadcast then runs); bare = Health/Check fan-out to all N, three times; check = "
        "one node accepting one record (verify every signature, recompute, append)"
    )
    console = Console(width=max(150, Console().width))
    console.print(table)
    phases = Table(title="where the time goes (mean ms per round)")
    columns = ["nodes", "schedule", "answers", *ROUND_PHASES, "ask mean", "CPU, all nodes"]
    for column in [*columns, "CPU floor", "floor/bare"]:
        phases.add_column(column, justify="right")
    for row in sizes:
        mean = row["leader_phase_mean_ms"]
        phases.add_row(
            str(row["nodes"]),
            row["schedule"],
            f"{row['candidates_mean']:.1f}",
            *(f"{mean[p]:.1f}" for p in ROUND_PHASES),
            f"{row['ask']['mean_ms']:.1f}",
            f"{row['swarm_cpu_ms_per_round']:.1f}",
            f"{row['cpu_floor_ms']:.1f}",
            coloured(row["cpu_floor_ratio"]),
        )
    phases.caption = (
        "generate .. record: the leader's phases of ask(); CPU, all nodes: CPU time of every node "
        f"process per timed round; CPU floor: that / {CPUS} CPUs, the least wall time the round's "
        "work can take on this machine; floor/bare: floor / bare x3 p50"
    )
    console.print(phases)
    print_schedules(console, sizes)


def print_schedules(console: Any, sizes: list[dict[str, Any]]) -> None:
    """Judge calls and latency per schedule, side by side (issue 17)."""
    from rich.table import Table

    table = Table(title="judge calls and latency per round, by pair schedule")
    columns = ["nodes", "schedule", "budget", "judge calls mean", "max", "waves", "stops"]
    for column in [*columns, "rank ms", "ask p50", "round p50", "answers"]:
        table.add_column(column, justify="right")
    for row in sizes:
        stops = ", ".join(f"{k} {v}" for k, v in sorted(row["stop_reasons"].items()))
        table.add_row(
            str(row["nodes"]),
            row["schedule"],
            str(row["judge_budget"] or "-"),
            f"{row['judge_calls_mean']:.1f}",
            str(row["judge_calls_max"]),
            f"{row['waves_mean']:.2f}",
            stops or "-",
            f"{row['leader_phase_mean_ms']['rank']:.1f}",
            f"{row['ask']['p50_ms']:.1f}",
            f"{row['round']['p50_ms']:.1f}",
            f"{row['candidates_mean']:.1f}",
        )
    table.caption = (
        "judge calls: verdicts in the record's ballots (one model call each); waves: RankRequests "
        "per round (0: one answer, nothing to judge); rank ms: the leader's rank phase, mean; "
        "answers: distinct answers per round; the same questions on a fresh swarm per schedule"
    )
    console.print(table)


def run(
    json_output: bool = False,
    sizes: Sequence[int] = DEFAULT_SIZES,
    rounds: int | None = None,
    warmup: int = DEFAULT_WARMUP,
    one_process: bool = False,
    schedules: Sequence[str] = DEFAULT_SCHEDULES,
    judge_budget: int = DEFAULT_JUDGE_BUDGET,
) -> dict[str, Any]:
    """Measure every size in ``sizes`` under every schedule in ``schedules``; print a table (or
    JSON) and return the result. A progress bar per size and schedule (nodes started, then
    rounds) goes to stderr unless ``json_output``."""
    from rich.console import Console
    from rich.progress import Progress

    per_size: list[dict[str, Any]] = []
    with Progress(console=Console(stderr=True), disable=json_output) as progress:
        for n, schedule in [(n, s) for n in sizes for s in schedules]:
            count = rounds or DEFAULT_ROUNDS.get(n, 20)
            settings = settings_for(schedule, judge_budget)
            task = progress.add_task(
                f"{n} nodes, {schedule}: start, then rounds", total=n + warmup + count
            )

            def tick(task: Any = task) -> None:
                progress.advance(task)

            if one_process:
                measured = asyncio.run(measure_size_one_process(n, count, warmup, tick, settings))
            else:
                measured = measure_size_processes(n, count, warmup, tick, settings)
            per_size.append(measured)
    result = {
        "benchmark": "round",
        "backend": "sim (latency_ms=0)",
        "mode": "one-process" if one_process else "processes",
        "leader": "node 0, sequential rounds",
        "round_timing": "ask() until every node checked and appended the record",
        "ask_timing": "ask() until the leader returned the answer and its appended record",
        "bare_call": "grpc.health.v1.Health/Check over the leader's peer channels",
        "target_ratio": TARGET_RATIO,
        "schedules": list(schedules),
        "judge_budget": judge_budget if "adaptive" in schedules else None,
        "sizes": per_size,
        "machine": machine(),
    }
    if json_output:
        emit(result, True, [])
    else:
        print_table(per_size)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument(
        "--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="comma-separated node counts"
    )
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per size")
    parser.add_argument("--warmup", type=int, default=DEFAULT_WARMUP, help="untimed rounds")
    parser.add_argument(
        "--one-process",
        action="store_true",
        help="all nodes in this process and event loop (default: one OS process per node)",
    )
    parser.add_argument(
        "--schedules",
        default=",".join(DEFAULT_SCHEDULES),
        help="comma-separated pair schedules, each on its own swarm (3n, full, adaptive)",
    )
    parser.add_argument(
        "--judge-budget",
        type=int,
        default=DEFAULT_JUDGE_BUDGET,
        help="judge calls per round under the adaptive schedule",
    )
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    schedules = [s.strip() for s in args.schedules.split(",") if s.strip()]
    run(
        args.json,
        sizes,
        args.rounds,
        args.warmup,
        args.one_process,
        schedules,
        args.judge_budget,
    )


if __name__ == "__main__":
    main()
