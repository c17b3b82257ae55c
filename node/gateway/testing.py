"""Test support for the gateway and its explorer: a small, really signed consensus record
(:func:`sample_record`) and a fake swarm behind a gateway (:class:`FakeSwarmGateway`), so the
explorer's views and endpoints are tested without running rounds.

The sample record is well formed and every signature in it is valid, but its aggregation is
made up (the first answer wins): views only display a record, they do not recompute it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import grpc

from node.gateway.app import Gateway
from node.round.clustering import cluster_candidates, own_cluster
from node.testing import make_query, make_rank_request
from protocol.hashing import candidate_set_digest, payload_hash
from protocol.identity import Identity
from protocol.signing import Envelope, seal
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2

SWARM_ID = "explorer-test"


def _candidate(
    generator: Identity,
    context: messages_pb2.MessageContext,
    query_hash: bytes,
    answer: str,
    swarm_id: str,
) -> Envelope:
    candidate = messages_pb2.Candidate(
        context=context,
        generator_id=generator.node_id,
        query_hash=query_hash,
        answer=answer,
        model="fake",
    )
    return seal(generator, envelope_pb2.KIND_CANDIDATE, candidate, swarm_id)


def _ballot(
    ranker: Identity,
    context: messages_pb2.MessageContext,
    digest: bytes,
    pairs: Sequence[tuple[int, int]],
    swarm_id: str,
) -> Envelope:
    """A ballot preferring ``a`` in every pair, with confidence 0.9."""
    verdicts = [
        messages_pb2.Verdict(a=a, b=b, outcome=messages_pb2.OUTCOME_A, confidence=0.9)
        for a, b in pairs
    ]
    ballot = messages_pb2.Ballot(
        context=context, ranker_id=ranker.node_id, candidate_set_digest=digest, verdicts=verdicts
    )
    return seal(ranker, envelope_pb2.KIND_BALLOT, ballot, swarm_id)


def sample_record(
    answers: Sequence[str],
    *,
    question: str = "What is 17 + 25?",
    height: int = 0,
    previous: bytes = b"",
    swarm_id: str = SWARM_ID,
    rankers: int = 2,
    gold: tuple[str, str] | None = None,
) -> Envelope:
    """A leader-signed ConsensusRecord: generator ``i`` answered ``answers[i]``; the cluster of
    ``answers[0]`` won (strength 1, the others -1), each of ``rankers`` rankers having judged
    it better than every other cluster with confidence 0.9."""
    clock = FakeClock()
    leader = test_identity(0)
    generators = [test_identity(1 + i) for i in range(len(answers))]
    judges = [test_identity(100 + i) for i in range(rankers)]
    query = make_query(
        leader,
        swarm_id,
        clock,
        question=question,
        generator_ids=[g.node_id for g in generators],
        ranker_ids=[r.node_id for r in judges],
    )
    query_id = messages_pb2.Query.FromString(query.payload).context.query_id
    context = messages_pb2.MessageContext(
        swarm_id=swarm_id, query_id=query_id, timestamp_ms=clock.time_ms() + 250
    )
    candidates = [
        _candidate(g, context, payload_hash(query), answer, swarm_id)
        for g, answer in zip(generators, answers, strict=True)
    ]
    clusters = cluster_candidates(answers, [""] * len(answers), query_id, cluster=False)
    n = len(clusters)
    winner = own_cluster(clusters, 0)
    others = [i for i in range(n) if i != winner]
    pairs = [(winner, j) for j in others]
    request = make_rank_request(
        leader,
        swarm_id,
        clock,
        query,
        [c.answer for c in clusters],
        {r.node_id: pairs for r in judges},
    )
    digest = candidate_set_digest(c.content_hash for c in clusters)
    ballots = [_ballot(r, context, digest, pairs, swarm_id) for r in judges]
    strengths = [1.0 if i == winner else -1.0 for i in range(n)]
    outcome = messages_pb2.AggregationOutcome(
        strengths=strengths,
        lower=[s - 0.5 for s in strengths],
        upper=[s + 0.5 for s in strengths],
        winner=winner,
        tied_for_first=[winner],
        ranker_weights=[1.0] * rankers,
    )
    record = messages_pb2.ConsensusRecord(
        context=messages_pb2.MessageContext(
            swarm_id=swarm_id, query_id=query_id, timestamp_ms=clock.time_ms() + 900
        ),
        leader_id=leader.node_id,
        height=height,
        previous_record_hash=previous,
        query=query,
        candidates=candidates,
        rank_request=request,
        ballots=ballots,
        outcome=outcome,
        answer=clusters[winner].answer,
        absent_ids=[],
    )
    if gold is not None:
        record.gold.task_id, record.gold.answer = gold
    return seal(leader, envelope_pb2.KIND_CONSENSUS_RECORD, record, swarm_id)


def sample_status(records: Sequence[Envelope], swarm_id: str = SWARM_ID) -> Any:
    """A node's Status over ``records`` (its ledger), with the sample record's members."""
    members = [
        services_pb2.MemberStatus(
            node_id=test_identity(i).node_id,
            address=f"10.0.0.{i}:7700",
            model="fake",
            reputation=1.0 + i / 10,
            alive=True,
            last_seen_s=0.5,
        )
        for i in range(4)
    ]
    return services_pb2.StatusResponse(
        swarm_id=swarm_id,
        node_id=test_identity(0).node_id,
        ledger_height=len(records),
        ledger_head=payload_hash(records[-1]) if records else b"",
        members=members,
    )


class _NotFound(grpc.aio.AioRpcError):  # type: ignore[misc]
    def __init__(self, record_id: bytes) -> None:
        super().__init__(
            grpc.StatusCode.NOT_FOUND,
            grpc.aio.Metadata(),
            grpc.aio.Metadata(),
            details=f"no record {record_id.hex()}",
        )


class FakeSwarmGateway(Gateway):
    """A gateway whose swarm is a fake ledger: each ``Ask`` appends a :func:`sample_record`
    answering ``answer`` and counts the round; ``Status`` and ``GetRecord`` read that ledger."""

    def __init__(self, *args: Any, answer: str = "42", **kwargs: Any) -> None:
        kwargs.setdefault("node_addresses", ["127.0.0.1:9"])
        super().__init__(*args, **kwargs)
        self.answer = answer
        self.rounds = 0
        self.records: list[Envelope] = []

    async def call_ask(self, question: str) -> services_pb2.AskResponse:
        self.rounds += 1
        await asyncio.sleep(0)
        previous = payload_hash(self.records[-1]) if self.records else b""
        record = sample_record(
            [self.answer, "41"], question=question, height=len(self.records), previous=previous
        )
        self.records.append(record)
        self.round_finished(self.node_addresses[0], payload_hash(record))
        return services_pb2.AskResponse(
            answer=self.answer,
            record_id=payload_hash(record),
            height=len(self.records) - 1,
            candidates=[services_pb2.ScoredCandidate(index=0, answer=self.answer, strength=1.0)],
            tied_for_first=[0],
            participants=["a", "b"],
            leader_id="a",
        )

    async def call_status(self, address: str | None = None) -> tuple[str, Any]:
        return self.node_addresses[0], sample_status(self.records)

    async def call_get_record(self, record_id: bytes, address: str | None = None) -> Any:
        for record in self.records:
            if payload_hash(record) == record_id:
                return self.node_addresses[0], record
        raise _NotFound(record_id)
