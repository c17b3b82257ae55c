"""Reading a round as evidence: the posterior over its answer clusters under a model of how
answers and verdicts arise.

This module owns :class:`EvidenceModel` (the model's few shared numbers), :class:`RoundEvidence`
(one round's votes and verdicts, as the model reads them), :func:`plain_vote` (the reading
a swarm starts from), :func:`verdict_rows` (a round's
comparisons as one decided direction per ranker and pair), :func:`estimate_skills` (each
generator's skill from its gold answers), :func:`estimate_judging` (each judge's edge from its
gold verdicts), :func:`posterior_items` (the round's posterior), :func:`fit_evidence_model`
(choosing the shared numbers on gold rounds) and :func:`refit_due` (when to choose again).

The model
---------
A task has a difficulty ``d ~ N(0, difficulty_sd)`` and a pull ``z ~ N(0, pull_sd)`` (logits),
both unknown and integrated out (Gauss-Hermite quadrature). Of its ``options`` plausible
answers one is right and one of the wrong ones is *popular* (the distractor that fools people).

* **Votes.** A generator of skill ``s`` answers right with chance ``q = sigmoid(s - d)``; a
  wrong generator picks the popular distractor with chance ``k = sigmoid(logit(concentration)
  + z)`` and otherwise any wrong answer alike (Dawid & Skene 1979's one-coin model with a task
  difficulty, as in Whitehill et al. 2009's GLAD, plus a shared distractor).
* **Verdicts.** A judge facing the right answer and a wrong one ``w`` prefers the right one with
  chance ``sigmoid(J_k - d - z [w popular] + c ([own answer right] - q))``: ``J_k`` is the
  judge's edge on an average task, its posterior mean from its own gold verdicts around the
  swarm's ``judge_offset`` (spread ``judge_sd``); the pull ``z`` that draws generators to
  the popular distractor sways judges towards it too; and ``c`` (``judge_correlation``) ties a
  judge's errors to its own answer (a judge that got the task wrong judges it worse). Between
  two wrong answers it leans to its own and to the popular one, ``sigmoid(c ([lo own] - [hi
  own]) + z ([lo popular] - [hi popular]))``. A ranker that was not a generator has a hidden
  own answer, summed out with its generation skill. Ties carry no direction and are left out.

That the crowd's errors and the judges' errors share one cause (``z``) is what defeats both
majority vote and naive judging on hard questions (the Fortytwo paper's GPQA setting, the
simulator's paper-like swarm): the cluster judges favour is, given the votes, as often the
persuasive distractor as the answer. Reading votes and verdicts *jointly* through the model
separates them: the right answer beats ordinary distractors on merit and is voted for by the
generators whose gold record is good, the popular distractor wins its pairs by pull.

The posterior of cluster ``i`` being right sums the joint likelihood over which cluster is the
popular distractor (or an option nobody submitted) and over the quadrature grid.

The shared numbers are not known in advance for real models; :func:`fit_evidence_model`
chooses them on a lattice by the log posterior mass on the known answers of past gold rounds
(each read with the gold records as they were before it). What the reading reads is earned
in tiers, each kept only when it beats the best reading without it by :data:`EARN_GAIN`
nats: the plain vote (:func:`plain_vote`: votes alone, every generator at one skill, a larger
cluster always likelier), then other shared numbers, then the generators' gold records, then
the verdicts. Judges, and records, that have not shown they add to the votes are not read
(DESIGN, "The consensus principle"): between generators of one skill a short gold record is
noise, and reading it gives rounds to whichever minority did better on gold by chance.
Measured on the simulator (``docs/sim/evidence-default``, 5 seeds): paper-like at judging
parity well above majority vote and the calibrated rule (numbers in that page).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, cast

import numpy as np
from numpy.polynomial.hermite_e import hermegauss
from numpy.typing import NDArray

from ranking.errors import InvalidParameters
from ranking.types import OUTCOME_A, OUTCOME_B, Comparisons

__all__ = [
    "DEFAULT_OPTIONS",
    "LATTICE",
    "EvidenceModel",
    "RoundEvidence",
    "estimate_judging",
    "estimate_skills",
    "fit_discrepancy",
    "fit_evidence_model",
    "neighbours",
    "on_lattice",
    "plain_vote",
    "posterior_items",
    "refit_due",
    "round_log_likelihood",
    "score_evidence_model",
    "verdict_rows",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]

#: Quadrature points over the task's difficulty and its pull.
DIFFICULTY_POINTS = 10
PULL_POINTS = 6
#: Grid points of the skill posterior, over the prior's mean +- SKILL_SDS sds.
SKILL_POINTS = 81
SKILL_SDS = 4.0
_TINY = 1e-300
#: Plausible answers per task unless a swarm says otherwise.
DEFAULT_OPTIONS = 4


@dataclass(frozen=True)
class EvidenceModel:
    """The model's shared numbers (module docstring), all in logits except the two shares.

    Attributes
    ----------
    options : int
        Plausible answers per task (at least 2).
    difficulty_sd, pull_sd : float
        Spread of the task's difficulty and of its pull.
    concentration : float
        A wrong generator's chance of the popular distractor on a task of average pull.
    judge_offset : float
        ``J``: a judge's edge for the right answer over an ordinary wrong one on an average
        task.
    judge_correlation : float
        ``c``: how far a judge's own answer drags its verdicts.
    skill_mean, skill_sd : float
        The prior of a generator's skill (relative to the average task).
    judge_sd : float
        The spread of judges' edges around ``judge_offset`` (0: every judge at the offset).
    use_verdicts : bool
        Whether the verdicts are read. False by default: a swarm reads its judges only once
        its gold rounds show they add to the votes (:func:`fit_evidence_model`).
    use_records : bool
        Whether the generators' gold records are read. False by default: every generator
        (and every ranker's hidden answer) sits at the prior mean ``skill_mean`` until the
        gold rounds show the records tell generators apart (between generators of one skill
        a short record is noise, and reading it gives rounds to whichever minority happened
        to do better on gold).
    """

    options: int = DEFAULT_OPTIONS
    difficulty_sd: float = 1.0
    pull_sd: float = 1.0
    concentration: float = 0.5
    judge_offset: float = 0.0
    judge_correlation: float = 1.0
    skill_mean: float = 0.0
    skill_sd: float = 0.6
    judge_sd: float = 0.0
    use_verdicts: bool = False
    use_records: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.options, bool) or not isinstance(self.options, int) or self.options < 2:
            raise InvalidParameters(f"options must be an integer >= 2, got {self.options!r}")
        for name in ("difficulty_sd", "pull_sd", "skill_sd", "judge_sd", "judge_correlation"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0.0):
                raise InvalidParameters(f"{name} must be finite and non-negative, got {value}")
        if not 0.0 < self.concentration < 1.0:
            raise InvalidParameters(f"concentration must be in (0, 1), got {self.concentration}")
        for name in ("judge_offset", "skill_mean"):
            if not math.isfinite(getattr(self, name)):
                raise InvalidParameters(f"{name} must be finite")


@dataclass(frozen=True)
class RoundEvidence:
    """One round as the model reads it.

    Attributes
    ----------
    n_items : int
        Answer clusters.
    vote_item : ndarray of int, shape (n_votes,)
        Each candidate's cluster.
    vote_hits, vote_seen : ndarray of float, shape (n_votes,)
        Each candidate's generator's gold record before the round: gold answers right, and
        answered (read through :func:`estimate_skills` under the model).
    ranker_hits, ranker_seen : ndarray of float, shape (n_rankers,)
        Each ranker's gold record as a generator.
    judge_hits, judge_seen : ndarray of float, shape (n_rankers,)
        Each ranker's gold record as a judge: decided verdicts between a right and a wrong
        answer that went to the right one, and all of them (:func:`estimate_judging`).
    ranker_own : ndarray of int, shape (n_rankers,)
        Each ranker's own cluster; -1 when it was not a generator (hidden).
    row_ranker, row_lo, row_hi : ndarray of int, shape (n_rows,)
        One decided verdict per (ranker, pair): its ranker and the pair, ``lo < hi``.
    row_lo_won : ndarray of bool, shape (n_rows,)
        Whether the verdict went to ``lo``.
    """

    n_items: int
    vote_item: IntArray
    vote_hits: FloatArray
    vote_seen: FloatArray
    ranker_hits: FloatArray = field(default_factory=lambda: np.zeros(0))
    ranker_seen: FloatArray = field(default_factory=lambda: np.zeros(0))
    judge_hits: FloatArray | None = None
    judge_seen: FloatArray | None = None
    ranker_own: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    row_ranker: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    row_lo: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    row_hi: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    row_lo_won: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=bool))

    def __post_init__(self) -> None:
        n = self.n_items
        arrays = {
            "vote_item": np.asarray(self.vote_item, dtype=np.int64),
            "vote_hits": np.asarray(self.vote_hits, dtype=np.float64),
            "vote_seen": np.asarray(self.vote_seen, dtype=np.float64),
            "ranker_hits": np.asarray(self.ranker_hits, dtype=np.float64),
            "ranker_seen": np.asarray(self.ranker_seen, dtype=np.float64),
            "judge_hits": np.asarray(
                np.zeros(len(self.ranker_own)) if self.judge_hits is None else self.judge_hits,
                dtype=np.float64,
            ),
            "judge_seen": np.asarray(
                np.zeros(len(self.ranker_own)) if self.judge_seen is None else self.judge_seen,
                dtype=np.float64,
            ),
            "ranker_own": np.asarray(self.ranker_own, dtype=np.int64),
            "row_ranker": np.asarray(self.row_ranker, dtype=np.int64),
            "row_lo": np.asarray(self.row_lo, dtype=np.int64),
            "row_hi": np.asarray(self.row_hi, dtype=np.int64),
            "row_lo_won": np.asarray(self.row_lo_won, dtype=bool),
        }
        if n < 1:
            raise InvalidParameters("a round needs at least one cluster")
        if any(a.ndim != 1 for a in arrays.values()):
            raise InvalidParameters("round evidence arrays must be one-dimensional")
        votes, rankers, rows = (
            arrays["vote_item"],
            arrays["ranker_own"],
            arrays["row_ranker"],
        )
        if not all(arrays[k].shape == votes.shape for k in ("vote_hits", "vote_seen")) or not all(
            arrays[k].shape == rankers.shape
            for k in ("ranker_hits", "ranker_seen", "judge_hits", "judge_seen")
        ):
            raise InvalidParameters("one gold record per vote and per ranker")
        if not all(arrays[k].shape == rows.shape for k in ("row_lo", "row_hi", "row_lo_won")):
            raise InvalidParameters("verdict rows must be equally long")
        if votes.size and (votes.min() < 0 or votes.max() >= n):
            raise InvalidParameters("vote cluster out of range")
        own = arrays["ranker_own"]
        if own.size and (own.min() < -1 or own.max() >= n):
            raise InvalidParameters("ranker's own cluster out of range")
        lo, hi = arrays["row_lo"], arrays["row_hi"]
        if rows.size and (
            rows.min() < 0 or rows.max() >= rankers.shape[0] or lo.min() < 0 or hi.max() >= n
        ):
            raise InvalidParameters("verdict row out of range")
        if np.any(lo >= hi):
            raise InvalidParameters("verdict rows need lo < hi")
        for hits, seen in (
            ("vote_hits", "vote_seen"),
            ("ranker_hits", "ranker_seen"),
            ("judge_hits", "judge_seen"),
        ):
            h, n_seen = arrays[hits], arrays[seen]
            if not np.all(np.isfinite(n_seen)) or np.any(h < 0.0) or np.any(n_seen < h):
                raise InvalidParameters("gold records must be finite with 0 <= hits <= seen")
        for name, value in arrays.items():
            object.__setattr__(self, name, value)


def verdict_rows(comparisons: Comparisons) -> tuple[IntArray, IntArray, IntArray, BoolArray]:
    """One decided direction per (ranker, unordered pair): ``(ranker, lo, hi, lo_won)``.

    A ranker asked a pair in both orders gives one verdict (its two answers are one judgement,
    not two); orders that disagree (a judge that answers by position) and ties carry no
    direction and are dropped.
    """
    a = np.asarray(comparisons.a, dtype=np.int64)
    b = np.asarray(comparisons.b, dtype=np.int64)
    ranker = np.asarray(comparisons.ranker, dtype=np.int64)
    outcome = np.asarray(comparisons.outcome)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    a_won, b_won = outcome == OUTCOME_A, outcome == OUTCOME_B
    lo_vote = np.where(a < b, a_won, b_won).astype(np.int64) - np.where(a < b, b_won, a_won)
    if ranker.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty, np.zeros(0, dtype=bool)
    keys = np.stack([ranker, lo, hi], axis=1)
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    net = np.zeros(unique.shape[0], dtype=np.int64)
    np.add.at(net, inverse.reshape(-1), lo_vote)
    decided = net != 0
    return (
        unique[decided, 0].astype(np.int64),
        unique[decided, 1].astype(np.int64),
        unique[decided, 2].astype(np.int64),
        net[decided] > 0,
    )


def _side(lo: IntArray, hi: IntArray, item: IntArray | int) -> IntArray:
    """Which side of each pair ``item`` is: 0 lo, 1 hi, 2 neither."""
    return np.where(lo == item, 0, np.where(hi == item, 1, 2)).astype(np.int64)


# Hand-written rather than scipy.special's: on this module's small arrays log_expit measured
# 2.6x and logsumexp 9x slower than these lines (per-call overhead), and the posterior runs
# them tens of thousands of times per fit.
def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


def _log_sigmoid(x: FloatArray) -> FloatArray:
    # min(x, 0) - log1p(exp(-|x|)): exact to rounding, and 3x faster than -logaddexp(0, -x)
    return np.asarray(np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x))), dtype=np.float64)


def _logsumexp(x: FloatArray, axis: int) -> FloatArray:
    top = np.max(x, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.asarray(np.log(np.exp(x - top).sum(axis=axis)) + np.squeeze(top, axis=axis))


@dataclass(frozen=True)
class _Grid:
    """The quadrature grid of a model (flattened over difficulty x pull)."""

    difficulty: FloatArray
    pull: FloatArray
    log_weight: FloatArray
    concentration: FloatArray


@functools.lru_cache(maxsize=64)
def _quadrature(points: int, sd: float) -> tuple[FloatArray, FloatArray]:
    if sd == 0.0:
        return np.zeros(1), np.zeros(1)
    x, w = hermegauss(points)
    return np.asarray(sd * x, dtype=np.float64), np.asarray(np.log(w / w.sum()), dtype=np.float64)


def _grid(model: EvidenceModel) -> _Grid:
    d, wd = _quadrature(DIFFICULTY_POINTS, model.difficulty_sd)
    z, wz = _quadrature(PULL_POINTS, model.pull_sd)
    dd, zz = np.meshgrid(d, z, indexing="ij")
    base = math.log(model.concentration) - math.log1p(-model.concentration)
    conc = _sigmoid(base + zz.ravel())
    return _Grid(
        difficulty=dd.ravel(),
        pull=zz.ravel(),
        log_weight=(wd[:, None] + wz[None, :]).ravel(),
        concentration=conc,
    )


def _posterior_mean(
    hits: FloatArray, seen: FloatArray, mean: float, sd: float, difficulty_sd: float
) -> FloatArray:
    """Posterior mean of a logit ``s`` under the prior ``N(mean, sd)`` from ``hits`` successes
    of ``seen`` tries, each a success with chance ``sigmoid(s - d)`` averaged over ``d ~ N(0,
    difficulty_sd)``."""
    h = np.asarray(hits, dtype=np.float64)
    n = np.asarray(seen, dtype=np.float64)
    if h.shape != n.shape or np.any(h < 0.0) or np.any(n < h) or not np.all(np.isfinite(n)):
        raise InvalidParameters("hits and seen must be finite with 0 <= hits <= seen")
    if sd == 0.0:
        return np.full(h.shape, mean)
    grid = mean + sd * np.linspace(-SKILL_SDS, SKILL_SDS, SKILL_POINTS)
    d, wd = _quadrature(DIFFICULTY_POINTS, difficulty_sd)
    p = _sigmoid(grid[:, None] - d[None, :]) @ np.exp(wd)
    log_right, log_wrong = np.log(p), np.log1p(-p)
    log_prior = -0.5 * ((grid - mean) / sd) ** 2
    log_post = log_prior[None, :] + h[..., None] * log_right + (n - h)[..., None] * log_wrong
    post = np.exp(log_post - log_post.max(axis=-1, keepdims=True))
    return np.asarray((post @ grid) / post.sum(axis=-1), dtype=np.float64)


def estimate_skills(hits: FloatArray, seen: FloatArray, model: EvidenceModel) -> FloatArray:
    """Each generator's posterior-mean skill from its gold answers: ``hits`` right of ``seen``
    answered, each right with chance ``sigmoid(s - d)`` averaged over the task difficulty
    prior, under the skill prior ``N(skill_mean, skill_sd)``. No record, or a model that does
    not read the records (``use_records`` false): the prior mean."""
    if not model.use_records:
        return np.full(np.shape(hits), model.skill_mean)
    return _posterior_mean(hits, seen, model.skill_mean, model.skill_sd, model.difficulty_sd)


def estimate_judging(hits: FloatArray, seen: FloatArray, model: EvidenceModel) -> FloatArray:
    """Each judge's posterior-mean edge ``J_k`` from its gold verdicts: ``hits`` of ``seen``
    verdicts between a right and a wrong answer went to the right one, each with chance
    ``sigmoid(J_k - d)`` (the pull and the judge's own answer averaged out), under the prior
    ``N(judge_offset, judge_sd)``. No record: ``judge_offset``."""
    return _posterior_mean(hits, seen, model.judge_offset, model.judge_sd, model.difficulty_sd)


def posterior_items(evidence: RoundEvidence, model: EvidenceModel) -> FloatArray:
    """Log posterior of each cluster holding the right answer (normalised over the clusters;
    a uniform prior), under ``model`` (module docstring)."""
    return _posterior(evidence, model, _grid(model))


def _posterior(evidence: RoundEvidence, model: EvidenceModel, grid: _Grid) -> FloatArray:
    n = evidence.n_items
    wrong_options = max(model.options - 1, n - 1)
    unseen = wrong_options + 1 - n  # options nobody submitted (all wrong when one cluster is)
    d = grid.difficulty[:, None]
    conc = grid.concentration
    log_pop_share = np.log(conc + (1.0 - conc) / wrong_options)  # the popular distractor
    log_other_share = np.log((1.0 - conc) / wrong_options)  # one other distractor
    # votes: per grid point and cluster, the sums of log q and log (1 - q) of its voters
    vote_skill = estimate_skills(evidence.vote_hits, evidence.vote_seen, model)
    q_votes = _sigmoid(vote_skill[None, :] - d)
    to_item = np.zeros((evidence.vote_item.shape[0], n))
    to_item[np.arange(evidence.vote_item.shape[0]), evidence.vote_item] = 1.0
    log_right = np.log(np.maximum(q_votes, _TINY)) @ to_item
    log_wrong = np.log(np.maximum(1.0 - q_votes, _TINY)) @ to_item
    counts = to_item.sum(axis=0)
    wrong_total = log_wrong.sum(axis=1)
    verdicts = model.use_verdicts and evidence.row_ranker.shape[0] > 0
    reading = (
        _VerdictReading(evidence, model, grid, unseen, log_pop_share, log_other_share)
        if verdicts
        else None
    )
    out = np.full(n, -np.inf)
    for right in range(n):
        populars = [p for p in range(n) if p != right] + ([-1] if unseen > 0 else [])
        terms = []
        for popular in populars:
            others = counts.sum() - counts[right] - (counts[popular] if popular >= 0 else 0.0)
            votes = (
                log_right[:, right]
                + wrong_total
                - log_wrong[:, right]
                + (counts[popular] * log_pop_share if popular >= 0 else 0.0)
                + others * log_other_share
            )
            joint = grid.log_weight + votes + (math.log(unseen) if popular < 0 else 0.0)
            if reading is not None:
                joint = joint + reading.log_likelihood(right, popular)
            terms.append(joint)
        out[right] = float(_logsumexp(np.concatenate(terms), axis=0))
    return np.asarray(out - _logsumexp(out, axis=0), dtype=np.float64)


class _VerdictReading:
    """The verdicts' log-likelihood under each hypothesis (right cluster, popular cluster).

    A verdict's logit depends on the hypothesis and on its ranker's own answer only through
    three facts about its pair: which side is right (lo, hi, neither), which is popular (lo,
    hi, neither) and which is the ranker's own (lo, hi, neither). The variants are computed
    once per round (:meth:`_table`) and each hypothesis gathers its own."""

    def __init__(
        self,
        evidence: RoundEvidence,
        model: EvidenceModel,
        grid: _Grid,
        unseen: int,
        log_pop_share: FloatArray,
        log_other_share: FloatArray,
    ) -> None:
        """``unseen``: options nobody submitted; ``log_pop_share`` / ``log_other_share`` (per
        grid point): a wrong answer's log chance of being the popular distractor / one other
        distractor (:func:`_posterior` computes them once per round)."""
        self.ev = evidence
        self.model = model
        self.grid = grid
        n = evidence.n_items
        self.unseen = unseen
        # every ranker's chance of answering right, per grid point (G x rankers)
        skill = estimate_skills(evidence.ranker_hits, evidence.ranker_seen, model)
        self.q = _sigmoid(skill[None, :] - grid.difficulty[:, None])
        # RoundEvidence.__post_init__ has replaced missing judge records by zeros
        hits = cast(FloatArray, evidence.judge_hits)
        seen = cast(FloatArray, evidence.judge_seen)
        self.edge = estimate_judging(hits, seen, model)
        hidden = evidence.ranker_own < 0
        self.hidden_rankers = np.flatnonzero(hidden)
        row_hidden = hidden[evidence.row_ranker]
        self.known_rows = np.flatnonzero(~row_hidden)
        self.hidden_rows = np.flatnonzero(row_hidden)
        # hidden rows: which hidden ranker each belongs to (column of the per-ranker sum)
        position = np.full(evidence.ranker_own.shape[0], -1, dtype=np.int64)
        position[self.hidden_rankers] = np.arange(self.hidden_rankers.shape[0])
        column = position[evidence.row_ranker[self.hidden_rows]]
        self.to_hidden = np.zeros((self.hidden_rows.shape[0], self.hidden_rankers.shape[0]))
        self.to_hidden[np.arange(self.hidden_rows.shape[0]), column] = 1.0
        # own-answer classes of a hidden ranker: each cluster, and -1 (an unsubmitted option)
        self.classes = np.array([*range(n), -1] if self.unseen > 0 else list(range(n)))
        q_h = self.q[:, self.hidden_rankers]
        self.log_q_h = np.log(np.maximum(q_h, _TINY))
        log_not_q_h = np.log(np.maximum(1.0 - q_h, _TINY))
        # a hidden ranker's own answer: the popular distractor / one other distractor
        self.log_pop = log_not_q_h + log_pop_share[:, None]
        self.log_other = log_not_q_h + log_other_share[:, None]
        lo, hi = evidence.row_lo, evidence.row_hi
        own = evidence.ranker_own[evidence.row_ranker]
        self.known_table = self._table(self.known_rows, _side(lo, hi, own)[self.known_rows])
        self.hidden_table = self._table(self.hidden_rows, None)
        # hidden rows: the own side for each class (C x hidden rows)
        classes = self.classes[:, None]
        self.hidden_own = _side(
            lo[self.hidden_rows][None, :], hi[self.hidden_rows][None, :], classes
        )

    def _table(self, rows: IntArray, own_side: IntArray | None) -> FloatArray:
        """Log-likelihood of ``rows`` (rows x variants x G) in every variant ``3 right +
        popular`` (each the side it names: 0 lo, 1 hi, 2 neither) and, where ``own_side`` is
        None (hidden own answers), every own side too: variant ``9 right + 3 popular + own``."""
        ev, grid, c = self.ev, self.grid, self.model.judge_correlation
        ranker = ev.row_ranker[rows]
        q = self.q[:, ranker][None, :, :]  # 1 x G x rows
        d, z = grid.difficulty[None, :, None], grid.pull[None, :, None]
        base = self.edge[ranker][None, None, :] - d
        if own_side is None:  # every own side: 3 x 1 x 1
            own_lo = np.array([1.0, 0.0, 0.0])[:, None, None]
            own_hi = np.array([0.0, 1.0, 0.0])[:, None, None]
        else:  # the row's own side: 1 x 1 x rows
            own_lo = (own_side == 0).astype(np.float64)[None, None, :]
            own_hi = (own_side == 1).astype(np.float64)[None, None, :]
        logits = []
        for right in range(3):
            for popular in range(3):
                pop_lo, pop_hi = float(popular == 0), float(popular == 1)
                if right == 0:
                    logit = base - z * pop_hi + c * (own_lo - q)
                elif right == 1:
                    logit = -(base - z * pop_lo + c * (own_hi - q))
                else:
                    logit = c * (own_lo - own_hi) + z * (pop_lo - pop_hi) + 0.0 * q
                logits.append(logit)
        stacked = np.concatenate(logits)  # variants x G x rows
        signed = np.where(ev.row_lo_won[rows][None, None, :], stacked, -stacked)
        return np.ascontiguousarray(np.moveaxis(_log_sigmoid(signed), 2, 0))

    def log_likelihood(self, right: int, popular: int) -> FloatArray:
        """Sum over every verdict (per grid point)."""
        ev = self.ev
        variant = 3 * _side(ev.row_lo, ev.row_hi, right) + _side(ev.row_lo, ev.row_hi, popular)
        total = np.zeros(self.grid.difficulty.shape[0])
        if self.known_rows.shape[0]:
            index = np.arange(self.known_rows.shape[0])
            total = total + self.known_table[index, variant[self.known_rows], :].sum(axis=0)
        if self.hidden_rows.shape[0]:
            index = np.arange(self.hidden_rows.shape[0])[None, :]
            cases = 3 * variant[self.hidden_rows][None, :] + self.hidden_own  # C x hidden rows
            per_row = self.hidden_table[index, cases, :]  # C x hidden rows x G
            per_ranker = np.swapaxes(per_row, 1, 2) @ self.to_hidden  # C x G x hidden rankers
            mixed = _logsumexp(per_ranker + self._class_prior(right, popular), axis=0)
            total = total + mixed.sum(axis=1)
        return total

    def _class_prior(self, right: int, popular: int) -> FloatArray:
        """Log prior of a hidden ranker's own answer being each class (C x G x hidden)."""
        log_pop, log_other = self.log_pop, self.log_other
        rows = []
        for own in self.classes.tolist():
            if own == right:
                rows.append(self.log_q_h)
            elif own == popular:
                rows.append(log_pop)
            elif own >= 0:
                rows.append(log_other)
            elif popular < 0:  # an unsubmitted option: the popular one or another
                rows.append(np.logaddexp(log_pop, log_other + math.log(max(self.unseen - 1, 1))))
            else:
                rows.append(log_other + math.log(self.unseen))
        return np.stack(rows)


#: The values each shared number may take in :func:`fit_evidence_model` (a lattice: the fit
#: moves one step along one axis at a time, so it visits few models and caches their scores).
LATTICE: dict[str, tuple[float, ...]] = {
    "judge_offset": (-3.0, -2.5, -2.0, -1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0),
    "judge_correlation": (0.0, 0.5, 1.0, 2.0),
    "pull_sd": (0.25, 0.5, 1.0, 1.5, 2.0),
    "difficulty_sd": (0.5, 1.0, 1.5, 2.0),
    "concentration": (0.2, 0.35, 0.5, 0.65, 0.8),
    "skill_mean": (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5),
    "skill_sd": (0.3, 0.6, 0.9, 1.2),
    "judge_sd": (0.0, 0.3, 0.6, 0.9, 1.2),
}
#: A move must raise the gold log-likelihood by this much (nats): the fit does not wander
#: between models the gold record cannot tell apart.
MIN_GAIN = 0.5
#: A reading departs from the plain vote only if the departure gains this much (nats) on the
#: gold rounds over the best reading without it, one tier at a time (:func:`fit_evidence_model`):
#: the shared numbers (over the default model), the generators' records, the verdicts. Each
#: tier gives the fit several numbers to tune, and on coin-flip verdicts (60 gold rounds) it
#: found 1.5 nats of pure noise; 3 nats is a likelihood ratio of 20.
EARN_GAIN = 3.0
#: The axes that only matter when the verdicts are read.
VERDICT_AXES = ("judge_offset", "judge_correlation", "judge_sd")
#: The axes that only matter when the generators' records are read.
RECORD_AXES = ("skill_sd",)
#: Most passes over the axes per climb.
MAX_PASSES = 10


#: The fit runs after each of the first REFIT_EVERY * 4 gold rounds, then after every
#: REFIT_EVERY-th (:func:`refit_due`): the model moves most while the record is short.
REFIT_EVERY = 5


def refit_due(gold_rounds: int) -> bool:
    """Whether the fit runs after the ``gold_rounds``-th gold round that taught the reading."""
    return gold_rounds <= 4 * REFIT_EVERY or gold_rounds % REFIT_EVERY == 0


def _steps(model: EvidenceModel, name: str) -> list[EvidenceModel]:
    """``model`` one lattice step down and up along ``name`` (those that exist)."""
    values = LATTICE[name]
    value = getattr(model, name)
    index = int(np.argmin(np.abs(np.asarray(values) - value)))
    out = []
    for step in (index - 1, index + 1):
        if 0 <= step < len(values) and values[step] != value:
            moved: dict[str, Any] = {name: values[step]}
            out.append(replace(model, **moved))
    return out


def _axes(model: EvidenceModel) -> list[str]:
    """The lattice axes that matter to ``model`` (the verdict axes only when it reads the
    verdicts, the record axes only when it reads the records)."""
    return [
        n
        for n in LATTICE
        if (model.use_verdicts or n not in VERDICT_AXES)
        and (model.use_records or n not in RECORD_AXES)
    ]


def neighbours(model: EvidenceModel) -> list[EvidenceModel]:
    """Models one lattice step away from ``model`` along one axis (:data:`LATTICE`; without the
    verdict axes when ``model`` does not read verdicts, nor the record axes when it does not
    read records)."""
    return [m for name in _axes(model) for m in _steps(model, name)]


def round_log_likelihood(
    evidence: RoundEvidence, correct: BoolArray, model: EvidenceModel
) -> float:
    """The log posterior mass ``model`` puts on a gold round's correct clusters."""
    post = posterior_items(evidence, model)
    return float(_logsumexp(post[np.asarray(correct, dtype=bool)], axis=0))


#: The plain vote's prior skill: generators a little better than chance (at ``skill_mean`` 0 a
#: two-option task's generators are at chance, and the reading cannot tell a larger cluster
#: from a smaller one).
PLAIN_SKILL_MEAN = 0.5


def plain_vote(options: int) -> EvidenceModel:
    """The reading a swarm starts from and falls back to when its gold rounds show nothing:
    the votes alone, every generator at one skill (reading neither records nor verdicts), so
    a larger cluster always reads as likelier (tests/unit/ranking/test_evidence.py checks every
    split of up to 12 votes)."""
    return EvidenceModel(options=options, skill_mean=PLAIN_SKILL_MEAN)


def fit_evidence_model(
    gold: Sequence[tuple[int, RoundEvidence, BoolArray]],
    start: EvidenceModel,
    memo: dict[tuple[EvidenceModel, int], float] | None = None,
    earn_records: bool = True,
) -> tuple[EvidenceModel, float]:
    """Choose the shared numbers on gold rounds: cyclic coordinate ascent over :data:`LATTICE`
    on the summed :func:`round_log_likelihood` of ``gold`` (``(key, evidence, correct)``, keys
    unique): axis by axis, a step down or up is taken when it gains :data:`MIN_GAIN`, until a
    pass over every axis moves nothing (at most :data:`MAX_PASSES`).

    What the reading reads is earned in tiers, each kept only if it gains
    :data:`EARN_GAIN` over the best reading before it (DESIGN, "The consensus principle"):
    the default model reading the votes alone (the plain vote); the climb from ``start``
    reading the votes alone; the same reading the generators' records; and the climb reading
    the verdicts (with the records when they were kept). A swarm whose gold rounds show nothing
    reads the plain vote. ``earn_records=False`` is consensus 2's rule (before the records
    tier): the records are always read, and the climbs from ``start`` reading the verdicts and
    the votes alone compete.

    ``memo`` (optional, the caller's) caches each (model, key)'s score across calls: a gold
    round's evidence must not change under its key. Returns the model and its score.
    """
    cache: dict[tuple[EvidenceModel, int], float] = {} if memo is None else memo

    def score(model: EvidenceModel) -> float:
        return score_evidence_model(gold, model, cache)

    def climb(current: EvidenceModel) -> tuple[EvidenceModel, float]:
        best = score(current)
        for _ in range(MAX_PASSES):
            moved = False
            for name in _axes(current):
                for model in _steps(current, name):
                    value = score(model)
                    if value >= best + MIN_GAIN:
                        current, best, moved = model, value, True
                        break
            if not moved:
                break
        return current, best

    if earn_records:  # from the plain vote: the shared numbers, the records, the verdicts
        best = plain_vote(start.options)
        best_score = score(best)
        tiers: tuple[tuple[bool | None, bool], ...] = ((False, False), (True, False), (None, True))
    else:  # consensus 2: the records read always, then the verdicts
        best, best_score = climb(replace(start, use_verdicts=False, use_records=True))
        tiers = ((None, True),)
    for records, verdicts in tiers:
        reads = best.use_records if records is None else records
        model, value = climb(replace(start, use_records=reads, use_verdicts=verdicts))
        if value >= best_score + EARN_GAIN:
            best, best_score = model, value
    return best, best_score


def score_evidence_model(
    gold: Sequence[tuple[int, RoundEvidence, BoolArray]],
    model: EvidenceModel,
    memo: dict[tuple[EvidenceModel, int], float] | None = None,
) -> float:
    """The summed :func:`round_log_likelihood` of ``gold`` under ``model`` (what
    :func:`fit_evidence_model` maximises); ``memo`` caches each (model, key)'s term."""
    total = 0.0
    for key, evidence, correct in gold:
        value = None if memo is None else memo.get((model, key))
        if value is None:
            value = round_log_likelihood(evidence, correct, model)
            if memo is not None:
                memo[(model, key)] = value
        total += value
    return total


def on_lattice(model: EvidenceModel) -> bool:
    """Whether every shared number of ``model`` is one of :data:`LATTICE`'s values (the only
    models :func:`fit_evidence_model` can choose)."""
    return all(getattr(model, name) in values for name, values in LATTICE.items())


#: How far (nats, relative to the score's size, at least absolute) a recorded fit's gold score
#: may differ from a member's own fit when the two chose different models
#: (:func:`fit_discrepancy`). The climb compares float sums of logs, whose last bits differ
#: between float builds; a step must gain :data:`MIN_GAIN`, eight orders of magnitude more.
FIT_TOLERANCE = 1e-8


def fit_discrepancy(
    recorded: EvidenceModel,
    gold: Sequence[tuple[int, RoundEvidence, BoolArray]],
    start: EvidenceModel,
    memo: dict[tuple[EvidenceModel, int], float] | None = None,
    earn_records: bool = True,
) -> str | None:
    """Why a member refuses ``recorded`` as :func:`fit_evidence_model` of ``gold`` from
    ``start`` (``earn_records`` as there), or ``None`` when it accepts it: it is the member's
    own fit, or it is on the lattice, reads the verdicts and the records exactly when the
    member's fit does, and scores the same within
    :data:`FIT_TOLERANCE` (two builds whose float sums differ in the last bits may climb to
    models the gold rounds cannot tell apart; a leader gains nothing by choosing among them)."""
    own, own_score = fit_evidence_model(gold, start, memo, earn_records)
    if recorded == own:
        return None
    if not on_lattice(recorded) or recorded.options != own.options:
        return f"{recorded} is not a model the fit can choose"
    if recorded.use_verdicts != own.use_verdicts:
        return f"reads the verdicts: {recorded.use_verdicts}, the fit says {own.use_verdicts}"
    if recorded.use_records != own.use_records:
        return f"reads the records: {recorded.use_records}, the fit says {own.use_records}"
    score = score_evidence_model(gold, recorded, memo)
    if abs(score - own_score) > FIT_TOLERANCE * max(1.0, abs(own_score)):
        return f"scores {score} on the gold rounds, the fit chose {own} scoring {own_score}"
    return None
