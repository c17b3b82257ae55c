"""Load: a local swarm answering many questions at once, driven through its HTTP gateway by the
official ``openai`` client (issue 18).

``python -m bench.bench_load [--nodes 5] [--latency-ms 300] [--levels 1,8,32] [--out DIR]
[--set FIELD=VALUE ...]``
(or ``swarmrank bench load ...``) starts a :class:`~node.daemon.local.LocalSwarm` (Ray, N
``sim`` node daemons as separate processes, the gateway) whose model takes ``--latency-ms``
per call, then for each concurrency level sends ``max(--min-requests, 4 x level)`` chat
completions from that many concurrent clients. Per level: throughput (answers per second of
wall time), latency percentiles, HTTP errors by status, and answers checked against the
arithmetic they were asked. After the load every node's ledger is replayed from the start
(``swarmrank ledger verify``) and the heads compared. Writes ``load.json`` and ``load.png``
(throughput and latency against concurrency) to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import emit, main_with_options

MODEL = "swarmrank-consensus"


def question(index: int) -> tuple[str, str]:
    """The ``index``-th question and its answer (distinct sums, so no round repeats)."""
    a, b = 100 + 7 * index, 3 + 11 * index
    return f"What is {a} + {b}?", str(a + b)


async def _one(client: Any, index: int) -> dict[str, Any]:
    import openai

    text, expected = question(index)
    start = time.perf_counter()
    try:
        reply = await client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": text}]
        )
    except openai.APIStatusError as exc:
        return {"status": exc.status_code, "latency_s": time.perf_counter() - start}
    except openai.APIError as exc:  # connection reset, timeout: not an HTTP answer
        return {"status": f"error:{type(exc).__name__}", "latency_s": time.perf_counter() - start}
    answer = reply.choices[0].message.content or ""
    return {
        "status": 200,
        "latency_s": time.perf_counter() - start,
        "correct": expected in answer,
    }


async def drive_level(url: str, concurrency: int, requests: int, first: int) -> dict[str, Any]:
    """``requests`` chat completions from ``concurrency`` concurrent clients."""
    import openai

    client = openai.AsyncOpenAI(base_url=url, api_key="unused", max_retries=0, timeout=120.0)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(first, first + requests):
        queue.put_nowait(index)
    outcomes: list[dict[str, Any]] = []

    async def worker() -> None:
        while not queue.empty():
            outcomes.append(await _one(client, queue.get_nowait()))

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall_s = time.perf_counter() - start
    await client.close()
    ok = [o for o in outcomes if o["status"] == 200]
    latencies = sorted(o["latency_s"] for o in ok)

    def pct(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else 0.0

    return {
        "concurrency": concurrency,
        "requests": requests,
        "answered": len(ok),
        "correct": sum(1 for o in ok if o["correct"]),
        "errors": dict(Counter(str(o["status"]) for o in outcomes if o["status"] != 200)),
        "wall_s": wall_s,
        "throughput_per_s": len(ok) / wall_s if wall_s > 0 else 0.0,
        "latency_p50_s": pct(0.50),
        "latency_p99_s": pct(0.99),
        "latency_mean_s": statistics.fmean(latencies) if latencies else 0.0,
    }


def verify_ledgers(data_dirs: Sequence[Path], swarm_id: str) -> dict[str, Any]:
    """Replay every node's ledger; the heads must agree."""
    from node.ledger.replay import replay_ledger
    from node.ledger.store import Store

    heads = []
    verified = []
    for data_dir in data_dirs:
        with Store(data_dir / "node.sqlite3") as store:
            summary = replay_ledger(store, swarm_id)
        heads.append((summary.records, summary.head.hex()))
        verified.append(summary.records)
    return {"heads_agree": len(set(heads)) == 1, "records": verified, "head": heads[0][1]}


async def _run(args: argparse.Namespace, state_dir: Path) -> dict[str, Any]:
    from node.daemon.local import LocalSwarm

    swarm = LocalSwarm(
        nodes=args.nodes,
        state_dir=state_dir,
        fresh=True,
        node_args=(
            f"--set=sim_latency_ms={args.latency_ms}",
            *(f"--set={setting}" for setting in args.set),
        ),
        ready_timeout_s=180.0,
    )
    await swarm.start()
    levels: list[dict[str, Any]] = []
    try:
        url = swarm.gateway.url
        first = 0
        for concurrency in args.levels:
            requests = max(args.min_requests, 4 * concurrency)
            level = await drive_level(url, concurrency, requests, first)
            first += requests
            levels.append(level)
            _print_level(level)
        data_dirs = [node.data_dir for node in swarm.nodes]
    finally:
        await swarm.stop()
    ledgers = verify_ledgers(data_dirs, swarm.swarm_id)
    base = levels[0]["throughput_per_s"] if levels else 0.0
    for level in levels:
        level["speedup"] = level["throughput_per_s"] / base if base else 0.0
    return {
        "nodes": args.nodes,
        "latency_ms": args.latency_ms,
        "settings": list(args.set),
        "levels": levels,
        "ledgers": ledgers,
    }


def _print_level(level: dict[str, Any]) -> None:
    errors = ", ".join(f"{k}: {v}" for k, v in sorted(level["errors"].items())) or "none"
    print(
        f"concurrency {level['concurrency']:>3}: {level['throughput_per_s']:6.2f} answers/s, "
        f"p50 {level['latency_p50_s']:.2f} s, p99 {level['latency_p99_s']:.2f} s, "
        f"answered {level['answered']}/{level['requests']}, correct {level['correct']}, "
        f"errors {errors}",
        flush=True,
    )


def plot(result: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = result["levels"]
    xs = [lv["concurrency"] for lv in levels]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(xs, [lv["throughput_per_s"] for lv in levels], marker="o")
    left.set_xlabel("concurrent requests")
    left.set_ylabel("answers per second")
    left.set_xscale("log", base=2)
    left.set_title(f"{result['nodes']} nodes, model {result['latency_ms']} ms per call")
    right.plot(xs, [lv["latency_p50_s"] for lv in levels], marker="o", label="p50")
    right.plot(xs, [lv["latency_p99_s"] for lv in levels], marker="o", label="p99")
    right.set_xlabel("concurrent requests")
    right.set_ylabel("latency (s)")
    right.set_xscale("log", base=2)
    right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run(json_output: bool = False, argv: Sequence[str] = ()) -> dict[str, Any]:
    """Run with ``argv`` options (see the module docstring); returns the result."""
    args = _parser().parse_args(list(argv))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="swarmrank-bench-load-") as tmp:
        result = asyncio.run(_run(args, Path(tmp) / "up"))
    (out / "load.json").write_text(json.dumps(result, indent=2, sort_keys=True))
    plot(result, out / "load.png")
    ledgers = result["ledgers"]
    summary = (
        f"ledgers: heads agree {ledgers['heads_agree']}, records {ledgers['records']}; "
        f"wrote {out / 'load.json'} and {out / 'load.png'}"
    )
    emit(result, json_output, [summary])
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=300.0)
    parser.add_argument(
        "--levels",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 8, 32],
        help="comma-separated concurrency levels",
    )
    parser.add_argument("--min-requests", type=int, default=16)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="a node setting for every node (e.g. sim_generation_skill=4); repeatable",
    )
    parser.add_argument("--out", default="bench-out/load")
    parser.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    main_with_options(run, argv)


if __name__ == "__main__":
    main()
