"""What a record commits to, independent of the float build that checks it.

Every member recomputes a leader's record. Integer steps (pair schedules, clustering, ballots,
absences) and IEEE 754's basic operations (``+ - * /``, ``sqrt``, comparisons: correctly
rounded, so the same on every conforming machine) recompute exactly. Transcendental functions
(``exp``, ``log``, ``expit``) and LAPACK solves do not: numpy picks SIMD kernels by CPU and
BLAS/LAPACK builds differ, so two honest nodes can disagree in the last bits. Compared bit for
bit, such a record forks the ledger (trust off) or gets an honest leader slashed as a forger
(trust on). A record's ``RoundParameters.numerics`` therefore names the rules it was made
under:

* ``0`` (records made before the field existed): recomputed bit for bit, as they always were,
  so old ledgers keep verifying exactly as before.
* ``1`` (:data:`CURRENT_NUMERICS`):

  - **Selection** draws in integer arithmetic (:func:`ranking.exact.exact_weighted_sample`):
    exact on every machine.
  - **Aggregation** is checked in two parts (:func:`outcome_discrepancy`). The recorded
    continuous numbers (strengths, interval bounds, ranker weights and each candidate's
    ``tie_gap``) must be within :data:`OUTCOME_TOLERANCE` of the member's own recomputation;
    the recorded *decisions* (winner, tied-for-first set) must follow exactly from the
    *recorded* numbers by comparisons and additions alone (:func:`ranking.select_winner`,
    :func:`ranking.tied_from_gaps`), which every machine evaluates the same.
  - **Ledger state** reads only recorded values and exact inputs: reputation moves with the
    signed ballots, the recorded winner and the clusters (:mod:`node.ledger.state`), never
    with a member's own floats, and every node stores the leader's signed bytes. So every
    node applies the same bytes and reaches the same state.

Why a leader gains nothing inside the tolerance: the recorded numbers do not enter the ledger
state, so moving them changes no reputation; the winner must be the top of the recorded
strengths, which are within ``1e-6`` (relative) of the true ones, so a leader can pick a
different winner only among candidates whose strengths differ by about ``2e-6`` logits (a
win probability that differs by ``5e-7``), which the tie tolerance and the tied-for-first set
already treat as indistinguishable; and a strength moved further, or a winner that is not
the top of the recorded strengths, is still :class:`~node.errors.RecordRejected` and, with
trust on, provable forgery. The tolerance is about 10^6 times the disagreement between
builds (one ulp per transcendental call, a few thousand calls per round).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from protocol.v1 import messages_pb2

if TYPE_CHECKING:
    from ranking import AggregationResult

#: the rules a leader makes records under today
CURRENT_NUMERICS = 1
#: every ``RoundParameters.numerics`` a member knows how to check
NUMERICS_RULES = (0, 1)
#: relative (and, near zero, absolute) tolerance on each recorded float of an outcome
OUTCOME_TOLERANCE = 1e-6

_FLOAT_FIELDS = ("strengths", "lower", "upper", "ranker_weights")


def within_tolerance(
    recorded: Sequence[float] | np.ndarray, recomputed: Sequence[float] | np.ndarray
) -> bool:
    """Same length and each pair equal, both NaN, or within :data:`OUTCOME_TOLERANCE` of each
    other relative to ``max(1, |recomputed|)``; infinities must match exactly."""
    a = np.asarray(recorded, dtype=np.float64)
    b = np.asarray(recomputed, dtype=np.float64)
    if a.shape != b.shape:
        return False
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    finite = np.isfinite(a) & np.isfinite(b)
    with np.errstate(invalid="ignore"):
        close = finite & (np.abs(a - b) <= OUTCOME_TOLERANCE * np.maximum(1.0, np.abs(b)))
    return bool(np.all(same | close))


def outcome_discrepancy(
    recorded: messages_pb2.AggregationOutcome,
    result: AggregationResult,
    tie_break: Sequence[Any],
    level: float,
    expected_winner: int | None = None,
) -> tuple[str, str] | None:
    """``(field, detail)`` of the first way ``recorded`` fails the numerics-1 rule against this
    node's own aggregate ``result`` of the same ballots, or ``None`` when it passes (see the
    module docstring). ``expected_winner``: the winner the record's consensus rule gives from
    its recorded numbers (:mod:`node.round.consensus`); default the recorded strengths' top."""
    from ranking import select_winner, tie_gaps, tied_from_gaps

    n = len(result.strengths)
    if list(recorded.unjudged) != [int(x) for x in result.unjudged]:
        return "outcome.unjudged", "does not recompute"
    for name in _FLOAT_FIELDS:
        if not within_tolerance(getattr(recorded, name), getattr(result, name)):
            return f"outcome.{name}", f"not within {OUTCOME_TOLERANCE:g} of the recomputation"
    winner = int(recorded.winner)
    if not 0 <= winner < n:
        return "outcome.winner", f"{winner} out of range"
    judged = np.ones(n, dtype=bool)
    judged[list(recorded.unjudged)] = False
    strengths = np.asarray(recorded.strengths, dtype=np.float64)
    if expected_winner is None:
        expected = select_winner(strengths, judged if judged.any() else None, tie_break)
        if winner != expected:
            return "outcome.winner", f"{winner}, the recorded strengths' top is {expected}"
    elif winner != expected_winner:
        return "outcome.winner", f"{winner}, the consensus rule gives {expected_winner}"
    gaps = tie_gaps(result.strengths, result.covariance, level, winner)
    if not within_tolerance(recorded.tie_gap, gaps):
        return "outcome.tie_gap", f"not within {OUTCOME_TOLERANCE:g} of the recomputation"
    tied = tied_from_gaps(strengths, np.asarray(recorded.tie_gap, dtype=np.float64), winner)
    if list(recorded.tied_for_first) != [int(x) for x in tied]:
        return "outcome.tied_for_first", "does not follow from the recorded strengths and gaps"
    return None
