"""Baselines behind the shared result type, Comparisons validation, and the public API."""

from __future__ import annotations

import numpy as np
import pytest

import ranking
from ranking import (
    OUTCOME_TIE,
    Comparisons,
    InvalidComparisons,
    InvalidParameters,
    NoComparisons,
    RankingError,
    aggregate_plain,
    borda_count,
    majority_vote,
)


def test_majority_vote_biggest_cluster_wins_with_deterministic_tie_break() -> None:
    result = majority_vote(["42", "7", "42", "7", None, "3"])
    assert result.method == "majority"
    assert result.tied_for_first.tolist() == [0, 1, 2, 3]
    assert result.winner == 0
    assert result.unjudged.tolist() == [4]
    assert result.strengths[0] == pytest.approx(0.4)
    assert majority_vote(["42", "7", "42", "7"], tie_break=["d", "a", "c", "b"]).winner == 1
    assert majority_vote(["x", "y", "y"]).winner == 1
    with pytest.raises(NoComparisons):
        majority_vote([None, None])


def test_borda_and_plain() -> None:
    c = Comparisons.from_lists(
        a=[0, 0, 1, 2], b=[1, 2, 2, 0], outcome=[0, 0, 0, OUTCOME_TIE], ranker=[0, 1, 2, 3]
    )
    borda = borda_count(c, 4)
    np.testing.assert_allclose(borda.strengths, [2.5 / 3, 0.5, 0.5 / 3, 0.0])
    assert borda.winner == 0 and borda.unjudged.tolist() == [3] and borda.method == "borda"
    plain = aggregate_plain(c, 4)
    assert plain.winner == 0 and plain.method == "plain-bt"
    np.testing.assert_array_equal(plain.ranker_weights, [1.0, 1.0, 1.0, 1.0])
    with pytest.raises(NoComparisons):
        borda_count(Comparisons.from_pairs(np.zeros((0, 2))), 3)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"a": [0, 1], "b": [1], "outcome": [0], "ranker": [0], "confidence": [np.nan]},
        {"a": [0], "b": [0], "outcome": [0], "ranker": [0], "confidence": [np.nan]},
        {"a": [-1], "b": [0], "outcome": [0], "ranker": [0], "confidence": [np.nan]},
        {"a": [0], "b": [1], "outcome": [3], "ranker": [0], "confidence": [np.nan]},
        {"a": [0], "b": [1], "outcome": [0], "ranker": [-2], "confidence": [np.nan]},
        {"a": [0], "b": [1], "outcome": [0], "ranker": [0], "confidence": [1.5]},
        {"a": [0.5], "b": [1], "outcome": [0], "ranker": [0], "confidence": [np.nan]},
        {"a": [[0]], "b": [1], "outcome": [0], "ranker": [0], "confidence": [np.nan]},
    ],
)
def test_comparisons_validation(kwargs: dict[str, list[float]]) -> None:
    with pytest.raises(InvalidComparisons):
        Comparisons(**{k: np.asarray(v) for k, v in kwargs.items()})  # type: ignore[arg-type]


def test_comparisons_are_immutable_copies() -> None:
    a = np.array([0, 1])
    c = Comparisons.from_lists(a, [1, 2], [0, 1])
    a[0] = 5
    assert c.a[0] == 0
    with pytest.raises(ValueError):
        c.a[0] = 3
    assert c.outcome.dtype == np.int8 and c.ranker.dtype == np.int64 and len(c) == 2


def test_error_tree() -> None:
    for name in (
        "InvalidComparisons",
        "InvalidParameters",
        "NoComparisons",
        "NotConverged",
        "DisconnectedComparisons",
    ):
        assert issubclass(getattr(ranking, name), RankingError)
    assert issubclass(RankingError, ValueError)
    with pytest.raises(InvalidParameters):
        ranking.AggregationParams(max_ranker_share=0.0)


def test_public_api_listed() -> None:
    for name in ranking.__all__:
        assert getattr(ranking, name) is not None
    assert ranking.OUTCOME_A == 0 and ranking.OUTCOME_B == 1 and ranking.OUTCOME_TIE == 2
