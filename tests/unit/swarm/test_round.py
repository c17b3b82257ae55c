"""Pure round logic: deterministic selection, order-independent clustering."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.errors import RecordRejected
from node.round.aggregate import (
    MAX_EM_ILSR_STEPS,
    MAX_EM_ITERATIONS,
    aggregation_params,
    ballots_to_comparisons,
    check_parameters,
    round_outcome,
)
from node.round.clustering import cluster_candidates
from node.round.selection import select_participants
from node.round.settings import RoundSettings
from protocol.v1 import messages_pb2
from ranking import Comparisons, DisconnectedComparisons, aggregate


def test_selection_is_deterministic_and_order_independent() -> None:
    ids = [f"node{i:02d}" for i in range(20)]
    reps = [0.1 + 0.04 * i for i in range(20)]
    first = select_participants(ids, reps, b"q" * 16, b"h" * 32, 5, 7)
    again = select_participants(ids[::-1], reps[::-1], b"q" * 16, b"h" * 32, 5, 7)
    assert first == again
    assert len(first.generator_ids) == 5 and len(set(first.generator_ids)) == 5
    assert len(first.ranker_ids) == 7 and len(set(first.ranker_ids)) == 7
    other = select_participants(ids, reps, b"r" * 16, b"h" * 32, 5, 7)
    assert other != first  # the query id seeds the draw


def test_selection_weighted_by_reputation() -> None:
    ids = [f"n{i}" for i in range(10)]
    reps = [1.0] * 5 + [0.0] * 5
    counts = np.zeros(10)
    for q in range(400):
        sel = select_participants(ids, reps, q.to_bytes(16, "big"), b"", 3, 0)
        for g in sel.generator_ids:
            counts[ids.index(g)] += 1
    assert counts[:5].sum() > 5 * counts[5:].sum()
    assert counts[5:].sum() > 0  # the floor keeps low-reputation nodes in play


@settings(max_examples=50, deadline=None)
@given(st.permutations(["42", "The answer is 42.", "41", "43", "answer: 41"]))
def test_clustering_ignores_arrival_order(answers: list[str]) -> None:
    clusters = cluster_candidates(answers, [""] * len(answers), b"q" * 16)
    keys = [c.key for c in clusters]
    reference = cluster_candidates(
        ["42", "The answer is 42.", "41", "43", "answer: 41"], [""] * 5, b"q" * 16
    )
    assert keys == [c.key for c in reference]
    assert [c.answer for c in clusters] == [c.answer for c in reference]
    assert sorted(len(c.members) for c in clusters) == [1, 2, 2]


def test_without_clustering_only_exact_duplicates_merge() -> None:
    clusters = cluster_candidates(
        ["42", "42", "The answer is 42."], ["", "", ""], b"q", cluster=False
    )
    assert sorted(len(c.members) for c in clusters) == [1, 2]


def _ballot(ranker: str, verdicts: list[tuple[int, int, int]]) -> messages_pb2.Ballot:
    ballot = messages_pb2.Ballot(ranker_id=ranker)
    for a, b, outcome in verdicts:
        ballot.verdicts.add(a=a, b=b, outcome=outcome)  # type: ignore[arg-type]
    return ballot


def test_recorded_em_ilsr_steps_decides_the_recomputation() -> None:
    """A record made before ``em_ilsr_steps`` existed carries 0 and recomputes with a full
    refit per EM step; new records carry 1 (the default). The field, not the node's own
    default, decides which, so old ledgers still verify."""
    clusters = cluster_candidates(["A", "B", "C"], ["", "", ""], b"q" * 16, cluster=False)
    a, b = messages_pb2.OUTCOME_A, messages_pb2.OUTCOME_B
    ballots = [
        _ballot("r0", [(0, 1, a), (1, 2, a), (0, 2, a), (1, 0, b)]),
        _ballot("r1", [(0, 1, b), (1, 2, a), (2, 0, b), (2, 1, b)]),
        _ballot("r2", [(0, 1, a), (2, 1, a), (0, 2, b), (1, 0, b)]),
    ]
    # the robust BT winner (consensus 0): this test is about the aggregation's parameters
    new = RoundSettings(consensus=0).to_proto()
    old = RoundSettings(em_ilsr_steps=0, consensus=0).to_proto()
    assert new.em_ilsr_steps == 1 and old.em_ilsr_steps == 0
    outcomes = [round_outcome(clusters, ballots, [1.0] * 3, [-1] * 3, p) for p in (new, old)]
    for params, outcome in zip((new, old), outcomes, strict=True):
        expected = aggregate(
            Comparisons.from_lists(*ballots_to_comparisons(ballots)[:4]),
            3,
            np.ones(3),
            own_item=np.full(3, -1),
            params=aggregation_params(params),
            tie_break=[c.content_hash for c in clusters],
        )
        assert list(outcome.strengths) == [float(x) for x in expected.strengths]
    assert list(outcomes[0].strengths) != list(outcomes[1].strengths)


def test_round_settings_refuse_parameters_members_would_reject() -> None:
    with pytest.raises(ValueError, match="em_iterations"):
        RoundSettings(em_iterations=MAX_EM_ITERATIONS + 1)
    with pytest.raises(ValueError, match="em_ilsr_steps"):
        RoundSettings(em_ilsr_steps=MAX_EM_ILSR_STEPS + 1)
    with pytest.raises(ValueError, match="alpha"):
        RoundSettings(alpha=float("nan"))
    for field, value in [
        ("em_iterations", 10**9),
        ("em_ilsr_steps", 10**9),
        ("schedule", "bogus"),
        ("alpha", -1.0),
        ("max_ranker_share", 0.0),
        ("confidence_level", 1.0),
    ]:
        params = RoundSettings().to_proto()
        setattr(params, field, value)
        with pytest.raises(RecordRejected, match=r"query\.parameters") as exc:
            check_parameters(params)
        assert exc.value.field == "query.parameters"
    random_k = RoundSettings(schedule="random-k", schedule_k=4).to_proto()
    assert check_parameters(random_k).em_ilsr_steps == 1
    random_k.schedule_k = 0
    with pytest.raises(RecordRejected, match="schedule_k"):
        check_parameters(random_k)


def test_the_core_refuses_alpha_zero_with_an_unbeaten_answer() -> None:
    """``alpha = 0`` with a unanimous winner: no maximum-likelihood strengths exist (a leader
    gets RoundFailed and a member RecordRejected: tests/integration/test_round_failures.py)."""
    clusters = cluster_candidates(["A", "B"], ["", ""], b"q" * 16, cluster=False)
    a = messages_pb2.OUTCOME_A
    ballots = [_ballot("r0", [(0, 1, a)]), _ballot("r1", [(0, 1, a)])]
    params = RoundSettings().to_proto()
    params.alpha = 0.0
    check_parameters(params)  # alpha = 0 is a valid parameter in general
    with pytest.raises(DisconnectedComparisons):
        round_outcome(clusters, ballots, [1.0, 1.0], [-1, -1], params)
