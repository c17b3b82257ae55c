"""Adaptive rounds end to end (issue 17): a 16-node swarm of sim-backend nodes over real gRPC on
loopback (in one process) answers with ``schedule = "adaptive"``; every member checks every
record and the ledgers agree; the rounds cost fewer judge calls than the 3n schedule would.
And the same round led with a clique that answers first, or last, is the same round."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.backends.sim import SimBackend
from node.round.clustering import cluster_candidates
from node.round.schedule import assign_pairs
from node.round.settings import RoundSettings
from node.testing import in_process_swarm
from protocol.signing import Envelope
from protocol.v1 import messages_pb2

pytestmark = pytest.mark.integration

SWARM = "adaptive-swarm"
SETTINGS = RoundSettings(
    generate_deadline_ms=10_000, rank_deadline_ms=10_000, schedule="adaptive", judge_budget=40
)
QUESTIONS = [f"What is {a} x {b}?" for a, b in zip(range(23, 27), range(61, 65), strict=True)]


def judge_calls(record_env: Envelope) -> tuple[int, int]:
    """(judge calls the record's ballots answered, calls the 3n schedule would have asked in
    the same round: same clusters, same rankers)."""
    record = messages_pb2.ConsensusRecord.FromString(record_env.payload)
    query = messages_pb2.Query.FromString(record.query.payload)
    candidates = [messages_pb2.Candidate.FromString(e.payload) for e in record.candidates]
    clusters = cluster_candidates(
        [c.answer for c in candidates], [c.reasoning for c in candidates], query.context.query_id
    )
    by_generator = {c.generator_id: i for i, c in enumerate(candidates)}
    own = {}
    for r in query.ranker_ids:
        for k, cluster in enumerate(clusters):
            if by_generator.get(r) in cluster.members:
                own[r] = k
    pairs = assign_pairs(len(clusters), list(query.ranker_ids), own, query.context.query_id, "3n")
    asked = sum(len(messages_pb2.Ballot.FromString(e.payload).verdicts) for e in record.ballots)
    return asked, sum(len(p) for _, p in pairs)


async def test_a_sixteen_node_swarm_answers_adaptive_rounds(tmp_path: Path) -> None:
    backends = [
        SimBackend(seed=300 + i, generation_skill=0.0, judging_skill=3.0) for i in range(16)
    ]
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM, settings=SETTINGS) as swarm:
        leader = swarm.nodes[0]
        asked = three_n = 0
        reasons = []
        for question in QUESTIONS:
            result = await leader.ask(question)
            record = messages_pb2.ConsensusRecord.FromString(result.record.payload)
            params = messages_pb2.Query.FromString(record.query.payload).parameters
            assert params.schedule == "adaptive" and params.judge_budget == 40
            calls, full = judge_calls(result.record)
            assert calls <= 40
            asked, three_n = asked + calls, three_n + full
            reasons.append(record.stop_reason)
        await swarm.settle(len(QUESTIONS))
        # every member checked every record (check_record on SubmitRecord) and appended it
        assert len({n.store.head() for n in swarm.nodes}) == 1
        assert all(n.store.rejected_count("record") == 0 for n in swarm.nodes)
        assert set(reasons) <= {"separated", "budget", "max-waves", "exhausted"}
        assert asked < three_n


async def test_the_same_round_whether_a_clique_judges_first_or_last(tmp_path: Path) -> None:
    """Four bad judges (they prefer the wrong answer) answer instantly in one swarm and slowly
    in the other; the same query on the same fresh ledger gives the same waves, the same
    stop and the same winner."""

    def swarm_backends(clique_ms: float, others_ms: float) -> list[SimBackend]:
        return [
            SimBackend(
                seed=400 + i,
                generation_skill=0.0,
                judging_skill=-3.0 if i >= 8 else 3.0,
                latency_ms=clique_ms if i >= 8 else others_ms,
            )
            for i in range(12)
        ]

    query_id = b"c" * 16
    plays = []
    for name, clique_ms, others_ms in (("first", 0.0, 60.0), ("last", 120.0, 0.0)):
        async with in_process_swarm(
            tmp_path / name, swarm_backends(clique_ms, others_ms), swarm_id=SWARM, settings=SETTINGS
        ) as swarm:
            result = await swarm.nodes[0].ask(QUESTIONS[0], query_id=query_id)
            plays.append(messages_pb2.ConsensusRecord.FromString(result.record.payload))
    first, last = plays

    def waves(record: messages_pb2.ConsensusRecord) -> list[list[tuple[str, list[int]]]]:
        out = []
        for env in [record.rank_request, *record.wave_requests]:
            request = messages_pb2.RankRequest.FromString(env.payload)
            out.append(
                [
                    (a.ranker_id, [x for p in a.pairs for x in (p.a, p.b)])
                    for a in request.assignments
                ]
            )
        return out

    def verdicts(record: messages_pb2.ConsensusRecord) -> list[tuple[str, int, list[int]]]:
        ballots = [messages_pb2.Ballot.FromString(e.payload) for e in record.ballots]
        return [(b.ranker_id, b.wave, [v.outcome for v in b.verdicts]) for b in ballots]

    assert waves(first) == waves(last)
    assert verdicts(first) == verdicts(last)
    assert first.stop_reason == last.stop_reason
    assert first.answer == last.answer and first.outcome.winner == last.outcome.winner


async def test_adaptive_rounds_with_trust_on_and_gold_replay_on_every_node(tmp_path: Path) -> None:
    """Trust on (genesis, capped weights, eligible pool) and blind gold rounds under the
    adaptive schedule: every member accepts every record, the heads agree, and each node's
    ledger replays from its first record to the same state (``swarmrank ledger verify``)."""
    from node.ledger.replay import replay_ledger
    from ranking.trust import TrustParams

    trust = TrustParams(
        n_judging=20, judging_pass=17, n_generation=5, generation_pass=3, cooldown_rounds=3
    )
    backends = [SimBackend(seed=500 + i, generation_skill=1.0, judging_skill=3.0) for i in range(8)]
    async with in_process_swarm(
        tmp_path, backends, swarm_id=SWARM, trust=trust, settings=SETTINGS
    ) as swarm:
        leader = swarm.nodes[0]
        for question in QUESTIONS[:2]:
            await leader.ask(question)
        gold = await leader.run_gold_round()
        record = messages_pb2.ConsensusRecord.FromString(gold.record.payload)
        assert record.HasField("gold") and record.trust
        assert messages_pb2.Query.FromString(record.query.payload).parameters.schedule == (
            "adaptive"
        )
        height = leader.store.head()[0]
        await swarm.settle(height)
        assert len({n.store.head() for n in swarm.nodes}) == 1
        assert all(n.store.rejected_count("record") == 0 for n in swarm.nodes)
        for node in swarm.nodes:
            summary = replay_ledger(node.store, SWARM, trust=trust)
            assert summary.state is not None and summary.state.height == height
