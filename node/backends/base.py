"""The model backend interface: generate an answer, judge a pair.

A backend never raises for a bad model reply: an unparseable judgement is an abstention
(``Judgement.outcome == "abstain"``). Transport failures raise
:class:`~node.errors.BackendError` / :class:`~node.errors.BackendTimeout`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

JudgementOutcome = Literal["A", "B", "tie", "abstain"]


@dataclass(frozen=True)
class Answer:
    """A generated answer."""

    text: str  # the answer, as sent to the swarm
    reasoning: str = ""  # optional reasoning
    model: str = ""  # model name that produced it


@dataclass(frozen=True)
class Judgement:
    """A verdict on one pair of candidates shown as A and B."""

    outcome: JudgementOutcome
    confidence: float | None = None  # stated probability in [0.5, 1] that the chosen side is better
    rationale: str = ""  # short reason


@runtime_checkable
class ModelBackend(Protocol):
    """What a node needs from a model."""

    @property
    def model_name(self) -> str:
        """Name of the served model (reported in NodeInfo and Candidates)."""
        ...

    async def generate(self, question: str, *, query_id: bytes) -> Answer:
        """Answer ``question``. ``query_id`` lets seeded backends be reproducible per round."""
        ...

    async def judge(
        self, question: str, answer_a: str, answer_b: str, *, query_id: bytes
    ) -> Judgement:
        """Judge which of two answers to ``question`` is better."""
        ...

    async def health(self) -> bool:
        """A cheap probe: True when the backend can answer now."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...
