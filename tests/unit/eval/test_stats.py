"""Wilson intervals, Newcombe's paired interval and the results.json summary."""

from __future__ import annotations

import pytest

from node.eval.scoring import QuestionResult
from node.eval.stats import (
    best_node,
    paired_difference,
    summarise_results,
    wilson_interval,
)


def test_wilson_matches_published_values() -> None:
    # Newcombe (1998, single proportion paper) Table I: 0/10 -> 0 to 0.2775, 5/10 -> 0.2366 to
    # 0.7634 (method 3, the Wilson score interval)
    zero = wilson_interval(0, 10)
    assert (zero.estimate, zero.lower) == (0.0, 0.0)
    assert zero.upper == pytest.approx(0.2775, abs=1e-4)
    half = wilson_interval(5, 10)
    assert (half.lower, half.upper) == pytest.approx((0.2366, 0.7634), abs=1e-4)


def test_wilson_stays_inside_zero_one_and_narrows_with_n() -> None:
    small, large = wilson_interval(7, 10), wilson_interval(700, 1000)
    assert 0.0 <= small.lower < 0.7 < small.upper <= 1.0
    assert large.upper - large.lower < small.upper - small.lower
    assert wilson_interval(10, 10).upper == 1.0
    assert wilson_interval(0, 0).upper == 1.0  # nothing asked: nothing known


def test_wilson_refuses_impossible_counts() -> None:
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_paired_difference_counts_discordant_pairs_and_is_antisymmetric() -> None:
    first = [True] * 6 + [True] * 4 + [False] * 1 + [False] * 9
    second = [True] * 6 + [False] * 4 + [True] * 1 + [False] * 9
    forward = paired_difference(first, second)
    assert forward.n == 20
    assert (forward.first_only, forward.second_only) == (4, 1)
    assert forward.interval.estimate == pytest.approx(3 / 20)
    assert forward.interval.lower < 3 / 20 < forward.interval.upper
    backward = paired_difference(second, first)
    assert backward.interval.estimate == pytest.approx(-3 / 20)
    assert backward.interval.lower == pytest.approx(-forward.interval.upper)
    assert backward.interval.upper == pytest.approx(-forward.interval.lower)


def test_paired_difference_of_identical_answers_is_zero_and_tight() -> None:
    flags = [True, False, True, True, False] * 10
    same = paired_difference(flags, flags)
    assert same.interval.estimate == 0.0
    assert same.interval.lower < 0.0 < same.interval.upper
    assert same.interval.upper - same.interval.lower < 0.2  # correlation narrows it


def test_paired_difference_excludes_zero_when_one_side_always_wins() -> None:
    first, second = [True] * 30, [False] * 30
    assert paired_difference(first, second).interval.lower > 0.5


def test_paired_difference_needs_equal_lengths() -> None:
    with pytest.raises(ValueError):
        paired_difference([True], [True, False])


def _result(qid: str, swarm: bool, majority: bool, nodes: dict[str, bool]) -> QuestionResult:
    return QuestionResult(
        id=qid,
        kind=qid.split(":")[0],
        question="?",
        gold="x",
        swarm_correct=swarm,
        majority_correct=majority,
        any_candidate_correct=swarm or majority or any(nodes.values()),
        node_answers={n: "a" for n in nodes},
        node_correct=nodes,
        judge_calls=6,
        seconds=2.0,
    )


def test_summary_has_the_results_json_fields() -> None:
    results = [
        _result("capital:a", True, False, {"n1": True, "n2": False}),
        _result("capital:b", True, True, {"n1": True, "n3": True}),
        _result("symbol:c", False, False, {"n2": False, "n3": False}),
        _result("symbol:d", True, False, {"n1": False, "n2": True}),
    ]
    summary = summarise_results(results, {"n1": "smollm2", "n2": "gemma"})
    assert summary["questions"] == 4
    accuracy = summary["accuracy"]
    assert (accuracy["swarm"], accuracy["majority"]) == (0.75, 0.25)
    assert accuracy["nodes"] == {"n1": pytest.approx(2 / 3), "n2": pytest.approx(1 / 3), "n3": 0.5}
    assert summary["best_single_node"] == "n1"
    assert accuracy["best_single"] == pytest.approx(2 / 3)
    assert summary["counts"]["best_single"] == {"correct": 2, "n": 3}
    assert summary["nodes"]["n1"]["model"] == "smollm2"
    difference = summary["paired_differences"]["swarm_minus_majority"]
    assert difference["estimate"] == pytest.approx(0.5)
    assert (difference["first_only"], difference["second_only"]) == (2, 0)
    assert summary["paired_differences"]["swarm_minus_best_single"]["n"] == 3
    assert summary["by_kind"]["capital"] == {
        "n": 2,
        "swarm": 1.0,
        "majority": 0.5,
        "any_candidate": 1.0,
    }
    assert summary["judge_calls_per_question"] == 6.0
    assert summary["seconds_per_question"] == 2.0
    for key, (low, high) in summary["intervals"].items():
        assert low <= accuracy[key] <= high


def test_summary_of_nothing_is_empty_not_an_error() -> None:
    summary = summarise_results([])
    assert summary["questions"] == 0
    assert summary["best_single_node"] == ""
    assert summary["judge_calls_per_question"] == 0.0


def test_best_node_breaks_ties_by_questions_then_id() -> None:
    nodes = {
        "b": {"estimate": 0.5, "n": 10},
        "a": {"estimate": 0.5, "n": 10},
        "c": {"estimate": 0.5, "n": 20},
    }
    assert best_node(nodes) == "c"
    del nodes["c"]
    assert best_node(nodes) == "a"
