"""Simulator throughput: node-rounds per second of the fast engine, and the DESIGN target
of 10,000 nodes x 1,000 rounds.

``python -m bench.bench_sim [--json] [--nodes N] [--rounds R]``. The swarm is 10,000 honest and
adversarial nodes (20% open clique) with 35 generators and 35 rankers selected per round, the
DESIGN's selection. By default the full 1,000 rounds are run and timed; with ``--rounds``
fewer, the 1,000-round time is extrapolated linearly and labelled as such.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

from bench.common import emit, machine
from sim.engine import simulate
from sim.scenario import parse_scenario

TARGET_NODES = 10_000
TARGET_ROUNDS = 1_000


def bench_scenario(nodes: int, rounds: int) -> dict[str, Any]:
    """The benchmark scenario as raw TOML data."""
    return {
        "name": "bench",
        "seed": 1,
        "rounds": rounds,
        "swarm": {"nodes": nodes, "generators": 35, "rankers": 35, "schedule": "3n"},
        "tasks": {"options": 4, "difficulty": {"mean": 0.5, "sd": 1.0}},
        "nodes": [
            {"name": "honest", "behaviour": "honest"},
            {"name": "clique", "behaviour": "clique", "fraction": 0.2},
        ],
    }


def run(
    json_output: bool = False, nodes: int = TARGET_NODES, rounds: int = TARGET_ROUNDS
) -> dict[str, Any]:
    scenario = parse_scenario(bench_scenario(nodes, rounds))
    simulate(parse_scenario(bench_scenario(nodes, 5)))  # warm imports and caches
    start = time.perf_counter()
    record = simulate(scenario)
    elapsed_s = time.perf_counter() - start
    node_rounds_per_s = nodes * rounds / elapsed_s
    measured = nodes == TARGET_NODES and rounds == TARGET_ROUNDS
    target_s = elapsed_s * (TARGET_NODES * TARGET_ROUNDS) / (nodes * rounds)
    result = {
        "benchmark": "sim",
        "nodes": nodes,
        "rounds": rounds,
        "generators_per_round": 35,
        "rankers_per_round": 35,
        "elapsed_s": round(elapsed_s, 3),
        "ms_per_round": round(1000 * elapsed_s / rounds, 3),
        "node_rounds_per_s": round(node_rounds_per_s),
        "judge_calls_per_round": round(float(record.judge_calls.mean()), 1),
        "target_10k_x_1k_s": round(target_s, 1),
        "target_is_extrapolated": not measured,
        "machine": machine(),
    }
    label = "measured" if measured else "extrapolated linearly from the run above"
    lines = [
        f"sim engine: {nodes} nodes x {rounds} rounds (35 generators, 35 rankers per round)",
        f"  {elapsed_s:.2f} s, {1000 * elapsed_s / rounds:.2f} ms/round, "
        f"{node_rounds_per_s:,.0f} node-rounds/s",
        f"  10,000 nodes x 1,000 rounds: {target_s:.1f} s ({label})",
    ]
    emit(result, json_output, lines)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--nodes", type=int, default=TARGET_NODES)
    parser.add_argument("--rounds", type=int, default=TARGET_ROUNDS)
    args = parser.parse_args(argv)
    run(args.json, args.nodes, args.rounds)


if __name__ == "__main__":
    main()
