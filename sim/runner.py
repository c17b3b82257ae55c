"""Running scenarios and sweeps: the imperative shell around the engine.

This module owns :func:`run_scenario` (one run, or several seeds of it, -> its
``results.json`` document, optionally with a rich progress bar), :func:`run_seeds`,
:func:`sweep_points` (the cartesian product of ``--param`` values)
and :func:`run_sweep` (points fanned out as Ray tasks, locally with ``num_cpus=2`` or on a
cluster by address; Ray is imported only here and only for sweeps).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from sim.engine import AGGREGATORS, RunRecord, simulate
from sim.errors import BadValue, SweepError
from sim.metrics import summarise, summarise_seeds, to_json
from sim.scenario import Scenario, load_scenario, with_seed

__all__ = ["run_scenario", "run_seeds", "run_sweep", "seed_list", "sweep_points"]


def seed_list(scenario: Scenario, seeds: int) -> list[int]:
    """The seeds of an ``N``-seed run: the scenario's seed and the ``N - 1`` after it."""
    if seeds < 1:
        raise BadValue("--seeds", f"must be >= 1, got {seeds}")
    return [scenario.seed + i for i in range(seeds)]


def run_seeds(
    scenario: Scenario, seeds: int, progress: Callable[[int], None] | None = None
) -> dict[str, Any]:
    """Simulate ``seeds`` seeds of ``scenario`` and summarise them together
    (:func:`sim.metrics.summarise_seeds`: means with 95% intervals across seeds).

    ``progress`` is called with the number of rounds completed over all seeds.
    """
    runs = []
    for i, seed in enumerate(seed_list(scenario, seeds)):
        seeded = with_seed(scenario, seed)
        done = i * scenario.rounds

        def tick(rounds_done: int, done: int = done) -> None:
            if progress is not None:
                progress(done + rounds_done)

        runs.append(_summary(seeded, simulate(seeded, progress=tick), live=False))
    results = summarise_seeds(runs)
    results["mode"] = "engine"
    return results


def run_scenario(
    scenario: Scenario, show_progress: bool = False, live: bool = False, seeds: int = 1
) -> dict[str, Any]:
    """Simulate ``scenario`` and summarise it (the ``results.json`` document).

    ``live``: run it through real node daemons (:func:`sim.live.run_live`) instead of the fast
    engine; the document has the same schema, with ``"mode": "live"``. ``seeds``: run that
    many seeds (the scenario's and the ones after it) and report means with intervals across
    seeds (fast engine only).
    """
    if seeds != 1:
        if live:
            raise BadValue("--seeds", "runs several seeds with the fast engine only, not --live")
        seed_list(scenario, seeds)
        if not show_progress:
            return run_seeds(scenario, seeds)
        with _progress_bar() as bar:
            task = bar.add_task(f"{scenario.name} x {seeds} seeds", total=seeds * scenario.rounds)

            def tick_all(done: int) -> None:
                if done % 10 == 0 or done == seeds * scenario.rounds:
                    bar.update(task, completed=done)

            return run_seeds(scenario, seeds, progress=tick_all)
    simulate_fn: Callable[..., RunRecord] = simulate
    if live:
        from sim.live import check_live, run_live

        check_live(scenario)
        simulate_fn = run_live
    if not show_progress:
        return _summary(scenario, simulate_fn(scenario), live)
    with _progress_bar() as bar:
        task = bar.add_task(scenario.name, total=scenario.rounds)

        def tick(done: int) -> None:
            if live or done % 10 == 0 or done == scenario.rounds:
                bar.update(task, completed=done)

        record = simulate_fn(scenario, progress=tick)
    return _summary(scenario, record, live)


def _progress_bar() -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        transient=True,
    )


def _summary(scenario: Scenario, record: RunRecord, live: bool) -> dict[str, Any]:
    results = summarise(scenario, record)
    results["mode"] = "live" if live else "engine"
    return results


def sweep_points(params: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
    """Every combination of the swept values, in a fixed order."""
    if not params:
        raise SweepError("a sweep needs at least one --param PATH=V1,V2,...")
    paths = [path for path, _ in params]
    if len(set(paths)) != len(paths):
        raise SweepError("each --param path may be given once")
    return [
        dict(zip(paths, combo, strict=True)) for combo in itertools.product(*(v for _, v in params))
    ]


def _point_result(
    path: str, overrides: Mapping[str, Any], seed: int | None, seeds: int = 1
) -> dict[str, Any]:
    scenario = load_scenario(path, overrides)
    if seed is not None:
        scenario = with_seed(scenario, seed)
    results = run_seeds(scenario, seeds)
    return {"params": dict(overrides), "results": results}


def run_sweep(
    path: str | Path,
    params: Sequence[tuple[str, list[Any]]],
    ray_address: str | None = None,
    num_cpus: int = 2,
    seed: int | None = None,
    on_done: Callable[[int, int], None] | None = None,
    seeds: int = 1,
) -> dict[str, Any]:
    """Run every sweep point as a Ray task and collect the ``sweep.json`` document.

    Every point is validated locally first, so a bad value fails before Ray starts. Each point
    reuses the scenario's seed (common random numbers: differences between points are the
    parameter's, not the draws'); with ``seeds > 1`` each point runs that many seeds and
    reports means with intervals across seeds.
    """
    points = sweep_points(params)
    for overrides in points:
        seed_list(load_scenario(path, overrides), seeds)
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        if ray_address:
            ray.init(address=ray_address, log_to_driver=False)
        else:
            # address="local": always a new instance, never a `ray start` cluster on this host
            ray.init(
                address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False
            )
    try:
        remote = ray.remote(num_cpus=1)(_point_result)
        refs = [remote.remote(str(path), overrides, seed, seeds) for overrides in points]
        outputs: list[dict[str, Any]] = []
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            if on_done is not None:
                on_done(len(refs) - len(pending), len(refs))
            del done
        outputs = ray.get(refs)
    finally:
        if started_here:
            ray.shutdown()
    return assemble_sweep(str(path), outputs)


def assemble_sweep(path: str, outputs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The ``sweep.json`` document from per-point outputs (in point order)."""
    points = []
    for output in outputs:
        results = output["results"]
        points.append(
            {
                "params": output["params"],
                "seeds": results["seeds"],
                "adversary_fraction": results["adversary_fraction"],
                "accuracy": {a: results["aggregators"][a]["accuracy"] for a in AGGREGATORS},
                "accuracy_ci95": {
                    a: results["aggregators"][a]["accuracy_ci95"] for a in AGGREGATORS
                },
                "capture_rate": {a: results["aggregators"][a]["capture_rate"] for a in AGGREGATORS},
                # per seed (multi-seed points), for paired comparisons between aggregators
                "accuracy_per_seed": {
                    a: results["aggregators"][a].get("accuracy_per_seed") for a in AGGREGATORS
                },
                "final_adversary_reputation_share": results["adversary_reputation_share"]["final"],
                "margin_default_vs_majority": results["margin_default_vs_majority"],
                "margin_default_vs_plain_bt": results["margin_default_vs_plain_bt"],
                "decisive_capture_rate": results["decisive_capture_rate"],
            }
        )
    name = outputs[0]["results"]["scenario"]["name"] if outputs else Path(path).stem
    return {"scenario": name, "points": points}


def sweep_json(sweep: dict[str, Any]) -> str:
    """Canonical JSON of a sweep document."""
    return to_json(sweep)
