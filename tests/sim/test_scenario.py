"""Scenario validation: unknown keys and bad values raise typed errors naming the key;
overrides and sweep parameters."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.errors import BadValue, MissingKey, ScenarioError, SweepError, UnknownKey
from sim.scenario import NODE_GOLD_FRACTION, apply_override, parse_param, parse_scenario

BASE: dict[str, Any] = {
    "name": "t",
    "seed": 1,
    "rounds": 10,
    "swarm": {"nodes": 10, "generators": 5, "rankers": 5, "schedule": "3n", "gold_fraction": 0.1},
    "tasks": {
        "options": 4,
        "difficulty": {"mean": 0.0, "sd": 1.0},
        "distractor_concentration": 0.5,
    },
    "nodes": [
        {"name": "honest", "behaviour": "honest"},
        {"name": "clique", "behaviour": "clique", "fraction": 0.2, "stealth": True},
    ],
}


def edited(path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(BASE)
    target: Any = data
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if value is KeyError:
        del target[last]
    else:
        target[last] = value
    return data


def test_base_is_valid() -> None:
    scenario = parse_scenario(BASE)
    assert scenario.group_sizes == (8, 2)
    assert scenario.adversary_fraction == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("path", "value", "error", "key"),
    [
        ("colour", "red", UnknownKey, "colour"),
        ("swarm.rankerz", 3, UnknownKey, "swarm.rankerz"),
        ("tasks.difficulty.median", 1, UnknownKey, "tasks.difficulty.median"),
        ("nodes.0.skill", 1, UnknownKey, "nodes[0].skill"),
        ("rounds", KeyError, MissingKey, "rounds"),
        ("swarm.nodes", KeyError, MissingKey, "swarm.nodes"),
        ("rounds", 0, BadValue, "rounds"),
        ("rounds", "many", BadValue, "rounds"),
        ("seed", -1, BadValue, "seed"),
        ("swarm.generators", 11, BadValue, "swarm.generators"),
        ("swarm.schedule", "all", BadValue, "swarm.schedule"),
        ("swarm.k", 3, BadValue, "swarm.k"),
        ("swarm.gold_fraction", 1.5, BadValue, "swarm.gold_fraction"),
        ("tasks.options", 1, BadValue, "tasks.options"),
        ("tasks.difficulty.sd", -1, BadValue, "tasks.difficulty.sd"),
        ("tasks.distractor_concentration", True, BadValue, "tasks.distractor_concentration"),
        ("nodes.1.behaviour", "evil", BadValue, "nodes[1].behaviour"),
        ("nodes.1.fraction", 2.0, BadValue, "nodes[1].fraction"),
        ("nodes.1.position_bias", -3, BadValue, "nodes[1].position_bias"),
        ("nodes.0.stealth", True, BadValue, "nodes[0].stealth"),  # honest has no stealth
        ("nodes.1.start_round", 3, BadValue, "nodes[1].start_round"),  # farmers only
        ("nodes.1.name", "honest", BadValue, "nodes[1].name"),
        ("nodes.0.count", 3, BadValue, "swarm.nodes"),  # 3 + 2 != 10
        ("nodes", [], BadValue, "nodes"),
        ("tasks.judging_ease", "high", BadValue, "tasks.judging_ease"),
        ("tasks.judging_ease", 11.0, BadValue, "tasks.judging_ease"),
        ("tasks.judge_correlation", -0.5, BadValue, "tasks.judge_correlation"),
        ("tasks.persuasiveness", 1.0, BadValue, "tasks.persuasiveness"),
        ("tasks.persuasiveness", {"mean": 0, "sd": -1}, BadValue, "tasks.persuasiveness.sd"),
        ("swarm.gold_detection", 1.5, BadValue, "swarm.gold_detection"),
        ("tasks.answer_split", -0.1, BadValue, "tasks.answer_split"),
        ("swarm.trust", "on", BadValue, "swarm.trust"),
        ("swarm.probation_rounds", -1, BadValue, "swarm.probation_rounds"),
        ("nodes.0.gold_aware", True, BadValue, "nodes[0].gold_aware"),  # honest: no such option
        ("nodes.1.gold_aware", 1, BadValue, "nodes[1].gold_aware"),
        ("nodes.1.min_ranker_share", 0.5, BadValue, "nodes[1].min_ranker_share"),  # needs opp.
        ("nodes.1.patience", -2, BadValue, "nodes[1].patience"),
        ("nodes.1.grind", 1.5, BadValue, "nodes[1].grind"),
        ("nodes.0.inflate_confidence", True, BadValue, "nodes[0].inflate_confidence"),
        ("nodes.1.abstain_when_losing", "yes", BadValue, "nodes[1].abstain_when_losing"),
    ],
)
def test_errors_name_the_key(path: str, value: Any, error: type[ScenarioError], key: str) -> None:
    with pytest.raises(error) as info:
        parse_scenario(edited(path, value))
    assert info.value.key == key
    assert str(info.value).startswith(key + ":")


def test_random_k_needs_k() -> None:
    with pytest.raises(MissingKey, match=r"swarm\.k"):
        parse_scenario(edited("swarm.schedule", "random-k"))
    data = edited("swarm.schedule", "random-k")
    data["swarm"]["k"] = 4
    assert parse_scenario(data).swarm.k == 4


def test_overrides_reach_groups_and_tables() -> None:
    data = apply_override(BASE, "nodes.clique.fraction", 0.5)
    data = apply_override(data, "tasks.difficulty.mean", 2.0)
    data = apply_override(data, "swarm.rankers", 7)
    scenario = parse_scenario(data)
    assert scenario.group_sizes == (5, 5)
    assert scenario.tasks.difficulty.mean == 2.0 and scenario.swarm.rankers == 7
    assert BASE["nodes"][1]["fraction"] == 0.2  # the original is untouched
    with pytest.raises(SweepError, match="no single group"):
        apply_override(BASE, "nodes.sybil.fraction", 0.1)


def test_parse_param() -> None:
    assert parse_param("nodes.clique.fraction=0,0.1, 0.2") == (
        "nodes.clique.fraction",
        [0, 0.1, 0.2],
    )
    assert parse_param('swarm.schedule="full",3n') == ("swarm.schedule", ["full", "3n"])
    for bad in ("nodes.clique.fraction", "=1", "x=", "x=1,,2"):
        with pytest.raises(SweepError):
            parse_param(bad)


def test_defaults_are_the_nodes() -> None:
    """Without the keys a scenario runs gold, trust and fresh reputations as a default node
    does, and judges get no built-in advantage."""
    data = copy.deepcopy(BASE)
    del data["swarm"]["gold_fraction"]
    scenario = parse_scenario(data)
    assert scenario.swarm.gold_fraction == NODE_GOLD_FRACTION == 0.1
    assert scenario.swarm.trust is False and scenario.swarm.probation_reputation == 0.5
    assert scenario.tasks.judging_ease == 0.0 and scenario.tasks.judge_correlation == 1.0


def test_adaptive_options_parse() -> None:
    data = copy.deepcopy(BASE)
    data["nodes"][1].update(
        {
            "gold_aware": True,
            "opportunistic": True,
            "min_ranker_share": 0.4,
            "inflate_confidence": True,
            "abstain_when_losing": True,
            "patience": 30,
            "grind": 8,
        }
    )
    group = parse_scenario(data).groups[1]
    assert (group.gold_aware, group.opportunistic, group.min_ranker_share) == (True, True, 0.4)
    assert (group.inflate_confidence, group.abstain_when_losing) == (True, True)
    assert (group.patience, group.grind) == (30, 8)
