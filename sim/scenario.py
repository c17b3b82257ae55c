"""Scenario files: the TOML schema, its validation, and dotted-path overrides for sweeps.

This module owns :class:`Scenario` (with :class:`SwarmSpec`, :class:`TaskSpec`,
:class:`GroupSpec`, :class:`Normal`), :func:`load_scenario` / :func:`parse_scenario`
(TOML -> validated frozen dataclasses), :func:`scenario_to_dict` (the inverse, recorded in
``results.json``) and :func:`apply_override` (``nodes.clique.fraction=0.2``).

Schema (unknown keys and bad values raise :class:`~sim.errors.ScenarioError` naming the key)::

    name = "paper-like"          # str, required
    seed = 42                    # int >= 0, default 0
    rounds = 500                 # int >= 1, required

    [swarm]
    nodes = 35                   # int >= 2, required: the population size
    generators = 35              # int >= 1: candidates per round (G), <= nodes
    rankers = 35                 # int >= 1: judges per round (R), <= nodes
    schedule = "3n"              # "full" | "3n" | "random-k" | "adaptive"
    k = 6                        # int >= 1, pairs per ranker; required with "random-k" only
    judge_budget = 66            # int >= 1, most judge calls per round; required with
                                 #   "adaptive" only (waves until separated, ranking.adaptive)
    gold_fraction = 0.1          # [0, 1]: rounds whose truth anchors reputation and teaches the
                                 #   calibrated consensus; default the node's own
                                 #   (NODE_GOLD_FRACTION: round_gold_fraction = 0.1)
    contested_gold = 0.3         # [0, 1]: extra chance that a contested round (the top two
                                 #   clusters' vote shares within contested_margin) is followed
                                 #   by gold, when gold_fraction > 0 (the node's
                                 #   NODE_CONTESTED_GOLD: round_contested_gold)
    contested_margin = 0.2       # (0, 1]: what counts as contested (NODE_CONTESTED_MARGIN)
    gold_detection = 1.0         # [0, 1]: chance a gold round is recognisable as gold (1: the
                                 #   node's generated questions differ in kind from live ones;
                                 #   lower: a bank that looks like live traffic)
    cluster = true               # merge identical normalised answers before judging
    trust = false                # admission exams and weight caps (the node's trust_mode;
                                 #   default "off" as on the node)
    probation_reputation = 0.5   # start reputation of fresh identities (the node's ledger gives
                                 #   unseen ids DEFAULT_REPUTATION = 0.5)
    probation_rounds = 1000      # trust on: heights a fresh identity stays weight-capped
    calibration_pass = 17        # trust on: judging challenges out of calibration_size a fresh
    calibration_size = 20        #   node must pass before it is selected

    [tasks]
    options = 4                  # int >= 2: answers per task, one correct
    difficulty = { mean = 0.0, sd = 1.0 }
    distractor_concentration = 0.5  # [0, 1]: wrong answers piling onto the popular distractor
    judging_ease = 0.0           # logits judges get over generators (the node's sim backend and
                                 #   the simulator before issue 21 used a built-in 1.0)
    persuasiveness = { mean = 0.0, sd = 1.0 }  # per task, logits: pulls wrong generators to the
                                 #   popular distractor and judges towards it (one draw, both)
    answer_split = 0.0           # [0, 1]: chance a correct candidate's text does not normalise to
                                 #   the canonical answer and forms its own cluster (0: option
                                 #   letters, which the node's normaliser merges exactly)
    judge_correlation = 1.0      # logits tying a ranker's judging to its own answer: worse when
                                 #   that is wrong, better when right, centred (sim.judging)

    [[nodes]]                    # one or more groups
    name = "clique"              # str, default: the behaviour; unique; used by sweep paths
    behaviour = "clique"         # see BEHAVIOURS
    fraction = 0.2               # or count = 7; at most one group may give neither (the rest)
    generation_skill = { mean = 1.0, sd = 0.5 }
    judging_skill = { mean = 1.0, sd = 0.5 }
    position_bias = 0.0          # [-1, 1]
    error_correlation = 0.5      # [0, 1], default tasks.distractor_concentration
    fresh = false                # a new identity: probation and calibration (sybil: true)
    # behaviour options (only with the behaviour that reads them):
    mode = "coin"                # lazy: "coin" | "always-a"
    stealth = false              # clique, sybil, farmer: honest except for the target's pairs
    start_round = 100            # farmer: first attacking round
    success_probability = 0.5    # injector: chance a susceptible judge is swayed
    susceptible_fraction = 0.5   # injector: share of other judges that are susceptible
    miss_probability = 0.5       # slow: chance of missing a round's deadline
    # adaptive options (clique, sybil, farmer, injector; see ADAPTIVE_OPTIONS):
    gold_aware = false           # plays honest on gold rounds it recognises (gold_detection)
    opportunistic = false        # attacks only when the team holds min_ranker_share of rankers
    min_ranker_share = 0.3       #   opportunistic: the share of the round's rankers it needs
    inflate_confidence = false   # states confidence 1.0 on every verdict (also inverted,
                                 #   self-promoting)
    abstain_when_losing = false  # abstains, instead of voting, where its own judgement goes
                                 #   against the team's answer
    exploit_sign = false         # judges *against* the team's answer while the swarm's judge
                                 #   weight is negative (rules 4), for it otherwise
    patience = 0                 # rounds after admission spent honest before attacking
    grind = 0                    # as leader, tries this many query ids and keeps the selection
                                 #   with the most team rankers (0: no grinding)
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from sim.errors import BadValue, MissingKey, ScenarioError, SweepError, UnknownKey

__all__ = [
    "ADAPTIVE_OPTIONS",
    "ADVERSARIAL",
    "BEHAVIOURS",
    "NODE_CONTESTED_GOLD",
    "NODE_CONTESTED_MARGIN",
    "NODE_GOLD_FRACTION",
    "GroupSpec",
    "Normal",
    "Scenario",
    "SwarmSpec",
    "TaskSpec",
    "apply_override",
    "load_scenario",
    "parse_scenario",
    "scenario_to_dict",
]

BEHAVIOURS = (
    "honest",
    "lazy",
    "inverted",
    "self-promoting",
    "clique",
    "sybil",
    "farmer",
    "injector",
    "dead",
    "slow",
)
#: Behaviours whose nodes count as adversaries (reputation share, capture rate).
ADVERSARIAL = frozenset({"inverted", "self-promoting", "clique", "sybil", "farmer", "injector"})
SCHEDULES = ("full", "3n", "random-k", "adaptive")
#: The node daemon's gold fraction default (``NodeConfig.round_gold_fraction``; a test keeps
#: them equal): a scenario without
#: ``swarm.gold_fraction`` runs gold as a default node does: one live round in ten is followed
#: by a blind gold round, which is what the calibrated consensus learns from (issue 12).
NODE_GOLD_FRACTION = 0.1
#: The node's extra gold after a contested round (``NodeConfig.round_contested_gold``) and
#: what counts as contested (``round_contested_margin``): see :mod:`node.round.consensus`.
NODE_CONTESTED_GOLD = 0.3
NODE_CONTESTED_MARGIN = 0.2
#: The node's trust default (``NodeConfig.trust_mode = "off"``).
NODE_TRUST = False

_TEAM = frozenset({"clique", "sybil", "farmer", "injector"})
#: Adaptive adversary options and the behaviours that read them.
ADAPTIVE_OPTIONS: dict[str, frozenset[str]] = {
    "gold_aware": _TEAM,
    "opportunistic": _TEAM,
    "min_ranker_share": _TEAM,
    "inflate_confidence": _TEAM | {"inverted", "self-promoting"},
    "abstain_when_losing": _TEAM,
    "exploit_sign": _TEAM,
    "patience": _TEAM,
    "grind": _TEAM,
}

# behaviour option -> behaviours that read it
_BEHAVIOUR_OPTIONS: dict[str, frozenset[str]] = {
    "mode": frozenset({"lazy"}),
    "stealth": frozenset({"clique", "sybil", "farmer"}),
    "start_round": frozenset({"farmer"}),
    "success_probability": frozenset({"injector"}),
    "susceptible_fraction": frozenset({"injector"}),
    "miss_probability": frozenset({"slow"}),
    **ADAPTIVE_OPTIONS,
}


@dataclass(frozen=True)
class Normal:
    """A normal distribution ``{mean, sd}``."""

    mean: float
    sd: float


@dataclass(frozen=True)
class SwarmSpec:
    """The ``[swarm]`` table: population, selection, schedule and admission."""

    nodes: int
    generators: int
    rankers: int
    schedule: str = "3n"
    k: int | None = None
    judge_budget: int | None = None
    gold_fraction: float = NODE_GOLD_FRACTION
    contested_gold: float = NODE_CONTESTED_GOLD
    contested_margin: float = NODE_CONTESTED_MARGIN
    gold_detection: float = 1.0
    cluster: bool = True
    trust: bool = NODE_TRUST
    probation_reputation: float = 0.5
    probation_rounds: int = 1000
    calibration_pass: int = 17
    calibration_size: int = 20


@dataclass(frozen=True)
class TaskSpec:
    """The ``[tasks]`` table: the synthetic task distribution."""

    options: int = 4
    difficulty: Normal = Normal(0.0, 1.0)
    distractor_concentration: float = 0.5
    judging_ease: float = 0.0
    persuasiveness: Normal = Normal(0.0, 1.0)
    judge_correlation: float = 1.0
    answer_split: float = 0.0


@dataclass(frozen=True)
class GroupSpec:
    """One ``[[nodes]]`` group."""

    name: str
    behaviour: str
    count: int | None = None
    fraction: float | None = None
    generation_skill: Normal = Normal(1.0, 0.5)
    judging_skill: Normal = Normal(1.0, 0.5)
    position_bias: float = 0.0
    error_correlation: float | None = None
    fresh: bool | None = None
    mode: str = "coin"
    stealth: bool = False
    start_round: int = 0
    success_probability: float = 0.5
    susceptible_fraction: float = 0.5
    miss_probability: float = 0.5
    gold_aware: bool = False
    opportunistic: bool = False
    min_ranker_share: float = 0.3
    inflate_confidence: bool = False
    abstain_when_losing: bool = False
    exploit_sign: bool = False
    patience: int = 0
    grind: int = 0

    @property
    def adversarial(self) -> bool:
        """Whether this group's nodes count as adversaries."""
        return self.behaviour in ADVERSARIAL

    @property
    def is_fresh(self) -> bool:
        """Fresh identities go through probation and calibration (Sybils by default)."""
        return self.behaviour == "sybil" if self.fresh is None else self.fresh


@dataclass(frozen=True)
class Scenario:
    """A validated scenario; :attr:`group_sizes` are the resolved node counts per group."""

    name: str
    seed: int
    rounds: int
    swarm: SwarmSpec
    tasks: TaskSpec
    groups: tuple[GroupSpec, ...]
    group_sizes: tuple[int, ...]

    @property
    def adversary_fraction(self) -> float:
        """Share of the population in adversarial groups."""
        adversaries = sum(
            size
            for group, size in zip(self.groups, self.group_sizes, strict=True)
            if group.adversarial
        )
        return adversaries / self.swarm.nodes


def load_scenario(path: str | Path, overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Read, override and validate a scenario file.

    Raises
    ------
    ScenarioError
        For a file that is not valid TOML (key ``"<file>"``) or breaks the schema.
    """
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BadValue("<file>", f"{path} is not valid TOML: {exc}") from exc
    except OSError as exc:
        raise BadValue("<file>", f"cannot read {path}: {exc.strerror}") from exc
    for path_key, value in (overrides or {}).items():
        data = apply_override(data, path_key, value)
    return parse_scenario(data)


# --------------------------------------------------------------------------------------------
# Validation helpers


def _check_keys(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    for key in table:
        if key not in allowed:
            path = f"{where}.{key}" if where else key
            raise UnknownKey(path, f"unknown key (allowed: {', '.join(sorted(allowed))})")


def _table(data: Mapping[str, Any], key: str, where: str, required: bool) -> Mapping[str, Any]:
    path = f"{where}.{key}" if where else key
    if key not in data:
        if required:
            raise MissingKey(path, "required table is missing")
        return {}
    value = data[key]
    if not isinstance(value, Mapping):
        raise BadValue(path, f"must be a table, got {type(value).__name__}")
    return value


def _int(data: Mapping[str, Any], key: str, where: str, default: int | None, low: int = 0) -> int:
    path = f"{where}.{key}" if where else key
    if key not in data:
        if default is None:
            raise MissingKey(path, "required")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadValue(path, f"must be an integer, got {value!r}")
    if value < low:
        raise BadValue(path, f"must be >= {low}, got {value}")
    return value


def _float(
    data: Mapping[str, Any],
    key: str,
    where: str,
    default: float | None,
    low: float = -math.inf,
    high: float = math.inf,
) -> float:
    path = f"{where}.{key}" if where else key
    if key not in data:
        if default is None:
            raise MissingKey(path, "required")
        return default
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadValue(path, f"must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise BadValue(path, f"must be in [{low}, {high}], got {value!r}")
    return number


def _bool(data: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
    if key not in data:
        return default
    value = data[key]
    if not isinstance(value, bool):
        raise BadValue(f"{where}.{key}", f"must be true or false, got {value!r}")
    return value


def _choice(
    data: Mapping[str, Any], key: str, where: str, default: str | None, allowed: tuple[str, ...]
) -> str:
    path = f"{where}.{key}" if where else key
    if key not in data:
        if default is None:
            raise MissingKey(path, f"required, one of {', '.join(allowed)}")
        return default
    value = data[key]
    if value not in allowed:
        raise BadValue(path, f"must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _normal(data: Mapping[str, Any], key: str, where: str, default: Normal) -> Normal:
    path = f"{where}.{key}"
    if key not in data:
        return default
    table = _table(data, key, where, required=True)
    _check_keys(table, {"mean", "sd"}, path)
    return Normal(
        mean=_float(table, "mean", path, default.mean, -50.0, 50.0),
        sd=_float(table, "sd", path, default.sd, 0.0, 50.0),
    )


def parse_scenario(data: Mapping[str, Any]) -> Scenario:
    """Validate a scenario mapping (as read from TOML) into a :class:`Scenario`.

    Raises
    ------
    ScenarioError
        :class:`UnknownKey`, :class:`MissingKey` or :class:`BadValue`, naming the key.
    """
    _check_keys(data, {"name", "seed", "rounds", "swarm", "tasks", "nodes"}, "")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise (MissingKey if name is None else BadValue)("name", "must be a non-empty string")
    seed = _int(data, "seed", "", 0, 0)
    rounds = _int(data, "rounds", "", None, 1)

    raw_swarm = _table(data, "swarm", "", required=True)
    _check_keys(raw_swarm, {f.name for f in fields(SwarmSpec)}, "swarm")
    nodes = _int(raw_swarm, "nodes", "swarm", None, 2)
    schedule = _choice(raw_swarm, "schedule", "swarm", "3n", SCHEDULES)
    if schedule == "random-k":
        k: int | None = _int(raw_swarm, "k", "swarm", None, 1)
    elif "k" in raw_swarm:
        raise BadValue("swarm.k", f'only used with schedule = "random-k", not {schedule!r}')
    else:
        k = None
    if schedule == "adaptive":
        judge_budget: int | None = _int(raw_swarm, "judge_budget", "swarm", None, 1)
    elif "judge_budget" in raw_swarm:
        raise BadValue(
            "swarm.judge_budget", f'only used with schedule = "adaptive", not {schedule!r}'
        )
    else:
        judge_budget = None
    generators = _int(raw_swarm, "generators", "swarm", min(nodes, 35), 1)
    rankers = _int(raw_swarm, "rankers", "swarm", min(nodes, 35), 1)
    for key, value in (("generators", generators), ("rankers", rankers)):
        if value > nodes:
            raise BadValue(f"swarm.{key}", f"must be <= swarm.nodes ({nodes}), got {value}")
    calibration_size = _int(raw_swarm, "calibration_size", "swarm", 20, 0)
    calibration_pass = _int(raw_swarm, "calibration_pass", "swarm", 17, 0)
    if calibration_pass > calibration_size:
        raise BadValue(
            "swarm.calibration_pass",
            f"must be <= swarm.calibration_size ({calibration_size}), got {calibration_pass}",
        )
    swarm = SwarmSpec(
        nodes=nodes,
        generators=generators,
        rankers=rankers,
        schedule=schedule,
        k=k,
        judge_budget=judge_budget,
        gold_fraction=_float(raw_swarm, "gold_fraction", "swarm", NODE_GOLD_FRACTION, 0.0, 1.0),
        contested_gold=_float(raw_swarm, "contested_gold", "swarm", NODE_CONTESTED_GOLD, 0.0, 1.0),
        contested_margin=_float(
            raw_swarm, "contested_margin", "swarm", NODE_CONTESTED_MARGIN, 1e-9, 1.0
        ),
        gold_detection=_float(raw_swarm, "gold_detection", "swarm", 1.0, 0.0, 1.0),
        cluster=_bool(raw_swarm, "cluster", "swarm", True),
        trust=_bool(raw_swarm, "trust", "swarm", NODE_TRUST),
        probation_reputation=_float(raw_swarm, "probation_reputation", "swarm", 0.5, 0.0, 1.0),
        probation_rounds=_int(raw_swarm, "probation_rounds", "swarm", 1000, 0),
        calibration_pass=calibration_pass,
        calibration_size=calibration_size,
    )

    raw_tasks = _table(data, "tasks", "", required=False)
    _check_keys(raw_tasks, {f.name for f in fields(TaskSpec)}, "tasks")
    tasks = TaskSpec(
        options=_int(raw_tasks, "options", "tasks", 4, 2),
        difficulty=_normal(raw_tasks, "difficulty", "tasks", Normal(0.0, 1.0)),
        distractor_concentration=_float(
            raw_tasks, "distractor_concentration", "tasks", 0.5, 0.0, 1.0
        ),
        judging_ease=_float(raw_tasks, "judging_ease", "tasks", 0.0, -10.0, 10.0),
        persuasiveness=_normal(raw_tasks, "persuasiveness", "tasks", Normal(0.0, 1.0)),
        judge_correlation=_float(raw_tasks, "judge_correlation", "tasks", 1.0, 0.0, 10.0),
        answer_split=_float(raw_tasks, "answer_split", "tasks", 0.0, 0.0, 1.0),
    )
    if tasks.options > 26:
        raise BadValue("tasks.options", f"must be <= 26, got {tasks.options}")

    raw_groups = data.get("nodes")
    if raw_groups is None:
        raise MissingKey("nodes", "at least one [[nodes]] group is required")
    if not isinstance(raw_groups, list) or not raw_groups:
        raise BadValue("nodes", "must be a non-empty array of tables ([[nodes]])")
    groups = tuple(_parse_group(raw, i, rounds) for i, raw in enumerate(raw_groups))
    seen: set[str] = set()
    for i, group in enumerate(groups):
        if group.name in seen:
            raise BadValue(f"nodes[{i}].name", f"duplicate group name {group.name!r}")
        seen.add(group.name)
    sizes = _resolve_sizes(groups, nodes)
    return Scenario(
        name=name.strip(),
        seed=seed,
        rounds=rounds,
        swarm=swarm,
        tasks=tasks,
        groups=groups,
        group_sizes=sizes,
    )


def _parse_group(raw: Any, index: int, rounds: int) -> GroupSpec:
    where = f"nodes[{index}]"
    if not isinstance(raw, Mapping):
        raise BadValue(where, "must be a table")
    _check_keys(raw, {f.name for f in fields(GroupSpec)}, where)
    behaviour = _choice(raw, "behaviour", where, None, BEHAVIOURS)
    for option, users in _BEHAVIOUR_OPTIONS.items():
        if option in raw and behaviour not in users:
            raise BadValue(
                f"{where}.{option}",
                f"is an option of {', '.join(sorted(users))}, not of {behaviour!r}",
            )
    if "count" in raw and "fraction" in raw:
        raise BadValue(f"{where}.count", "give count or fraction, not both")
    name = raw.get("name", behaviour)
    if not isinstance(name, str) or not name or "." in name or "=" in name:
        raise BadValue(f"{where}.name", f"must be a non-empty string without '.' or '=': {name!r}")
    fresh = raw.get("fresh")
    if fresh is not None and not isinstance(fresh, bool):
        raise BadValue(f"{where}.fresh", f"must be true or false, got {fresh!r}")
    if "min_ranker_share" in raw and raw.get("opportunistic") is not True:
        raise BadValue(f"{where}.min_ranker_share", "only used with opportunistic = true")
    start_round = _int(raw, "start_round", where, 0, 0)
    if start_round >= rounds and behaviour == "farmer":
        raise BadValue(f"{where}.start_round", f"must be < rounds ({rounds}), got {start_round}")
    return GroupSpec(
        name=name,
        behaviour=behaviour,
        count=_int(raw, "count", where, 0, 0) if "count" in raw else None,
        fraction=_float(raw, "fraction", where, 0.0, 0.0, 1.0) if "fraction" in raw else None,
        generation_skill=_normal(raw, "generation_skill", where, Normal(1.0, 0.5)),
        judging_skill=_normal(raw, "judging_skill", where, Normal(1.0, 0.5)),
        position_bias=_float(raw, "position_bias", where, 0.0, -1.0, 1.0),
        error_correlation=(
            _float(raw, "error_correlation", where, 0.0, 0.0, 1.0)
            if "error_correlation" in raw
            else None
        ),
        fresh=fresh,
        mode=_choice(raw, "mode", where, "coin", ("coin", "always-a")),
        stealth=_bool(raw, "stealth", where, False),
        start_round=start_round,
        success_probability=_float(raw, "success_probability", where, 0.5, 0.0, 1.0),
        susceptible_fraction=_float(raw, "susceptible_fraction", where, 0.5, 0.0, 1.0),
        miss_probability=_float(raw, "miss_probability", where, 0.5, 0.0, 1.0),
        gold_aware=_bool(raw, "gold_aware", where, False),
        opportunistic=_bool(raw, "opportunistic", where, False),
        min_ranker_share=_float(raw, "min_ranker_share", where, 0.3, 0.0, 1.0),
        inflate_confidence=_bool(raw, "inflate_confidence", where, False),
        abstain_when_losing=_bool(raw, "abstain_when_losing", where, False),
        exploit_sign=_bool(raw, "exploit_sign", where, False),
        patience=_int(raw, "patience", where, 0, 0),
        grind=_int(raw, "grind", where, 0, 0),
    )


def _resolve_sizes(groups: tuple[GroupSpec, ...], nodes: int) -> tuple[int, ...]:
    sizes: list[int | None] = []
    for group in groups:
        if group.count is not None:
            sizes.append(group.count)
        elif group.fraction is not None:
            sizes.append(round(group.fraction * nodes))
        else:
            sizes.append(None)
    rest = [i for i, size in enumerate(sizes) if size is None]
    if len(rest) > 1:
        raise BadValue(
            f"nodes[{rest[1]}].count",
            "only one group may omit count and fraction (it takes the remaining nodes)",
        )
    fixed = sum(size for size in sizes if size is not None)
    if rest:
        if fixed > nodes:
            raise BadValue("swarm.nodes", f"groups ask for {fixed} nodes, more than {nodes}")
        sizes[rest[0]] = nodes - fixed
    elif fixed != nodes:
        raise BadValue(
            "swarm.nodes",
            f"groups add up to {fixed} nodes, not {nodes}; give one group neither count nor "
            "fraction to take the rest",
        )
    return tuple(int(size or 0) for size in sizes)


# --------------------------------------------------------------------------------------------
# Round trip and overrides


def scenario_to_dict(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain data (recorded in ``results.json``), defaults filled in."""

    def plain(obj: Any) -> Any:
        if isinstance(obj, Normal):
            return {"mean": obj.mean, "sd": obj.sd}
        return obj

    swarm = {f.name: plain(getattr(scenario.swarm, f.name)) for f in fields(SwarmSpec)}
    for optional in ("k", "judge_budget"):
        if swarm[optional] is None:
            del swarm[optional]
    groups = []
    for group, size in zip(scenario.groups, scenario.group_sizes, strict=True):
        entry = {f.name: plain(getattr(group, f.name)) for f in fields(GroupSpec)}
        entry = {key: value for key, value in entry.items() if value is not None}
        entry.pop("fraction", None)
        entry["count"] = size
        groups.append(entry)
    return {
        "name": scenario.name,
        "seed": scenario.seed,
        "rounds": scenario.rounds,
        "swarm": swarm,
        "tasks": {f.name: plain(getattr(scenario.tasks, f.name)) for f in fields(TaskSpec)},
        "nodes": groups,
    }


def apply_override(data: Mapping[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of raw scenario ``data`` with ``path`` set to ``value``.

    Paths are dotted: ``rounds``, ``swarm.rankers``, ``tasks.difficulty.mean``, and
    ``nodes.NAME.KEY`` for the group named (or, unnamed, behaving) ``NAME``. Setting a group's
    ``fraction`` removes its ``count`` and vice versa. ``nodes.NAME.fraction`` on a group that
    does not exist is an error (add the group with fraction 0 to the file instead).
    """
    import copy

    parts = path.split(".")
    if not path or any(not part for part in parts):
        raise SweepError(f"bad parameter path {path!r}")
    out = copy.deepcopy(dict(data))
    if parts[0] == "nodes":
        if len(parts) != 3:
            raise SweepError(f"group parameters look like nodes.NAME.KEY, got {path!r}")
        groups = out.get("nodes")
        if not isinstance(groups, list):
            raise SweepError("the scenario has no [[nodes]] groups")
        matches = [
            g
            for g in groups
            if isinstance(g, dict) and g.get("name", g.get("behaviour")) == parts[1]
        ]
        if len(matches) != 1:
            raise SweepError(f"{path!r}: no single group named {parts[1]!r}")
        group = matches[0]
        if parts[2] in ("fraction", "count"):
            group.pop("count", None)
            group.pop("fraction", None)
        group[parts[2]] = value
        return out
    target: dict[str, Any] = out
    for part in parts[:-1]:
        child = target.get(part)
        if child is None:
            child = {}
        if not isinstance(child, dict):
            raise SweepError(f"{path!r}: {part!r} is not a table")
        target[part] = dict(child)
        target = target[part]
    target[parts[-1]] = value
    return out


def parse_param(spec: str) -> tuple[str, list[Any]]:
    """``"nodes.clique.fraction=0,0.1,0.2"`` -> ``("nodes.clique.fraction", [0, 0.1, 0.2])``.

    Values are read as TOML scalars (numbers, booleans, quoted or bare strings).
    """
    path, sep, raw = spec.partition("=")
    if not sep or not path.strip() or not raw.strip():
        raise SweepError(f"--param must look like PATH=V1,V2,...; got {spec!r}")
    values = []
    for item in raw.split(","):
        text = item.strip()
        if not text:
            raise SweepError(f"empty value in {spec!r}")
        try:
            values.append(tomllib.loads(f"v = {text}")["v"])
        except tomllib.TOMLDecodeError:
            values.append(text)
    return path.strip(), values


def with_seed(scenario: Scenario, seed: int) -> Scenario:
    """``scenario`` with another seed."""
    if seed < 0:
        raise BadValue("seed", f"must be >= 0, got {seed}")
    return replace(scenario, seed=seed)


_ = ScenarioError  # re-exported for callers that catch the base class from here
