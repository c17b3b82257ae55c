"""The engine runs the node's round: fed the same inputs, the engine and ``node.round`` /
``node.ledger`` select, cluster, schedule, count absences and update reputation identically,
and the scenario defaults are the node's defaults."""

from __future__ import annotations

import numpy as np
import pytest

from node.config import NodeConfig
from node.ledger.state import apply_record
from node.round.aggregate import DEFAULT_REPUTATION, absent_ids
from node.round.check import CheckedRecord
from node.round.clustering import Cluster, cluster_candidates
from node.round.schedule import assign_pairs
from node.round.selection import seeded_generator, select_participants
from node.round.settings import RoundSettings
from protocol.v1 import messages_pb2
from ranking.reputation import ReputationParams
from sim import aggregators
from sim.engine import absent_nodes, next_reputation, select_round
from sim.model import JUDGED_A, JUDGED_B, JUDGED_TIE, task_bank
from sim.population import ESTABLISHED_REPUTATION
from sim.scenario import (
    NODE_CONTESTED_GOLD,
    NODE_CONTESTED_MARGIN,
    NODE_GOLD_FRACTION,
    NODE_TRUST,
    SwarmSpec,
)

_OUTCOME = {
    JUDGED_A: messages_pb2.OUTCOME_A,
    JUDGED_B: messages_pb2.OUTCOME_B,
    JUDGED_TIE: messages_pb2.OUTCOME_TIE,
}


def node_id(index: int) -> str:
    """The sim's node index as a node id whose sort order is the index order."""
    return f"node-{index:05d}"


def test_defaults_are_the_nodes() -> None:
    config = NodeConfig()
    assert NODE_GOLD_FRACTION == config.round_gold_fraction == 0.1
    assert NODE_CONTESTED_GOLD == config.round_contested_gold == 0.3
    assert config.round_contested_margin == NODE_CONTESTED_MARGIN
    assert RoundSettings().contested_gold == 0.0
    assert RoundSettings().gold_fraction == 0.0  # in-process swarms run gold only when asked
    assert (config.trust_mode == "on") == NODE_TRUST
    assert SwarmSpec(nodes=2, generators=1, rankers=1).probation_reputation == DEFAULT_REPUTATION
    assert ESTABLISHED_REPUTATION == DEFAULT_REPUTATION


@pytest.mark.parametrize("case", range(20))
def test_selection_is_the_nodes(case: int) -> None:
    rng = np.random.default_rng(case)
    n = int(rng.integers(2, 120))
    reputation = rng.random(n) * (rng.random(n) < 0.9)
    pool = np.flatnonzero(rng.random(n) < 0.8).astype(np.int64)  # admitted members only
    if pool.size == 0:
        pool = np.arange(n, dtype=np.int64)
    query_id, head = rng.bytes(16), rng.bytes(32)
    generators, rankers = int(rng.integers(1, 40)), int(rng.integers(1, 40))
    node = select_participants(
        [node_id(int(i)) for i in pool],
        reputation[pool].tolist(),
        query_id,
        head,
        generators,
        rankers,
    )
    sim_gens, sim_rankers = select_round(
        reputation, pool, generators, rankers, seeded_generator(b"select", query_id, head)
    )
    assert [node_id(int(i)) for i in sim_gens] == list(node.generator_ids)
    assert [node_id(int(i)) for i in sim_rankers] == list(node.ranker_ids)
    assert len(sim_gens) <= pool.size - pool.size // 2  # at most half the pool generates


def test_clustering_is_the_nodes_on_option_answers() -> None:
    """Labels merge exactly as the node's normalised answers do (multiple choice; free text
    can split a correct answer on the node, which the engine does not model)."""
    task = next(t for t in task_bank() if t.kind == "mc")
    rng = np.random.default_rng(3)
    labels = rng.integers(0, len(task.distractors) + 1, size=25)
    texts = [task.render(task.answer if k == 0 else task.distractors[k - 1]) for k in labels]
    clusters = cluster_candidates(texts, [""] * len(texts), b"q" * 16)
    node_groups = {frozenset(c.members) for c in clusters}
    _, inverse = np.unique(labels, return_inverse=True)
    sim_groups = {frozenset(np.flatnonzero(inverse == g).tolist()) for g in set(inverse.tolist())}
    assert node_groups == sim_groups


@pytest.mark.parametrize("schedule", ["3n", "full"])
def test_schedules_are_the_nodes(schedule: str) -> None:
    n_items, query_id = 6, b"q" * 16
    ranker_ids = [node_id(i) for i in range(9)]
    own = np.asarray([-1, 0, 2, -1, 5, 1, -1, 3, 4], dtype=np.int64)
    node = assign_pairs(
        n_items,
        ranker_ids,
        {r: int(o) for r, o in zip(ranker_ids, own, strict=True) if o >= 0},
        query_id,
        schedule,
    )
    rngs = [seeded_generator(b"pairs", query_id, r.encode()) for r in ranker_ids]
    ranker, a, b = aggregators.ranker_pairs(n_items, own, schedule, None, rngs)
    for r, (_, pairs) in enumerate(node):
        mine = ranker == r
        assert np.array_equal(np.stack([a[mine], b[mine]], axis=1), pairs)
        assert own[r] < 0 or not np.any((a[mine] == own[r]) | (b[mine] == own[r]))


def test_absences_and_reputation_are_the_ledgers() -> None:
    """One round with a missing generator, a missing ranker with pairs, a missing ranker
    without (a generator whose cluster is one of two), ties and stated confidences: the
    engine's absence rule and reputation step against ``absent_ids`` and ``apply_record``."""
    rng = np.random.default_rng(11)
    n = 12
    reputation = rng.random(n)
    generators = np.asarray([0, 1, 2, 3, 4], dtype=np.int64)
    arrived = np.asarray([True, True, True, True, False])
    rankers = np.asarray([5, 6, 7, 8, 0, 9], dtype=np.int64)
    ranker_arrived = np.asarray([True, True, True, True, True, False])
    cand_nodes = generators[arrived]
    labels = np.asarray([0, 1, 0, 1])  # two clusters: item 0 = label 0, item 1 = label 1
    cand_item = labels.astype(np.int64)
    own = np.asarray([-1, -1, -1, -1, 0, -1], dtype=np.int64)
    pair_ranker, pair_a, pair_b = aggregators.ranker_pairs(2, own, "3n", None, rng)
    assert not np.any(pair_ranker == 4)  # ranker 0 owns one of two clusters: nothing to judge
    verdict = rng.choice([JUDGED_A, JUDGED_B, JUDGED_TIE], size=pair_ranker.shape[0])
    confidence = np.where(verdict == JUDGED_TIE, np.nan, rng.uniform(0.5, 1.0, verdict.shape))
    answered = ranker_arrived[pair_ranker]
    comparisons = aggregators.make_comparisons(
        pair_a[answered],
        pair_b[answered],
        verdict[answered],
        pair_ranker[answered],
        confidence[answered],
    )
    winner = 1
    for gold in (False, True):
        sim_absent = absent_nodes(generators[~arrived], rankers, ranker_arrived, pair_ranker)
        sim_rep = next_reputation(
            reputation,
            rankers,
            cand_nodes,
            cand_item,
            sim_absent,
            comparisons,
            winner,
            np.asarray([True, False]),
            gold,
            ReputationParams(),
        )

        ids = [node_id(i) for i in range(n)]
        query = messages_pb2.Query(
            generator_ids=[ids[i] for i in generators], ranker_ids=[ids[i] for i in rankers]
        )
        candidates = [messages_pb2.Candidate(generator_id=ids[i]) for i in cand_nodes]
        ballots = []
        for r in range(rankers.shape[0]):
            if not ranker_arrived[r]:
                continue
            rows = np.flatnonzero(pair_ranker == r)
            ballots.append(
                messages_pb2.Ballot(
                    ranker_id=ids[rankers[r]],
                    verdicts=[
                        messages_pb2.Verdict(
                            a=int(pair_a[i]),
                            b=int(pair_b[i]),
                            outcome=_OUTCOME[int(verdict[i])],
                            confidence=None if np.isnan(confidence[i]) else float(confidence[i]),
                        )
                        for i in rows
                    ],
                )
            )
        assignments = [
            messages_pb2.Assignment(
                ranker_id=ids[rankers[r]],
                pairs=[
                    messages_pb2.Pair(a=int(pair_a[i]), b=int(pair_b[i]))
                    for i in np.flatnonzero(pair_ranker == r)
                ],
            )
            for r in range(rankers.shape[0])
        ]
        node_absent = absent_ids(query, candidates, assignments, ballots)
        assert node_absent == sorted(ids[i] for i in sim_absent)

        record = messages_pb2.ConsensusRecord(absent_ids=node_absent)
        record.query.payload = query.SerializeToString()
        record.outcome.winner = winner
        clusters = tuple(
            Cluster(b"%d" % k, "", "", tuple(np.flatnonzero(cand_item == k).tolist()), "")
            for k in range(2)
        )
        checked = CheckedRecord(
            record=record,
            record_id=b"",
            leader_id=ids[0],
            query_id=b"q",
            candidates=tuple(candidates),
            ballots=tuple(ballots),
            clusters=clusters,
            gold_item=0 if gold else -1,
            gold=gold,
        )
        node_rep = apply_record(checked, {ids[i]: float(reputation[i]) for i in range(n)})
        assert [node_rep[ids[i]] for i in range(n)] == sim_rep.tolist()
        assert sim_rep[4] < reputation[4]  # the absent generator lost a little
        assert sim_rep[0] == reputation[0]  # the ranker without pairs is not absent


def test_split_answers_form_correct_clusters_of_their_own() -> None:
    """tasks.answer_split: correct free-text answers the node's normaliser does not merge are
    correct clusters of their own, which splits the correct vote (but not the truth)."""
    from sim.engine import simulate
    from sim.scenario import load_scenario

    path = "sim/scenarios/paper-like.toml"
    merged = simulate(load_scenario(path, {"rounds": 40}))
    split = simulate(load_scenario(path, {"rounds": 40, "tasks.answer_split": 1.0}))
    # 18 generators (at most half the pool), ~8 of them right, each now a cluster of its own
    assert split.items.mean() > merged.items.mean() + 5
    assert split.correct["majority"].mean() < merged.correct["majority"].mean() - 0.3
    assert split.correct["oracle"].mean() > 0.9 and merged.correct["oracle"].mean() > 0.9
