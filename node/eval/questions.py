"""The eval question file: JSON lines ``{"id", "question", "answer", "aliases": [...]}`` with
optional ``"choices"`` (multiple-choice option texts) and ``"kind"`` (a label for per-kind
tables; defaults to the id's prefix before ``:``)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import NodeError


class EvalError(NodeError):
    """``swarmrank eval`` cannot go on (the message says why)."""


class QuestionFileError(EvalError):
    """A question file line is not a valid question (names the file, line and field)."""


@dataclass(frozen=True)
class Question:
    """One question with its gold answer and the other spellings that count as right."""

    id: str
    question: str
    answer: str
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.kind:  # a label for per-kind tables: by default the id's prefix
            object.__setattr__(self, "kind", self.id.split(":", 1)[0])

    @property
    def accepted(self) -> tuple[str, ...]:
        """The gold answer, then its aliases."""
        return (self.answer, *self.aliases)


def _strings(value: Any, field: str, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise QuestionFileError(f"{where}: {field!r} must be a list of strings")
    return tuple(value)


def parse_question(line: str, where: str = "<line>") -> Question:
    """One JSONL line as a :class:`Question`; :class:`QuestionFileError` says what is wrong."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise QuestionFileError(f"{where}: not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise QuestionFileError(f"{where}: a question must be a JSON object")
    for field in ("id", "question", "answer"):
        value = data.get(field)
        if not isinstance(value, str) or not value.strip():
            raise QuestionFileError(f"{where}: {field!r} must be a non-empty string")
    kind = data.get("kind")
    if kind is not None and not isinstance(kind, str):
        raise QuestionFileError(f"{where}: 'kind' must be a string")
    qid = str(data["id"])
    return Question(
        id=qid,
        question=str(data["question"]),
        answer=str(data["answer"]),
        aliases=_strings(data.get("aliases"), "aliases", where),
        choices=_strings(data.get("choices"), "choices", where),
        kind=kind or "",
    )


def parse_questions(lines: Iterable[str], source: str = "<questions>") -> list[Question]:
    """Every non-blank line as a question; ids must be unique."""
    questions: list[Question] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        question = parse_question(line, f"{source}:{number}")
        if question.id in seen:
            raise QuestionFileError(f"{source}:{number}: duplicate id {question.id!r}")
        seen.add(question.id)
        questions.append(question)
    return questions


def load_questions(path: Path, limit: int | None = None) -> list[Question]:
    """The questions of ``path`` (the first ``limit`` when given)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise QuestionFileError(f"cannot read {path}: {exc.strerror or exc}") from None
    questions = parse_questions(text.splitlines(), str(path))
    if not questions:
        raise QuestionFileError(f"{path}: no questions")
    return questions if limit is None else questions[: max(limit, 0)]
