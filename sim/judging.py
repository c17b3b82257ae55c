"""The simulator's judge model: correlated errors, an explicit judging advantage, one latent
verdict per pair for both orders, and stated confidences.

This module owns :class:`JudgeModel` (the ``[tasks]`` keys ``judging_ease``,
``persuasiveness`` and ``judge_correlation``), :func:`task_concentration` (a task's pull on
wrong generators) and :func:`draw_pair_verdicts` (every stacked comparison of a round, judged
in one vectorised draw). The scalar model behind the node's ``sim`` backend stays in
:mod:`sim.model`; this is the richer model the fast engine runs.

The model
---------
Labels: 0 is the correct answer, 1 the task's popular distractor, ``k > 1`` other distractors.
A task draws one persuasiveness ``z ~ N(mean, sd)`` (logits), shared by generators and judges:

* a wrong generator picks the popular distractor with probability
  ``sigmoid(logit(error_correlation) + z)`` (:func:`task_concentration`);
* a judge of skill ``j`` on a task of difficulty ``d`` facing the correct answer and a wrong one
  ``w`` prefers the correct side with probability ``sigmoid(L)``, where

  ``L = j - d + ease - z [w is the popular distractor] + c ([own answer right] - q)``

  with ``ease = judging_ease`` (default 0: judging is no easier than generating; the simulator
  before issue 21 and the node's ``sim`` backend use a built-in 1.0,
  :data:`sim.model.JUDGING_EASE`) and ``c = judge_correlation``: a ranker whose own answer (the
  candidate it submitted, or the answer it would have given) is wrong judges ``c q`` logits
  worse than its skill alone says, one whose own answer is right ``c (1 - q)`` better, where
  ``q`` is its chance of answering right. The term is centred (zero in expectation over the
  ranker's own answer), so ``judging_ease`` alone sets the average advantage and
  ``judge_correlation`` only ties judging errors to generation errors on the same task, which
  is what defeats both majority vote and naive judging;
* two answers of equal correctness: "tie" with :data:`sim.model.EQUAL_TIE_RATE`, the rest split
  by ``sigmoid(c ([a is own] - [b is own]) + z ([a is popular] - [b is popular]))``.

A ranker asked one pair in both orders (the ``3n`` and ``full`` schedules) decides it once: one
uniform draw per (ranker, unordered pair) is shared by both orders, so the two verdicts are not
independent evidence. Position bias ``b`` then acts per comparison: with probability ``|b|`` the
verdict is the position (A when ``b > 0``). The stated confidence is the node backend's rule:
the chosen side's share of the decided probability, clipped to ``[0.5, 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from sim.model import EQUAL_TIE_RATE, JUDGED_A, JUDGED_B, JUDGED_TIE, sigmoid

__all__ = ["JudgeModel", "PairVerdicts", "draw_pair_verdicts", "task_concentration"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_EDGE = 1e-9


@dataclass(frozen=True)
class JudgeModel:
    """The scenario's judge parameters (``[tasks]``), all in logits.

    Attributes
    ----------
    ease : float
        Judging's advantage over generating (``judging_ease``).
    correlation : float
        ``judge_correlation``: the cost of a wrong own answer (and, between two wrong answers,
        the pull towards one's own).
    """

    ease: float = 0.0
    correlation: float = 1.0


@dataclass(frozen=True)
class PairVerdicts:
    """Honest verdicts of stacked comparisons.

    Attributes
    ----------
    verdict : ndarray of int
        :data:`~sim.model.JUDGED_A`, :data:`~sim.model.JUDGED_B` or :data:`~sim.model.JUDGED_TIE`.
    confidence : ndarray of float
        Stated confidence in the chosen side (NaN for ties).
    decisive : ndarray of float
        The confidence an honest judge states when it picks the side it favours: what a
        dishonest judge that does not inflate states to look honest.
    a_merit : ndarray of float
        Probability that the judge, on merit, names ``a`` (before position bias).
    """

    verdict: IntArray
    confidence: FloatArray
    decisive: FloatArray
    a_merit: FloatArray


def task_concentration(
    error_correlation: npt.ArrayLike, persuasiveness: npt.ArrayLike
) -> FloatArray:
    """Each generator's chance that a wrong answer is the popular distractor on a task of
    persuasiveness ``z``: ``sigmoid(logit(error_correlation) + z)`` (0 and 1 stay put)."""
    p = np.clip(np.asarray(error_correlation, dtype=np.float64), _EDGE, 1.0 - _EDGE)
    out = sigmoid(np.log(p) - np.log1p(-p) + persuasiveness)
    exact = np.asarray(error_correlation, dtype=np.float64)
    return np.where(exact <= 0.0, 0.0, np.where(exact >= 1.0, 1.0, out))


def draw_pair_verdicts(
    model: JudgeModel,
    ranker: IntArray,
    item_a: IntArray,
    item_b: IntArray,
    item_labels: IntArray,
    item_correct: BoolArray,
    judging_skill: FloatArray,
    position_bias: FloatArray,
    own_label: IntArray,
    own_p_correct: FloatArray,
    difficulty: float,
    persuasiveness: float,
    rng: np.random.Generator,
) -> PairVerdicts:
    """Honest verdicts of every stacked comparison (one row per comparison).

    Parameters
    ----------
    model : JudgeModel
        Ease and correlation.
    ranker, item_a, item_b : ndarray of int
        Who judges which pair, in which order. The two orders of one ranker's pair share one
        latent draw.
    item_labels : ndarray of int
        Each item's answer label (0 correct, 1 the popular distractor; a correct answer the
        normaliser did not merge has a label of its own).
    item_correct : ndarray of bool
        Whether each item is a correct answer.
    judging_skill, position_bias : ndarray of float
        The judge's traits, per comparison.
    own_label : ndarray of int
        The judge's own answer label, per comparison (-1: none).
    own_p_correct : ndarray of float
        The judge's chance of answering the task right (``q``), per comparison.
    difficulty, persuasiveness : float
        The task's.
    rng : numpy.random.Generator
        Source of the draws.
    """
    n = item_a.shape[0]
    swap = item_a > item_b  # canonical orientation: the lower item index first
    lo_item = np.where(swap, item_b, item_a)
    hi_item = np.where(swap, item_a, item_b)
    lo, hi = item_labels[lo_item], item_labels[hi_item]
    lo_ok, hi_ok = item_correct[lo_item], item_correct[hi_item]
    has_own = own_label >= 0
    centred = np.where(has_own, (own_label == 0) - own_p_correct, 0.0)
    lo_own = (lo == own_label).astype(np.float64)
    hi_own = (hi == own_label).astype(np.float64)
    c, z = model.correlation, persuasiveness

    wrong = np.where(lo_ok, hi, lo)  # the wrong side's label when exactly one side is correct
    merit = judging_skill - difficulty + model.ease - z * (wrong == 1) + c * centred
    p_right = sigmoid(merit)
    lean = sigmoid(c * (lo_own - hi_own) + z * ((lo == 1).astype(np.float64) - (hi == 1)))
    differ = lo_ok != hi_ok
    p_lo = np.where(differ, np.where(lo_ok, p_right, 1.0 - p_right), (1.0 - EQUAL_TIE_RATE) * lean)
    p_tie = np.where(differ, 0.0, EQUAL_TIE_RATE)
    p_hi = 1.0 - p_lo - p_tie

    n_items = int(item_labels.shape[0])
    key = (ranker * n_items + lo_item) * n_items + hi_item
    _, shared = np.unique(key, return_inverse=True)
    shared = shared.reshape(-1)
    u = rng.random(int(shared.max()) + 1 if n else 0)[shared]
    lo_wins = u < p_lo
    hi_wins = ~lo_wins & (u < p_lo + p_hi)
    a_wins = np.where(swap, hi_wins, lo_wins)
    b_wins = np.where(swap, lo_wins, hi_wins)
    verdict = np.where(a_wins, JUDGED_A, np.where(b_wins, JUDGED_B, JUDGED_TIE))

    decided = p_lo + p_hi
    with np.errstate(invalid="ignore", divide="ignore"):
        p_chosen = np.where(lo_wins, p_lo, p_hi) / decided
        decisive = np.maximum(p_lo, p_hi) / decided
    confidence = np.clip(np.nan_to_num(p_chosen, nan=0.5), 0.5, 1.0)
    decisive = np.clip(np.nan_to_num(decisive, nan=0.5), 0.5, 1.0)

    biased = rng.random(n) < np.abs(position_bias)
    positional = np.where(position_bias > 0, JUDGED_A, JUDGED_B)
    verdict = np.where(biased, positional, verdict)
    confidence = np.where(biased, decisive, confidence)
    confidence = np.where(verdict == JUDGED_TIE, np.nan, confidence)
    a_merit = np.where(swap, p_hi, p_lo)
    return PairVerdicts(
        verdict=verdict.astype(np.int64),
        confidence=confidence.astype(np.float64),
        decisive=decisive.astype(np.float64),
        a_merit=a_merit.astype(np.float64),
    )
