"""Read one round from the wire: the swarm's AskResponse (answer, clusters with their
generators) and its signed ConsensusRecord (each generator's own candidate, the ballots'
verdicts) into a :class:`~node.eval.scoring.RoundObservation`. Pure: protobufs in, a frozen
dataclass out; no signature checks (the node that served the record has verified it)."""

from __future__ import annotations

from typing import Any

from node.eval.scoring import ClusterView, RoundObservation


def observe_round(response: Any, record: Any, seconds: float) -> RoundObservation:
    """``response``: a ``services_pb2.AskResponse``; ``record``: the round's
    ``messages_pb2.ConsensusRecord`` (``GetRecord``'s envelope payload, parsed)."""
    from protocol.v1 import messages_pb2

    clusters = tuple(
        ClusterView(int(c.index), str(c.answer), tuple(c.generator_ids))
        for c in response.candidates
    )
    node_answers: dict[str, str] = {}
    for envelope in record.candidates:
        candidate = messages_pb2.Candidate.FromString(envelope.payload)
        node_answers[str(candidate.generator_id)] = str(candidate.answer)
    judge_calls = sum(
        len(messages_pb2.Ballot.FromString(envelope.payload).verdicts)
        for envelope in record.ballots
    )
    return RoundObservation(
        swarm_answer=str(response.answer),
        clusters=clusters,
        node_answers=node_answers,
        judge_calls=judge_calls,
        seconds=seconds,
        record_id=bytes(response.record_id).hex(),
    )
