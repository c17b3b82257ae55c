"""Where a real-model round spends its time: generation, judging, and the protocol around them
(issue 13).

``python -m bench.bench_real_round [--nodes 4] [--rounds 6] [--judge-mode prob]`` (or
``swarmrank bench real-round ...``) runs an in-process swarm of ``--nodes`` nodes, each with
the in-process llama.cpp backend on a shipped model (SmolLM2 135M and Gemma 3 270M in turn,
one thread each), real gRPC on loopback, and leads ``--rounds`` rounds on short questions the
two models tend to answer differently (so that there is something to judge). Per round:

* **generation**: the slowest generator's time serving its Generate call (the model's answer;
  generators answer in parallel);
* **judging**: the slowest ranker's time serving its Rank call (all its judge calls; rankers
  work in parallel);
* **protocol**: the rest of the round as the asker waits for it (signing, sending, gRPC,
  clustering, aggregation, the record and its check), with the two above taken out.

Serve times come from each node's own ``swarmrank_node_request_latency_seconds`` histogram (its
sum before and after the round); they include the node's own check of the request (a
millisecond or two), so protocol is slightly under-counted. Nothing is downloaded: the models
come from the installed packages (``make models``); without them the benchmark says so and
exits.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import emit, main_with_options

MODELS = ("smollm2-135m", "gemma3-270m")
QUESTIONS = (
    "What is 17 + 25?",
    "What is the capital of Australia?",
    "What is 12 x 12?",
    "What is the chemical symbol of gold?",
    "What is 100 - 37?",
    "What is the capital of Canada?",
    "What is 9 + 16?",
    "What is the largest planet of the solar system?",
)


def _serve_seconds(node: Any, method: str) -> float:
    """The total time ``node`` has spent serving ``method`` calls so far."""
    for metric in node.metrics.registry.collect():
        if metric.name != "swarmrank_node_request_latency_seconds":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_sum") and sample.labels.get("method") == method:
                return float(sample.value)
    return 0.0


def _slowest(nodes: Sequence[Any], method: str, before: dict[str, float]) -> float:
    return max(_serve_seconds(n, method) - before[n.node_id] for n in nodes)


async def _measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from node.backends.llama import LlamaBackend
    from node.round.settings import RoundSettings
    from node.testing import in_process_swarm

    cache = tmp / "models"
    backends = [
        LlamaBackend(
            MODELS[i % len(MODELS)],
            cache_dir=cache,
            n_threads=1,
            seed=i,
            temperature=0.2 if i < 2 else 0.7,
            judge_mode=args.judge_mode,
            timeout_s=120.0,
        )
        for i in range(args.nodes)
    ]
    settings = RoundSettings(generate_deadline_ms=120_000, rank_deadline_ms=240_000)
    rounds: list[dict[str, Any]] = []
    async with in_process_swarm(tmp, backends, settings=settings) as swarm:
        leader = swarm.nodes[0]
        for index in range(args.rounds):
            generated = {n.node_id: _serve_seconds(n, "Generate") for n in swarm.nodes}
            ranked = {n.node_id: _serve_seconds(n, "Rank") for n in swarm.nodes}
            started = asyncio.get_running_loop().time()
            result = await leader.ask(QUESTIONS[index % len(QUESTIONS)])
            total_s = asyncio.get_running_loop().time() - started
            generate_s = _slowest(swarm.nodes, "Generate", generated)
            judge_s = _slowest(swarm.nodes, "Rank", ranked)
            rounds.append(
                {
                    "question": QUESTIONS[index % len(QUESTIONS)],
                    "answer": result.response.answer,
                    "candidates": len(result.response.candidates),
                    "total_s": total_s,
                    "generation_s": generate_s,
                    "judging_s": judge_s,
                    "protocol_s": max(total_s - generate_s - judge_s, 0.0),
                }
            )
            print(_line(rounds[-1]), flush=True)
    for backend in backends:
        await backend.close()
    return _summary(args, rounds)


def _line(r: dict[str, Any]) -> str:
    return (
        f"{r['question'][:40]:40}  {r['total_s']:6.2f} s: generation {r['generation_s']:5.2f}, "
        f"judging {r['judging_s']:5.2f}, protocol {r['protocol_s']:5.2f}  -> {r['answer'][:30]!r}"
    )


def _summary(args: argparse.Namespace, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    total = sum(r["total_s"] for r in rounds)
    shares = {
        part: (sum(r[f"{part}_s"] for r in rounds) / total if total else 0.0)
        for part in ("generation", "judging", "protocol")
    }
    return {
        "nodes": args.nodes,
        "judge_mode": args.judge_mode,
        "rounds": rounds,
        "mean_round_s": statistics.fmean(r["total_s"] for r in rounds) if rounds else 0.0,
        "shares": shares,
    }


def run(json_output: bool = False, argv: Sequence[str] = ()) -> dict[str, Any]:
    """Run with ``argv`` options (see the module docstring); returns the result."""
    from node.models.errors import ModelError

    args = _parser().parse_args(list(argv))
    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        print("bench real-round: llama-cpp-python is not installed (make models)")
        return {}
    with tempfile.TemporaryDirectory(prefix="swarmrank-bench-real-round-") as tmp:
        try:
            result = asyncio.run(_measure(args, Path(tmp)))
        except ModelError as exc:
            print(f"bench real-round: {exc} (make models)")
            return {}
    shares = result["shares"]
    summary = (
        f"{args.nodes} nodes, {len(result['rounds'])} rounds, "
        f"mean {result['mean_round_s']:.2f} s: generation {shares['generation']:.0%}, "
        f"judging {shares['judging']:.0%}, protocol {shares['protocol']:.0%}"
    )
    emit(result, json_output, [summary])
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--judge-mode", default="prob", choices=("text", "prob", "likelihood"))
    parser.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    main_with_options(run, argv)


if __name__ == "__main__":
    main()
