"""How far can any reading of one round's generator votes go on an honest scenario?

Issue 12 asks for paper-like >= 85% and >= majority + 17 points. On the honest simulator
(judging parity, persuasive distractors shared by generators and judges) the default answers
67%, majority 63%. This script measures ceilings for rules that read the votes, on the
scenario's own answer model (:func:`sim.model.draw_answers` with
:func:`sim.judging.task_concentration`), one round at a time:

* ``majority``: the largest cluster, ties by a coin (what the engine's majority does);
* ``weighted-true-powerK``: votes weighed by the default's formula
  (``ranking.generator_weights``: ``((p - 1/4) / (3/4)) ** K``; rules 2 used K = 1, rules 3
  uses K = 3) with each generator's *true* accuracy on an average task;
* ``weighted-gold-N-powerK``: the same with the accuracy estimated from N gold answers (rules
  2's decayed counts held about the last 5, rules 3's about the last 10; see
  ``ranking.consensus.GENERATOR_DECAY``);
* ``bayes-true``: the Bayes-optimal choice given every generator's true skill and the exact
  answer model (which label is right and which is the popular distractor unknown; the task's
  difficulty and persuasiveness integrated over their priors on a grid). No rule that reads
  the votes can do better on average;
* ``bayes-mean``: the same with every skill set to the group mean (the model's structure
  alone, no knowledge of who is good).

Judges are left out: at judging parity the calibrated rule learns to give them (almost) no
weight, and a Bayes reader of their verdicts would have to know the simulator's judge model.

Run from the repository root (about 2 minutes on one core):

    .venv/bin/python docs/sim/vote-bound/bound.py sim/scenarios/paper-like.toml \
        --tasks 3000 --out docs/sim/vote-bound
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.progress import track

from ranking.consensus import generator_weights
from sim.judging import task_concentration
from sim.model import draw_answers, sigmoid
from sim.scenario import Scenario, load_scenario

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

#: The integration grid over a task's difficulty and persuasiveness, in prior sds.
GRID_SDS = 5.0
GRID_POINTS = 61


def _grid(mean: float, sd: float) -> tuple[FloatArray, FloatArray]:
    """Grid points and their (unnormalised) normal prior weights."""
    if sd == 0.0:
        return np.array([mean]), np.array([1.0])
    points = np.linspace(mean - GRID_SDS * sd, mean + GRID_SDS * sd, GRID_POINTS)
    return points, np.exp(-0.5 * ((points - mean) / sd) ** 2)


@dataclass(frozen=True)
class TaskGrid:
    """The task priors on the integration grid, computed once per run: difficulty points,
    each (difficulty, persuasiveness) point's log prior weight, and a wrong answer's chance of
    being the popular distractor at each persuasiveness point."""

    difficulty: FloatArray
    log_prior: FloatArray
    concentration: FloatArray
    n_wrong: int

    @classmethod
    def of(cls, scenario: Scenario, correlation: float) -> TaskGrid:
        tasks = scenario.tasks
        d, wd = _grid(tasks.difficulty.mean, tasks.difficulty.sd)
        z, wz = _grid(tasks.persuasiveness.mean, tasks.persuasiveness.sd)
        return cls(
            difficulty=d,
            log_prior=np.log(wd)[:, None] + np.log(wz)[None, :],
            concentration=task_concentration(correlation, z)[None, :, None],  # 1 x z x 1
            n_wrong=tasks.options - 1,
        )


def bayes_pick(labels: IntArray, skills: FloatArray, grid: TaskGrid) -> int:
    """The label with the highest posterior of being correct (module docstring)."""
    p = sigmoid(skills[None, None, :] - grid.difficulty[:, None, None])  # difficulty x 1 x G
    c, n_wrong = grid.concentration, grid.n_wrong
    log_right = np.log(p)
    log_popular = np.log1p(-p) + np.log(c + (1.0 - c) / n_wrong)
    log_other = np.log1p(-p) + np.log((1.0 - c) / n_wrong)
    options = n_wrong + 1
    posterior = np.full(options, -np.inf)
    for right in range(options):
        terms = []
        for popular in range(options):
            if popular == right:
                continue
            per_vote = np.where(
                labels == right, log_right, np.where(labels == popular, log_popular, log_other)
            )
            terms.append(per_vote.sum(axis=-1) + grid.log_prior)
        stacked = np.stack(terms)
        top = stacked.max()
        posterior[right] = top + np.log(np.exp(stacked - top).sum())
    return int(np.argmax(posterior))


def weighted_pick(
    labels: IntArray, weights: FloatArray, options: int, rng: np.random.Generator
) -> int:
    """The label with most vote weight, exact ties by a coin."""
    score = np.bincount(labels, weights=weights, minlength=options)
    best = np.flatnonzero(score == score.max())
    return int(rng.choice(best))


def measure(scenario: Scenario, generators: int, tasks: int, seed: int) -> dict[str, float]:
    """Each rule's accuracy over ``tasks`` rounds of ``generators`` honest generators."""
    group = next(g for g in scenario.groups if g.behaviour == "honest")
    options = scenario.tasks.options
    correlation = (
        scenario.tasks.distractor_concentration
        if group.error_correlation is None
        else group.error_correlation
    )
    rng = np.random.default_rng(seed)
    gold_counts = (5, 10, 30)
    powers = (1, 3)
    hits: dict[str, int] = {"majority": 0, "bayes-true": 0, "bayes-mean": 0}
    hits.update({f"weighted-true-power{k}": 0 for k in powers})
    hits.update({f"weighted-gold-{n}-power{k}": 0 for n in gold_counts for k in powers})
    average = scenario.tasks.difficulty.mean
    grid = TaskGrid.of(scenario, correlation)
    mean_skills = np.full(generators, group.generation_skill.mean)
    rounds = track(
        range(tasks), description="rounds", transient=True, disable=not sys.stderr.isatty()
    )
    for _ in rounds:
        skills = rng.normal(group.generation_skill.mean, group.generation_skill.sd, generators)
        d = rng.normal(scenario.tasks.difficulty.mean, scenario.tasks.difficulty.sd)
        z = rng.normal(scenario.tasks.persuasiveness.mean, scenario.tasks.persuasiveness.sd)
        labels = draw_answers(skills, d, task_concentration(correlation, z), options - 1, rng)
        hits["majority"] += weighted_pick(labels, np.ones(generators), options, rng) == 0
        true_p = sigmoid(skills - average)
        for k in powers:
            weights = generator_weights(true_p * 1e6, np.full(generators, 1e6), power=k)
            hits[f"weighted-true-power{k}"] += weighted_pick(labels, weights, options, rng) == 0
        for n in gold_counts:
            gold_d = rng.normal(
                scenario.tasks.difficulty.mean, scenario.tasks.difficulty.sd, (generators, n)
            )
            right = (rng.random((generators, n)) < sigmoid(skills[:, None] - gold_d)).sum(axis=1)
            for k in powers:
                estimated = generator_weights(
                    right.astype(float), np.full(generators, float(n)), power=k
                )
                pick = weighted_pick(labels, estimated, options, rng)
                hits[f"weighted-gold-{n}-power{k}"] += pick == 0
        hits["bayes-true"] += bayes_pick(labels, skills, grid) == 0
        hits["bayes-mean"] += bayes_pick(labels, mean_skills, grid) == 0
    return {name: count / tasks for name, count in hits.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--generators", type=int, default=18, help="candidates per round")
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario)
    accuracy = measure(scenario, args.generators, args.tasks, args.seed)
    half = {name: 1.96 * float(np.sqrt(a * (1 - a) / args.tasks)) for name, a in accuracy.items()}
    lines = [
        f"{scenario.name}: {args.generators} honest generators per round, {args.tasks} rounds "
        f"(seed {args.seed}); accuracy and 95% half-width",
        "",
        "| rule | accuracy |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {a:.1%} ± {half[name]:.1%} |" for name, a in accuracy.items()]
    print("\n".join(lines))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {
            "scenario": scenario.name,
            "generators": args.generators,
            "tasks": args.tasks,
            "seed": args.seed,
            "accuracy": accuracy,
        }
        (args.out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
        (args.out / "table.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
