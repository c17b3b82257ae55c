"""Calibrated consensus: generators' votes and judges' verdicts, each weighed by what it has
earned on rounds with a known answer.

This module owns :class:`GoldRound` (one past round with a known answer, as features),
:class:`JudgeTrust` (what the swarm has learned about its judges), :func:`fit_judge_trust`
(learning it), :func:`consensus_scores` and :func:`select_consensus` (the round's decision).

The model
---------
Every answer cluster ``i`` of a round carries two pieces of evidence: its **vote share**
``v_i`` (its generators' share of the round's generator weight, below) and the judges' robust
Bradley-Terry **log-strength** ``s_i`` (:func:`ranking.aggregate`). Which one to believe, and
how much, is an empirical fact about the swarm's models (DESIGN, "The consensus principle"):
small real models judge at chance, strong ones judge far better than the crowd generates. The
rule learns it as a conditional logit (McFadden 1974) on the swarm's past **gold rounds**,
where the correct cluster is known::

    P(cluster i is correct | round) = exp(a v_i + b s_i) / sum_k exp(a v_k + b s_k)

fitted by penalised maximum likelihood (Newton, a Gaussian prior of precision
``prior_precision`` on ``(a, b)``, so a handful of rounds cannot make either weight extreme;
several correct clusters in one round share the probability mass). The decision is
conservative about the judges: their weight is the edge of ``b``'s interval ``b -+ z se(b)``
(``z = trust_margin``) nearest zero, so they count only once the gold record shows, beyond
noise, that they add to the votes (or, rules 4, that they point away from the answer: below).
The round's winner maximises ``v_i + lam s_i`` with ``lam = max(0, b - z se(b)) / a``, or
``lam = (b + z se(b)) / a`` when that is negative. (Taking the votes' weight at its upper
edge ``a + z se(a)`` as well was tried: it slows the switch to strong judges and cost 2.7
points at judging +2 logits on paper-like, 89.1% against 91.8% for robust BT, so it is not
the default.)

* ``lam = 0`` (no gold yet, or judges that carry no signal beyond the votes): **majority
  vote** (weighted by the generators' gold records), exact ties to the seeded presentation
  order;
* large ``lam``: the judges decide, the votes break their ties;
* ``a <= 0`` with trusted judges (votes that carry nothing or mislead, e.g. a voting clique):
  ``lam = inf``, the judges alone;
* judges that point away (rules 4, ``signed=True``): when the gold record shows beyond noise
  that, *given the votes*, the cluster the judges prefer is less often right (``b + z se(b) <
  0``), ``lam = (b + z se(b)) / a`` is negative and the judges' preference counts against a
  cluster, by the edge of the interval nearest zero, and only between clusters the vote
  leaves within :data:`AGAINST_MARGIN` of the top (:func:`select_consensus`).

Judges that point away. Judges and generators are fooled by the same thing: an answer that
looks right. On the honest simulator at judging parity (paper-like: a persuasive distractor
draws wrong generators and sways judges) plain BT answers 37% against majority's 63.5%, and
conditional on the vote split the judges' favourite is more often the persuasive distractor
than the answer: fitted on the gold rounds of the other seeds, ``b`` is negative and the vote
share with the strengths counted against answers 74.4% where the share alone answers 70.0%
(``docs/sim/evidence-bound``, which also bounds what any reading of a round could reach).
Clamping ``b`` at zero threw that evidence away. The weight is learned from gold like the
positive one, so it follows the swarm: where judges beat generators it comes out positive
(``docs/sim/evidence-bound``). An adversary that judges
*against* its own answer on live rounds can use a negative weight: its verdicts then look
like good judging (they go against the persuasive answer honest judges favour), so robust
BT's reputation weights do not discount them. Measured (simulator option ``exploit_sign``):
uncapped, such a clique turned the weight into captures; restricted to clusters the vote
leaves close (:data:`AGAINST_MARGIN`), its evidence decides 1.0-1.8% of rounds against
0.4-0.6% under rules 3, at no lower accuracy than rules 3's (docs/sim/README.md).

Why these two features and not others (measured on the simulator's paper-like swarm, 600
rounds, 10% gold; ``docs/sim/judging-sweep``): net pairwise wins combine with votes no better
than strengths do and lose to them when judges are strong (72.3% against 76.5% at judging +1
logit), and a linear mix never beat the better of the two pure rules by more than noise, so
the learned weight mostly acts as a switch that can also settle in between.

Generators' votes are weighed by their own gold record (Dawid & Skene's one-coin model, in a
form exact on every machine): each generator keeps decayed counts of gold rounds it answered
and got right (:func:`update_generator_record`, decay :data:`GENERATOR_DECAY`); its vote
weighs ``max(0, (p - c) / (1 - c)) ** k + floor`` with ``p = (hits + 1) / (seen + 2)``, ``c =``
:data:`GENERATOR_CHANCE` and ``k =`` :data:`GENERATOR_POWER` (:func:`generator_weights`).
Only ``+ - * /`` enter, which IEEE 754 rounds the same everywhere, so every node computes the
same shares from the same ledger.

Why a cube and about ten gold rounds of memory: with an honest swarm's skills spread (paper-like,
sd 0.6 logits), the votes of a good generator are worth far more than a mediocre one's, and
on a hard question a weak generator's vote is more often the popular distractor than the
answer. ``docs/sim/vote-bound`` measures what reading the votes can reach on paper-like at
judging parity (3000 rounds, ±1.7): majority 63.0%; weights of this form with every *true*
skill 71.9% at the first power and 77.2% cubed; the Bayes-optimal reading with every true
skill 82.5%. With skills estimated from gold answers: 5 answers at the first power (rules 2)
67.8%, 10 answers cubed (rules 3) 70.2%, 30 answers cubed 73.8%. Memory is what limits the
estimate, and it must stay short enough that a node that turns (a reputation farmer) loses
its weight within a few gold misses. Measured on the simulator (10% gold, 3 seeds, the
default's accuracy, its capture rate where adversaries attack): decay 0.8 and power 1 (rules
2) against decay 0.9 and power 3 (rules 3): paper-like 68.4% -> 72.9%, reputation farmers
79.8% -> 82.6% (capture 10.8% -> 8.2%), prompt injection 79.2% -> 83.5% (capture 15.5% ->
13.1%); decay 0.95 with log-odds weights measured no better and is not exact arithmetic.

Everything here is a pure function of the gold rounds and the round's numbers; the node keeps
the gold rounds in its ledger state, so every member recomputes ``lam`` from the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ranking.errors import InvalidParameters

__all__ = [
    "AGAINST_MARGIN",
    "DEFAULT_GOLD_WINDOW",
    "GENERATOR_CHANCE",
    "GENERATOR_DECAY",
    "GENERATOR_FLOOR",
    "GENERATOR_POWER",
    "GoldRound",
    "JudgeTrust",
    "consensus_scores",
    "fit_judge_trust",
    "follow_up_gold_chance",
    "generator_weights",
    "is_contested",
    "is_judge_weight",
    "select_consensus",
    "update_generator_record",
    "vote_shares",
]

#: With a negative judge weight (rules 4) only clusters whose vote share is within this of the
#: top share can win (:func:`select_consensus`). A clique that judges *against* its own answer
#: (``sim`` option ``exploit_sign``) turned a negative weight into captures: on paper-like with
#: a 30% stealth clique, 3 seeds, decisive captures 2.9% uncapped against 1.7% within 0.2,
#: while the honest paper-like swarm keeps the gain (docs/sim/README.md, "Judges that point
#: away"). 0.2 is also the node's default contested margin (``round_contested_margin``).
AGAINST_MARGIN = 0.2
#: Most recent gold rounds the fit reads (older ones no longer describe the swarm's models).
DEFAULT_GOLD_WINDOW = 200
#: Each gold round a generator answers multiplies its earlier gold record by this: about the
#: last ten count, enough to tell a good generator from a mediocre one, few enough that a node
#: that turns (a reputation farmer) loses its weight within a few gold misses (module
#: docstring; ledgers before rules 3 decay at 0.8, :mod:`node.round.rules`).
GENERATOR_DECAY = 0.9
#: A generator's vote weighs its gold accuracy above chance to this power: the best
#: generators' votes count far more than middling ones' (module docstring; 1 before rules 3).
GENERATOR_POWER = 3
#: A generator's vote counts in proportion to its gold accuracy above this chance level (one
#: of four plausible answers): a node right no more often than a guess, or never right on gold
#: (a prompt injector, a clique member attacking), carries next to no vote.
GENERATOR_CHANCE = 0.25
#: The weight of a vote at or below chance: small, so a round whose every generator has
#: failed gold still counts its votes, but a tenth of a percent of a trusted node's.
GENERATOR_FLOOR = 1e-3
_NEWTON_STEPS = 50
_NEWTON_TOL = 1e-10


@dataclass(frozen=True)
class GoldRound:
    """One past round with a known answer, as the rule's features.

    Attributes
    ----------
    shares : ndarray of float64, shape (n_items,)
        Each cluster's share of the round's candidates.
    strengths : ndarray of float64, shape (n_items,)
        The judges' robust BT log-strengths (zeros when nothing was judged).
    correct : ndarray of bool, shape (n_items,)
        Which clusters hold the known answer (at least one, and not all).
    """

    shares: NDArray[np.float64]
    strengths: NDArray[np.float64]
    correct: NDArray[np.bool_]

    def __post_init__(self) -> None:
        shares = np.asarray(self.shares, dtype=np.float64)
        strengths = np.asarray(self.strengths, dtype=np.float64)
        correct = np.asarray(self.correct, dtype=bool)
        if shares.ndim != 1 or shares.shape != strengths.shape or shares.shape != correct.shape:
            raise InvalidParameters("gold round arrays must be one-dimensional and equally long")
        if not (np.all(np.isfinite(shares)) and np.all(np.isfinite(strengths))):
            raise InvalidParameters("gold round features must be finite")
        if not correct.any() or correct.all():
            raise InvalidParameters("a gold round needs a correct and a wrong cluster")
        object.__setattr__(self, "shares", shares)
        object.__setattr__(self, "strengths", strengths)
        object.__setattr__(self, "correct", correct)


@dataclass(frozen=True)
class JudgeTrust:
    """What the gold record says about the swarm's judges.

    Attributes
    ----------
    judge_weight : float
        ``lam``: the weight of one unit of BT log-strength against the whole vote; 0 is
        majority vote, ``inf`` the judges alone.
    vote_coef, judge_coef : float
        The fitted ``(a, b)``.
    judge_se : float
        Standard error of ``b``.
    gold_rounds : int
        Gold rounds the fit read.
    """

    judge_weight: float = 0.0
    vote_coef: float = 0.0
    judge_coef: float = 0.0
    judge_se: float = math.inf
    gold_rounds: int = 0


def _check_params(prior_precision: float, trust_margin: float, window: int) -> None:
    if not (math.isfinite(prior_precision) and prior_precision > 0.0):
        raise InvalidParameters(f"prior_precision must be positive, got {prior_precision}")
    if not (math.isfinite(trust_margin) and trust_margin >= 0.0):
        raise InvalidParameters(f"trust_margin must be non-negative, got {trust_margin}")
    if window < 1:
        raise InvalidParameters(f"window must be at least 1, got {window}")


def fit_judge_trust(
    gold: Sequence[GoldRound],
    prior_precision: float = 1.0,
    trust_margin: float = 1.0,
    window: int = DEFAULT_GOLD_WINDOW,
    signed: bool = True,
) -> JudgeTrust:
    """Learn how far to trust the judges from past gold rounds (module docstring's model).

    Parameters
    ----------
    gold : sequence of GoldRound
        Past gold rounds, oldest first; the last ``window`` are read.
    prior_precision : float
        Precision of the zero-mean Gaussian prior on ``(a, b)``.
    trust_margin : float
        ``z``: judges count with ``b - z se(b)``.
    window : int
        Most recent gold rounds read.
    signed : bool
        Whether judges whose preference the gold record shows, beyond noise, to point *away*
        from the correct cluster given the votes count against it (``b + z se(b) < 0``: a
        negative weight; module docstring, "Judges that point away"). ``False`` is the rule
        before rules 4: such judges weigh 0.

    Returns
    -------
    JudgeTrust
        ``judge_weight == 0`` without gold rounds.
    """
    _check_params(prior_precision, trust_margin, window)
    rounds = list(gold)[-window:]
    if not rounds:
        return JudgeTrust()
    theta = np.zeros(2)
    for _ in range(_NEWTON_STEPS):
        gradient, hessian = _gradient_hessian(rounds, theta, prior_precision)
        step = np.linalg.solve(hessian, gradient)
        theta = theta + step
        if float(np.max(np.abs(step))) < _NEWTON_TOL:
            break
    _, hessian = _gradient_hessian(rounds, theta, prior_precision)
    covariance = np.linalg.inv(hessian)
    vote_coef, judge_coef = float(theta[0]), float(theta[1])
    judge_se = math.sqrt(max(float(covariance[1, 1]), 0.0))
    trusted = judge_coef - trust_margin * judge_se
    distrusted = judge_coef + trust_margin * judge_se
    if trusted > 0.0:
        weight = math.inf if vote_coef <= 0.0 else trusted / vote_coef
    elif signed and distrusted < 0.0 and vote_coef > 0.0:
        weight = distrusted / vote_coef
    else:
        weight = 0.0
    return JudgeTrust(weight, vote_coef, judge_coef, judge_se, len(rounds))


def _gradient_hessian(
    rounds: Sequence[GoldRound], theta: NDArray[np.float64], prior_precision: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Gradient and negative Hessian of the penalised log-likelihood at ``theta``."""
    gradient = -prior_precision * theta
    hessian = np.eye(2) * prior_precision
    for gold in rounds:
        x = np.stack([gold.shares, gold.strengths], axis=1)
        logits = x @ theta
        p = np.exp(logits - logits.max())
        p /= p.sum()
        q = np.where(gold.correct, p, 0.0)
        q /= q.sum()
        mean_p, mean_q = p @ x, q @ x
        gradient = gradient + mean_q - mean_p
        cov_p = (x.T * p) @ x - np.outer(mean_p, mean_p)
        cov_q = (x.T * q) @ x - np.outer(mean_q, mean_q)
        hessian = hessian + cov_p - cov_q
    return gradient, hessian


def is_judge_weight(weight: float) -> bool:
    """Whether ``weight`` can be a judge weight: any number (negative from rules 4) or +inf
    (the judges alone); not NaN, not -inf."""
    return not (math.isnan(weight) or weight == -math.inf)


def consensus_scores(
    shares: ArrayLike, strengths: ArrayLike, judge_weight: float
) -> NDArray[np.float64]:
    """Each cluster's score ``v_i + lam s_i`` (``lam = inf``: the strengths alone).

    Unjudged clusters should carry strengths below every judged one (as
    :func:`ranking.aggregate` reports them); with ``lam = 0`` strengths do not enter.
    """
    v = np.asarray(shares, dtype=np.float64)
    s = np.asarray(strengths, dtype=np.float64)
    if v.shape != s.shape or v.ndim != 1:
        raise InvalidParameters("shares and strengths must be one-dimensional and equally long")
    if not is_judge_weight(judge_weight):
        raise InvalidParameters(f"judge_weight must be a number or +inf, got {judge_weight}")
    if judge_weight == 0.0:
        return v.copy()
    if math.isinf(judge_weight):
        return s.copy()
    return np.asarray(v + judge_weight * s, dtype=np.float64)


def select_consensus(shares: ArrayLike, strengths: ArrayLike, judge_weight: float) -> int:
    """The winning cluster: the top :func:`consensus_scores`; exact ties go to the lowest index
    (clusters are in a seeded order, so that is a fair coin), except with ``lam = inf``, where
    the higher share breaks a tie of strengths first.

    With ``lam < 0`` (judges that point away, rules 4) only clusters whose share is within
    :data:`AGAINST_MARGIN` of the top share can win: verdicts counted against a cluster are a
    signal an adversary fakes cheaply (judging against its own answer), so they may decide a
    contested vote but never overturn a clear one.

    With ``lam = 0`` the judges do not even break ties: judges that have not shown on gold
    that they know better than a coin would break them worse than one where their errors
    follow the generators' (paper-like at judging parity, 5 seeds: 1.4 points below majority
    vote when they did)."""
    v = np.asarray(shares, dtype=np.float64)
    s = np.asarray(strengths, dtype=np.float64)
    scores = consensus_scores(v, s, judge_weight)
    if scores.shape[0] == 0:
        raise InvalidParameters("no clusters to choose from")
    if judge_weight < 0.0:  # judges counted against decide only among the vote's close clusters
        scores = np.where(v >= v.max() - AGAINST_MARGIN, scores, -np.inf)
    second = v if math.isinf(judge_weight) else np.zeros_like(v)
    order = np.lexsort((np.arange(scores.shape[0]), -second, -scores))
    return int(order[0])


def is_contested(shares: ArrayLike, margin: float) -> bool:
    """Whether a round's vote was contested: its two largest vote shares lie within ``margin``
    of each other (a round with one cluster is not). A swarm whose trusted generators start
    voting as a bloc against the rest (reputation farmers after their switch) makes more of
    its rounds contested; the node follows such a round with a gold round more often, so the
    bloc's gold records learn the switch sooner (``NodeConfig.round_contested_gold``)."""
    v = np.sort(np.asarray(shares, dtype=np.float64))[::-1]
    if not 0.0 < margin <= 1.0:
        raise InvalidParameters(f"margin must be in (0, 1], got {margin}")
    return bool(v.shape[0] >= 2 and v[0] - v[1] < margin)


def follow_up_gold_chance(
    shares: ArrayLike, gold_fraction: float, contested_gold: float, contested_margin: float
) -> float:
    """The chance that a finished round is followed by a gold round: ``gold_fraction``, plus
    ``contested_gold`` when the round was contested (:func:`is_contested` of its vote
    ``shares`` with ``contested_margin``); no gold at all when ``gold_fraction`` is 0 (gold
    off). The node's leader draws it as a private coin after each live round
    (``RoundSettings.gold_chance``), the simulator before each round's task."""
    chance = gold_fraction
    if chance > 0.0 and contested_gold > 0.0 and is_contested(shares, contested_margin):
        chance += contested_gold
    return chance


def generator_weights(
    hits: ArrayLike, seen: ArrayLike, power: int = GENERATOR_POWER
) -> NDArray[np.float64]:
    """Each generator's vote weight from its decayed gold counts (module docstring):
    ``max(0, (p - c) / (1 - c)) ** power + floor``, ``p = (hits + 1) / (seen + 2)``, the power
    taken by repeated multiplication (exact everywhere). A node without a gold record weighs
    ``((0.5 - c) / (1 - c)) ** power + floor`` (one third to the power, plus the floor)."""
    h = np.asarray(hits, dtype=np.float64)
    n = np.asarray(seen, dtype=np.float64)
    if h.shape != n.shape or np.any(h < 0.0) or np.any(n < h) or not np.all(np.isfinite(n)):
        raise InvalidParameters("hits and seen must be finite with 0 <= hits <= seen")
    if isinstance(power, bool) or not isinstance(power, int) or power < 1:
        raise InvalidParameters(f"power must be a positive integer, got {power!r}")
    p = (h + 1.0) / (n + 2.0)
    above = np.maximum((p - GENERATOR_CHANCE) / (1.0 - GENERATOR_CHANCE), 0.0)
    weight = above.copy()
    for _ in range(power - 1):
        weight = weight * above
    return np.asarray(weight + GENERATOR_FLOOR, dtype=np.float64)


def update_generator_record(
    hits: ArrayLike, seen: ArrayLike, correct: ArrayLike, decay: float = GENERATOR_DECAY
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Decayed gold counts after one gold round, for the generators that answered it
    (``correct``: whether each one's answer was right): ``hits <- decay hits + correct``,
    ``seen <- decay seen + 1``."""
    h = np.asarray(hits, dtype=np.float64)
    n = np.asarray(seen, dtype=np.float64)
    ok = np.asarray(correct, dtype=bool)
    if h.shape != n.shape or h.shape != ok.shape:
        raise InvalidParameters("hits, seen and correct must have one entry per generator")
    if not 0.0 < decay <= 1.0:
        raise InvalidParameters(f"decay must be in (0, 1], got {decay}")
    return decay * h + ok, decay * n + 1.0


def vote_shares(cand_item: ArrayLike, n_items: int, weights: ArrayLike) -> NDArray[np.float64]:
    """Each cluster's share of the round's generator weight (``cand_item``: each candidate's
    cluster; ``weights``: each candidate's generator weight, e.g. :func:`generator_weights`)."""
    items = np.asarray(cand_item, dtype=np.int64)
    w = np.asarray(weights, dtype=np.float64)
    if items.shape != w.shape or items.ndim != 1:
        raise InvalidParameters("one cluster index and one weight per candidate")
    if items.size and (items.min() < 0 or items.max() >= n_items):
        raise InvalidParameters("cluster index out of range")
    if np.any(w < 0.0) or not np.all(np.isfinite(w)):
        raise InvalidParameters("weights must be finite and non-negative")
    total = float(w.sum())
    sums = np.bincount(items, weights=w, minlength=n_items).astype(np.float64)
    if total <= 0.0:
        return sums
    return np.asarray(sums / total, dtype=np.float64)
