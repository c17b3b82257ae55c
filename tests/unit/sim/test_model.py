"""The synthetic behaviour model: task parsing, answer normalisation, skill monotonicity,
determinism and honest refusal."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.model import (
    JUDGING_EASE,
    REFUSAL,
    NodeProfile,
    SimModel,
    arithmetic_task,
    draw_answers,
    judge_probabilities,
    normalise_answer,
    p_generate_correct,
    p_judge_correct,
    parse_task,
    task_bank,
)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        ("What is 17 + 25?", "42"),
        ("what is 17+25", "42"),
        ("Compute 3 * 4.", "12"),
        ("What is 7 times 8?", "56"),
        ("What is 12 x 12?", "144"),
        ("What is 3×4?", "12"),
        ("whats 5 minus -3?", "8"),
        ("What is 17 − 25?", "-8"),
        ("What is 9 plus 10", "19"),
        ("What is 100 multiplied by 3?", "300"),
        ("What is -4 - -4?", "0"),
        ("Quick: 123456789 * 987654321 = ?", str(123456789 * 987654321)),
    ],
)
def test_arithmetic_is_parsed_from_free_text(question: str, answer: str) -> None:
    task = parse_task(question)
    assert task is not None and task.kind == "arithmetic"
    assert task.answer == answer
    assert answer not in task.distractors
    assert len(set(task.distractors)) == len(task.distractors) >= 3


@given(st.integers(-(10**6), 10**6), st.sampled_from(["+", "-", "x"]), st.integers(-(10**6), 10**6))
def test_arithmetic_round_trips_for_any_integers(a: int, op: str, b: int) -> None:
    task = parse_task(f"What is {a} {op} {b}?")
    expected = {"+": a + b, "-": a - b, "x": a * b}[op]
    assert task is not None and int(task.answer) == expected
    assert task.is_correct(f"The answer is {expected}.")
    assert all(not task.is_correct(d) for d in task.distractors)


@pytest.mark.parametrize(
    "question", ["1 + 2 + 3?", "What is 1.5 + 2?", "Who is the president?", "hello", ""]
)
def test_unplaceable_questions_are_none(question: str) -> None:
    assert parse_task(question) is None


def test_arithmetic_distractors_are_plausible() -> None:
    assert arithmetic_task(17, "+", 25).distractors[0] == "32"  # forgot the carry
    assert arithmetic_task(17, "-", 25).distractors[0] == "8"  # sign error
    assert "24" in arithmetic_task(17, "+", 25).distractors  # swapped digits
    assert {"41", "43"} <= set(arithmetic_task(17, "+", 25).distractors)  # off by one


def test_bank_questions_are_found_by_text_and_phrasing() -> None:
    bank = task_bank()
    assert len(bank) >= 40 and {t.kind for t in bank} == {"mc", "fact"}
    assert len({t.task_id for t in bank}) == len(bank)
    for task in bank:
        assert parse_task(task.question) == task
        assert parse_task(task.question.upper() + "  ") == task
        assert task.answer not in task.distractors
    assert parse_task("capital city of australia").answer == "Canberra"  # type: ignore[union-attr]
    assert parse_task("Symbol of GOLD?").answer == "Au"  # type: ignore[union-attr]
    mc = next(t for t in bank if t.kind == "mc")
    assert parse_task(mc.question.splitlines()[0]) == mc  # the stem alone
    assert len(mc.options) == 4 and len(mc.distractors) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The answer is 42.", "42"),
        ("42", "42"),
        ("**42**", "42"),
        ("17 + 25 = 42", "42"),
        ("I think it is 41, no, 42", "42"),
        ("Final answer: -8", "-8"),
        ("−5", "-5"),
        ("Answer is 1,000.", "1000"),
        ("2.50", "2.5"),
        ("The answer is (B) Nitrogen.", "B"),
        ("B", "B"),
        ("(C)", "C"),
        ("b)", "B"),
        ("Option D", "D"),
        ("A. Oxygen", "A"),
        ("Answer: C", "C"),
        ("The answer is Paris.", "paris"),
        ("paris!", "paris"),
        ("The answer is Washington, D.C.", "washington dc"),
        ("Washington DC", "washington dc"),
        ("The answer is Brasília.", "brasilia"),
        ("The answer: the Nile", "nile"),
        ("", ""),
        (REFUSAL, ""),
    ],
)
def test_normalise_answer(text: str, expected: str) -> None:
    assert normalise_answer(text) == expected


def test_normalise_maps_option_text_to_letter() -> None:
    task = parse_task("Which gas makes up most of Earth's atmosphere?")
    assert task is not None
    assert task.normalise("Nitrogen") == task.normalise("the answer is (B)") == "B"
    assert task.grade("The answer is (A) Oxygen.") == 1  # the popular distractor
    assert task.is_correct("nitrogen")


def test_probabilities_are_monotone_and_judging_is_easier() -> None:
    skills = np.linspace(-3, 3, 13)
    p_gen = p_generate_correct(skills, 0.5)
    p_judge = p_judge_correct(skills, 0.5)
    assert np.all(np.diff(p_gen) > 0) and np.all(np.diff(p_judge) > 0)
    assert np.all(p_judge > p_gen) and JUDGING_EASE > 0
    assert np.all(np.diff(p_generate_correct(1.0, skills)) < 0)  # harder -> less correct


def test_judge_probabilities_sum_to_one_and_follow_bias() -> None:
    p_a, p_b, p_tie = judge_probabilities(
        np.array([0.0, 2.0, 1.0]), 0.0, [True, False, True], [False, True, True], [0.0, 0.5, -1]
    )
    assert np.allclose(p_a + p_b + p_tie, 1.0)
    assert p_a[0] > 0.5  # correct A preferred
    assert p_a[1] >= 0.5  # strong A bias beats merit halfway
    assert p_b[2] == 1.0  # fully B-biased judge


@pytest.mark.parametrize("question", ["What is 47 x 38?", "What is the capital of Australia?"])
def test_higher_generation_skill_is_more_often_correct(question: str) -> None:
    task = parse_task(question)
    assert task is not None
    rates = []
    for skill in (-1.0, 1.0, 3.0):
        model = SimModel(NodeProfile(generation_skill=skill), np.random.default_rng(1))
        rates.append(np.mean([task.is_correct(model.generate(question)) for _ in range(400)]))
    assert rates[0] + 0.1 < rates[1] and rates[1] + 0.1 < rates[2]


def test_higher_judging_skill_is_more_often_correct() -> None:
    question = "What is the capital of Australia?"
    rates = []
    for skill in (-2.0, 0.0, 2.0):
        model = SimModel(NodeProfile(judging_skill=skill), np.random.default_rng(2))
        wins = [
            model.judge(question, "The answer is Sydney.", "The answer is Canberra.").outcome == "B"
            for _ in range(400)
        ]
        rates.append(np.mean(wins))
    assert rates[0] + 0.1 < rates[1] and rates[1] + 0.1 < rates[2]


def test_wrong_answers_pile_onto_the_popular_distractor() -> None:
    labels = draw_answers(-5.0, 0.0, np.array([0.0, 0.9])[:, None], 3, np.random.default_rng(3))
    assert labels.shape == (2, 1)
    many = draw_answers(-5.0, 0.0, np.full(4000, 0.9), 3, np.random.default_rng(3))
    assert np.mean(many == 1) > 0.85
    flat = draw_answers(-5.0, 0.0, np.full(4000, 0.0), 3, np.random.default_rng(3))
    assert abs(np.mean(flat == 1) - 1 / 3) < 0.05


def test_same_seed_same_answers() -> None:
    profile = NodeProfile(generation_skill=0.0, judging_skill=0.0, position_bias=0.2)
    runs = []
    for _ in range(2):
        model = SimModel(profile, np.random.default_rng(42))
        runs.append(
            [model.generate("What is 17 + 25?") for _ in range(20)]
            + [str(model.judge("What is 17 + 25?", "42", "41")) for _ in range(20)]
        )
    assert runs[0] == runs[1]
    assert len(set(runs[0][:20])) > 1  # it does vary across draws


def test_generated_text_is_a_sentence_with_a_checkable_answer() -> None:
    model = SimModel(NodeProfile(generation_skill=0.0), np.random.default_rng(5))
    task = parse_task("What is 17 + 25?")
    assert task is not None
    texts = {model.generate(task.question) for _ in range(200)}
    assert all(t.startswith("The answer is ") for t in texts)
    keys = {normalise_answer(t) for t in texts}
    assert "42" in keys and keys <= {task.answer, *task.distractors}
    mc = next(t for t in task_bank() if t.kind == "mc")
    mc_text = model.generate(mc.question)
    assert mc.grade(mc_text) >= 0 and "(" in mc_text


def test_unknown_question_gets_an_honest_refusal() -> None:
    model = SimModel(NodeProfile(), np.random.default_rng(0))
    text = model.generate("Write me a poem about the sea.")
    assert text == REFUSAL and "simulated model" in text
    assert normalise_answer(text) == ""
    verdict = model.judge("Write me a poem about the sea.", "x", "y")
    assert verdict.outcome == "tie" and "simulated" in verdict.rationale


def test_judgement_fields() -> None:
    model = SimModel(NodeProfile(judging_skill=3.0), np.random.default_rng(0))
    verdict = model.judge("What is 17 + 25?", "The answer is 42.", "The answer is 32.")
    assert verdict.outcome == "A"
    assert 0.5 <= verdict.confidence <= 1.0 and verdict.rationale


def test_profile_rejects_bad_values_and_draws_seeded() -> None:
    with pytest.raises(ValueError, match="position_bias"):
        NodeProfile(position_bias=2.0)
    with pytest.raises(ValueError, match="error_correlation"):
        NodeProfile(error_correlation=-0.1)
    a = NodeProfile.draw(np.random.default_rng(9), generation_skill=(1.0, 0.5))
    assert a == NodeProfile.draw(np.random.default_rng(9), generation_skill=(1.0, 0.5))
