"""Pure scoring of one round: normalised exact match with aliases, the majority of the round's
generators, and the per-question record :class:`QuestionResult` that ``answers.jsonl`` keeps.

Answers are compared in the node's own normal form (:func:`sim.model.normalise_answer`, the
rule that clusters candidates): case, accents, punctuation, a leading article and markdown are
ignored; a number is read as a number ("1,024" = "1024"); "The answer is X" reads as X. A
sentence that merely contains the answer ("The capital of France is Paris") does not match:
the score is exact match, as in the question-answering literature, not containment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from node.eval.questions import Question


def normalise_for_match(text: str, choices: Sequence[str] = ()) -> str:
    """The normal form an answer is compared in (``""``: no checkable answer)."""
    from sim.model import normalise_answer

    return normalise_answer(text, tuple(choices))


def matches(answer: str, question: Question) -> bool:
    """Whether ``answer`` equals the gold answer or an alias in normal form."""
    got = normalise_for_match(answer, question.choices)
    if not got:
        return False
    return any(got == normalise_for_match(gold, question.choices) for gold in question.accepted)


@dataclass(frozen=True)
class ClusterView:
    """One answer cluster of a round: its record index, text and generators."""

    index: int
    answer: str
    generator_ids: tuple[str, ...]


@dataclass(frozen=True)
class RoundObservation:
    """What one round says, read from its AskResponse and its record."""

    swarm_answer: str
    clusters: tuple[ClusterView, ...]
    #: each generator's own answer text, by node id
    node_answers: Mapping[str, str]
    #: pairwise verdicts in the record's accepted ballots
    judge_calls: int
    seconds: float
    record_id: str = ""


def majority_cluster(clusters: Sequence[ClusterView]) -> tuple[ClusterView | None, bool]:
    """The cluster with the most generators and whether that count is shared (a tie).

    Ties go to the smallest record index: the record's seeded cluster order, which does not
    look at the judges' verdicts, so the baseline stays a pure vote.
    """
    if not clusters:
        return None, False
    top = max(len(c.generator_ids) for c in clusters)
    leaders = sorted((c for c in clusters if len(c.generator_ids) == top), key=lambda c: c.index)
    return leaders[0], len(leaders) > 1


@dataclass(frozen=True)
class QuestionResult:
    """One question's outcome: answers and whether each is right (one ``answers.jsonl`` line)."""

    id: str
    kind: str
    question: str
    gold: str
    swarm_answer: str = ""
    swarm_correct: bool = False
    majority_answer: str = ""
    majority_correct: bool = False
    majority_tied: bool = False
    #: some candidate of the round was right (what a perfect judge could have picked)
    any_candidate_correct: bool = False
    node_answers: Mapping[str, str] = field(default_factory=dict)
    node_correct: Mapping[str, bool] = field(default_factory=dict)
    judge_calls: int = 0
    seconds: float = 0.0
    record_id: str = ""
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (the ``answers.jsonl`` line)."""
        data = dict(self.__dict__)
        data["node_answers"] = dict(self.node_answers)
        data["node_correct"] = dict(self.node_correct)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> QuestionResult:
        """The inverse of :meth:`to_json` (unknown keys are ignored)."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


def score_round(question: Question, observed: RoundObservation) -> QuestionResult:
    """Score the swarm, its generators' majority and every generator on ``question``."""
    majority, tied = majority_cluster(observed.clusters)
    majority_answer = majority.answer if majority is not None else ""
    return QuestionResult(
        id=question.id,
        kind=question.kind,
        question=question.question,
        gold=question.answer,
        swarm_answer=observed.swarm_answer,
        swarm_correct=matches(observed.swarm_answer, question),
        majority_answer=majority_answer,
        majority_correct=majority is not None and matches(majority_answer, question),
        majority_tied=tied,
        any_candidate_correct=any(matches(c.answer, question) for c in observed.clusters),
        node_answers=dict(observed.node_answers),
        node_correct={n: matches(a, question) for n, a in observed.node_answers.items()},
        judge_calls=observed.judge_calls,
        seconds=observed.seconds,
        record_id=observed.record_id,
    )


def failed_result(question: Question, error: str, seconds: float) -> QuestionResult:
    """A question whose round failed: no answer, counted wrong for the swarm and the vote."""
    return QuestionResult(
        id=question.id,
        kind=question.kind,
        question=question.question,
        gold=question.answer,
        seconds=seconds,
        error=error,
    )
