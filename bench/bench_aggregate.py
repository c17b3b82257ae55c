"""Aggregation speed and fidelity against choix in the same run.

``python -m bench.bench_aggregate [--json]``. 64 candidates, 64 rankers, each judging every
pair of the other candidates in both orders (its own candidate excluded): about 250,000
list-form comparisons. Timed from the comparison list to strengths:

* ``choix``: :func:`choix.ilsr_pairwise` on the ``(winner, loser)`` list;
* ``ours``: :func:`ranking.build_win_matrix` + :func:`ranking.fit_pairwise`, unit weights,
  the same ``alpha``;
* ``robust``: the full :func:`ranking.aggregate` (weights, cap, EM, intervals).

And the robust aggregate at the size of one swarm round (what every member recomputes for
every record): 16 rankers, 4 answers, each ranker judging every pair in both orders (its own
answer excluded for the 8 that generated), with one I-LSR step per EM M-step (the default,
``em_ilsr_steps=1``) and with a full refit per M-step (``em_ilsr_steps=0``).

Both fits are centred to mean 0 (choix's ``log_transform``), so strengths compare directly.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from typing import Any

import choix
import numpy as np

from bench.common import emit, machine
from ranking import (
    AggregationParams,
    Comparisons,
    aggregate,
    build_win_matrix,
    fit_pairwise,
    schedule_pairs,
)
from ranking.testing import simulate_comparisons

N_ITEMS = 64
N_RANKERS = 64
ALPHA = 0.01


def _best_seconds(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


ROUND_ITEMS = 4
ROUND_RANKERS = 16
ROUND_REPEATS = 200


def round_aggregate_ms(steps: int) -> float:
    """Mean milliseconds of one robust aggregate of a round-sized input (see the module
    docstring) with ``em_ilsr_steps=steps``, over :data:`ROUND_REPEATS` seeded rounds."""
    rng = np.random.default_rng(7)
    params = AggregationParams(em_ilsr_steps=steps)
    rounds = []
    for _ in range(ROUND_REPEATS):
        truth = rng.normal(0.0, 1.0, ROUND_ITEMS)
        own = np.where(np.arange(ROUND_RANKERS) < 8, np.arange(ROUND_RANKERS) % ROUND_ITEMS, -1)
        schedules = [
            schedule_pairs(ROUND_ITEMS, "3n", rng, exclude=int(o) if o >= 0 else None) for o in own
        ]
        rounds.append((simulate_comparisons(truth, schedules, rng), own))
    start = time.perf_counter()
    for comparisons, own in rounds:
        aggregate(comparisons, ROUND_ITEMS, np.ones(ROUND_RANKERS), own_item=own, params=params)
    return (time.perf_counter() - start) * 1000 / ROUND_REPEATS


def run(json_output: bool = False, repeats: int = 5, choix_repeats: int = 2) -> dict[str, Any]:
    rng = np.random.default_rng(20240601)
    truth = rng.normal(0.0, 1.0, N_ITEMS)
    schedules = [schedule_pairs(N_ITEMS, "full", rng, exclude=r) for r in range(N_RANKERS)]
    comparisons = simulate_comparisons(truth, schedules, rng)
    a_wins = comparisons.outcome == 0
    winners = np.where(a_wins, comparisons.a, comparisons.b)
    losers = np.where(a_wins, comparisons.b, comparisons.a)
    data = list(zip(winners.tolist(), losers.tolist(), strict=True))
    own = np.arange(N_RANKERS, dtype=np.int64)
    reputation = np.ones(N_RANKERS)

    def ours() -> np.ndarray:
        pairs = Comparisons(
            a=comparisons.a,
            b=comparisons.b,
            outcome=comparisons.outcome,
            ranker=comparisons.ranker,
            confidence=comparisons.confidence,
        )
        return fit_pairwise(build_win_matrix(pairs, N_ITEMS, None), alpha=ALPHA)

    def robust() -> object:
        return aggregate(comparisons, N_ITEMS, reputation, own_item=own)

    def reference() -> np.ndarray:
        return np.asarray(choix.ilsr_pairwise(N_ITEMS, data, alpha=ALPHA))

    ours_s = _best_seconds(ours, repeats)
    robust_s = _best_seconds(robust, repeats)
    choix_s = _best_seconds(reference, choix_repeats)
    max_diff = float(np.max(np.abs(ours() - reference())))
    round_one_step = round_aggregate_ms(1)
    round_full_refit = round_aggregate_ms(0)
    result = {
        "benchmark": "aggregate",
        "n_items": N_ITEMS,
        "n_rankers": N_RANKERS,
        "n_comparisons": len(comparisons),
        "alpha": ALPHA,
        "choix_ilsr_pairwise_s": round(choix_s, 6),
        "ours_fit_s": round(ours_s, 6),
        "robust_aggregate_s": round(robust_s, 6),
        "speedup_fit": round(choix_s / ours_s, 1),
        "speedup_robust": round(choix_s / robust_s, 1),
        "max_strength_diff": max_diff,
        "round_robust_ms": round(round_one_step, 3),
        "round_robust_full_refit_ms": round(round_full_refit, 3),
        "speedup_target": 10.0,
        "diff_target": 1e-6,
        "machine": machine(),
    }
    lines = [
        f"aggregate ({N_ITEMS} candidates x {N_RANKERS} rankers x all pairs = "
        f"{len(comparisons)} comparisons, alpha {ALPHA}; best of {repeats} / {choix_repeats})",
        f"  choix.ilsr_pairwise           {choix_s * 1e3:10.1f} ms",
        f"  build_win_matrix+fit_pairwise {ours_s * 1e3:10.1f} ms   "
        f"speed-up {choix_s / ours_s:6.1f}x (target >= 10x)",
        f"  aggregate (robust, EM)        {robust_s * 1e3:10.1f} ms   "
        f"speed-up {choix_s / robust_s:6.1f}x",
        f"  largest strength difference vs choix: {max_diff:.2e} (target <= 1e-6)",
        f"round-sized robust aggregate ({ROUND_RANKERS} rankers, {ROUND_ITEMS} answers; mean of "
        f"{ROUND_REPEATS}): {round_one_step:.2f} ms with one I-LSR step per EM M-step "
        f"(default), {round_full_refit:.2f} ms with a full refit per M-step "
        f"({round_full_refit / round_one_step:.1f}x)",
    ]
    emit(result, json_output, lines)
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    run(args.json, args.repeats)


if __name__ == "__main__":
    main()
