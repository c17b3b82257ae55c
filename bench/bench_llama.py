"""Real small models as nodes: load time, seconds per answer and per judgement, and the judges'
position bias, for every installed shipped model and judging mode.

``python -m bench.bench_llama [--json] [--models smollm2-135m gemma3-270m] [--threads 2]
[--modes text prob likelihood]``

Position bias is measured on :data:`EASY_PAIRS` (a question, its right answer, a plainly wrong
one). Each pair is judged with the right answer shown first and again shown second:

* ``p_a_right_first`` / ``p_a_right_second`` — the judge's own preference for the letter A in
  each order (for ``prob``: the next-token share of ``A``; for ``text``: the share of ``A``
  verdicts among the parseable ones). An unbiased judge that knows gives ~1 then ~0; a judge
  that picks by position gives about the same number in both.
* ``accuracy`` — share of (pair, order) judgements whose final verdict names the right answer;
  ``ties`` and ``abstains`` — shares of those outcomes.

Needs ``llama-cpp-python`` and the shipped model packages (``swarmrank models list``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.common import emit, machine

#: (question, right answer, wrong answer): easy for a person, checkable by anyone
EASY_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("What is the capital of France?", "Paris", "Lyon"),
    ("What is the capital of Japan?", "Tokyo", "Osaka"),
    ("What is the capital of Italy?", "Rome", "Milan"),
    ("What is the capital of Germany?", "Berlin", "Munich"),
    ("What is the capital of Spain?", "Madrid", "Barcelona"),
    ("What is the chemical symbol of gold?", "Au", "Ag"),
    ("What is the chemical symbol of iron?", "Fe", "Ir"),
    ("What is the chemical symbol of sodium?", "Na", "So"),
    ("What is the chemical symbol of oxygen?", "O", "Ox"),
    ("What is 2 + 2?", "4", "5"),
    ("What is 10 - 3?", "7", "13"),
    ("What is 6 x 7?", "42", "36"),
    ("How many days are in a week?", "7", "10"),
    ("What color is the sky on a clear day?", "Blue", "Green"),
    ("What is the freezing point of water in degrees Celsius?", "0", "100"),
)
GENERATE_QUESTIONS = (
    "What is the capital of France?",
    "What is the capital of Australia?",
    "What is the chemical symbol of gold?",
    "What is 17 + 25?",
)
MODES = ("text", "prob", "likelihood")


async def measure_model(
    name: str,
    cache_dir: Path,
    *,
    threads: int | None,
    pairs: Sequence[tuple[str, str, str]],
    modes: Sequence[str] = MODES,
) -> dict[str, Any]:
    """Every number of one model (all judge modes share one loaded model per mode)."""
    from node.backends.llama import LlamaBackend

    result: dict[str, Any] = {"model": name, "modes": {}}
    backend = LlamaBackend(name, cache_dir=cache_dir, n_threads=threads, temperature=0.0)
    result["load_s"] = round(backend.load_s, 3)
    result["prompt_style"] = backend.prompt_style
    answers: dict[str, str] = {}
    seconds: list[float] = []
    for question in GENERATE_QUESTIONS:
        start = time.perf_counter()
        answer = await backend.generate(question, query_id=b"bench")
        seconds.append(time.perf_counter() - start)
        answers[question] = answer.text
    result["answers"] = answers
    result["generate_s"] = _summary(seconds)
    for mode in modes:
        backend.judge_mode = mode  # type: ignore[assignment]  # same model, other judging mode
        result["modes"][mode] = await measure_judge(backend, pairs)
    await backend.close()
    return result


async def measure_judge(backend: Any, pairs: Sequence[tuple[str, str, str]]) -> dict[str, Any]:
    """Position bias and accuracy of ``backend`` in its current judge mode on ``pairs``."""
    seconds: list[float] = []
    right = ties = abstains = 0
    a_first: list[float] = []
    a_second: list[float] = []
    for question, good, bad in pairs:
        for good_first in (True, False):
            first, second = (good, bad) if good_first else (bad, good)
            start = time.perf_counter()
            verdict = await backend.judge(question, first, second, query_id=b"bench")
            seconds.append(time.perf_counter() - start)
            picked = {"A": first, "B": second}.get(verdict.outcome)
            right += picked == good
            ties += verdict.outcome == "tie"
            abstains += verdict.outcome == "abstain"
            if backend.judge_mode == "text" and verdict.outcome in ("A", "B"):
                (a_first if good_first else a_second).append(float(verdict.outcome == "A"))
        if backend.judge_mode == "prob":
            a_first.append((await backend.letter_probs(question, good, bad)).share_a)
            a_second.append((await backend.letter_probs(question, bad, good)).share_a)
    n = 2 * len(pairs)
    return {
        "judge_s": _summary(seconds),
        "accuracy": round(right / n, 3),
        "ties": round(ties / n, 3),
        "abstains": round(abstains / n, 3),
        "p_a_right_first": round(statistics.fmean(a_first), 3) if a_first else None,
        "p_a_right_second": round(statistics.fmean(a_second), 3) if a_second else None,
    }


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 3),
        "mean": round(statistics.fmean(values), 3),
        "max": round(max(values), 3),
    }


def run(
    json_output: bool = False,
    models: Sequence[str] = ("smollm2-135m", "gemma3-270m"),
    threads: int | None = None,
    cache_dir: Path | None = None,
    modes: Sequence[str] = MODES,
) -> dict[str, Any]:
    """Measure each installed model in ``models``; missing ones are reported, not fatal."""
    from node.models import list_models

    cache = cache_dir or Path(tempfile.gettempdir()) / "swarmrank-bench-models"
    available = {row.name for row in list_models(cache) if row.available}
    result: dict[str, Any] = {"machine": machine(), "pairs": len(EASY_PAIRS), "models": []}
    lines: list[str] = []
    for name in models:
        if name not in available:
            result["models"].append({"model": name, "skipped": "not installed"})
            lines.append(f"{name}: not installed (see swarmrank models list)")
            continue
        row = asyncio.run(
            measure_model(name, cache, threads=threads, pairs=EASY_PAIRS, modes=modes)
        )
        result["models"].append(row)
        lines.append(
            f"{name} ({row['prompt_style']}): load {row['load_s']:.2f} s, "
            f"generate median {row['generate_s']['median']:.2f} s"
        )
        lines.extend(f"  {q!r} -> {a!r}" for q, a in row["answers"].items())
        for mode, m in row["modes"].items():
            lines.append(
                f"  judge {mode:<10} median {m['judge_s']['median']:.2f} s  accuracy "
                f"{m['accuracy']:.2f}  ties {m['ties']:.2f}  abstains {m['abstains']:.2f}  "
                f"P(A) right first {m['p_a_right_first']}  right second {m['p_a_right_second']}"
            )
    emit(result, json_output, lines)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--models", nargs="*", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--modes", nargs="*", choices=MODES, default=list(MODES))
    args = parser.parse_args(argv)
    run(args.json, args.models, args.threads, args.cache_dir, args.modes)


if __name__ == "__main__":
    main(sys.argv[1:])
