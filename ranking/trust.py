"""Trust rules: admission by calibration, stake, slashing, weight caps and the adversary alarm.

Owns :class:`TrustParams`, the per-identity state :class:`IdentityState` (with
:class:`Unbonding`) and its pure transitions (:func:`grade_exam`, :func:`apply_exam`,
:func:`bond`, :func:`request_unbond`, :func:`release_unbonded`, :func:`slash`,
:func:`eligible_for_selection`), exam drawing (:func:`draw_exam`, :class:`Exam`), the weight
caps (:func:`trust_weights`) and :func:`adversary_alarm` (:class:`AlarmState`).

Like reputation these are pure functions of the ledger: time is a ledger height passed in (one
consensus record per round, so "rounds" below are heights), randomness only through a passed
:class:`numpy.random.Generator`, no I/O, clock or logging. The node daemon and the simulator
call the same functions, so a simulated attack exercises the rules a real one would meet.

Model (DESIGN.md, "Admission, stake and Sybil resistance")
-----------------------------------------------------------
* **Probation and calibration.** A new identity is on probation and never eligible for
  selection until it passes an exam of gold tasks: ``n_judging`` pairwise-judging items (pass
  mark 17 of 20, the figure Fortytwo's public client uses) and ``n_generation`` generation
  items. A failure costs a cooldown that doubles with each failure (capped), so brute-forcing
  the exam by guessing (``P(>= 17 of 20) = 0.13%`` per attempt for a coin-flipper) costs
  exponentially growing ledger time.
* **Stake.** Selection needs at least ``min_stake`` bonded. Unbonding moves stake into a queue
  that is released only ``unbonding_delay`` heights later and can still be slashed meanwhile,
  so an offender cannot leave before the evidence lands.
* **Slashing.** Proven equivocation or a forged record burns ``slash_fraction`` of the bonded
  *and* unbonding stake and jails the identity for good.
* **Weight caps** (:func:`trust_weights`). No identity carries more than ``max_identity_share``
  of the weight; an identity on probation or admitted less than ``probation_rounds`` ago carries
  at most ``probation_weight_fraction`` (1%) of the median established weight, and all such
  fresh identities together at most ``probation_total_fraction`` of the established total. A
  flood of a thousand Sybils thus weighs at most a tenth of the established swarm, however many
  exams its model passes.

References
----------
Fortytwo, "Swarm inference with peer-ranked consensus", arXiv 2510.24801 (calibration exam and
stake); J. R. Douceur, "The Sybil attack", IPTPS 2002 (no identity scheme alone stops Sybils:
cost and weight caps are what bound them).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ranking.errors import InvalidParameters, InvalidTransition
from ranking.pairwise import check_ranker_vector
from ranking.robust import MIN_WEIGHT, cap_ranker_weights

__all__ = [
    "AlarmState",
    "Exam",
    "ExamResult",
    "IdentityState",
    "Status",
    "TrustParams",
    "Unbonding",
    "admission_heights",
    "adversary_alarm",
    "apply_exam",
    "bond",
    "can_take_exam",
    "cooldown_for",
    "draw_exam",
    "eligible_for_selection",
    "grade_exam",
    "release_unbonded",
    "request_unbond",
    "slash",
    "trust_weights",
]

Status = Literal["probation", "admitted", "jailed"]
_STATUSES: tuple[str, ...] = ("probation", "admitted", "jailed")


@dataclass(frozen=True)
class TrustParams:
    """Parameters of the trust rules (recorded in the ledger's genesis so every node applies the
    same ones). Heights count ledger records, one per round.

    Attributes
    ----------
    n_judging : int
        Pairwise-judging items per exam. Default 20.
    judging_pass : int
        Judging items that must be right to pass. Default 17 (of 20).
    n_generation : int
        Generation items per exam. Default 5.
    generation_pass : int
        Generation items that must be right to pass. Default 3 (of 5).
    cooldown_rounds : int
        Heights to wait after the first failed exam; doubles with each further failure.
        Default 100.
    max_cooldown_rounds : int
        Upper bound of the doubling cooldown. Default 10_000.
    probation_rounds : int
        Heights after admission during which the identity still counts as fresh for the weight
        caps. Default 1000; 0 switches the post-admission probation off.
    min_stake : float
        Bonded stake needed to be selected. Default 1.0.
    unbonding_delay : int
        Heights between an unbond request and the release of the stake. Default 1000.
    slash_fraction : float
        Share of bonded and unbonding stake burnt by a slash, in ``(0, 1]``. Default 1.0.
    probation_weight_fraction : float
        Each fresh identity's weight is at most this fraction of the median established
        weight. Default 0.01 (1%); ``inf`` switches the per-identity cap off.
    probation_total_fraction : float
        All fresh identities together carry at most this fraction of the established total.
        Default 0.1; ``inf`` switches it off.
    max_identity_share : float
        Largest share of the total weight one identity may carry, in ``(0, 1]``. Default 0.2.
    alarm_gold_disagreement : float
        :func:`adversary_alarm` fires when consensus disagrees with gold answers on more than
        this share of gold rounds. Default 0.25.
    alarm_top_k : int
        Size of the "few identities" whose combined share the alarm watches. Default 3.
    alarm_top_share : float
        Alarm when the ``alarm_top_k`` heaviest identities hold more than this share. Default
        0.5 (past half the weight no aggregator can win).
    alarm_hhi : float
        Alarm when the Herfindahl-Hirschman index of the weights (sum of squared shares) exceeds
        this. Default 0.25 (fewer than four "effective" identities).
    """

    n_judging: int = 20
    judging_pass: int = 17
    n_generation: int = 5
    generation_pass: int = 3
    cooldown_rounds: int = 100
    max_cooldown_rounds: int = 10_000
    probation_rounds: int = 1000
    min_stake: float = 1.0
    unbonding_delay: int = 1000
    slash_fraction: float = 1.0
    probation_weight_fraction: float = 0.01
    probation_total_fraction: float = 0.1
    max_identity_share: float = 0.2
    alarm_gold_disagreement: float = 0.25
    alarm_top_k: int = 3
    alarm_top_share: float = 0.5
    alarm_hhi: float = 0.25

    def digest(self) -> bytes:
        """SHA-256 of the parameters as canonical JSON (field names sorted, values as Python
        writes them): the genesis record carries it, so a node configured otherwise refuses
        the swarm's first record instead of silently applying other rules."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).digest()

    def __post_init__(self) -> None:
        if not (0 <= self.judging_pass <= self.n_judging):
            raise InvalidParameters("judging_pass must be in [0, n_judging]")
        if not (0 <= self.generation_pass <= self.n_generation):
            raise InvalidParameters("generation_pass must be in [0, n_generation]")
        if self.n_judging + self.n_generation < 1:
            raise InvalidParameters("an exam needs at least one item")
        for name in ("cooldown_rounds", "max_cooldown_rounds", "probation_rounds"):
            if getattr(self, name) < 0:
                raise InvalidParameters(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if self.unbonding_delay < 0:
            raise InvalidParameters(f"unbonding_delay must be >= 0, got {self.unbonding_delay!r}")
        if not (math.isfinite(self.min_stake) and self.min_stake >= 0.0):
            raise InvalidParameters(f"min_stake must be finite and >= 0, got {self.min_stake!r}")
        if not (0.0 < self.slash_fraction <= 1.0):
            raise InvalidParameters(
                f"slash_fraction must be in (0, 1], got {self.slash_fraction!r}"
            )
        for name in ("probation_weight_fraction", "probation_total_fraction"):
            value = getattr(self, name)
            if math.isnan(value) or value < 0.0:
                raise InvalidParameters(f"{name} must be >= 0 (inf = off), got {value!r}")
        for name in ("max_identity_share", "alarm_top_share", "alarm_hhi"):
            value = getattr(self, name)
            if not (0.0 < value <= 1.0):
                raise InvalidParameters(f"{name} must be in (0, 1], got {value!r}")
        if not (0.0 <= self.alarm_gold_disagreement <= 1.0):
            raise InvalidParameters("alarm_gold_disagreement must be in [0, 1]")
        if self.alarm_top_k < 1:
            raise InvalidParameters(f"alarm_top_k must be >= 1, got {self.alarm_top_k!r}")


# --------------------------------------------------------------------------------------------
# Identity state and its transitions


@dataclass(frozen=True)
class Unbonding:
    """Stake on its way out: ``amount`` is released at ``release_height`` (and slashable
    until then)."""

    amount: float
    release_height: int


@dataclass(frozen=True)
class IdentityState:
    """One identity's trust state as the ledger has it.

    Attributes
    ----------
    status : {"probation", "admitted", "jailed"}
        Probation until an exam is passed; jailed after a slash (final).
    stake : float
        Bonded stake (counts for selection and can be slashed).
    unbonding : tuple of Unbonding
        Requested withdrawals not yet released, in request order.
    failed_attempts : int
        Failed exams so far.
    cooldown_until : int
        First height at which the next exam may be taken.
    admitted_at : int or None
        Height of the passed exam.
    jailed_at : int or None
        Height of the slash.
    """

    status: Status = "probation"
    stake: float = 0.0
    unbonding: tuple[Unbonding, ...] = ()
    failed_attempts: int = 0
    cooldown_until: int = 0
    admitted_at: int | None = None
    jailed_at: int | None = None

    def __post_init__(self) -> None:
        if self.status not in _STATUSES:
            raise InvalidParameters(f"status must be one of {_STATUSES}, got {self.status!r}")
        if not (math.isfinite(self.stake) and self.stake >= 0.0):
            raise InvalidParameters(f"stake must be finite and >= 0, got {self.stake!r}")

    @property
    def unbonding_stake(self) -> float:
        """Stake requested out but not yet released."""
        return float(sum(u.amount for u in self.unbonding))

    @property
    def total_stake(self) -> float:
        """Bonded plus unbonding stake: everything a slash can reach."""
        return self.stake + self.unbonding_stake


@dataclass(frozen=True)
class ExamResult:
    """A graded exam: scores and the verdict."""

    passed: bool
    judging_correct: int
    judging_items: int
    generation_correct: int
    generation_items: int


def _check_height(height: int) -> int:
    if isinstance(height, bool) or int(height) != height or height < 0:
        raise InvalidParameters(f"height must be an integer >= 0, got {height!r}")
    return int(height)


def _check_amount(amount: float) -> float:
    value = float(amount)
    if not (math.isfinite(value) and value > 0.0):
        raise InvalidParameters(f"amount must be finite and > 0, got {amount!r}")
    return value


def _outcomes(name: str, values: ArrayLike, expected: int) -> NDArray[np.bool_]:
    arr = np.asarray(values)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "biu"):
        raise InvalidParameters(f"{name} must be a one-dimensional boolean array")
    if arr.shape[0] != expected:
        # A short answer sheet must never pass: count it as an invalid exam, not a low score.
        raise InvalidParameters(f"{name} has {arr.shape[0]} items, the exam has {expected}")
    if arr.size and not np.all((arr == 0) | (arr == 1)):
        raise InvalidParameters(f"{name} must hold booleans (0 / 1)")
    return arr.astype(np.bool_)


def grade_exam(
    answers_correct: ArrayLike, judging_correct: ArrayLike, params: TrustParams
) -> ExamResult:
    """Grade a calibration exam against its pass marks.

    Parameters
    ----------
    answers_correct : array_like of bool, shape (params.n_generation,)
        Whether each generation item's answer matched the gold answer.
    judging_correct : array_like of bool, shape (params.n_judging,)
        Whether each judging item picked the gold side (a tie or abstention is wrong).
    params : TrustParams

    Returns
    -------
    ExamResult
        Passed when both parts reach their pass marks.

    Raises
    ------
    InvalidParameters
        An answer sheet of the wrong length or type.
    """
    gen = _outcomes("answers_correct", answers_correct, params.n_generation)
    judge = _outcomes("judging_correct", judging_correct, params.n_judging)
    gen_score, judge_score = int(gen.sum()), int(judge.sum())
    return ExamResult(
        passed=judge_score >= params.judging_pass and gen_score >= params.generation_pass,
        judging_correct=judge_score,
        judging_items=params.n_judging,
        generation_correct=gen_score,
        generation_items=params.n_generation,
    )


def cooldown_for(failed_attempts: int, params: TrustParams) -> int:
    """Cooldown after the ``failed_attempts``-th failure: ``cooldown_rounds * 2**(k-1)``,
    capped at ``max_cooldown_rounds``."""
    if failed_attempts < 1:
        return 0
    doublings = min(failed_attempts - 1, 62)
    return int(min(params.cooldown_rounds * (1 << doublings), params.max_cooldown_rounds))


def can_take_exam(state: IdentityState, height: int) -> bool:
    """Whether an exam at ``height`` would be accepted: on probation and out of cooldown."""
    return state.status == "probation" and _check_height(height) >= state.cooldown_until


def apply_exam(
    state: IdentityState, result: ExamResult, height: int, params: TrustParams
) -> IdentityState:
    """The state after an exam taken at ``height``: admitted on a pass, else one more failure
    and a cooldown (:func:`cooldown_for`) from ``height``.

    Raises
    ------
    InvalidTransition
        The identity is not on probation (admitted or jailed) or still in its cooldown.
    """
    h = _check_height(height)
    if state.status != "probation":
        raise InvalidTransition(f"an exam needs status probation, the identity is {state.status}")
    if h < state.cooldown_until:
        raise InvalidTransition(
            f"exam at height {h} during the cooldown (next attempt at {state.cooldown_until})"
        )
    if result.passed:
        return replace(state, status="admitted", admitted_at=h)
    failures = state.failed_attempts + 1
    return replace(
        state, failed_attempts=failures, cooldown_until=h + cooldown_for(failures, params)
    )


def bond(state: IdentityState, amount: float, height: int) -> IdentityState:
    """Add ``amount`` to the bonded stake (a ledger entry at ``height``).

    Raises
    ------
    InvalidTransition
        The identity is jailed (its stake is forfeit; bonding more would only be burnt).
    InvalidParameters
        ``amount`` not finite and positive, or a bad height.
    """
    _check_height(height)
    value = _check_amount(amount)
    if state.status == "jailed":
        raise InvalidTransition("a jailed identity cannot bond stake")
    return replace(state, stake=state.stake + value)


def request_unbond(
    state: IdentityState, amount: float, height: int, params: TrustParams
) -> IdentityState:
    """Move ``amount`` of bonded stake to the unbonding queue, released at
    ``height + params.unbonding_delay`` and slashable until then.

    Raises
    ------
    InvalidTransition
        More than the bonded stake, or a jailed identity.
    """
    h = _check_height(height)
    value = _check_amount(amount)
    if state.status == "jailed":
        raise InvalidTransition("a jailed identity has no stake to unbond")
    if value > state.stake:
        raise InvalidTransition(f"cannot unbond {value:g}: only {state.stake:g} is bonded")
    entry = Unbonding(amount=value, release_height=h + params.unbonding_delay)
    # Subtracting the exact amount can leave -0.0 or float dust; clamp so stake stays >= 0.
    return replace(state, stake=max(state.stake - value, 0.0), unbonding=(*state.unbonding, entry))


def release_unbonded(state: IdentityState, height: int) -> tuple[IdentityState, float]:
    """Release the unbonding entries whose ``release_height <= height``.

    Returns
    -------
    (IdentityState, float)
        The new state and the amount released (leaves the system; 0 when nothing matured).
    """
    h = _check_height(height)
    matured = [u for u in state.unbonding if u.release_height <= h]
    if not matured:
        return state, 0.0
    kept = tuple(u for u in state.unbonding if u.release_height > h)
    return replace(state, unbonding=kept), float(sum(u.amount for u in matured))


def slash(state: IdentityState, height: int, params: TrustParams) -> IdentityState:
    """Burn ``params.slash_fraction`` of the bonded and unbonding stake and jail the identity.

    Idempotent in status (a jailed identity stays jailed, ``jailed_at`` keeps the first slash);
    the stake never increases. The ledger applies one slash per piece of evidence, so a
    retransmitted piece of evidence must be deduplicated before it gets here.
    """
    h = _check_height(height)
    keep = 1.0 - params.slash_fraction
    return replace(
        state,
        status="jailed",
        stake=state.stake * keep,
        unbonding=tuple(replace(u, amount=u.amount * keep) for u in state.unbonding if keep > 0),
        jailed_at=state.jailed_at if state.jailed_at is not None else h,
    )


def eligible_for_selection(state: IdentityState, height: int, params: TrustParams) -> bool:
    """Whether the identity may be selected for a live round at ``height``: admitted (at or
    before ``height``), not jailed, at least ``min_stake`` bonded (unbonding stake does not
    count, so an identity that has asked all its stake out is not selected)."""
    h = _check_height(height)
    return (
        state.status == "admitted"
        and state.admitted_at is not None
        and state.admitted_at <= h
        and state.stake >= params.min_stake
    )


# --------------------------------------------------------------------------------------------
# Exams


@dataclass(frozen=True)
class Exam:
    """One drawn calibration exam: gold-bank indices.

    Attributes
    ----------
    judging_items : ndarray of int64, shape (n_judging,)
        Gold tasks shown as a (correct, wrong) pair.
    judging_correct_first : ndarray of bool, shape (n_judging,)
        Whether the correct answer is shown in position A (drawn fairly, so a judge that always
        picks one position scores like a coin).
    generation_items : ndarray of int64, shape (n_generation,)
        Gold tasks to answer.
    """

    judging_items: NDArray[np.int64]
    judging_correct_first: NDArray[np.bool_]
    generation_items: NDArray[np.int64]


def draw_exam(bank_size: int, n_judging: int, n_generation: int, rng: np.random.Generator) -> Exam:
    """Draw an exam from a gold bank of ``bank_size`` tasks.

    Items are drawn without replacement across both parts, so no generation item's answer is
    revealed by a judging pair of the same task. Seed ``rng`` from the ledger (e.g. the hash of
    the head and the identity) so every node draws the same exam and the candidate cannot pick it.

    Raises
    ------
    InvalidParameters
        Negative counts or a bank smaller than ``n_judging + n_generation``.
    """
    if n_judging < 0 or n_generation < 0:
        raise InvalidParameters("item counts must be >= 0")
    if bank_size < n_judging + n_generation:
        raise InvalidParameters(
            f"a gold bank of {bank_size} tasks cannot hold an exam of "
            f"{n_judging} + {n_generation} distinct items"
        )
    items = rng.permutation(bank_size)[: n_judging + n_generation].astype(np.int64)
    first = rng.random(n_judging) < 0.5
    return Exam(
        judging_items=items[:n_judging],
        judging_correct_first=first,
        generation_items=items[n_judging:],
    )


# --------------------------------------------------------------------------------------------
# Weights


def admission_heights(states: Sequence[IdentityState]) -> NDArray[np.int64]:
    """``admitted_at`` of each state for :func:`trust_weights`, -1 where not admitted."""
    return np.array(
        [-1 if s.admitted_at is None else s.admitted_at for s in states], dtype=np.int64
    )


def _cap_shares(weights: NDArray[np.float64], max_share: float) -> NDArray[np.float64]:
    """:func:`cap_ranker_weights` kept on the reputation scale: where the cap cannot be met
    (fewer than ``1 / max_share`` positive weights) it returns ones; use the smallest positive
    weight instead, so no weight ever exceeds its reputation."""
    capped = cap_ranker_weights(weights, max_share)
    positive = weights >= MIN_WEIGHT  # the same notion of "positive" as the cap itself
    if int(positive.sum()) * max_share <= 1.0 and positive.any():
        floor = float(weights[positive].min())
        equal: NDArray[np.float64] = np.where(positive, floor, 0.0)
        return equal
    return capped


def trust_weights(
    reputation: ArrayLike,
    admitted_at: ArrayLike,
    height: int,
    params: TrustParams,
    jailed: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Ranking weights from reputations under the trust caps.

    An identity is *established* when it was admitted at least ``params.probation_rounds``
    heights ago, *fresh* otherwise (on probation or recently admitted). Then:

    1. Jailed identities weigh 0.
    2. Established weights are ``reputation`` capped (:func:`ranking.cap_ranker_weights`) so
       that none exceeds ``max_identity_share`` of the *established* total. Fresh weights only
       add to the total, so this bounds every established share of the full total too, with no
       iteration between the caps.
    3. Each fresh weight is ``min(reputation, probation_weight_fraction * m)`` with ``m`` the
       median positive established weight (robust to a minority of established adversaries:
       "median established honest weight").
    4. If fresh weights together exceed ``probation_total_fraction`` of the established total,
       they are scaled down to it.

    A fresh weight is at most ``probation_weight_fraction`` of the median, hence (for
    ``probation_weight_fraction <= max_identity_share``) below ``max_identity_share`` of the
    total as well. With no established identity (a new swarm) there is no reference weight:
    everyone is capped at ``max_identity_share`` of the total only; genesis members should be
    recorded as established.

    Parameters
    ----------
    reputation : array_like of float, shape (n,)
        Non-negative reputations.
    admitted_at : array_like of int, shape (n,)
        Admission height, -1 if not admitted (:func:`admission_heights`).
    height : int
        Current ledger height.
    params : TrustParams
    jailed : array_like of bool, shape (n,), optional
        Jailed identities.

    Returns
    -------
    ndarray of float64, shape (n,)
        Weights on the reputation scale (not normalised); pass them as ``ranker_reputation``
        to :func:`ranking.aggregate`.
    """
    rep = check_ranker_vector("reputation", reputation, None)
    n = rep.shape[0]
    admitted = np.asarray(admitted_at)
    if admitted.shape != (n,) or (admitted.size and admitted.dtype.kind not in "iu"):
        raise InvalidParameters(f"admitted_at must be {n} integers")
    h = _check_height(height)
    admitted = admitted.astype(np.int64)
    w = rep.copy()
    if jailed is not None:
        jail = np.asarray(jailed, dtype=np.bool_)
        if jail.shape != (n,):
            raise InvalidParameters(f"jailed must have shape ({n},)")
        w[jail] = 0.0
    established = (admitted >= 0) & (admitted <= h) & (h - admitted >= params.probation_rounds)
    # The same notion of "positive" as the cap itself: subnormal weight counts as none.
    if not (established & (w >= MIN_WEIGHT)).any():
        return _cap_shares(w, params.max_identity_share)
    out = np.zeros(n, dtype=np.float64)
    out[established] = _cap_shares(w[established], params.max_identity_share)
    reference = out[established]
    median = float(np.median(reference[reference > 0.0]))
    fresh = ~established
    out[fresh] = np.minimum(w[fresh], params.probation_weight_fraction * median)
    budget = params.probation_total_fraction * float(out[established].sum())
    fresh_total = float(out[fresh].sum())
    if fresh_total > budget:
        out[fresh] *= budget / fresh_total
    return out


# --------------------------------------------------------------------------------------------
# Alarm


@dataclass(frozen=True)
class AlarmState:
    """What :func:`adversary_alarm` saw.

    Attributes
    ----------
    firing : bool
        Any condition holds.
    gold_disagreement : float
        Share of gold rounds whose consensus missed the gold answer (NaN without gold rounds).
    top_k_share : float
        Combined share of the ``alarm_top_k`` heaviest identities.
    hhi : float
        Herfindahl-Hirschman index of the weight shares (``1 / hhi`` effective identities).
    reasons : tuple of str
        ``"gold_disagreement"``, ``"top_k_share"``, ``"hhi"``: the conditions that hold.
    """

    firing: bool
    gold_disagreement: float
    top_k_share: float
    hhi: float
    reasons: tuple[str, ...]


def adversary_alarm(
    gold_agreement_rate: float, reputation: ArrayLike, params: TrustParams
) -> AlarmState:
    """Whether the data suggest the adversarial share may be past the safe bound.

    Two signals, either fires:

    * **Gold disagreement.** ``1 - gold_agreement_rate > alarm_gold_disagreement``: consensus
      keeps missing known answers, which an honest majority of competent rankers would not do.
      NaN (no gold rounds yet) never fires.
    * **Concentration.** The ``alarm_top_k`` heaviest identities hold more than
      ``alarm_top_share`` of the weight, or the HHI exceeds ``alarm_hhi``. Only evaluated when
      more than ``2 * alarm_top_k`` identities carry weight: a small swarm is concentrated by
      construction, which says nothing about an attack.

    Above half the weight no aggregator can win; the alarm makes sure it is at least noticed
    (the node exports it as a metric and logs a warning).

    Parameters
    ----------
    gold_agreement_rate : float
        Share of recent gold rounds whose winner was the gold answer, in ``[0, 1]`` or NaN.
    reputation : array_like of float
        Non-negative weights (reputations or :func:`trust_weights`).
    params : TrustParams
    """
    rate = float(gold_agreement_rate)
    if not (math.isnan(rate) or 0.0 <= rate <= 1.0):
        raise InvalidParameters(f"gold_agreement_rate must be in [0, 1] or NaN, got {rate!r}")
    w = check_ranker_vector("reputation", reputation, None)
    total = float(w.sum())
    reasons: list[str] = []
    disagreement = 1.0 - rate
    if not math.isnan(rate) and disagreement > params.alarm_gold_disagreement:
        reasons.append("gold_disagreement")
    if total > 0.0:
        shares = np.sort(w / total)[::-1]
        top_k = float(shares[: params.alarm_top_k].sum())
        hhi = float(np.dot(shares, shares))
    else:
        top_k, hhi = 0.0, 0.0
    if int((w > 0.0).sum()) > 2 * params.alarm_top_k:
        if top_k > params.alarm_top_share:
            reasons.append("top_k_share")
        if hhi > params.alarm_hhi:
            reasons.append("hhi")
    return AlarmState(
        firing=bool(reasons),
        gold_disagreement=disagreement,
        top_k_share=top_k,
        hhi=hhi,
        reasons=tuple(reasons),
    )
