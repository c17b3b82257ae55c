"""Judging by probability (pure functions): from a judge's next-token chances of ``A`` and
``B``, asked in both orders, to a :class:`~node.backends.base.Judgement`.

A small model asked "which is better, A or B?" mostly answers by position: it gives ``A`` a
high chance whichever candidate is shown first. Reading the probabilities instead of a sampled
letter, and asking twice with the candidates swapped, cancels that bias exactly: with
``q1 = P(A | x shown first)`` and ``q2 = P(A | y shown first)``, the chance that ``x`` is better
is ``p = (q1 + (1 - q2)) / 2``. A judge that prefers position only (``q1 == q2``) gives
``p = 0.5``, a tie, instead of a confident coin flip; a judge that knows gives ``p`` near 0 or 1
whatever its bias. ``|p - 0.5| <= tie_margin`` is a tie; otherwise the verdict carries ``p``
(or ``1 - p``) as its confidence.

* :class:`ChoiceProbs` — the chance mass on the ``A`` and ``B`` tokens after one prompt.
* :func:`choice_probs_from_logprobs` — those from a token -> logprob table (an OpenAI-style
  ``top_logprobs`` list or llama.cpp logits), summing the spellings of each letter.
* :func:`judgement_from_orders` — the verdict from both orders.
* :func:`judgement_from_likelihoods` — a second signal that has no order at all: how likely
  the judge model finds each candidate as *its own* answer to the question (mean log
  probability per token, so length does not decide), turned into
  ``p = exp(la) / (exp(la) + exp(lb))``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from node.backends.base import Judgement

#: token spellings counted as the letter: bare, after a space (how BPE vocabularies start words)
CHOICE_SPELLINGS: dict[str, tuple[str, ...]] = {"A": ("A", " A"), "B": ("B", " B")}
DEFAULT_TIE_MARGIN = 0.05
DEFAULT_MIN_MASS = 1e-4


@dataclass(frozen=True)
class ChoiceProbs:
    """Probability mass a judge put on ``A`` and on ``B`` as its next token (each in [0, 1])."""

    p_a: float
    p_b: float

    @property
    def mass(self) -> float:
        """How much of the next-token distribution went to either letter at all."""
        return self.p_a + self.p_b

    @property
    def share_a(self) -> float:
        """``P(A) / (P(A) + P(B))``; 0.5 when neither letter has any mass."""
        return self.p_a / self.mass if self.mass > 0 else 0.5


def choice_probs_from_logprobs(logprobs: Mapping[str, float]) -> ChoiceProbs:
    """Sum the probabilities of each letter's spellings in a token -> natural-log-prob table.

    Tokens not in the table count as probability 0 (a top-k list omits unlikely tokens).
    Non-finite logprobs count as 0.
    """
    totals = {}
    for letter, spellings in CHOICE_SPELLINGS.items():
        total = 0.0
        for token in spellings:
            value = logprobs.get(token)
            if value is not None and math.isfinite(value):
                total += math.exp(min(value, 0.0))
        totals[letter] = min(total, 1.0)
    return ChoiceProbs(p_a=totals["A"], p_b=totals["B"])


def judgement_from_orders(
    first: ChoiceProbs,
    second: ChoiceProbs,
    *,
    tie_margin: float = DEFAULT_TIE_MARGIN,
    min_mass: float = DEFAULT_MIN_MASS,
) -> Judgement:
    """The verdict on (x, y) from ``first`` (x shown as A) and ``second`` (y shown as A).

    ``outcome`` is "A" when x is better (x was candidate A of the pair as asked by the caller),
    "B" when y is, "tie" within ``tie_margin`` of 0.5, and "abstain" when the judge put less
    than ``min_mass`` on the two letters in either order (it did not answer the question asked).
    """
    if not 0.0 <= tie_margin < 0.5:
        raise ValueError("tie_margin must be in [0, 0.5)")
    q1, q2 = first.share_a, second.share_a
    rationale = (
        f"P(letter A) {q1:.3f} as asked, {q2:.3f} swapped; "
        f"letter mass {first.mass:.3f}/{second.mass:.3f}"
    )
    if first.mass < min_mass or second.mass < min_mass:
        return Judgement(outcome="abstain", rationale=f"judge ignored the choice; {rationale}")
    return judgement_from_probability((q1 + (1.0 - q2)) / 2.0, tie_margin, rationale)


def judgement_from_likelihoods(
    mean_logprob_a: float, mean_logprob_b: float, *, tie_margin: float = DEFAULT_TIE_MARGIN
) -> Judgement:
    """The verdict from each candidate's mean per-token log probability as an answer.

    ``p = sigmoid(mean_logprob_a - mean_logprob_b)``; a tie within ``tie_margin`` of 0.5; an
    abstention when either value is not finite.
    """
    if not 0.0 <= tie_margin < 0.5:
        raise ValueError("tie_margin must be in [0, 0.5)")
    if not (math.isfinite(mean_logprob_a) and math.isfinite(mean_logprob_b)):
        return Judgement(outcome="abstain", rationale="candidate likelihood not finite")
    diff = max(min(mean_logprob_a - mean_logprob_b, 50.0), -50.0)
    p = 1.0 / (1.0 + math.exp(-diff))
    rationale = f"mean log-prob per token A {mean_logprob_a:.3f}, B {mean_logprob_b:.3f}"
    return judgement_from_probability(p, tie_margin, rationale)


def judgement_from_probability(p: float, tie_margin: float, rationale: str) -> Judgement:
    """The verdict for ``p`` = P(A is the better answer): a tie within ``tie_margin`` of 0.5,
    else the likelier side with that probability as its confidence."""
    if abs(p - 0.5) <= tie_margin:
        return Judgement(outcome="tie", rationale=f"P(A better) {p:.3f}; {rationale}")
    if p > 0.5:
        return Judgement(outcome="A", confidence=p, rationale=f"P(A better) {p:.3f}; {rationale}")
    return Judgement(
        outcome="B", confidence=1.0 - p, rationale=f"P(B better) {1.0 - p:.3f}; {rationale}"
    )
