"""The rules versions of records (:mod:`node.round.rules`): the absence streaks that keep one
leader's word from costing reputation, and the selection seed a leader cannot grind."""

from __future__ import annotations

from node.round.rules import ABSENCE_LEADERS, absence_penalties
from node.round.selection import select_participants, selection_seed

IDS = [f"{i:032x}" for i in range(8)]
REPUTATIONS = [0.5] * 8


def test_one_leader_alone_never_gets_a_node_penalised() -> None:
    absences: dict[str, frozenset[str]] = {}
    for _ in range(20):
        penalised, absences = absence_penalties(absences, "leader-a", ["victim"], ["other"])
        assert penalised == []
    assert absences == {"victim": frozenset({"leader-a"})}


def test_distinct_leaders_penalise_once_then_the_streak_starts_afresh() -> None:
    assert ABSENCE_LEADERS == 2
    penalised, absences = absence_penalties({}, "leader-a", ["lazy"], [])
    assert penalised == []
    penalised, absences = absence_penalties(absences, "leader-b", ["lazy"], [])
    assert penalised == ["lazy"] and "lazy" not in absences
    penalised, absences = absence_penalties(absences, "leader-a", ["lazy"], [])
    assert penalised == []


def test_an_answer_clears_the_streak() -> None:
    _, absences = absence_penalties({}, "leader-a", ["node"], [])
    _, absences = absence_penalties(absences, "leader-c", [], ["node"])
    assert absences == {}
    penalised, _ = absence_penalties(absences, "leader-b", ["node"], [])
    assert penalised == []


def test_from_rules_1_the_query_id_does_not_seed_the_selection() -> None:
    head = b"h" * 32
    ground = {
        select_participants(IDS, REPUTATIONS, q.to_bytes(16, "big"), head, 3, 8, height=5, rules=1)
        for q in range(50)
    }
    assert len(ground) == 1
    old = {
        select_participants(IDS, REPUTATIONS, q.to_bytes(16, "big"), head, 3, 8, rules=0)
        for q in range(50)
    }
    assert len(old) > 10
    # The opened position does move it.
    assert selection_seed(b"q", head, 5, 1) != selection_seed(b"q", head, 6, 1)
    assert selection_seed(b"q", head, 5, 1) == selection_seed(b"r", head, 5, 1)
