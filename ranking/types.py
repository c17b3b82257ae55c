"""Value types of the ranking core: outcome codes, :class:`Comparisons` (list-form pairwise
judgements), :class:`AggregationParams` and :class:`AggregationResult`.

Everything here is an immutable value: arrays held by these dataclasses are copies marked
read-only, so a result handed to a caller cannot be changed behind another caller's back.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ranking.errors import InvalidComparisons, InvalidParameters

__all__ = [
    "OUTCOME_A",
    "OUTCOME_B",
    "OUTCOME_TIE",
    "AggregationParams",
    "AggregationResult",
    "Comparisons",
]

OUTCOME_A = 0
"""The first candidate of the pair (``a``) was preferred."""
OUTCOME_B = 1
"""The second candidate of the pair (``b``) was preferred."""
OUTCOME_TIE = 2
"""Neither was preferred: counts one half each way."""


def _frozen(values: NDArray[Any]) -> NDArray[Any]:
    out = np.array(values, copy=True)
    out.flags.writeable = False
    return out


def _as_index_array(name: str, values: ArrayLike) -> NDArray[np.int64]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidComparisons(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if arr.dtype.kind == "b" or arr.dtype.kind not in "iuf":
        raise InvalidComparisons(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f" and (not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr))):
        raise InvalidComparisons(f"{name} must hold integers")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise InvalidComparisons(f"{name} holds an index too large for int64")
    return arr.astype(np.int64)


@dataclass(frozen=True)
class Comparisons:
    """Pairwise judgements in list form, one entry per comparison.

    Ranker ``ranker[k]`` compared candidates ``a[k]`` and ``b[k]`` and answered ``outcome[k]``
    (:data:`OUTCOME_A`, :data:`OUTCOME_B` or :data:`OUTCOME_TIE`) with the optional stated
    ``confidence[k]`` (NaN when not stated).

    Each comparison contributes a *soft label* ``y`` = the share of one win credited to ``a``
    (and ``1 - y`` to ``b``): 1 / 0 for a plain A / B verdict, ``c`` / ``1 - c`` for a verdict
    with confidence ``c`` in the chosen side, and 0.5 for a tie (a tie's confidence is ignored).

    Parameters
    ----------
    a, b : array_like of int
        Candidate indices, ``>= 0`` and ``a[k] != b[k]``. Upper bounds are checked where the
        number of candidates is known (:func:`ranking.build_win_matrix`).
    outcome : array_like of int
        One of the outcome constants per comparison.
    ranker : array_like of int
        Index of the ranker that made the comparison, ``>= 0``.
    confidence : array_like of float
        Stated confidence in ``[0, 1]`` in the chosen side, or NaN.

    Raises
    ------
    InvalidComparisons
        On any shape, dtype or value error.
    """

    a: NDArray[np.int64]
    b: NDArray[np.int64]
    outcome: NDArray[np.int8]
    ranker: NDArray[np.int64]
    confidence: NDArray[np.float64]

    def __post_init__(self) -> None:
        a = _as_index_array("a", self.a)
        b = _as_index_array("b", self.b)
        ranker = _as_index_array("ranker", self.ranker)
        outcome_raw = _as_index_array("outcome", self.outcome)
        confidence = np.asarray(self.confidence)
        if confidence.ndim != 1:
            raise InvalidComparisons(
                f"confidence must be one-dimensional, got shape {confidence.shape}"
            )
        if confidence.size and confidence.dtype.kind not in "iuf":
            raise InvalidComparisons(f"confidence must hold floats, got dtype {confidence.dtype}")
        confidence = confidence.astype(np.float64)
        n = a.shape[0]
        lengths = {
            "a": n,
            "b": b.shape[0],
            "outcome": outcome_raw.shape[0],
            "ranker": ranker.shape[0],
            "confidence": confidence.shape[0],
        }
        if len(set(lengths.values())) != 1:
            raise InvalidComparisons(f"comparison arrays differ in length: {lengths}")
        if n:
            if a.min() < 0 or b.min() < 0:
                raise InvalidComparisons("candidate indices must be >= 0")
            if ranker.min() < 0:
                raise InvalidComparisons("ranker indices must be >= 0")
            same = np.flatnonzero(a == b)
            if same.size:
                raise InvalidComparisons(
                    f"comparison {int(same[0])} compares candidate {int(a[same[0]])} with itself"
                )
            bad = np.flatnonzero((outcome_raw < OUTCOME_A) | (outcome_raw > OUTCOME_TIE))
            if bad.size:
                raise InvalidComparisons(
                    f"comparison {int(bad[0])} has unknown outcome {int(outcome_raw[bad[0]])}"
                )
            stated = ~np.isnan(confidence)
            bad = np.flatnonzero(stated & ~((confidence >= 0.0) & (confidence <= 1.0)))
            if bad.size:
                raise InvalidComparisons(
                    f"comparison {int(bad[0])} has confidence {float(confidence[bad[0]])!r}"
                    " outside [0, 1]"
                )
        object.__setattr__(self, "a", _frozen(a))
        object.__setattr__(self, "b", _frozen(b))
        object.__setattr__(self, "outcome", _frozen(outcome_raw.astype(np.int8)))
        object.__setattr__(self, "ranker", _frozen(ranker))
        object.__setattr__(self, "confidence", _frozen(confidence))

    def __len__(self) -> int:
        return int(self.a.shape[0])

    @classmethod
    def from_lists(
        cls,
        a: Sequence[int] | ArrayLike,
        b: Sequence[int] | ArrayLike,
        outcome: Sequence[int] | ArrayLike,
        ranker: Sequence[int] | ArrayLike | None = None,
        confidence: Sequence[float] | ArrayLike | None = None,
    ) -> Comparisons:
        """Build from plain sequences; ``ranker`` defaults to ranker 0 for every comparison and
        ``confidence`` to NaN (not stated)."""
        a_arr = np.asarray(a, dtype=np.int64).reshape(-1)
        n = a_arr.shape[0]
        return cls(
            a=a_arr,
            b=np.asarray(b, dtype=np.int64).reshape(-1),
            outcome=np.asarray(outcome, dtype=np.int8).reshape(-1),
            ranker=(
                np.zeros(n, dtype=np.int64)
                if ranker is None
                else np.asarray(ranker, dtype=np.int64).reshape(-1)
            ),
            confidence=(
                np.full(n, np.nan)
                if confidence is None
                else np.asarray(confidence, dtype=np.float64).reshape(-1)
            ),
        )

    @classmethod
    def from_pairs(
        cls, pairs: Sequence[Sequence[int]] | ArrayLike, ranker: ArrayLike | None = None
    ) -> Comparisons:
        """Build from choix-style ``(winner, loser)`` pairs: each becomes ``a=winner, b=loser``,
        outcome :data:`OUTCOME_A`."""
        arr = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        n = arr.shape[0]
        return cls(
            a=arr[:, 0],
            b=arr[:, 1],
            outcome=np.zeros(n, dtype=np.int8),
            ranker=(
                np.zeros(n, dtype=np.int64)
                if ranker is None
                else np.asarray(ranker, dtype=np.int64).reshape(-1)
            ),
            confidence=np.full(n, np.nan),
        )

    def soft_labels(self) -> NDArray[np.float64]:
        """Share of one win credited to ``a`` for each comparison (see the class docstring)."""
        stated = ~np.isnan(self.confidence)
        chosen = np.where(stated, self.confidence, 1.0)
        return np.where(
            self.outcome == OUTCOME_A,
            chosen,
            np.where(self.outcome == OUTCOME_B, 1.0 - chosen, 0.5),
        )


@dataclass(frozen=True)
class AggregationParams:
    """Parameters of :func:`ranking.aggregate` (recorded with every consensus record, so a
    replaying node uses exactly the same ones).

    Attributes
    ----------
    alpha : float
        Regularisation of the I-LSR fit (choix's ``alpha``): a rate ``alpha`` is added between
        every pair of judged candidates, which bridges disconnected comparison graphs and keeps
        an unbeaten candidate's strength finite. Default 0.01, in units of one comparison.
    max_ranker_share : float
        Largest share of the total ranker weight that any single ranker may carry, in
        ``(0, 1]``. Default 0.2 (at least five rankers are needed for the cap to bind).
    em_iterations : int
        Robust re-weighting (EM) iterations; 0 gives reputation-weighted BT. Default 10.
    em_ilsr_steps : int
        I-LSR steps per EM M-step. ``k >= 1``: exactly ``k`` steps from the previous strengths
        (a generalised EM step; the fixed point is the same as a full refit's, each iteration
        costs a fraction of one). ``0``: refit to convergence (``tol``) at every M-step, the
        rule of records made before this parameter existed. Default 1.
    level : float
        Confidence level of the strength intervals and of the tied-for-first set. Default 0.95.
    reliability_prior : tuple of float
        Beta prior pseudo-counts ``(agree, disagree)`` on each ranker's reliability, so a ranker
        with few comparisons is not judged on a handful of them. Default ``(3.0, 1.0)``
        (prior mean 0.75).
    min_reliability : float
        Floor on an estimated reliability. At the default 0.5 a ranker that agrees with the fit
        less often than chance is neutralised (its votes carry no information) rather than
        inverted, so an adversary cannot steer the result by being confidently wrong.
    max_iter : int
        I-LSR iteration budget per fit. Default 200.
    tol : float
        I-LSR convergence tolerance on the L1 change of the strengths (choix's test).
        Default 1e-8.
    em_tol : float
        EM stops early when no strength and no reliability moves by more than this. Default 1e-9.
    """

    alpha: float = 0.01
    max_ranker_share: float = 0.2
    em_iterations: int = 10
    em_ilsr_steps: int = 1
    level: float = 0.95
    reliability_prior: tuple[float, float] = (3.0, 1.0)
    min_reliability: float = 0.5
    max_iter: int = 200
    tol: float = 1e-8
    em_tol: float = 1e-9

    def __post_init__(self) -> None:
        if not (np.isfinite(self.alpha) and self.alpha >= 0.0):
            raise InvalidParameters(f"alpha must be finite and >= 0, got {self.alpha!r}")
        if not (0.0 < self.max_ranker_share <= 1.0):
            raise InvalidParameters(
                f"max_ranker_share must be in (0, 1], got {self.max_ranker_share!r}"
            )
        if self.em_iterations < 0:
            raise InvalidParameters(f"em_iterations must be >= 0, got {self.em_iterations!r}")
        if self.em_ilsr_steps < 0:
            raise InvalidParameters(f"em_ilsr_steps must be >= 0, got {self.em_ilsr_steps!r}")
        if not (0.0 < self.level < 1.0):
            raise InvalidParameters(f"level must be in (0, 1), got {self.level!r}")
        agree, disagree = self.reliability_prior
        if not (agree > 0.0 and disagree > 0.0):
            raise InvalidParameters("reliability_prior pseudo-counts must be > 0")
        if not (0.0 <= self.min_reliability < 1.0):
            raise InvalidParameters(
                f"min_reliability must be in [0, 1), got {self.min_reliability!r}"
            )
        if self.max_iter < 1 or not self.tol > 0.0 or not self.em_tol >= 0.0:
            raise InvalidParameters("max_iter must be >= 1, tol > 0 and em_tol >= 0")


@dataclass(frozen=True)
class AggregationResult:
    """Outcome of an aggregation rule (robust BT, its baselines, majority vote ...).

    Attributes
    ----------
    strengths : ndarray of float64, shape (n_items,)
        Log-strengths (Bradley-Terry: ``P(i beats j) = 1 / (1 + exp(s_j - s_i))``), centred to
        mean 0 over judged candidates. Unjudged candidates sit strictly below every judged one.
        Baselines that are not BT store their own score here (documented per rule).
    lower, upper : ndarray of float64, shape (n_items,)
        Confidence interval of each strength at ``params.level``; ``-inf`` / ``+inf`` for
        unjudged candidates (nothing is known about them).
    winner : int
        Index of the chosen candidate.
    tied_for_first : ndarray of int64
        Sorted indices of the candidates not distinguishable from the winner at the level
        (always contains ``winner``).
    unjudged : ndarray of int64
        Sorted indices of the candidates no weighted comparison involved.
    ranker_reliability : ndarray of float64, shape (n_rankers,)
        Estimated probability that each ranker's verdict agrees with the fitted model; NaN for
        rankers with no retained comparison (empty for rules without rankers).
    ranker_weights : ndarray of float64, shape (n_rankers,)
        Capped reputation weights used for the fit, normalised to mean 1 over active rankers,
        0 for inactive ones (empty for rules without rankers).
    method : str
        Name of the rule: ``"robust-bt"``, ``"weighted-bt"``, ``"plain-bt"``, ``"borda"``,
        ``"majority"``.
    tie_gap : ndarray of float64, shape (n_items,) or (0,)
        Per candidate, the half-width within which it is tied with the winner
        (:func:`ranking.uncertainty.tie_gaps`); empty for rules without a covariance.
    covariance : ndarray of float64, shape (n_items, n_items) or (0, 0)
        Covariance of the strengths the intervals come from; empty for rules without one.
    """

    strengths: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]
    winner: int
    tied_for_first: NDArray[np.int64]
    unjudged: NDArray[np.int64]
    ranker_reliability: NDArray[np.float64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.float64)
    )
    ranker_weights: NDArray[np.float64] = field(
        default_factory=lambda: np.zeros(0, dtype=np.float64)
    )
    method: str = ""
    tie_gap: NDArray[np.float64] = field(default_factory=lambda: np.zeros(0, dtype=np.float64))
    covariance: NDArray[np.float64] = field(
        default_factory=lambda: np.zeros((0, 0), dtype=np.float64)
    )

    def __post_init__(self) -> None:
        for name, dtype in (
            ("strengths", np.float64),
            ("lower", np.float64),
            ("upper", np.float64),
            ("tied_for_first", np.int64),
            ("unjudged", np.int64),
            ("ranker_reliability", np.float64),
            ("ranker_weights", np.float64),
            ("tie_gap", np.float64),
            ("covariance", np.float64),
        ):
            object.__setattr__(self, name, _frozen(np.asarray(getattr(self, name), dtype=dtype)))
        object.__setattr__(self, "winner", int(self.winner))
