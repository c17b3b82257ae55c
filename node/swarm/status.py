"""What a node reports to its clients: :func:`status_response` (``SwarmService.Status``: the
ledger position and the members this node sees, with reputations, numerics and, with trust
on, trust status and stake) and :func:`response_from_record` (``SwarmService.Ask``: the
consensus answer with its evidence, built from a round's record; :func:`response_from_envelope`
rebuilds it from the stored record alone, for a retried Ask); and what a node says of itself
to the registry and its peers (:func:`heartbeat_envelope`, :func:`self_member`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from node.ledger.trust import LedgerState
from node.membership.registry import Member
from node.round.clustering import cluster_candidates
from node.round.consensus import size_shares
from node.round.numerics import fingerprint_of
from node.swarm.peer import node_capabilities
from protocol.hashing import payload_hash
from protocol.identity import Identity
from protocol.signing import Envelope, seal
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2


def trust_status(state: LedgerState, node_id: str) -> dict[str, Any]:
    """A member's trust status and bonded stake, as :class:`~protocol.v1.services_pb2.
    MemberStatus` fields."""
    identity = state.identity(node_id)
    return {"trust_status": identity.status, "stake": identity.stake}


def status_response(
    swarm_id: str,
    node_id: str,
    head: tuple[int, bytes],
    members: Sequence[Member],
    reputation_of: Callable[[str], float],
    state: LedgerState | None,
    now_ms: int | None = None,
) -> services_pb2.StatusResponse:
    """This node's view of the swarm; ``state`` adds trust columns (``None`` = trust off)."""
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    height, head_hash = head
    return services_pb2.StatusResponse(
        swarm_id=swarm_id,
        node_id=node_id,
        ledger_height=height,
        ledger_head=head_hash,
        members=[
            services_pb2.MemberStatus(
                node_id=m.node_id,
                address=m.address,
                model=m.model,
                reputation=reputation_of(m.node_id),
                alive=True,
                last_seen_s=max(0.0, (now_ms - m.last_seen_ms) / 1000),
                numerics=fingerprint_of(m.capabilities) or "",
                **(trust_status(state, m.node_id) if state is not None else {}),
            )
            for m in sorted(members, key=lambda m: m.node_id)
        ],
    )


def response_from_record(
    record: messages_pb2.ConsensusRecord,
    clusters: Sequence[Any],
    candidates: Sequence[messages_pb2.Candidate],
    record_id: bytes,
    latency_ms: float = 0.0,
) -> services_pb2.AskResponse:
    """The user-facing answer and evidence for a record."""
    outcome = record.outcome
    has_query = record.HasField("query")
    query = messages_pb2.Query.FromString(record.query.payload) if has_query else None
    shares = size_shares(clusters)
    scored = [
        services_pb2.ScoredCandidate(
            index=i,
            answer=cluster.answer,
            strength=outcome.strengths[i],
            lower=outcome.lower[i],
            upper=outcome.upper[i],
            generator_ids=sorted(candidates[m].generator_id for m in cluster.members),
            share=float(shares[i]),
            posterior=outcome.posterior[i] if len(outcome.posterior) == len(clusters) else 0.0,
        )
        for i, cluster in enumerate(clusters)
    ]
    scored.sort(key=lambda s: (s.index != outcome.winner, -s.strength, s.index))
    participants = sorted(
        {c.generator_id for c in candidates}
        | {messages_pb2.Ballot.FromString(b.payload).ranker_id for b in record.ballots}
    )
    return services_pb2.AskResponse(
        answer=record.answer,
        record_id=record_id,
        height=record.height,
        candidates=scored,
        tied_for_first=list(outcome.tied_for_first),
        participants=participants,
        absent=list(record.absent_ids),
        leader_id=record.leader_id,
        latency_ms=latency_ms,
        consensus=int(query.parameters.consensus) if query is not None else 0,
        judge_weight=float(outcome.judge_weight),
        winner=int(outcome.winner),
    )


def response_from_envelope(
    record_env: Envelope, latency_ms: float = 0.0
) -> services_pb2.AskResponse:
    """:func:`response_from_record` for a stored round record: its candidates and clusters
    recomputed from what it carries, as a member's check does."""
    record = messages_pb2.ConsensusRecord.FromString(record_env.payload)
    query = messages_pb2.Query.FromString(record.query.payload)
    candidates = [messages_pb2.Candidate.FromString(c.payload) for c in record.candidates]
    clusters = cluster_candidates(
        [c.answer for c in candidates],
        [c.reasoning for c in candidates],
        bytes(query.context.query_id),
        cluster=query.parameters.cluster_answers,
    )
    return response_from_record(record, clusters, candidates, payload_hash(record_env), latency_ms)


def heartbeat_envelope(
    identity: Identity,
    swarm_id: str,
    context: messages_pb2.MessageContext,
    head: tuple[int, bytes],
) -> bytes:
    """A node's signed Heartbeat carrying its ledger position (for the registry)."""
    beat = messages_pb2.Heartbeat(
        context=context, node_id=identity.node_id, ledger_height=head[0], ledger_head=head[1]
    )
    return bytes(seal(identity, envelope_pb2.KIND_HEARTBEAT, beat, swarm_id).SerializeToString())


def self_member(identity: Identity, address: str, backend: Any, info_envelope: bytes) -> Member:
    """A node as a :class:`~node.membership.registry.Member` (for static membership)."""
    return Member(
        node_id=identity.node_id,
        public_key=identity.public_key,
        address=address,
        model=backend.model_name,
        capabilities=node_capabilities(),
        info_envelope=info_envelope,
        last_seen_ms=int(time.time() * 1000),
    )
