"""Gold tasks: a procedurally generated bank too large to look up, and an operator's private bank.

A gold round asks a question whose answer the record reveals afterwards, so reputation is
anchored to truth rather than to consensus (DESIGN "One round", step 7). Drawing it from a small
public bank (the simulator's 57 tasks) made gold rounds recognisable by lookup (issue 20,
finding 10). This module owns

* :class:`GoldTask`, a question with its known answer, plausible wrong answers and a
  difficulty, and its answer check (:meth:`GoldTask.is_correct`);
* the generated bank: :func:`generate_gold_task` draws one task from a seeded
  ``numpy.random.Generator`` in one of four families, each with several phrasings and a
  parameter space of ~10^8 questions or more (:data:`FAMILIES`):

  ==============  =====================================================  ===================
  family          example                                                questions
  ==============  =====================================================  ===================
  ``arithmetic``  What is 48213 + 9127?                                  ~5 x 10^9
  ``units``       How many metres are in 3817 kilometres?                ~10^6 x 16 x 26
                  (16 conversions, 4 phrasings, 12 nouns)                (~4 x 10^8)
  ``ordering``    Which is the largest of 431, 87, 90211 and 16?         > 10^13
  ``letters``     What is 'kadumelo' spelled backwards?                  > 10^9
  ==============  =====================================================  ===================

* :func:`solve_gold_question`, the inverse: the task a generated question asks (what the
  simulated model "knows"; :mod:`node.backends.sim` uses it, the node never needs it);
* :class:`PrivateBank`, an operator's own items loaded from a JSON file
  (:func:`load_private_bank`), which nobody outside the operator's swarm can look up at all;
* :func:`draw_gold_task`, the draw of a round.

Why the draw is seeded by the ledger head alone
------------------------------------------------
The draw is ``seeded_generator(b"gold/v2", previous_record_hash)``: the hash of the record the
gold round follows, fixed before the round starts. The query id, which the leader chooses
freely and for nothing (one hash per try), is *not* an input any more, so the leader cannot
grind it for an item. The one input a leader can still influence is the head, and only when it
led the previous record (by re-signing that record with another timestamp before sending it,
one signature per draw): each try is a fresh uniform draw from a bank of >= 10^8 questions
per family, so aiming at a *chosen* item costs ~10^8 signatures or more; what it can steer is
the family and difficulty of a gold round it leads next, which moves no reputation by itself.
A leader also chooses which ledger position a round is opened on, among the last
:data:`~node.round.check.CHECKPOINT_WINDOW` (rounds run concurrently, issue 18): at most that
many draws, the same bound as for the selection (:mod:`node.round.selection`). Grinding the
query id is tested against a swarm (``tests/integration/test_leader_steering.py``).

What this does not give
-----------------------
A participant that runs this module can recompute the draw from the Query it receives (its
``previous_record_hash``) and so tell the gold round at that head from a live one. Closing
that needs a secret the leader reveals only in the record (for example its signature over the
head, carried in ``GoldReveal`` and passed to the draw): the check in
:func:`node.round.check.gold_task_for` is called with the head and the query id only, so this
is left for whoever owns that call (see the operator guide's threat table). Against
*lookups* of text, which is what made the old bank recognisable, the generated bank holds: a
question seen before, or found in any public list, says nothing about whether this round is
gold (tests/unit/node/test_gold.py measures it).

Pure: numpy and the standard library; no I/O except :func:`load_private_bank`.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from node.errors import ConfigError
from node.round.selection import seeded_generator

#: domain tag of the gold draw (v2: the generated bank, seeded by the head alone)
GOLD_DRAW_TAG = b"gold/v2"
#: the families of the generated bank, in draw order
FAMILIES = ("arithmetic", "units", "ordering", "letters")


@dataclass(frozen=True)
class GoldTask:
    """One question with a known answer.

    Attributes
    ----------
    task_id : str
        Stable identifier, revealed in the record (``"gold:<family>:<digest>"``, or
        ``"private:<bank digest>:<index>"``).
    family : str
        One of :data:`FAMILIES`, or ``"private"``.
    question : str
        The question text, as sent to generators.
    answer : str
        The correct answer in display form.
    distractors : tuple of str
        Plausible wrong answers, the most popular first (the simulated model's errors).
    difficulty : float
        On the simulated model's skill logit scale (0: a coin toss for a skill-0 generator).
    """

    task_id: str
    family: str
    question: str
    answer: str
    distractors: tuple[str, ...]
    difficulty: float

    def is_correct(self, text: str) -> bool:
        """Whether the final answer in ``text`` ("The answer is 42.", "42", "'olem'") is the
        task's answer: numbers compare by value, words case-insensitively."""
        return _final_answer(text) == _final_answer(self.answer)


_MARKER = re.compile(r"(?:final answer|answer|result)\s*(?:is|:|=)\s*", re.IGNORECASE)
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def _final_answer(text: str) -> str:
    """The checkable final form of an answer text (after an "answer is" marker when there is
    one): a canonical number if it has one, else its letters in lower case."""
    marks = list(_MARKER.finditer(text))
    tail = text[marks[-1].end() :] if marks else text
    numbers = _NUMBER.findall(tail)
    if numbers:
        value = float(numbers[0].replace(",", ""))
        return str(int(value)) if value.is_integer() else repr(value)
    return "".join(ch for ch in tail.lower() if ch.isalpha())


def _task_id(family: str, *params: object) -> str:
    digest = hashlib.sha256(repr((family, *params)).encode("utf-8")).hexdigest()[:24]
    return f"gold:{family}:{digest}"


def _distinct(answer: str, values: Sequence[object], limit: int = 4) -> tuple[str, ...]:
    out: list[str] = []
    for value in values:
        text = str(value)
        if text != answer and text not in out and text:
            out.append(text)
    return tuple(out[:limit])


# --- arithmetic ---------------------------------------------------------------------------------

_ARITH_TEMPLATES = ("What is {a} {op} {b}?",)
_ARITH_RE = re.compile(r"^What is (\d+) ([+\-x]) (\d+)\?$")


def make_arithmetic(a: int, op: str, b: int) -> GoldTask:
    """``a op b`` (``op`` in ``+ - x``): phrased as the simulator's arithmetic, so any model
    that reads "What is 17 + 25?" reads it."""
    if op == "+":
        answer = a + b
        popular = answer - 10 if (a % 10 + b % 10) >= 10 else answer + 1
    elif op == "-":
        answer = a - b
        popular = answer + 10 if (a % 10) < (b % 10) else answer - 1
    elif op == "x":
        answer = a * b
        popular = a * (b - 1)
    else:
        raise ValueError(f"unknown operation {op!r}")
    digits = len(str(a)) + len(str(b))
    difficulty = -3.0 + 0.6 * max(digits - 2, 0) + (1.5 if op == "x" else 0.0)
    return GoldTask(
        task_id=_task_id("arithmetic", a, op, b),
        family="arithmetic",
        question=_ARITH_TEMPLATES[0].format(a=a, op=op, b=b),
        answer=str(answer),
        distractors=_distinct(str(answer), [popular, answer + 1, answer - 1, a + b + 1]),
        difficulty=round(min(difficulty, 4.0), 2),
    )


def _draw_arithmetic(rng: np.random.Generator) -> GoldTask:
    op = ("+", "-", "x")[int(rng.integers(3))]
    if op == "x":
        a, b = int(rng.integers(10, 10_000)), int(rng.integers(2, 1_000))
    else:
        a, b = int(rng.integers(10, 100_000)), int(rng.integers(2, 10_000))
        if op == "-" and b > a:
            a, b = b, a
    return make_arithmetic(a, op, b)


# --- unit conversions ---------------------------------------------------------------------------

#: (from unit, to unit, factor): whole-number factors, so every answer is an integer
_UNITS: tuple[tuple[str, str, int], ...] = (
    ("kilometres", "metres", 1000),
    ("metres", "centimetres", 100),
    ("centimetres", "millimetres", 10),
    ("kilograms", "grams", 1000),
    ("tonnes", "kilograms", 1000),
    ("litres", "millilitres", 1000),
    ("hours", "minutes", 60),
    ("minutes", "seconds", 60),
    ("days", "hours", 24),
    ("weeks", "days", 7),
    ("years", "months", 12),
    ("feet", "inches", 12),
    ("yards", "feet", 3),
    ("gallons", "quarts", 4),
    ("kilobytes", "bytes", 1000),
    ("dozens", "items", 12),
)
_OBJECTS = (
    "a measurement",
    "a reading",
    "a quantity",
    "a sample",
    "a total",
    "an amount",
    "a figure",
    "a record",
    "a value",
    "a batch",
    "a result",
    "an entry",
)
_UNIT_TEMPLATES = (
    "How many {to} are in {v} {frm}?",
    "Convert {v} {frm} to {to}.",
    "{obj_cap} measures {v} {frm}. How many {to} is that?",
    "If {obj} is {v} {frm}, how many {to} is it?",
)
_UNIT_RES = (
    re.compile(r"^How many ([a-z]+) are in (\d+) ([a-z]+)\?$"),
    re.compile(r"^Convert (\d+) ([a-z]+) to ([a-z]+)\.$"),
    re.compile(r"^([A-Z][a-z ]+) measures (\d+) ([a-z]+)\. How many ([a-z]+) is that\?$"),
    re.compile(r"^If ([a-z ]+) is (\d+) ([a-z]+), how many ([a-z]+) is it\?$"),
)


def make_units(value: int, conversion: int, template: int, obj: int) -> GoldTask:
    """``value`` of ``_UNITS[conversion]``'s first unit in its second, phrased by
    ``_UNIT_TEMPLATES[template]`` (about ``_OBJECTS[obj]`` where the phrasing names one)."""
    frm, to, factor = _UNITS[conversion]
    answer = value * factor
    thing = _OBJECTS[obj]
    question = _UNIT_TEMPLATES[template].format(
        to=to, frm=frm, v=value, obj=thing, obj_cap=thing[0].upper() + thing[1:]
    )
    wrong = [answer // 10 if factor >= 10 else value + factor, answer * 10, value + factor]
    return GoldTask(
        task_id=_task_id("units", value, conversion, template, obj if template >= 2 else 0),
        family="units",
        question=question,
        answer=str(answer),
        distractors=_distinct(str(answer), [*wrong, answer + value]),
        difficulty=round(-2.0 + 0.35 * len(str(value)) + (0.5 if factor % 10 else 0.0), 2),
    )


def _draw_units(rng: np.random.Generator) -> GoldTask:
    value = int(rng.integers(2, 1_000_000))
    return make_units(
        value,
        int(rng.integers(len(_UNITS))),
        int(rng.integers(len(_UNIT_TEMPLATES))),
        int(rng.integers(len(_OBJECTS))),
    )


def _solve_units(question: str) -> GoldTask | None:
    units = {(frm, to): i for i, (frm, to, _) in enumerate(_UNITS)}
    objects = {o: i for i, o in enumerate(_OBJECTS)}
    for template, pattern in enumerate(_UNIT_RES):
        match = pattern.match(question)
        if match is None:
            continue
        groups = match.groups()
        if template == 0:
            to, value, frm, obj = groups[0], groups[1], groups[2], _OBJECTS[0]
        elif template == 1:
            value, frm, to, obj = groups[0], groups[1], groups[2], _OBJECTS[0]
        else:
            obj, value, frm, to = groups[0].lower(), groups[1], groups[2], groups[3]
        if (frm, to) not in units or obj not in objects:
            return None
        task = make_units(int(value), units[(frm, to)], template, objects[obj])
        return task if task.question == question else None
    return None


# --- ordering -----------------------------------------------------------------------------------

_ORDER_TEMPLATES = (
    "Which is the {which} of {items}?",
    "Which number is {which_short}: {items}?",
)
_ORDER_RES = (
    re.compile(r"^Which is the (largest|smallest) of ([\d, and]+)\?$"),
    re.compile(r"^Which number is (largest|smallest): ([\d, ]+)\?$"),
)


def _listing(values: Sequence[int], template: int) -> str:
    texts = [str(v) for v in values]
    if template == 0:
        return ", ".join(texts[:-1]) + " and " + texts[-1]
    return ", ".join(texts)


def make_ordering(values: Sequence[int], largest: bool, template: int) -> GoldTask:
    """The largest (or smallest) of ``values`` (distinct), phrased by ``template``."""
    which = "largest" if largest else "smallest"
    question = _ORDER_TEMPLATES[template].format(
        which=which, which_short=which, items=_listing(values, template)
    )
    ordered = sorted(values, reverse=largest)
    answer = ordered[0]
    return GoldTask(
        task_id=_task_id("ordering", tuple(values), largest, template),
        family="ordering",
        question=question,
        answer=str(answer),
        distractors=_distinct(str(answer), [ordered[1], ordered[-1], values[0]]),
        difficulty=round(-2.5 + 0.4 * len(values), 2),
    )


def _draw_ordering(rng: np.random.Generator) -> GoldTask:
    count = int(rng.integers(3, 6))
    values = [int(v) for v in rng.choice(100_000, size=count, replace=False)]
    return make_ordering(values, bool(rng.integers(2)), int(rng.integers(len(_ORDER_TEMPLATES))))


def _solve_ordering(question: str) -> GoldTask | None:
    for template, pattern in enumerate(_ORDER_RES):
        match = pattern.match(question)
        if match is None:
            continue
        values = [int(v) for v in re.findall(r"\d+", match.group(2))]
        if len(values) < 2 or len(set(values)) != len(values):
            return None
        task = make_ordering(values, match.group(1) == "largest", template)
        return task if task.question == question else None
    return None


# --- letters ------------------------------------------------------------------------------------

_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aeiou"
_LETTER_TEMPLATES = (
    "What is '{w}' spelled backwards?",
    "How many times does the letter '{c}' appear in '{w}'?",
    "How many letters are in the word '{w}'?",
)
_LETTER_RES = (
    re.compile(r"^What is '([a-z]+)' spelled backwards\?$"),
    re.compile(r"^How many times does the letter '([a-z])' appear in '([a-z]+)'\?$"),
    re.compile(r"^How many letters are in the word '([a-z]+)'\?$"),
)


def make_letters(word: str, template: int, letter: str = "") -> GoldTask:
    """A question about the made-up ``word``: reversed (0), count of ``letter`` (1), length
    (2)."""
    if template == 0:
        answer = word[::-1]
        swapped = answer[1] + answer[0] + answer[2:] if len(answer) > 1 else answer
        wrong: list[object] = [word, swapped, answer[:-1]]
        difficulty = -1.0 + 0.2 * len(word)
    elif template == 1:
        count = word.count(letter)
        answer, wrong = str(count), [count + 1, max(count - 1, 0), len(word)]
        difficulty = -1.5 + 0.15 * len(word)
    else:
        answer, wrong = str(len(word)), [len(word) - 1, len(word) + 1, len(word) // 2]
        difficulty = -1.8 + 0.15 * len(word)
    return GoldTask(
        task_id=_task_id("letters", word, template, letter),
        family="letters",
        question=_LETTER_TEMPLATES[template].format(w=word, c=letter),
        answer=answer,
        distractors=_distinct(answer, wrong),
        difficulty=round(difficulty, 2),
    )


def _draw_letters(rng: np.random.Generator) -> GoldTask:
    syllables = int(rng.integers(3, 7))
    word = "".join(
        _CONSONANTS[int(rng.integers(len(_CONSONANTS)))] + _VOWELS[int(rng.integers(len(_VOWELS)))]
        for _ in range(syllables)
    )
    template = int(rng.integers(len(_LETTER_TEMPLATES)))
    letter = word[int(rng.integers(len(word)))] if template == 1 else ""
    return make_letters(word, template, letter)


def _solve_letters(question: str) -> GoldTask | None:
    for template, pattern in enumerate(_LETTER_RES):
        match = pattern.match(question)
        if match is None:
            continue
        if template == 1:
            return make_letters(match.group(2), 1, match.group(1))
        return make_letters(match.group(1), template)
    return None


def _solve_arithmetic(question: str) -> GoldTask | None:
    match = _ARITH_RE.match(question)
    if match is None:
        return None
    return make_arithmetic(int(match.group(1)), match.group(2), int(match.group(3)))


_DRAWS: tuple[Callable[[np.random.Generator], GoldTask], ...] = (
    _draw_arithmetic,
    _draw_units,
    _draw_ordering,
    _draw_letters,
)
_SOLVERS: tuple[Callable[[str], GoldTask | None], ...] = (
    _solve_arithmetic,
    _solve_units,
    _solve_ordering,
    _solve_letters,
)


def generate_gold_task(rng: np.random.Generator) -> GoldTask:
    """One task of the generated bank: a family uniformly, then its parameters."""
    return _DRAWS[int(rng.integers(len(_DRAWS)))](rng)


@lru_cache(maxsize=4096)  # pure; every judge call of a round asks about the same question
def solve_gold_question(question: str) -> GoldTask | None:
    """The generated task ``question`` asks, or ``None`` when it is no generated question."""
    for solve in _SOLVERS:
        task = solve(question.strip())
        if task is not None:
            return task
    return None


# --- the operator's private bank ------------------------------------------------------------------


@dataclass(frozen=True)
class PrivateBank:
    """An operator's own gold items; ``share`` of the gold rounds draw from it.

    Every node of the swarm must load the same file (the draw and the record check depend on
    it; the task id names the bank's digest, so a node with another bank refuses the record
    instead of silently disagreeing)."""

    tasks: tuple[GoldTask, ...]
    digest: str  # SHA-256 (hex, 16 chars) of the file's items, canonical JSON
    share: float = 0.5


def load_private_bank(path: Path, share: float = 0.5) -> PrivateBank:
    """Read a private bank: a JSON list of ``{"question", "answer"}`` objects, optionally with
    ``"distractors"`` (list of str) and ``"difficulty"`` (float). Raises
    :class:`~node.errors.ConfigError` naming the first bad item."""
    try:
        items = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"gold bank {path}: cannot read it as JSON: {exc}") from exc
    if not isinstance(items, list) or not items:
        raise ConfigError(f"gold bank {path}: expected a non-empty JSON list of items")
    if not 0.0 <= share <= 1.0:
        raise ConfigError(f"gold bank share {share} is not in [0, 1]")
    canonical = json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
    tasks = []
    for index, item in enumerate(items):
        tasks.append(_private_task(item, index, digest, path))
    return PrivateBank(tasks=tuple(tasks), digest=digest, share=share)


def _private_task(item: Any, index: int, digest: str, path: Path) -> GoldTask:
    where = f"gold bank {path}, item {index}"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: expected an object with question and answer")
    question, answer = item.get("question"), item.get("answer")
    if not isinstance(question, str) or not question.strip():
        raise ConfigError(f"{where}: question must be a non-empty string")
    if not isinstance(answer, str | int) or isinstance(answer, bool) or str(answer) == "":
        raise ConfigError(f"{where}: answer must be a non-empty string or an integer")
    distractors = item.get("distractors", [])
    if not isinstance(distractors, list) or not all(isinstance(d, str) for d in distractors):
        raise ConfigError(f"{where}: distractors must be a list of strings")
    difficulty = item.get("difficulty", 0.0)
    if not isinstance(difficulty, int | float) or not math.isfinite(difficulty):
        raise ConfigError(f"{where}: difficulty must be a finite number")
    return GoldTask(
        task_id=f"private:{digest}:{index}",
        family="private",
        question=question,
        answer=str(answer),
        distractors=tuple(distractors) or ("",),
        difficulty=float(difficulty),
    )


# --- the draw of a round --------------------------------------------------------------------------


def draw_gold_task(previous_record_hash: bytes, bank: PrivateBank | None = None) -> GoldTask:
    """The gold task of a gold round after the record ``previous_record_hash`` (the module
    docstring argues the seed): from ``bank`` with probability ``bank.share``, otherwise from
    the generated bank."""
    rng = seeded_generator(GOLD_DRAW_TAG, previous_record_hash)
    if bank is not None and bank.tasks and rng.random() < bank.share:
        return bank.tasks[int(rng.integers(len(bank.tasks)))]
    return generate_gold_task(rng)


_PRIVATE_BANK: list[PrivateBank | None] = [None]


def use_private_bank(bank: PrivateBank | None) -> None:
    """Set the private bank this process's gold draws use (the daemon, at start-up, from the
    operator's file; ``None`` for none). Every node of a swarm must set the same one."""
    _PRIVATE_BANK[0] = bank


def private_bank() -> PrivateBank | None:
    """The private bank set by :func:`use_private_bank`, or ``None``."""
    return _PRIVATE_BANK[0]
