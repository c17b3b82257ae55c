"""Errors raised by the ranking core.

One tree, rooted at :class:`RankingError` (a :class:`ValueError`, because every one of them
means "these inputs cannot be ranked as given")::

    RankingError (ValueError)
    ├── InvalidComparisons       malformed comparison arrays (shape, dtype, index, outcome)
    ├── InvalidParameters        a bad argument that is not a comparison (weights, alpha, n_items)
    ├── NoComparisons            nothing left to fit (empty, all own-candidate, all zero weight)
    ├── DisconnectedComparisons  alpha == 0 and the comparison graph is not strongly connected,
    │                            so the maximum-likelihood strengths do not exist
    ├── NotConverged             the I-LSR iteration did not reach its tolerance
    └── InvalidTransition        a trust-state change the rules forbid (exam in cooldown,
                                 unbonding more than bonded, bonding while jailed)

Callers at a trust boundary (a node aggregating peers' ballots) catch :class:`RankingError`;
nothing in ``ranking`` raises anything else for bad input.
"""

from __future__ import annotations

__all__ = [
    "DisconnectedComparisons",
    "InvalidComparisons",
    "InvalidParameters",
    "InvalidTransition",
    "NoComparisons",
    "NotConverged",
    "RankingError",
]


class RankingError(ValueError):
    """Base class of every error raised by :mod:`ranking`."""


class InvalidComparisons(RankingError):
    """Comparison arrays are malformed: wrong shape or dtype, an index out of range, a candidate
    compared with itself, an unknown outcome or a confidence outside ``[0, 1]``."""


class InvalidParameters(RankingError):
    """An argument other than the comparisons is invalid (negative weight, ``n_items < 1``,
    ``alpha < 0``, a share outside ``(0, 1]`` ...)."""


class NoComparisons(RankingError):
    """No comparison carries any weight, so there is nothing to fit (and no winner to pick)."""


class DisconnectedComparisons(RankingError):
    """Without regularisation (``alpha == 0``) the Bradley-Terry maximum-likelihood estimate
    exists only when the comparison graph is strongly connected (Ford 1957; Hunter 2004).
    Raised when it is not: separate components, or a candidate that never lost or never won."""


class NotConverged(RankingError):
    """The iterative fit did not converge within its iteration budget."""


class InvalidTransition(RankingError):
    """A trust-state transition the rules forbid (:mod:`ranking.trust`): an exam during the
    cooldown or after admission, unbonding more than is bonded, bonding to a jailed identity."""
