"""Question parsing, normalised exact match with aliases, the generators' majority and the
per-question record."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.eval.questions import Question, QuestionFileError, load_questions, parse_questions
from node.eval.scoring import (
    ClusterView,
    QuestionResult,
    RoundObservation,
    failed_result,
    majority_cluster,
    matches,
    score_round,
)

PARIS = Question("capital:france", "What is the capital of France?", "Paris", ("Paname",))


@pytest.mark.parametrize(
    "answer", ["Paris", "paris.", "**Paris**", "The answer is Paris.", "Paname", " PARIS "]
)
def test_answers_that_match(answer: str) -> None:
    assert matches(answer, PARIS)


@pytest.mark.parametrize(
    "answer", ["", "Lyon", "The capital of France is Paris.", "Paris, Texas", "I don't know"]
)
def test_answers_that_do_not_match(answer: str) -> None:
    assert not matches(answer, PARIS)


def test_numbers_accents_and_symbols_compare_in_normal_form() -> None:
    assert matches("1,024", Question("a", "?", "1024"))
    assert matches("The answer is -1916", Question("a", "?", "-1916"))
    assert not matches("1916", Question("a", "?", "-1916"))
    assert matches("Asuncion", Question("c", "?", "Asunción"))
    assert matches("Au", Question("s", "?", "Au"))
    assert not matches("Ag", Question("s", "?", "Au"))


def test_choices_map_option_text_to_its_letter() -> None:
    question = Question("m", "Which gas?", "B", choices=("Oxygen", "Nitrogen", "Argon"))
    assert matches("(B) Nitrogen", question)
    assert matches("Nitrogen", question)
    assert not matches("Oxygen", question)


def _cluster(index: int, answer: str, *generators: str) -> ClusterView:
    return ClusterView(index, answer, tuple(generators))


def test_majority_is_the_biggest_cluster_ties_to_the_record_order() -> None:
    clusters = [_cluster(2, "Lyon", "a"), _cluster(0, "Paris", "b", "c"), _cluster(1, "Nice", "d")]
    assert majority_cluster(clusters) == (clusters[1], False)
    tied = [_cluster(3, "Lyon", "a"), _cluster(1, "Paris", "b")]
    assert majority_cluster(tied) == (tied[1], True)
    assert majority_cluster([]) == (None, False)


def test_score_round_scores_swarm_majority_and_each_generator() -> None:
    observed = RoundObservation(
        swarm_answer="Paris",
        clusters=(_cluster(0, "Lyon", "a", "b"), _cluster(1, "Paris", "c")),
        node_answers={"a": "Lyon", "b": "lyon.", "c": "Paris"},
        judge_calls=12,
        seconds=1.5,
        record_id="ab",
    )
    result = score_round(PARIS, observed)
    assert result.swarm_correct and not result.majority_correct
    assert result.majority_answer == "Lyon"
    assert result.any_candidate_correct
    assert result.node_correct == {"a": False, "b": False, "c": True}
    assert (result.judge_calls, result.seconds, result.kind) == (12, 1.5, "capital")


def test_result_round_trips_through_json() -> None:
    result = score_round(
        PARIS,
        RoundObservation("Paris", (_cluster(0, "Paris", "a"),), {"a": "Paris"}, 3, 0.2, "cd"),
    )
    line = json.dumps(result.to_json())
    assert QuestionResult.from_json(json.loads(line)) == result


def test_failed_round_is_wrong_and_says_why() -> None:
    failed = failed_result(PARIS, "DEADLINE_EXCEEDED: round timed out", 30.0)
    assert failed.error.startswith("DEADLINE_EXCEEDED")
    assert not (failed.swarm_correct or failed.majority_correct or failed.any_candidate_correct)


def test_parse_questions_reads_fields_and_defaults_kind_to_the_id_prefix() -> None:
    lines = [
        '{"id": "symbol:79", "question": "Symbol for gold?", "answer": "Au", "aliases": []}',
        "",
        '{"id": "q2", "question": "Which?", "answer": "A", "choices": ["x", "y"], "kind": "mc"}',
    ]
    gold, choice = parse_questions(lines)
    assert gold == Question("symbol:79", "Symbol for gold?", "Au", kind="symbol")
    assert choice.choices == ("x", "y") and choice.kind == "mc"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "JSON object"),
        ('{"id": "a", "question": "q"}', "'answer'"),
        ('{"id": "", "question": "q", "answer": "x"}', "'id'"),
        ('{"id": "a", "question": "q", "answer": "x", "aliases": "y"}', "'aliases'"),
    ],
)
def test_bad_lines_name_the_line_and_field(line: str, message: str) -> None:
    with pytest.raises(QuestionFileError, match=message) as caught:
        parse_questions([line], "qs.jsonl")
    assert "qs.jsonl:1" in str(caught.value)


def test_duplicate_ids_are_refused() -> None:
    line = '{"id": "a", "question": "q", "answer": "x"}'
    with pytest.raises(QuestionFileError, match="duplicate id 'a'"):
        parse_questions([line, line])


def test_load_questions_limits_and_reports_missing_files(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text("".join(f'{{"id": "{i}", "question": "q", "answer": "x"}}\n' for i in "abc"))
    assert [q.id for q in load_questions(path, limit=2)] == ["a", "b"]
    with pytest.raises(QuestionFileError, match="cannot read"):
        load_questions(tmp_path / "missing.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(QuestionFileError, match="no questions"):
        load_questions(tmp_path / "empty.jsonl")
