"""How far can any reading of a round's votes *and verdicts* go on an honest scenario?

``docs/sim/vote-bound`` bounds readings of the generators' votes alone. This script runs the
simulator itself (the engine's own rounds: selection, clustering, the 3n schedule, the judge
model with correlated errors and persuasive distractors) and, on every round, computes the
Bayes-optimal choice of an oracle that knows every node's true generation and judging skill and
the simulator's exact answer and judge models (:mod:`sim.model`, :mod:`sim.judging`), with the
task's difficulty and persuasiveness integrated over their priors on a grid, and the
non-generating rankers' own answers (which tie their judging to their errors) summed out:

* ``oracle-votes``: the votes alone (what ``vote-bound``'s ``bayes-true`` measures, here on the
  engine's rounds);
* ``oracle-votes-verdicts``: the votes and the direction of every decided verdict (a ranker's
  two orders of one pair are one latent draw and count once). Ties are left out: in the
  simulator only two answers of equal correctness can tie, so reading ties would tell the oracle
  which answers are both wrong, an artefact no real judge offers;
* ``oracle-votes-verdicts-ties``: the same reading ties as the model says (the artefact
  included: an upper bound of the upper bound);
* ``*-mean``: the same readings with every skill at its group mean (the model's structure, no
  knowledge of who is good);
* ``*-gen``: every true generation skill, every judging skill at its group mean (how much of
  the oracle's lead is knowing the generators);
* ``*-learned``: generation skills *estimated* the way a node could, from each node's own gold
  answers before the round (every gold round with a right candidate, no decay: the posterior
  mean under the group's skill prior, with the task difficulty integrated out), judging skills
  at the group mean. The oracle still knows the model's structure and the group's prior; a node
  would have to fit those few numbers on its gold rounds too.

No rule that reads one round's evidence can beat the oracle on average (up to the grid), so
where ``oracle-votes-verdicts`` stays below a target, the scenario does not contain the
information the target asks for. The engine's own aggregators are scored on the same rounds.

Run from the repository root (about 10 minutes on one core for 5 seeds of 600 rounds):

    .venv/bin/python docs/sim/evidence-bound/bound.py sim/scenarios/paper-like.toml \
        --seeds 5 --out docs/sim/evidence-bound
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
from rich.progress import Progress

from ranking import OUTCOME_A, OUTCOME_B, Comparisons
from ranking.consensus import GoldRound, fit_judge_trust, select_consensus
from ranking.evidence import RoundEvidence
from sim.engine import _Generation, _Items, _State, start_run
from sim.judging import task_concentration
from sim.model import EQUAL_TIE_RATE, sigmoid
from sim.runner import seed_list
from sim.scenario import Scenario, load_scenario, with_seed

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

#: The integration grid over a task's difficulty and persuasiveness, in prior sds.
GRID_SDS = 4.0
GRID_POINTS = 25
READINGS = ("votes", "votes-verdicts", "votes-verdicts-ties")
ENGINE_RULES = ("majority", "calibrated", "plain-bt", "robust-bt", "best-single")


def _grid(mean: float, sd: float) -> tuple[FloatArray, FloatArray]:
    """Grid points and their log prior weights (normal, unnormalised)."""
    if sd == 0.0:
        return np.array([mean]), np.array([0.0])
    points = np.linspace(mean - GRID_SDS * sd, mean + GRID_SDS * sd, GRID_POINTS)
    return points, -0.5 * ((points - mean) / sd) ** 2


@dataclass(frozen=True)
class Round:
    """What the oracle sees of one round: who voted for which item, who judged which pair
    how, every node's true skills, and (to score it) which items are correct."""

    voter_skill: FloatArray  # generation skill of each candidate's author
    vote: IntArray  # each candidate's item
    ranker_gen: FloatArray  # each ranker's generation skill (its own-answer chance)
    ranker_judge: FloatArray  # each ranker's judging skill
    ranker_own: IntArray  # each ranker's own item (-1: not a generator, own answer hidden)
    row_ranker: IntArray  # one row per (ranker, unordered pair) judged
    row_lo: IntArray
    row_hi: IntArray
    row_outcome: IntArray  # 0 lo wins, 1 hi wins, 2 tie
    correct: BoolArray  # each item is a correct answer
    n_items: int
    shares: FloatArray  # the default's vote shares (generators' gold records, as learned)
    strengths: FloatArray  # robust BT log-strengths (zeros when nothing was fitted)
    gold: bool
    voter_learned: FloatArray  # each candidate's author's generation skill, estimated from gold
    ranker_learned: FloatArray  # each ranker's, the same way


@dataclass
class Capture:
    """Rounds captured from one engine run, and the engine's own scores on them."""

    rounds: list[Round] = field(default_factory=list)


def _unique_rows(comparisons: Comparisons) -> tuple[IntArray, IntArray, IntArray, IntArray]:
    """One row per (ranker, unordered pair): its first verdict, re-oriented lo < hi."""
    a, b = comparisons.a.astype(np.int64), comparisons.b.astype(np.int64)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    outcome = comparisons.outcome.astype(np.int64)
    a_won, b_won = outcome == OUTCOME_A, outcome == OUTCOME_B
    lo_won = np.where(a < b, a_won, b_won)
    hi_won = np.where(a < b, b_won, a_won)
    oriented = np.where(lo_won, 0, np.where(hi_won, 1, 2))
    ranker = comparisons.ranker.astype(np.int64)
    key = (ranker * 1024 + lo) * 1024 + hi
    _, first = np.unique(key, return_index=True)
    return ranker[first], lo[first], hi[first], oriented[first]


class _Recording(_State):
    """The engine's state, recording each round's evidence as the aggregate step sees it: the
    comparisons it is given and the vote shares and strengths it hands the learning step."""

    capture = Capture()  # replaced per run (measure)
    estimate: SkillEstimate | None = None  # replaced per run (measure)
    _seen: tuple[Comparisons, IntArray] | None = None
    _gold_hits: FloatArray | None = None
    _gold_seen: FloatArray | None = None

    def aggregate(
        self,
        t: int,
        gen: _Generation,
        items: _Items,
        comparisons: Comparisons,
        own_item: IntArray,
        majority: int,
    ) -> int:
        self._seen = (comparisons, own_item)
        return super().aggregate(t, gen, items, comparisons, own_item, majority)

    def _learn(
        self,
        t: int,
        gen: _Generation,
        items: _Items,
        shares: FloatArray,
        strengths: FloatArray,
        evidence: RoundEvidence,
    ) -> None:
        assert self._seen is not None and self.estimate is not None
        comparisons, own_item = self._seen
        pop = self.pop
        if self._gold_hits is None or self._gold_seen is None:
            self._gold_hits, self._gold_seen = np.zeros(pop.size), np.zeros(pop.size)
        learned = self.estimate(self._gold_hits, self._gold_seen)
        ranker, lo, hi, outcome = _unique_rows(comparisons)
        self.capture.rounds.append(
            Round(
                voter_skill=pop.generation_skill[gen.cand_nodes].astype(np.float64),
                vote=items.cand_item.astype(np.int64),
                ranker_gen=pop.generation_skill[gen.rankers].astype(np.float64),
                ranker_judge=pop.judging_skill[gen.rankers].astype(np.float64),
                ranker_own=own_item.astype(np.int64),
                row_ranker=ranker,
                row_lo=lo,
                row_hi=hi,
                row_outcome=outcome,
                correct=items.correct.copy(),
                n_items=items.n,
                shares=np.array(shares, dtype=np.float64),
                strengths=np.array(strengths, dtype=np.float64),
                gold=bool(self.gold[t]),
                voter_learned=learned[gen.cand_nodes],
                ranker_learned=learned[gen.rankers],
            )
        )
        if self.gold[t] and items.correct.any():  # after the round: estimates use the past only
            self._gold_hits[gen.cand_nodes] += items.correct[items.cand_item]
            self._gold_seen[gen.cand_nodes] += 1.0
        super()._learn(t, gen, items, shares, strengths, evidence)


@dataclass(frozen=True)
class Model:
    """The scenario's answer and judge model on the integration grid (flattened: G points)."""

    difficulty: FloatArray  # G
    persuasiveness: FloatArray  # G
    log_prior: FloatArray  # G
    concentration: FloatArray  # G: a wrong answer's chance of being the popular distractor
    n_wrong: int
    ease: float
    correlation: float

    @classmethod
    def of(cls, scenario: Scenario) -> Model:
        tasks = scenario.tasks
        group = next(g for g in scenario.groups if g.behaviour == "honest")
        error_correlation = (
            tasks.distractor_concentration
            if group.error_correlation is None
            else group.error_correlation
        )
        d, wd = _grid(tasks.difficulty.mean, tasks.difficulty.sd)
        z, wz = _grid(tasks.persuasiveness.mean, tasks.persuasiveness.sd)
        dd, zz = np.meshgrid(d, z, indexing="ij")
        return cls(
            difficulty=dd.ravel(),
            persuasiveness=zz.ravel(),
            log_prior=(wd[:, None] + wz[None, :]).ravel(),
            concentration=task_concentration(error_correlation, zz.ravel()),
            n_wrong=tasks.options - 1,
            ease=tasks.judging_ease,
            correlation=tasks.judge_correlation,
        )


class SkillEstimate:
    """Posterior-mean generation skill from gold counts: the group's normal skill prior, and a
    gold answer right with chance ``sigmoid(skill - difficulty)`` averaged over the model's
    difficulty grid (the engine's gold tasks are drawn like its other tasks)."""

    def __init__(self, model: Model, mean: float, sd: float) -> None:
        self.skills = np.linspace(mean - GRID_SDS * sd, mean + GRID_SDS * sd, 4 * GRID_POINTS)
        weights = np.exp(model.log_prior - model.log_prior.max())
        weights /= weights.sum()
        p = sigmoid(self.skills[:, None] - model.difficulty[None, :]) @ weights
        self.log_right, self.log_wrong = np.log(p), np.log1p(-p)
        self.log_prior = -0.5 * ((self.skills - mean) / sd) ** 2 if sd > 0 else 0.0 * p

    def __call__(self, hits: FloatArray, seen: FloatArray) -> FloatArray:
        log_post = (
            self.log_prior[None, :]
            + hits[:, None] * self.log_right[None, :]
            + (seen - hits)[:, None] * self.log_wrong[None, :]
        )
        post = np.exp(log_post - log_post.max(axis=1, keepdims=True))
        return np.asarray((post @ self.skills) / post.sum(axis=1), dtype=np.float64)


def _logsumexp(x: FloatArray, axis: int) -> FloatArray:
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.asarray(np.log(np.exp(x - top).sum(axis=axis)) + np.squeeze(top, axis=axis))


def _answer_logs(
    skill: FloatArray, model: Model
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Per grid point and node (G x N): the chance of answering right (q) and the logs of
    answering right, the popular distractor, and one particular other distractor."""
    q = sigmoid(skill[None, :] - model.difficulty[:, None])
    c = model.concentration[:, None]
    wrong = np.log1p(-np.clip(q, 0.0, 1.0 - 1e-15))
    return (
        q,
        np.log(np.clip(q, 1e-300, 1.0)),
        wrong + np.log(c + (1.0 - c) / model.n_wrong),
        wrong + np.log((1.0 - c) / model.n_wrong),
    )


def _direction_logs(
    rnd: Round,
    model: Model,
    right: int,
    popular: int,
    own: IntArray,
    q: FloatArray,
) -> FloatArray:
    """Log-likelihood of every decided verdict's direction (classes x G x rows; 0 for ties)
    when each row's ranker's own item is ``own`` (classes x rows; -1: not an item of the
    round), under (right item, popular item; -1: the popular distractor was not submitted)."""
    lo, hi, outcome = rnd.row_lo, rnd.row_hi, rnd.row_outcome
    j = rnd.ranker_judge[rnd.row_ranker][None, None, :]
    d = model.difficulty[None, :, None]
    z = model.persuasiveness[None, :, None]
    own3 = own[:, None, :]
    c = model.correlation
    has_right = ((lo == right) | (hi == right))[None, None, :]
    wrong = np.where(lo == right, hi, lo)
    centred = (own3 == right) - q[None, :, :]
    merit = j - d + model.ease - z * (wrong == popular)[None, None, :] + c * centred
    lean = (
        c * ((lo == own3).astype(np.float64) - (hi == own3))
        + z * ((lo == popular).astype(np.float64) - (hi == popular))[None, None, :]
    )
    logit_lo = np.where(has_right, np.where((lo == right)[None, None, :], merit, -merit), lean)
    lo_won = (outcome == 0)[None, None, :]
    log_dir = -np.logaddexp(0.0, np.where(lo_won, -logit_lo, logit_lo))
    return np.asarray(np.where((outcome != 2)[None, None, :], log_dir, 0.0))


def _tie_logs(rnd: Round, right: int) -> float:
    """Log-likelihood of which verdicts are ties, under ``right`` (the model: only two answers
    of equal correctness tie, at :data:`~sim.model.EQUAL_TIE_RATE`)."""
    has_right = (rnd.row_lo == right) | (rnd.row_hi == right)
    tie = rnd.row_outcome == 2
    if np.any(tie & has_right):
        return -np.inf
    rest = ~has_right
    return float(
        np.count_nonzero(tie) * np.log(EQUAL_TIE_RATE)
        + np.count_nonzero(rest & ~tie) * np.log1p(-EQUAL_TIE_RATE)
    )


#: What the oracle knows of the nodes' skills (suffix of its rows): ``""`` every true skill,
#: ``-gen`` the true generation skills, ``-learned`` generation skills estimated from gold,
#: ``-mean`` none (the last three with judging skills at the group mean).
KNOWLEDGE = ("", "-gen", "-learned", "-mean")


def knowing(rnd: Round, knowledge: str, means: tuple[float, float]) -> Round:
    """``rnd`` with the skills the oracle of ``knowledge`` (:data:`KNOWLEDGE`) reads."""
    if knowledge == "":
        return rnd
    judging = np.full_like(rnd.ranker_judge, means[1])
    if knowledge == "-gen":
        return replace(rnd, ranker_judge=judging)
    if knowledge == "-learned":
        return replace(
            rnd,
            voter_skill=rnd.voter_learned,
            ranker_gen=rnd.ranker_learned,
            ranker_judge=judging,
        )
    return replace(
        rnd,
        voter_skill=np.full_like(rnd.voter_skill, means[0]),
        ranker_gen=np.full_like(rnd.ranker_gen, means[0]),
        ranker_judge=judging,
    )


def posterior(rnd: Round, model: Model) -> FloatArray:
    """Log posterior (up to a constant) of each item being the right one, for each reading
    (READINGS x items), with the skills ``rnd`` carries (:func:`knowing`)."""
    n = rnd.n_items
    voter = rnd.voter_skill
    _, v_right, v_pop, v_other = _answer_logs(voter, model)
    q_r, r_right, r_pop, r_other = _answer_logs(rnd.ranker_gen, model)
    n_rankers = rnd.ranker_gen.shape[0]
    rows = rnd.row_ranker.shape[0]
    to_ranker = np.zeros((rows, n_rankers))
    to_ranker[np.arange(rows), rnd.row_ranker] = 1.0
    q_rows = q_r[:, rnd.row_ranker]
    hidden = rnd.ranker_own < 0
    unseen = model.n_wrong + 1 - n  # options nobody submitted (all wrong if right is seen)
    # each ranker's own item: known for generators; summed out for the others over every item
    # of the round and "none of them" (an unsubmitted option)
    classes = np.array([*range(n), -1])
    own_rows = np.where(
        hidden[rnd.row_ranker][None, :], classes[:, None], rnd.ranker_own[rnd.row_ranker][None, :]
    )
    impossible = np.full_like(r_other, -np.inf)
    out = np.full((len(READINGS), n), -np.inf)
    for right in range(n):
        votes_terms: list[FloatArray] = []
        verdict_terms: list[FloatArray] = []
        for popular in [p for p in range(n) if p != right] + ([-1] if unseen > 0 else []):
            votes = np.where(
                rnd.vote[None, :] == right,
                v_right,
                np.where(rnd.vote[None, :] == popular, v_pop, v_other),
            ).sum(axis=1)
            multiplicity = np.log(unseen) if popular < 0 else 0.0
            base = votes + model.log_prior + multiplicity
            votes_terms.append(base)
            per_class = _direction_logs(rnd, model, right, popular, own_rows, q_rows) @ to_ranker
            log_prior = []  # each own-answer class's prior for a hidden ranker (G x rankers)
            for own_class in classes.tolist():
                if own_class == right:
                    log_prior.append(r_right)
                elif own_class == popular:
                    log_prior.append(r_pop)
                elif own_class >= 0:
                    log_prior.append(r_other)
                elif unseen == 0:
                    log_prior.append(impossible)
                elif popular < 0:  # the popular distractor or another unsubmitted option
                    log_prior.append(np.logaddexp(r_pop, r_other + np.log(max(unseen - 1, 1))))
                else:
                    log_prior.append(r_other + np.log(unseen))
            mixed = _logsumexp(per_class + np.stack(log_prior), axis=0)
            per_ranker = np.where(hidden[None, :], mixed, per_class[0])
            verdict_terms.append(base + per_ranker.sum(axis=1))
        votes_post = float(_logsumexp(np.stack(votes_terms).ravel(), axis=0))
        verdicts_post = float(_logsumexp(np.stack(verdict_terms).ravel(), axis=0))
        out[0, right] = votes_post
        out[1, right] = verdicts_post
        out[2, right] = verdicts_post + _tie_logs(rnd, right)
    return out


FITTED = {"gold-shares": None, "gold-fit-clamped": False, "gold-fit-signed": True}


def _fitted(train: list[Round], test: list[Round]) -> dict[str, tuple[int, float]]:
    """The default's own reading (vote shares and robust BT strengths, :func:`select_consensus`)
    with the judge weight fitted by :func:`ranking.fit_judge_trust` on the ``train`` rounds'
    gold rounds (no margin, every round in the window): hits on ``test`` and the weight, for
    the shares alone, the weight clamped at zero (rules 3) and signed (rules 4)."""
    gold = [
        GoldRound(r.shares, r.strengths, r.correct)
        for r in train
        if r.gold and r.correct.any() and not r.correct.all()
    ]
    out: dict[str, tuple[int, float]] = {}
    for name, signed in FITTED.items():
        weight = 0.0
        if signed is not None:
            trust = fit_judge_trust(gold, trust_margin=0.0, window=max(len(gold), 1), signed=signed)
            weight = trust.judge_weight
        hits = sum(bool(r.correct[select_consensus(r.shares, r.strengths, weight)]) for r in test)
        out[name] = (hits, weight)
    return out


def measure(scenario: Scenario, seeds: int, oracle: bool = True) -> dict[str, object]:
    """Run ``seeds`` seeds, read every round with the oracles, score against the engine, and
    fit the default's judge weight on the other seeds' gold rounds (leave one seed out)."""
    model = Model.of(scenario)
    group = next(g for g in scenario.groups if g.behaviour == "honest")
    means = (group.generation_skill.mean, group.judging_skill.mean)
    hits = {f"oracle-{r}{s}": 0 for r in READINGS for s in KNOWLEDGE} if oracle else {}
    estimate = SkillEstimate(model, group.generation_skill.mean, group.generation_skill.sd)
    engine_hits = {name: 0 for name in ENGINE_RULES}
    total = 0
    per_seed: list[dict[str, float]] = []
    captured: list[list[Round]] = []
    with Progress(disable=not sys.stderr.isatty(), transient=True) as progress:
        task = progress.add_task("rounds", total=seeds * scenario.rounds)
        for seed in seed_list(scenario, seeds):
            run = with_seed(scenario, seed)
            capture = Capture()
            state, rng = start_run(run, _Recording)
            assert isinstance(state, _Recording)
            state.capture = capture
            state.estimate = estimate
            seed_hits = dict.fromkeys(hits, 0)
            for t in range(run.rounds):
                before = len(capture.rounds)
                state.play_round(t, rng)
                if oracle and len(capture.rounds) > before:
                    rnd = capture.rounds[-1]
                    for suffix in KNOWLEDGE:
                        post = posterior(knowing(rnd, suffix, means), model)
                        for k, reading in enumerate(READINGS):
                            pick = int(np.argmax(post[k]))
                            seed_hits[f"oracle-{reading}{suffix}"] += bool(rnd.correct[pick])
                progress.advance(task)
            record = state.record()
            for name in ENGINE_RULES:
                engine_hits[name] += int(record.correct[name].sum())
            for name, count in seed_hits.items():
                hits[name] += count
            total += run.rounds
            captured.append(capture.rounds)
            per_seed.append(
                {"seed": seed}
                | {n: c / run.rounds for n, c in seed_hits.items()}
                | {n: float(record.correct[n].mean()) for n in ENGINE_RULES}
            )
    fitted_hits = dict.fromkeys(FITTED, 0)
    weights: dict[str, list[float]] = {name: [] for name in FITTED}
    for i, test in enumerate(captured):
        train = [r for j, rounds in enumerate(captured) if j != i for r in rounds]
        for name, (count, weight) in _fitted(train, test).items():
            fitted_hits[name] += count
            weights[name].append(weight)
            per_seed[i][name] = count / scenario.rounds
    accuracy = {n: c / total for n, c in (engine_hits | fitted_hits | hits).items()}
    return {"rounds": total, "accuracy": accuracy, "judge_weights": weights, "per_seed": per_seed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", type=Path)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--rounds", type=int, help="rounds per seed (default: the scenario's)")
    parser.add_argument("--judging-ease", type=float, help="override tasks.judging_ease")
    parser.add_argument(
        "--no-oracle", action="store_true", help="only the engine's rules and the fitted readings"
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario)
    if args.rounds is not None:
        scenario = replace(scenario, rounds=args.rounds)
    if args.judging_ease is not None:
        scenario = replace(scenario, tasks=replace(scenario.tasks, judging_ease=args.judging_ease))
    if any(g.position_bias != 0.0 for g in scenario.groups):
        parser.error("the oracle's judge model has no position bias: use a scenario without it")
    result = measure(scenario, args.seeds, oracle=not args.no_oracle)
    rounds = int(result["rounds"])  # type: ignore[call-overload]
    accuracy: dict[str, float] = result["accuracy"]  # type: ignore[assignment]
    lines = [
        f"{scenario.name} (judging_ease {scenario.tasks.judging_ease}): {args.seeds} seeds, "
        f"{rounds} rounds; accuracy and 95% half-width (rounds as independent)",
        "",
        "| rule | accuracy |",
        "|---|---:|",
    ]
    for name, a in accuracy.items():
        half = 1.96 * float(np.sqrt(a * (1 - a) / rounds))
        lines.append(f"| {name} | {a:.1%} ± {half:.1%} |")
    lines += ["", "judge weights fitted on the other seeds' gold rounds (one per held-out seed):"]
    for name, values in result["judge_weights"].items():  # type: ignore[attr-defined]
        lines.append(f"* {name}: " + ", ".join(f"{v:.3g}" for v in values))
    print("\n".join(lines))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        payload = {"scenario": scenario.name, "seeds": args.seeds} | result
        (args.out / "results.json").write_text(json.dumps(payload, indent=2) + "\n")
        (args.out / "table.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
