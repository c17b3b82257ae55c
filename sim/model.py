"""The one synthetic behaviour model: tasks with known answers, node profiles, and the
probabilities of generating and judging correctly.

This module owns

* the built-in task bank (:func:`task_bank`): multiple-choice questions with a popular
  distractor, short facts (capitals, chemical symbols) and arithmetic recognised in free text;
* :func:`parse_task` (question text -> :class:`Task`) and :func:`normalise_answer` (answer
  text -> its checkable final form, used by the node to cluster candidates and by majority vote);
* :class:`NodeProfile`, a node's latent skills and biases;
* the pure, vectorised probability functions shared by the scalar model and the simulator's
  fast engine (:func:`p_generate_correct`, :func:`p_judge_correct`, :func:`draw_answers`,
  :func:`judge_probabilities`, :func:`draw_judgements`);
* :class:`SimModel`, the scalar API wrapped by the node's ``sim`` backend
  (:meth:`SimModel.generate`, :meth:`SimModel.judge` returning a :class:`Judgement`).

The model
---------
Skills and difficulties live on one logit scale. A node of generation skill ``s`` answers a task
of difficulty ``d`` correctly with probability ``sigmoid(s - d)``. Judging which of two answers is
right is easier than producing it (the premise of the Fortytwo paper, arXiv 2510.24801): a judge
of skill ``j`` prefers the correct side with probability ``sigmoid(j - d + JUDGING_EASE)``. On
very hard tasks that probability falls below one half: the wrong answer is *persuasive*, which is
what bounds a swarm's accuracy. Wrong answers are correlated: with probability
``error_correlation`` a wrong generator picks the task's popular distractor, otherwise a uniform
distractor (which may also be the popular one). Position bias ``b`` in ``[-1, 1]``: with
probability ``|b|`` the judge picks the position (A when ``b > 0``) regardless of merit.

Everything here is pure numpy: no I/O, no clock, no global random state; every draw takes a
``numpy.random.Generator``.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ArrayLike = float | npt.ArrayLike

TaskKind = Literal["mc", "fact", "arithmetic"]
Outcome = Literal["A", "B", "tie"]

#: Logit bonus of judging over generating in the node's ``sim`` backend (:class:`SimModel`):
#: an assumption, not a measurement (the Fortytwo premise). The fast engine's default is 0
#: (scenario key ``tasks.judging_ease``); docs/sim/README.md sweeps it.
JUDGING_EASE = 1.0
#: Probability that a judge facing two answers of equal correctness says "tie".
EQUAL_TIE_RATE = 0.5
#: Outcome codes of :func:`draw_judgements`.
JUDGED_A, JUDGED_B, JUDGED_TIE = 0, 1, 2

REFUSAL = "I am a simulated model (swarmrank-sim) and cannot answer that question."
_REFUSAL_PREFIX = "i am a simulated model"


# --------------------------------------------------------------------------------------------
# Tasks


@dataclass(frozen=True)
class Task:
    """One question with a known answer.

    Attributes
    ----------
    task_id : str
        Stable identifier (``"mc:..."``, ``"fact:..."``, ``"arith:17+25"``).
    kind : {"mc", "fact", "arithmetic"}
        The task family.
    question : str
        The canonical question text (multiple choice includes the options).
    answer : str
        The correct answer in display form (an option letter, a name, an integer).
    distractors : tuple of str
        Plausible wrong answers in display form, the popular distractor first.
    difficulty : float
        Difficulty on the skill logit scale (0 is a coin toss for a skill-0 generator).
    options : tuple of str
        Option texts for multiple choice, in letter order; empty otherwise.
    """

    task_id: str
    kind: TaskKind
    question: str
    answer: str
    distractors: tuple[str, ...]
    difficulty: float
    options: tuple[str, ...] = ()

    @property
    def popular_distractor(self) -> str:
        """The wrong answer most wrong generators converge on."""
        return self.distractors[0]

    def normalise(self, text: str) -> str:
        """:func:`normalise_answer` that also maps an option's text to its letter."""
        return normalise_answer(text, options=self.options)

    def grade(self, text: str) -> int:
        """0 when ``text`` is correct, ``k >= 1`` for the k-th distractor, -1 otherwise."""
        key = self.normalise(text)
        if not key:
            return -1
        if key == self.normalise(self.answer):
            return 0
        for index, distractor in enumerate(self.distractors, start=1):
            if key == self.normalise(distractor):
                return index
        return -1

    def is_correct(self, text: str) -> bool:
        """Whether ``text``'s final answer is the task's answer."""
        return self.grade(text) == 0

    def render(self, label: str) -> str:
        """A short answer sentence whose normalised form is ``label``."""
        if self.kind == "mc" and len(label) == 1 and "A" <= label <= "Z":
            index = ord(label) - ord("A")
            if index < len(self.options):
                return f"The answer is ({label}) {self.options[index]}."
        return f"The answer is {label}."


_LETTERS = "ABCDEFGHIJ"

# (question, options, correct index, popular distractor index, difficulty)
_MC: tuple[tuple[str, tuple[str, ...], int, int, float], ...] = (
    (
        "Which gas makes up most of Earth's atmosphere?",
        ("Oxygen", "Nitrogen", "Carbon dioxide", "Argon"),
        1,
        0,
        0.5,
    ),
    (
        "What is the largest planet in the Solar System?",
        ("Saturn", "Neptune", "Jupiter", "Earth"),
        2,
        0,
        -0.5,
    ),
    (
        "Who wrote the novel 'Pride and Prejudice'?",
        ("Charlotte Brontë", "Jane Austen", "Emily Dickinson", "Mary Shelley"),
        1,
        0,
        0.0,
    ),
    (
        "What is the hardest naturally occurring mineral?",
        ("Quartz", "Titanium", "Diamond", "Corundum"),
        2,
        3,
        -0.5,
    ),
    ("How many bones are in the adult human body?", ("206", "212", "201", "300"), 0, 1, 1.0),
    (
        "Approximately how fast does light travel in a vacuum?",
        ("300,000 km/s", "150,000 km/s", "30,000 km/s", "3,000,000 km/s"),
        0,
        3,
        1.0,
    ),
    ("Which element has atomic number 1?", ("Helium", "Hydrogen", "Oxygen", "Lithium"), 1, 0, -1.0),
    ("In which year did the Berlin Wall fall?", ("1991", "1989", "1987", "1990"), 1, 3, 1.5),
    (
        "Which organelle is known as the powerhouse of the cell?",
        ("Nucleus", "Ribosome", "Mitochondrion", "Golgi apparatus"),
        2,
        0,
        -0.5,
    ),
    ("Which is the longest river in Africa?", ("Congo", "Niger", "Nile", "Zambezi"), 2, 0, 0.0),
    (
        "What is the boiling point of water at sea level in degrees Fahrenheit?",
        ("100", "212", "180", "32"),
        1,
        0,
        1.0,
    ),
    (
        "Who developed the general theory of relativity?",
        ("Isaac Newton", "Niels Bohr", "Albert Einstein", "Max Planck"),
        2,
        0,
        -1.0,
    ),
    ("What is the chemical formula of table salt?", ("KCl", "NaCl", "NaOH", "CaCl2"), 1, 0, 0.0),
    (
        "Which is the largest ocean on Earth?",
        ("Atlantic", "Indian", "Arctic", "Pacific"),
        3,
        0,
        -0.5,
    ),
    (
        "Which planet has the shortest year?",
        ("Venus", "Mars", "Mercury", "Earth"),
        2,
        0,
        0.5,
    ),
    (
        "What is the smallest prime number?",
        ("1", "2", "3", "0"),
        1,
        0,
        1.5,
    ),
)

# (country, capital, popular distractor, other distractor, difficulty)
_CAPITALS: tuple[tuple[str, str, str, str, float], ...] = (
    ("Australia", "Canberra", "Sydney", "Melbourne", 1.5),
    ("Canada", "Ottawa", "Toronto", "Montreal", 1.0),
    ("Brazil", "Brasília", "Rio de Janeiro", "São Paulo", 1.0),
    ("Turkey", "Ankara", "Istanbul", "Izmir", 1.0),
    ("Switzerland", "Bern", "Zurich", "Geneva", 1.5),
    ("New Zealand", "Wellington", "Auckland", "Christchurch", 1.0),
    ("Nigeria", "Abuja", "Lagos", "Kano", 1.5),
    ("Morocco", "Rabat", "Casablanca", "Marrakesh", 1.5),
    ("Pakistan", "Islamabad", "Karachi", "Lahore", 1.0),
    ("Vietnam", "Hanoi", "Ho Chi Minh City", "Da Nang", 0.5),
    ("South Korea", "Seoul", "Busan", "Incheon", -1.0),
    ("Myanmar", "Naypyidaw", "Yangon", "Mandalay", 2.0),
    ("Tanzania", "Dodoma", "Dar es Salaam", "Arusha", 2.0),
    ("Kazakhstan", "Astana", "Almaty", "Shymkent", 2.0),
    ("France", "Paris", "Marseille", "Lyon", -2.5),
    ("Japan", "Tokyo", "Kyoto", "Osaka", -2.0),
    ("Germany", "Berlin", "Munich", "Bonn", -2.0),
    ("Italy", "Rome", "Milan", "Naples", -2.0),
    ("Spain", "Madrid", "Barcelona", "Seville", -1.5),
    ("the United States", "Washington, D.C.", "New York", "Los Angeles", -1.5),
    ("India", "New Delhi", "Mumbai", "Kolkata", -1.0),
    ("China", "Beijing", "Shanghai", "Hong Kong", -1.5),
    ("Egypt", "Cairo", "Alexandria", "Giza", -1.5),
    ("Russia", "Moscow", "Saint Petersburg", "Novosibirsk", -2.0),
    ("Argentina", "Buenos Aires", "Córdoba", "Rosario", -1.0),
)

# (element, symbol, popular distractor, other distractor, difficulty)
_SYMBOLS: tuple[tuple[str, str, str, str, float], ...] = (
    ("gold", "Au", "Ag", "Go", 0.0),
    ("silver", "Ag", "Au", "Si", 0.0),
    ("sodium", "Na", "So", "S", 0.5),
    ("potassium", "K", "P", "Po", 0.5),
    ("iron", "Fe", "Ir", "I", 0.0),
    ("lead", "Pb", "Le", "Ld", 0.5),
    ("tin", "Sn", "Ti", "Tn", 1.0),
    ("mercury", "Hg", "Me", "Mc", 0.5),
    ("copper", "Cu", "Co", "Cp", 0.0),
    ("tungsten", "W", "Tu", "Tg", 1.5),
    ("helium", "He", "H", "Hl", -1.5),
    ("oxygen", "O", "Ox", "Og", -2.0),
    ("carbon", "C", "Ca", "Cb", -2.0),
    ("nitrogen", "N", "Ni", "Nt", -1.5),
    ("calcium", "Ca", "C", "Cl", -0.5),
    ("chlorine", "Cl", "Ch", "C", -0.5),
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", normalise_text(text)).strip("-")


def _mc_question(stem: str, options: tuple[str, ...]) -> str:
    lines = [stem] + [f"{_LETTERS[i]}) {option}" for i, option in enumerate(options)]
    return "\n".join(lines)


@lru_cache(maxsize=1)
def task_bank() -> tuple[Task, ...]:
    """Every built-in task (multiple choice and short facts), in a fixed order."""
    tasks: list[Task] = []
    for stem, options, correct, popular, difficulty in _MC:
        wrong = [_LETTERS[popular]] + [
            _LETTERS[i] for i in range(len(options)) if i not in (correct, popular)
        ]
        tasks.append(
            Task(
                task_id=f"mc:{_slug(stem)}",
                kind="mc",
                question=_mc_question(stem, options),
                answer=_LETTERS[correct],
                distractors=tuple(wrong),
                difficulty=difficulty,
                options=options,
            )
        )
    for country, capital, trap, other, difficulty in _CAPITALS:
        tasks.append(
            Task(
                task_id=f"fact:capital:{_slug(country)}",
                kind="fact",
                question=f"What is the capital of {country}?",
                answer=capital,
                distractors=(trap, other),
                difficulty=difficulty,
            )
        )
    for element, symbol, trap, other, difficulty in _SYMBOLS:
        tasks.append(
            Task(
                task_id=f"fact:symbol:{_slug(element)}",
                kind="fact",
                question=f"What is the chemical symbol for {element}?",
                answer=symbol,
                distractors=(trap, other),
                difficulty=difficulty,
            )
        )
    return tuple(tasks)


@lru_cache(maxsize=1)
def _bank_index() -> dict[str, Task]:
    index: dict[str, Task] = {}
    for task in task_bank():
        index[normalise_text(task.question)] = task
        if task.kind == "mc":
            index[normalise_text(task.question.splitlines()[0])] = task
        elif task.task_id.startswith("fact:capital:"):
            country = task.question.removeprefix("What is the capital of ").rstrip("?")
            index["capital:" + normalise_text(country).removeprefix("the ")] = task
        else:
            element = task.question.removeprefix("What is the chemical symbol for ").rstrip("?")
            index["symbol:" + normalise_text(element)] = task
    return index


def normalise_text(text: str) -> str:
    """Lower case, accents folded, punctuation dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c)).lower()
    folded = re.sub(r"(?<=\w)\.(?=\w)|(?<=\b\w)\.", "", folded)
    folded = re.sub(r"[^\w\s+\-*/=×−]", " ", folded)
    return " ".join(folded.split())


_OPS = r"\+|-|\*|x|×|plus|minus|times|multiplied by"
_ARITH = re.compile(rf"(?<![\w.])(-?\d+)\s*({_OPS})\s*(-?\d+)(?!\w|\.\d)")
_ARITH_MORE_AFTER = re.compile(rf"^\s*({_OPS})\s*-?\d")
_ARITH_MORE_BEFORE = re.compile(rf"\d\s*({_OPS})\s*$")
_CAPITAL = re.compile(r"capital(?: city)? of ([a-z][a-z .'-]*?)\s*(?:\?|$|\.)")
_SYMBOL = re.compile(r"(?:chemical )?symbol (?:for|of) ([a-z]+)")


def _arith_text(question: str) -> str:
    text = question.replace("−", "-").replace("×", "x").replace("·", "*").lower()
    return text.replace("multiplied by", "times")


@lru_cache(maxsize=4096)  # pure; every judge call of a round parses the same question
def parse_task(question: str) -> Task | None:
    """The task a question text asks, or ``None`` when the model cannot place it.

    Bank questions are found by normalised text (a multiple-choice stem alone also matches),
    capitals and chemical symbols also by phrasing ("capital city of Japan", "symbol of gold"),
    and arithmetic on two integers with ``+``, ``-``, ``x``, ``*``, "plus", "minus", "times" is
    parsed from free text ("What is 17 + 25?"). Chains of operations are not placed.
    """
    key = normalise_text(question)
    bank = _bank_index()
    if key in bank:
        return bank[key]
    raw = question.lower()
    capital = _CAPITAL.search(normalise_text(raw) + "?")
    if capital:
        country = capital.group(1).strip().removeprefix("the ")
        if "capital:" + country in bank:
            return bank["capital:" + country]
    symbol = _SYMBOL.search(key)
    if symbol and "symbol:" + symbol.group(1) in bank:
        return bank["symbol:" + symbol.group(1)]
    return _parse_arithmetic(question)


def _parse_arithmetic(question: str) -> Task | None:
    text = _arith_text(question)
    match = _ARITH.search(text)
    if match is None:
        return None
    if _ARITH_MORE_AFTER.search(text[match.end() :]) or _ARITH_MORE_BEFORE.search(
        text[: match.start()]
    ):
        return None
    a, b = int(match.group(1)), int(match.group(3))
    op = {"+": "+", "plus": "+", "-": "-", "minus": "-"}.get(match.group(2), "x")
    return arithmetic_task(a, op, b)


def arithmetic_task(a: int, op: str, b: int) -> Task:
    """The task "What is ``a op b``?" with its answer, plausible errors and difficulty.

    Parameters
    ----------
    a, b : int
        Operands (any size, any sign).
    op : {"+", "-", "x"}
        The operation.
    """
    if op == "+":
        answer = a + b
        carry = (abs(a) % 10 + abs(b) % 10) >= 10 and a >= 0 and b >= 0
        popular = answer - 10 if carry else answer + 1
        confusions = [a - b]
    elif op == "-":
        answer = a - b
        popular = b - a if answer != 0 else 1
        borrow = a >= 0 and b >= 0 and (a % 10) < (b % 10)
        confusions = [answer + 10 if borrow else answer - 1, a + b]
    elif op == "x":
        answer = a * b
        popular = a * (b - 1) if a * (b - 1) != answer else answer + 1
        confusions = [a + b, answer + 10]
    else:
        raise ValueError(f"unknown operation {op!r}; use '+', '-' or 'x'")
    candidates = [popular, answer + 1, answer - 1, _swap_digits(answer), -answer, *confusions]
    wrong: list[int] = []
    for value in candidates:
        if value is not None and value != answer and value not in wrong:
            wrong.append(value)
    digits = len(str(abs(a))) + len(str(abs(b)))
    difficulty = -3.0 + 0.6 * max(digits - 2, 0) + (1.5 if op == "x" else 0.0)
    difficulty += 0.5 if (a < 0 or b < 0) else 0.0
    symbol = {"+": "+", "-": "-", "x": "x"}[op]
    return Task(
        task_id=f"arith:{a}{symbol}{b}",
        kind="arithmetic",
        question=f"What is {a} {symbol} {b}?",
        answer=str(answer),
        distractors=tuple(str(v) for v in wrong[:5]),
        difficulty=round(min(difficulty, 4.0), 2),
    )


def _swap_digits(value: int) -> int | None:
    digits = str(abs(value))
    if len(digits) < 2 or digits[-1] == digits[-2]:
        return None
    swapped = int(digits[:-2] + digits[-1] + digits[-2])
    return -swapped if value < 0 else swapped


# --------------------------------------------------------------------------------------------
# Answer normalisation

_MARKER = re.compile(
    r"(?:final answer|the answer|answer|result|solution)\s*(?:is|would be|:|=|-)\s*|=\s*",
    re.IGNORECASE,
)
_OPTION = re.compile(
    r"^(?:(?:option|choice|letter)\s+\(?([a-j])\)?(?![\w])|\(([a-j])\)|([a-j])(?:[.):](?!\w)|$))",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(?:\.\d+)?(?![\w])")
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")


@lru_cache(maxsize=16384)  # pure; a round normalises the same few candidate texts
def normalise_answer(text: str, options: tuple[str, ...] = ()) -> str:
    """The checkable final form of an answer text, or ``""`` when it has none.

    Parameters
    ----------
    text : str
        A free-form answer ("The answer is 42.", "(B) Nitrogen", "**Canberra**").
    options : tuple of str, optional
        Multiple-choice option texts: an answer naming an option's text maps to its letter.

    Returns
    -------
    str
        An upper-case option letter (``"B"``), a canonical number (``"42"``, ``"-3"``,
        ``"2.5"``, thousands separators dropped), or a normalised string (lower case, accents
        folded, punctuation and leading article dropped). ``""`` for empty answers and for the
        simulated model's refusal, so those never cluster as an answer.

    Notes
    -----
    The text after the last "answer is" / "answer:" / "=" marker is read when there is one;
    then an option letter, else the first number, else the string itself. Without a marker a
    bare letter is an option, else the *last* number ("17 + 25 makes 42") is taken.
    """
    cleaned = text.replace("−", "-").replace("*", " ").replace("`", " ").strip()
    if not cleaned or cleaned.lower().startswith(_REFUSAL_PREFIX):
        return ""
    markers = list(_MARKER.finditer(cleaned))
    tail = cleaned[markers[-1].end() :].strip() if markers else cleaned
    if not tail:
        tail = cleaned
    tail = tail.splitlines()[0].strip() if tail.splitlines() else tail
    if options:
        by_text = {normalise_text(option): _LETTERS[i] for i, option in enumerate(options)}
        key = normalise_text(_strip_trailing(tail))
        letter_match = _option_letter(tail)
        if letter_match and letter_match in _LETTERS[: len(options)]:
            return letter_match
        if _ARTICLE.sub("", key) in by_text:
            return by_text[_ARTICLE.sub("", key)]
        if key in by_text:
            return by_text[key]
    letter = _option_letter(tail)
    if letter:
        return letter
    numbers = _NUMBER.findall(tail)
    if numbers:
        return _canonical_number(numbers[0] if markers else numbers[-1])
    key = _ARTICLE.sub("", normalise_text(_strip_trailing(tail)))
    return key.replace("-", " ").strip()


def _option_letter(text: str) -> str:
    match = _OPTION.match(text.strip())
    if match is None:
        return ""
    return next(g for g in match.groups() if g).upper()


def _strip_trailing(text: str) -> str:
    return text.strip().rstrip(".!?;:,").strip()


def _canonical_number(token: str) -> str:
    token = token.replace(",", "").lstrip("+")
    if "." in token:
        value = float(token)
        if value.is_integer():
            return str(int(value))
        return repr(value)
    value_int = int(token)
    return str(value_int)


# --------------------------------------------------------------------------------------------
# Node profiles and the shared probabilities


@dataclass(frozen=True)
class NodeProfile:
    """A simulated node's latent traits.

    Attributes
    ----------
    generation_skill : float
        Logit-scale skill at producing a correct answer.
    judging_skill : float
        Logit-scale skill at telling the correct side of a pair (judging also gets
        :data:`JUDGING_EASE`).
    position_bias : float
        In ``[-1, 1]``: the probability of picking position A (positive) or B (negative)
        regardless of merit.
    error_correlation : float
        In ``[0, 1]``: how strongly this node's wrong answers pile onto the popular distractor.
    """

    generation_skill: float = 1.0
    judging_skill: float = 1.0
    position_bias: float = 0.0
    error_correlation: float = 0.5

    def __post_init__(self) -> None:
        if not -1.0 <= self.position_bias <= 1.0:
            raise ValueError(f"position_bias must be in [-1, 1], got {self.position_bias}")
        if not 0.0 <= self.error_correlation <= 1.0:
            raise ValueError(f"error_correlation must be in [0, 1], got {self.error_correlation}")

    @classmethod
    def draw(
        cls,
        rng: np.random.Generator,
        generation_skill: tuple[float, float] = (1.0, 0.5),
        judging_skill: tuple[float, float] = (1.0, 0.5),
        position_bias: float = 0.0,
        error_correlation: float = 0.5,
    ) -> NodeProfile:
        """A profile with skills drawn from normal distributions ``(mean, sd)``."""
        return cls(
            generation_skill=float(rng.normal(*generation_skill)),
            judging_skill=float(rng.normal(*judging_skill)),
            position_bias=position_bias,
            error_correlation=error_correlation,
        )


def sigmoid(x: ArrayLike) -> FloatArray:
    """The logistic function, vectorised and overflow-safe."""
    values = np.asarray(x, dtype=np.float64)
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * values)), dtype=np.float64)


def p_generate_correct(generation_skill: ArrayLike, difficulty: ArrayLike) -> FloatArray:
    """Probability that a generator produces the correct answer: ``sigmoid(skill - d)``."""
    return sigmoid(np.subtract(generation_skill, difficulty))


def p_judge_correct(
    judging_skill: ArrayLike, difficulty: ArrayLike, ease: float = JUDGING_EASE
) -> FloatArray:
    """Probability that a judge prefers the correct of a correct/wrong pair on merit.

    ``sigmoid(skill - d + ease)``: judging is easier than generating by ``ease`` logits. Below
    one half on tasks whose wrong answer is more persuasive than the judge is skilled.
    """
    return sigmoid(np.subtract(judging_skill, difficulty) + ease)


def wrong_answer_weights(n_wrong: int, error_correlation: float) -> FloatArray:
    """Distribution of a wrong answer over ``n_wrong`` distractors, the popular one first."""
    if n_wrong < 1:
        raise ValueError("a task needs at least one distractor")
    weights = np.full(n_wrong, (1.0 - error_correlation) / n_wrong)
    weights[0] += error_correlation
    return weights


def draw_answers(
    generation_skill: ArrayLike,
    difficulty: ArrayLike,
    error_correlation: ArrayLike,
    n_wrong: int,
    rng: np.random.Generator,
) -> IntArray:
    """Draw answers as labels: 0 is correct, ``k`` in ``1..n_wrong`` the k-th distractor.

    All arguments broadcast together; label 1 is the popular distractor. A wrong answer is the
    popular distractor with probability ``error_correlation``, else uniform over all
    distractors.
    """
    p_correct = p_generate_correct(generation_skill, difficulty)
    correlation = np.asarray(error_correlation, dtype=np.float64)
    shape = np.broadcast_shapes(p_correct.shape, correlation.shape)
    correct = rng.random(shape) < p_correct
    popular = rng.random(shape) < correlation
    uniform = rng.integers(1, n_wrong + 1, size=shape)
    labels = np.where(correct, 0, np.where(popular, 1, uniform))
    return labels.astype(np.int64)


def judge_probabilities(
    judging_skill: ArrayLike,
    difficulty: ArrayLike,
    a_correct: npt.ArrayLike,
    b_correct: npt.ArrayLike,
    position_bias: ArrayLike = 0.0,
    ease: float = JUDGING_EASE,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Probabilities ``(p_a, p_b, p_tie)`` of an honest judge's verdict on one pair.

    ``ease`` defaults to the built-in :data:`JUDGING_EASE` of the node's ``sim`` backend; the
    simulator's exams pass the scenario's ``tasks.judging_ease`` (default 0), and its rounds run
    the correlated model of :mod:`sim.judging`.

    One side correct: the correct side wins with :func:`p_judge_correct`. Both equally right
    (or wrong): "tie" with :data:`EQUAL_TIE_RATE`, the rest split evenly. Then position bias
    ``b``: with probability ``|b|`` the judge names A (``b > 0``) or B (``b < 0``) instead.
    """
    a_ok = np.asarray(a_correct, dtype=bool)
    b_ok = np.asarray(b_correct, dtype=bool)
    p_right = p_judge_correct(judging_skill, difficulty, ease)
    differ = a_ok != b_ok
    p_a = np.where(differ, np.where(a_ok, p_right, 1.0 - p_right), 0.5 * (1 - EQUAL_TIE_RATE))
    p_tie = np.where(differ, 0.0, EQUAL_TIE_RATE)
    p_b = 1.0 - p_a - p_tie
    bias = np.asarray(position_bias, dtype=np.float64)
    strength = np.abs(bias)
    p_a = (1.0 - strength) * p_a + strength * (bias > 0)
    p_b = (1.0 - strength) * p_b + strength * (bias < 0)
    p_tie = (1.0 - strength) * p_tie
    return (
        np.asarray(p_a, dtype=np.float64),
        np.asarray(p_b, dtype=np.float64),
        np.asarray(p_tie, dtype=np.float64),
    )


def draw_judgements(p_a: npt.ArrayLike, p_b: npt.ArrayLike, rng: np.random.Generator) -> IntArray:
    """Draw verdicts (:data:`JUDGED_A`, :data:`JUDGED_B` or :data:`JUDGED_TIE`)."""
    pa = np.asarray(p_a, dtype=np.float64)
    pb = np.asarray(p_b, dtype=np.float64)
    u = rng.random(np.broadcast_shapes(pa.shape, pb.shape))
    return np.where(u < pa, JUDGED_A, np.where(u < pa + pb, JUDGED_B, JUDGED_TIE)).astype(np.int64)


# --------------------------------------------------------------------------------------------
# The scalar model behind the node's sim backend


@dataclass(frozen=True)
class Judgement:
    """A simulated verdict on one pair shown as A and B."""

    outcome: Outcome
    confidence: float  # stated probability in [0.5, 1] that the chosen side is better
    rationale: str


class SimModel:
    """One simulated node answering and judging questions with the shared model.

    Parameters
    ----------
    profile : NodeProfile
        The node's traits.
    rng : numpy.random.Generator
        Source of every draw. The node seeds one per request, e.g. from (node seed, query id),
        so the same request gets the same answer.
    """

    def __init__(self, profile: NodeProfile, rng: np.random.Generator) -> None:
        self.profile = profile
        self.rng = rng

    def generate(self, question: str) -> str:
        """A short answer sentence: the right answer or a plausible wrong one.

        A question outside the bank and not arithmetic gets :data:`REFUSAL`.
        """
        task = parse_task(question)
        if task is None:
            return REFUSAL
        label = int(
            draw_answers(
                self.profile.generation_skill,
                task.difficulty,
                self.profile.error_correlation,
                len(task.distractors),
                self.rng,
            )
        )
        return task.render(task.answer if label == 0 else task.distractors[label - 1])

    def judge(self, question: str, answer_a: str, answer_b: str) -> Judgement:
        """Judge which of two answers to ``question`` is better.

        The judge knows which side is right only through its skill: the verdict is drawn from
        :func:`judge_probabilities`. For a question it cannot place it says "tie".
        """
        task = parse_task(question)
        if task is None:
            return Judgement("tie", 0.5, "simulated model: cannot assess this question")
        a_ok, b_ok = task.is_correct(answer_a), task.is_correct(answer_b)
        p_a, p_b, _ = judge_probabilities(
            self.profile.judging_skill,
            task.difficulty,
            a_ok,
            b_ok,
            self.profile.position_bias,
        )
        verdict = int(draw_judgements(p_a, p_b, self.rng))
        if verdict == JUDGED_TIE:
            return Judgement("tie", 0.5, "both answers look equally good")
        chosen_a = verdict == JUDGED_A
        p_chosen = float(p_a if chosen_a else p_b)
        p_decided = float(p_a + p_b)
        confidence = min(max(p_chosen / p_decided if p_decided > 0 else 0.5, 0.5), 1.0)
        side, other = ("A", "B") if chosen_a else ("B", "A")
        chosen_text = answer_a if chosen_a else answer_b
        key = task.normalise(chosen_text) or "it"
        rationale = f"{side} ({key}) is more consistent with the question than {other}"
        return Judgement("A" if chosen_a else "B", round(confidence, 4), rationale)


def task_seed(*parts: str | int) -> int:
    """A stable 32-bit seed from strings and integers (CRC32; not for security)."""
    data = "\x00".join(str(p) for p in parts).encode("utf-8")
    return zlib.crc32(data)
