"""Live mode: a small scenario through real node daemons over gRPC.

This module owns :func:`run_live` (scenario -> :class:`~sim.engine.RunRecord`, the fast
engine's record type, so :func:`sim.metrics.summarise` writes the same ``results.json``),
:func:`check_live` (what live mode can run) and :func:`live_task` (the bank question of a round).

How a live run works
--------------------
1. The population is drawn exactly as the fast engine draws it (:func:`build_population` on the
   scenario's seed), and node ``i`` of a :class:`node.daemon.run.local.LocalSwarm` (a Ray head and N
   ``swarmrank node run --backend sim`` daemons) gets node ``i``'s profile through ``--set``:
   ``sim_generation_skill``, ``sim_judging_skill``, ``sim_position_bias``,
   ``sim_error_correlation`` (logit scale, :mod:`sim.model`) and a ``sim_seed``. Every node
   leads with ``round_max_generators = G``, ``round_max_rankers = R`` and the scenario's
   schedule.
2. Each round draws a difficulty ``~ N(mean, sd)`` and asks the multiple-choice question of
   :func:`sim.model.task_bank` nearest to it (``Ask`` over gRPC, leaders in turn). The node's
   ``sim`` backend answers and judges with the same behaviour model as the engine.
3. Afterwards the signed records are fetched (``GetRecords``) and decoded with
   :mod:`protocol.v1.messages_pb2`.

Where each field comes from
---------------------------
* ``evidence`` (the default, consensus 2): the record's own consensus ``answer``, graded
  against the bank task: this is what the swarm answered (live mode runs no gold, so the
  daemons' reading never fits and reads the votes alone).
* ``majority``: recomputed from the record's ``candidates`` (normalised answers; the largest
  cluster, ties to the first seen).
* ``plain-bt``, ``weighted-bt``, ``robust-bt``, ``borda``: recomputed with :mod:`ranking`
  from the record's ``ballots`` (verdicts over the ``rank_request``'s anonymised
  candidates), weighted by the record's ``reputations`` at round start; a ranker's own
  candidate is excluded as the node excludes it. A round without ballots falls back to
  majority, as the node does.
* ``calibrated``: :func:`ranking.consensus.select_consensus` over the clusters' shares of the
  record's candidates and robust BT's strengths at judge weight 0 (no gold: the judges have
  earned nothing), as a consensus-1 node would decide the round.
* ``oracle``: some candidate in the record was correct; ``best-single``: the candidate of the
  most skilled generator that answered (skills known from step 1).
* ``judge_calls``: verdicts in the record's ballots; ``candidates`` / ``items``: the record's
  candidates and the ranked (clustered) candidates.
* ``final_reputation``: the reputation table of the last record (at that round's start).
* Capture rate and adversary reputation share are zero: live mode runs honest nodes only
  (the node daemon has no adversarial modes); lazy, inverted, colluding, dead or slow groups
  are rejected with :class:`LiveModeError`. There are no gold rounds in live mode: every
  daemon gets the scenario's ``gold_fraction`` (which :func:`check_live` requires to be 0), so
  the daemons' default gold rounds are off and the judge weight stays 0, as in the engine.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ranking.consensus import select_consensus
from ranking.errors import RankingError
from ranking.types import Comparisons
from sim import aggregators
from sim.engine import AGGREGATORS, RunRecord, seed_run
from sim.errors import SimError
from sim.model import JUDGING_EASE, Task, task_bank
from sim.population import Population
from sim.scenario import Scenario

__all__ = ["LIVE_BEHAVIOURS", "MAX_LIVE_NODES", "LiveModeError", "check_live", "run_live"]

#: Behaviours a real node daemon can play.
LIVE_BEHAVIOURS = frozenset({"honest"})
#: Largest swarm live mode starts (one process per node on this machine).
MAX_LIVE_NODES = 16
#: Per-round deadline handed to the swarm.
ASK_TIMEOUT_S = 30.0
#: Records asked for per ``GetRecords`` call (a node serves at most its own cap, 1000).
_PAGE = 500

_OUTCOME = {1: 0, 2: 1, 3: 2}  # protocol Outcome (A, B, TIE) -> ranking outcome codes


class LiveModeError(SimError):
    """A scenario live mode cannot run, or a live swarm that misbehaved."""


#: pairwise rules live mode recomputes from a record's ballots (the default is the record's)
_RECOMPUTED = aggregators.PAIRWISE_RULES


def check_live(scenario: Scenario) -> None:
    """Raise :class:`LiveModeError` unless ``scenario`` can run against real daemons."""
    if scenario.swarm.schedule == "adaptive":
        raise LiveModeError(
            "--live: live mode reads one ballot per ranker and does not replay adaptive waves yet "
            '(issue 17); use schedule = "3n"'
        )
    for group, size in zip(scenario.groups, scenario.group_sizes, strict=True):
        if size and group.behaviour not in LIVE_BEHAVIOURS:
            raise LiveModeError(
                f"--live runs honest nodes only (the node daemon has no {group.behaviour!r} "
                f"mode); group {group.name!r} has {size} {group.behaviour} node(s)"
            )
        if size and group.is_fresh:
            raise LiveModeError(f"--live has no calibration exams; group {group.name!r} is fresh")
    if scenario.swarm.nodes > MAX_LIVE_NODES:
        raise LiveModeError(
            f"--live starts one daemon per node; {scenario.swarm.nodes} is more than "
            f"{MAX_LIVE_NODES}"
        )
    if scenario.tasks.options != 4:
        raise LiveModeError("--live asks the 4-option questions of the sim bank: tasks.options=4")
    tasks = scenario.tasks
    if (
        tasks.judging_ease != JUDGING_EASE
        or tasks.judge_correlation != 0.0
        or tasks.persuasiveness.sd != 0.0
        or tasks.persuasiveness.mean != 0.0
    ):
        raise LiveModeError(
            "--live runs the node's sim backend, whose judges have independent errors and a "
            f"built-in advantage: set tasks.judging_ease = {JUDGING_EASE}, "
            "tasks.judge_correlation = 0 and tasks.persuasiveness = { mean = 0, sd = 0 } so "
            "that the engine it is compared with models the same judges"
        )
    if scenario.swarm.trust or scenario.swarm.gold_fraction > 0.0:
        raise LiveModeError("--live runs the daemon's defaults: trust off and no gold rounds")


def _mc_tasks() -> list[Task]:
    return [t for t in task_bank() if t.kind == "mc"]


def live_task(difficulty: float, rng: np.random.Generator) -> Task:
    """The bank's multiple-choice task nearest ``difficulty`` (ties broken by ``rng``)."""
    tasks = _mc_tasks()
    gaps = np.abs(np.asarray([t.difficulty for t in tasks]) - difficulty)
    nearest = np.flatnonzero(gaps == gaps.min())
    return tasks[int(nearest[int(rng.integers(nearest.shape[0]))])]


def node_settings(
    scenario: Scenario, pop: Population | None = None
) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """``--set`` arguments: the ones every node shares, and node ``i``'s profile (``pop``:
    the run's population, drawn from the scenario's seed when not given)."""
    if pop is None:
        pop, _ = seed_run(scenario)
    swarm = scenario.swarm
    common = [
        f"--set=round_max_generators={swarm.generators}",
        f"--set=round_max_rankers={swarm.rankers}",
        f"--set=round_schedule={swarm.schedule}",
        "--set=round_generate_deadline_ms=20000",
        "--set=round_rank_deadline_ms=20000",
        # the scenario's gold, not the daemon's default (10% plus 30% after a contested round):
        # a live swarm that ran gold rounds the engine does not would learn a judge weight the
        # engine never has, and its accuracy would depend on when its first gold rounds fell
        f"--set=round_gold_fraction={swarm.gold_fraction!r}",
        f"--set=round_contested_gold={swarm.contested_gold!r}",
        f"--set=round_contested_margin={swarm.contested_margin!r}",
    ]
    if swarm.k is not None:
        common.append(f"--set=round_schedule_k={swarm.k}")
    per_node = tuple(
        (
            f"--set=sim_generation_skill={float(np.clip(pop.generation_skill[i], -10, 10))!r}",
            f"--set=sim_judging_skill={float(np.clip(pop.judging_skill[i], -10, 10))!r}",
            f"--set=sim_position_bias={float(pop.position_bias[i])!r}",
            f"--set=sim_error_correlation={float(pop.error_correlation[i])!r}",
            f"--set=sim_seed={scenario.seed * 1000 + i + 1}",
        )
        for i in range(pop.size)
    )
    return tuple(common), per_node


def run_live(
    scenario: Scenario,
    progress: Callable[[int], None] | None = None,
    state_dir: Path | None = None,
) -> RunRecord:
    """Run ``scenario`` through a :class:`~node.daemon.run.local.LocalSwarm` (module docstring)."""
    check_live(scenario)
    if state_dir is not None:
        return asyncio.run(_run(scenario, progress, state_dir))
    with tempfile.TemporaryDirectory(prefix="swarmrank-live-") as tmp:
        return asyncio.run(_run(scenario, progress, Path(tmp)))


async def _run(
    scenario: Scenario, progress: Callable[[int], None] | None, state_dir: Path
) -> RunRecord:
    # The node package is the imperative shell live mode drives; import it at run time only, so
    # the fast engine (and type-checking sim/) never loads gRPC, Ray or the daemon code.
    gateway_module = importlib.import_module("node.gateway.app")
    up_module = importlib.import_module("node.daemon.local")
    Gateway, LocalSwarm = gateway_module.Gateway, up_module.LocalSwarm
    pop, rng = seed_run(scenario)
    common, per_node = node_settings(scenario, pop)
    swarm_id = f"sim-live-{scenario.name}"
    swarm = LocalSwarm(
        nodes=scenario.swarm.nodes,
        state_dir=state_dir,
        swarm_id=swarm_id,
        fresh=True,
        node_args=common,
        per_node_args=per_node,
        start_gateway=False,
        ready_timeout_s=90.0,
    )
    await swarm.start()
    try:
        gateway = Gateway(swarm.addresses, timeout_s=ASK_TIMEOUT_S)
        asked: list[tuple[bytes, Task]] = []
        try:
            difficulty = scenario.tasks.difficulty
            for t in range(scenario.rounds):
                task = live_task(difficulty.mean + difficulty.sd * rng.standard_normal(), rng)
                response = await gateway.call_ask(task.question)
                asked.append((bytes(response.record_id), task))
                if progress is not None:
                    progress(t + 1)
        finally:
            for channel in gateway._channels.values():
                await channel.close()
        records = await _fetch_records(swarm.addresses, swarm_id, {rid for rid, _ in asked})
        node_index = {n.node_id: n.index for n in swarm.nodes}
    finally:
        await swarm.stop()
    return _record(scenario, pop.generation_skill, node_index, asked, records)


async def _fetch_records(
    addresses: list[str], swarm_id: str, wanted: set[bytes]
) -> dict[bytes, Any]:
    """Decoded ConsensusRecords by record id (SHA-256 of the payload), from the first node
    whose ledger holds them all (records replicate asynchronously: retry for a while). Each
    ledger is read in pages, as a catching-up node reads it (``PeerClient.call_get_records``)."""
    from node.transport.client import PeerClient
    from protocol.signing import Verifier
    from protocol.v1 import messages_pb2

    found: dict[bytes, Any] = {}
    verifier = Verifier(swarm_id)
    for _attempt in range(50):
        for address in addresses:
            async with PeerClient(address, verifier, call_timeout_s=30.0) as client:
                height = 0
                while page := await client.call_get_records(height, _PAGE):
                    for envelope in page:
                        record = messages_pb2.ConsensusRecord.FromString(envelope.payload)
                        record_id = hashlib.sha256(envelope.payload).digest()
                        if record_id in wanted:
                            found[record_id] = record
                        height = int(record.height) + 1
            if wanted <= set(found):
                return found
        await asyncio.sleep(0.2)
    raise LiveModeError(f"{len(wanted - set(found))} round record(s) never reached a ledger")


def _record(
    scenario: Scenario,
    generation_skill: np.ndarray,
    node_index: dict[str, int],
    asked: list[tuple[bytes, Task]],
    records: dict[bytes, Any],
) -> RunRecord:
    from protocol.v1 import messages_pb2

    rounds = scenario.rounds
    correct = {name: np.zeros(rounds, dtype=bool) for name in AGGREGATORS}
    judge_calls = np.zeros(rounds, dtype=np.int64)
    candidates = np.zeros(rounds, dtype=np.int64)
    items = np.zeros(rounds, dtype=np.int64)
    reputation = np.full(len(node_index), np.nan)
    for t, (record_id, task) in enumerate(asked):
        record = records[record_id]
        cands = [messages_pb2.Candidate.FromString(e.payload) for e in record.candidates]
        keys = [task.normalise(c.answer) for c in cands]
        labels = [task.grade(c.answer) for c in cands]
        candidates[t] = len(cands)
        majority_key = max(dict.fromkeys(keys), key=keys.count) if keys else ""
        correct["evidence"][t] = task.is_correct(record.answer)
        correct["oracle"][t] = any(label == 0 for label in labels)
        if cands:
            correct["majority"][t] = labels[keys.index(majority_key)] == 0
            skills = [generation_skill[node_index[c.generator_id]] for c in cands]
            correct["best-single"][t] = labels[int(np.argmax(skills))] == 0
        rep_of = dict(zip(record.reputation_ids, record.reputations, strict=True))
        for node_id, value in rep_of.items():
            if node_id in node_index:
                reputation[node_index[node_id]] = value
        if not record.HasField("rank_request"):
            items[t] = len(set(keys))
            for name in (*_RECOMPUTED, "calibrated"):
                correct[name][t] = correct["majority"][t]
            continue
        request = messages_pb2.RankRequest.FromString(record.rank_request.payload)
        item_ok = np.asarray([task.is_correct(c.answer) for c in request.candidates], dtype=bool)
        item_key = [task.normalise(c.answer) for c in request.candidates]
        items[t] = len(item_ok)
        ballots = [messages_pb2.Ballot.FromString(e.payload) for e in record.ballots]
        own = {
            c.generator_id: item_key.index(k)
            for c, k in zip(cands, keys, strict=True)
            if k in item_key
        }
        a, b, outcome, ranker = [], [], [], []
        for r, ballot in enumerate(ballots):
            for verdict in ballot.verdicts:
                if verdict.outcome in _OUTCOME:
                    a.append(verdict.a)
                    b.append(verdict.b)
                    outcome.append(_OUTCOME[verdict.outcome])
                    ranker.append(r)
        judge_calls[t] = len(a)
        fallback = item_key.index(majority_key) if majority_key in item_key else 0
        comparisons = Comparisons(
            a=np.asarray(a, dtype=np.int64),
            b=np.asarray(b, dtype=np.int64),
            outcome=np.asarray(outcome, dtype=np.int8),
            ranker=np.asarray(ranker, dtype=np.int64),
            confidence=np.full(len(a), np.nan),
        )
        weights = np.asarray([rep_of.get(bl.ranker_id, 0.5) for bl in ballots], dtype=np.float64)
        own_item = np.asarray([own.get(bl.ranker_id, -1) for bl in ballots], dtype=np.int64)
        try:
            results = aggregators.aggregate_all(
                comparisons, len(item_ok), weights, own_item, fallback
            )
            winners = results.winners
            strengths = np.zeros(len(item_ok))
            if results.default is not None:
                strengths = np.asarray(results.default.strengths, dtype=np.float64)
        except RankingError:
            winners = dict.fromkeys(_RECOMPUTED, fallback)
            strengths = np.zeros(len(item_ok))
        for name in _RECOMPUTED:
            correct[name][t] = bool(item_ok[winners[name]])
        sizes = np.asarray([keys.count(k) for k in item_key], dtype=np.float64)
        pick = select_consensus(sizes / max(float(sizes.sum()), 1.0), strengths, 0.0)
        correct["calibrated"][t] = bool(item_ok[pick])
    return RunRecord(
        correct=correct,
        captured={name: np.zeros(rounds, dtype=bool) for name in AGGREGATORS},
        decisive=np.zeros(rounds, dtype=bool),
        judge_calls=judge_calls,
        correct_present=correct["oracle"].copy(),
        gold=np.zeros(rounds, dtype=bool),
        attacked=np.zeros(rounds, dtype=bool),
        candidates=candidates,
        items=items,
        adversary_share=np.zeros(rounds, dtype=np.float64),
        adversary_fraction=0.0,
        admitted=len(node_index),
        final_reputation=np.nan_to_num(reputation, nan=0.5),
        behaviour=np.zeros(len(node_index), dtype=np.int64),
    )
