"""What the swarm explorer shows, as plain JSON: a consensus record as a round (question,
answer clusters with their generators, Bradley-Terry strengths and intervals, the
tied-for-first set, the weighted pairwise win matrix, who judged what, latency, gold or live,
each signature's status) and a node's ``Status`` as members.

Pure: protobuf messages in, JSON-ready dicts out (non-finite floats become ``null``, so the
output is strict JSON a browser parses). A record here came from a node's ledger, so that node's
record check already recomputed it; what is re-checked here is only what needs no ledger
state: each envelope's signature and that its signer is the node id the payload names. A
malformed record yields a view with ``"error"`` rather than an exception.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message

from node.round.clustering import cluster_candidates
from protocol.errors import ProtocolError
from protocol.hashing import payload_hash
from protocol.identity import PUBLIC_KEY_BYTES, node_id_from_public_key
from protocol.signing import SIGNER_ID_FIELDS, Envelope, check_signature, parse_payload
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2

_OUTCOMES = {
    messages_pb2.OUTCOME_A: "A",
    messages_pb2.OUTCOME_B: "B",
    messages_pb2.OUTCOME_TIE: "tie",
    messages_pb2.OUTCOME_ABSTAIN: "abstain",
}


def finite(value: float) -> float | None:
    """``value``, or ``None`` when it is NaN or infinite (strict JSON has neither)."""
    return value if math.isfinite(value) else None


def _signature(what: str, envelope: Envelope, swarm_id: str) -> dict[str, Any]:
    """One envelope's signature status: valid, and signed by the node id its payload names."""
    signer = (
        node_id_from_public_key(envelope.signer) if len(envelope.signer) == PUBLIC_KEY_BYTES else ""
    )
    status: dict[str, Any] = {"what": what, "signer": signer, "valid": False, "reason": ""}
    try:
        check_signature(envelope, swarm_id)
        message = parse_payload(envelope)
    except ProtocolError as exc:
        status["reason"] = str(exc)
        return status
    field = SIGNER_ID_FIELDS.get(envelope.kind)
    claimed = getattr(message, field) if field else signer
    if claimed != signer:
        status["reason"] = f"signed by {signer}, but the payload names {claimed}"
        return status
    status["valid"] = True
    return status


#: a protobuf message type
M = TypeVar("M", bound=Message)


def _parsed(envelope: Envelope, kind: int, message_type: type[Message]) -> Any:
    """The payload of ``envelope`` if it is of ``kind`` and parses, else ``None``."""
    if envelope.kind != kind:
        return None
    try:
        message = parse_payload(envelope)
    except ProtocolError:
        return None
    return message if isinstance(message, message_type) else None


def win_matrix(
    n: int, ballots: Sequence[messages_pb2.Ballot], weights: Sequence[float]
) -> list[list[float]]:
    """``W[i][j]``: weighted wins of cluster ``i`` over ``j`` (DESIGN "Aggregate": ranker weight
    times 1 for a win, 0.5 each way for a tie, or the stated confidence); abstentions and
    out-of-range indices count nothing."""
    matrix = [[0.0] * n for _ in range(n)]
    for index, ballot in enumerate(ballots):
        weight = weights[index] if index < len(weights) and math.isfinite(weights[index]) else 1.0
        for verdict in ballot.verdicts:
            a, b = verdict.a, verdict.b
            if not (a < n and b < n) or a == b:
                continue
            if verdict.outcome == messages_pb2.OUTCOME_TIE:
                share = 0.5
            elif verdict.outcome in (messages_pb2.OUTCOME_A, messages_pb2.OUTCOME_B):
                stated = verdict.confidence if verdict.HasField("confidence") else 1.0
                share = stated if math.isfinite(stated) and 0.5 <= stated <= 1.0 else 1.0
                if verdict.outcome == messages_pb2.OUTCOME_B:
                    share = 1.0 - share
            else:
                continue
            matrix[a][b] += weight * share
            matrix[b][a] += weight * (1.0 - share)
    return [[round(w, 6) for w in row] for row in matrix]


def round_view(envelope: Envelope, swarm_id: str) -> dict[str, Any]:
    """A consensus record as the explorer shows it (see the module docstring)."""
    record_id = payload_hash(envelope).hex()
    record = _parsed(envelope, envelope_pb2.KIND_CONSENSUS_RECORD, messages_pb2.ConsensusRecord)
    if record is None:
        return {"record_id": record_id, "error": "the record does not parse"}
    signatures = [_signature("record", envelope, swarm_id)]
    query = _parsed(record.query, envelope_pb2.KIND_QUERY, messages_pb2.Query)
    if record.HasField("query"):
        signatures.append(_signature("query", record.query, swarm_id))
    candidates = _signed_items(
        record.candidates,
        "candidate",
        envelope_pb2.KIND_CANDIDATE,
        messages_pb2.Candidate,
        swarm_id,
        signatures,
    )
    request = _parsed(record.rank_request, envelope_pb2.KIND_RANK_REQUEST, messages_pb2.RankRequest)
    if record.HasField("rank_request"):
        signatures.append(_signature("rank request", record.rank_request, swarm_id))
    ballots = _signed_items(
        record.ballots,
        "ballot",
        envelope_pb2.KIND_BALLOT,
        messages_pb2.Ballot,
        swarm_id,
        signatures,
    )
    shown = list(request.candidates) if request is not None else []
    groups = _generators_by_cluster(record, query, candidates, len(shown))
    outcome = record.outcome

    clusters = _clusters_view(shown, outcome, groups)
    weights = list(outcome.ranker_weights)
    judges = _judges_view(ballots, weights)
    query_ms = query.context.timestamp_ms if query is not None else 0
    record_ms = record.context.timestamp_ms
    gold = record.HasField("gold") and bool(record.gold.task_id)
    return {
        "record_id": record_id,
        "height": record.height,
        "previous_record_id": record.previous_record_hash.hex(),
        "leader_id": record.leader_id,
        "question": query.question if query is not None else "",
        "answer": record.answer,
        "kind": "gold" if gold else "live",
        "gold": {"task_id": record.gold.task_id, "answer": record.gold.answer} if gold else None,
        "time_ms": record_ms,
        "latency_ms": record_ms - query_ms if query_ms and record_ms >= query_ms else None,
        "clusters": clusters,
        "consensus": _consensus_view(query, outcome),
        "matrix": win_matrix(len(shown), ballots, weights),
        "judges": judges,
        "absent": list(record.absent_ids),
        "trust": record.trust,
        "events": len(record.events),
        "signatures": signatures,
        "signatures_valid": all(s["valid"] for s in signatures),
    }


def _signed_items(
    items: Sequence[Envelope],
    label: str,
    kind: int,
    message_type: type[M],
    swarm_id: str,
    signatures: list[dict[str, Any]],
) -> list[M]:
    """The messages of ``items`` that parse, each signature's status added to ``signatures``
    (labelled ``"<label> <index>"``)."""
    parsed: list[M] = []
    for i, item in enumerate(items):
        signatures.append(_signature(f"{label} {i}", item, swarm_id))
        message = _parsed(item, kind, message_type)
        if message is not None:
            parsed.append(message)
    return parsed


def _consensus_view(
    query: messages_pb2.Query | None, outcome: messages_pb2.AggregationOutcome
) -> dict[str, Any]:
    """Which rule chose the winner (``node.round.consensus``) and how far it trusted the
    judges: ``judge_weight`` 0 is a vote of the generators, negative a vote that counts the
    judges' preference against a cluster (rules 4), ``judges_alone`` the judges only; under the
    evidence reading (consensus 2) ``posterior``, each candidate's recorded chance of being
    right."""
    rule = int(query.parameters.consensus) if query is not None else 0
    weight = float(outcome.judge_weight)
    view: dict[str, Any] = {
        "rule": ("robust-bt", "calibrated", "evidence")[min(rule, 2)],
        "judge_weight": finite(weight),
        "judges_alone": rule == 1 and math.isinf(weight),
    }
    if rule >= 2:
        view["posterior"] = [finite(float(x)) for x in outcome.posterior]
    return view


def _clusters_view(
    shown: Sequence[Any], outcome: messages_pb2.AggregationOutcome, groups: Sequence[Any]
) -> list[dict[str, Any]]:
    """Each answer cluster with its strength, interval, standing and generators."""

    def at(values: Sequence[float], i: int) -> float | None:
        return finite(values[i]) if i < len(values) else None

    tied = set(outcome.tied_for_first)
    unjudged = set(outcome.unjudged)
    return [
        {
            "index": i,
            "answer": item.answer,
            "strength": at(outcome.strengths, i),
            "interval": [at(outcome.lower, i), at(outcome.upper, i)],
            "winner": i == outcome.winner and bool(shown),
            "tied_for_first": i in tied,
            "unjudged": i in unjudged,
            "generators": groups[i] if i < len(groups) else [],
        }
        for i, item in enumerate(shown)
    ]


def _judges_view(
    ballots: Sequence[messages_pb2.Ballot], weights: Sequence[float]
) -> list[dict[str, Any]]:
    """Each judge with its weight and verdicts."""
    return [
        {
            "node_id": ballot.ranker_id,
            "weight": finite(weights[i]) if i < len(weights) else None,
            "verdicts": [
                {
                    "a": v.a,
                    "b": v.b,
                    "outcome": _OUTCOMES.get(v.outcome, "unspecified"),
                    "confidence": finite(v.confidence) if v.HasField("confidence") else None,
                    "rationale": v.rationale,
                }
                for v in ballot.verdicts
            ],
        }
        for i, ballot in enumerate(ballots)
    ]


def _generators_by_cluster(
    record: messages_pb2.ConsensusRecord,
    query: messages_pb2.Query | None,
    candidates: Sequence[messages_pb2.Candidate],
    n: int,
) -> list[list[dict[str, str]]]:
    """For each shown cluster, the generators (node id, model) whose candidates merged into it:
    the clustering recomputed as the record check does."""
    if query is None or not candidates:
        return [[] for _ in range(n)]
    clusters = cluster_candidates(
        [c.answer for c in candidates],
        [c.reasoning for c in candidates],
        query.context.query_id,
        cluster=query.parameters.cluster_answers,
    )
    groups: list[list[dict[str, str]]] = [[] for _ in range(n)]
    for i, cluster in enumerate(clusters[:n]):
        groups[i] = [
            {"node_id": candidates[m].generator_id, "model": candidates[m].model}
            for m in cluster.members
        ]
    return groups


def members_view(status: services_pb2.StatusResponse, *, addresses: bool) -> list[dict[str, Any]]:
    """The members a node's ``Status`` lists; gRPC addresses only when ``addresses`` (they are
    internal: only a caller with a valid API key sees them)."""
    members = []
    for m in status.members:
        member: dict[str, Any] = {
            "node_id": m.node_id,
            "model": m.model,
            "reputation": finite(m.reputation),
            "alive": m.alive,
            "last_seen_s": finite(m.last_seen_s),
            "trust_status": m.trust_status or None,
            "stake": finite(m.stake) if m.trust_status else None,
            "numerics": m.numerics or None,
        }
        if addresses:
            member["address"] = m.address
        members.append(member)
    return sorted(members, key=lambda m: m["node_id"])
