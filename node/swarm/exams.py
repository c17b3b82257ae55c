"""Calibration exams (DESIGN "Admission"): :class:`Examiner`.

An exam's items are drawn from the ledger head (:func:`node.ledger.trust.draw_node_exam`), so
the examiner cannot pick them; :func:`write_exam` turns them into signed Queries (generation
items) and RankRequests (judging items), :func:`sit_exam` asks the candidate and collects what
it signed, and :meth:`Examiner.examine` records the whole exam as an ``ExamEvent``, which every
member grades again (:func:`node.ledger.trust.grade_exam_event`).

The examiner only relays: every answer in the event is the candidate's own signature, and from
rules 1 (:mod:`node.round.rules`, issue 20 finding 8) the event must carry an answer to every
item. An exam the candidate did not answer in full is not recorded at all (no failure, no
cooldown), so an examiner cannot fail a newcomer by leaving answers out or choosing which
count; members refuse a record whose exam event does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from node.errors import NodeError, RoundFailed
from node.ledger.trust import (
    draw_node_exam,
    exam_query_id,
    exam_rank_request_content,
    exam_seed,
)
from node.membership.registry import Member
from node.round.leader import Signer
from node.swarm.records import RecordBook
from node.transport.client import PeerClient
from protocol.errors import ProtocolError
from protocol.signing import Envelope, Verified
from protocol.v1 import envelope_pb2, messages_pb2
from ranking.trust import IdentityState, TrustParams, can_take_exam


@dataclass(frozen=True)
class ExamPapers:
    """One candidate's signed exam items."""

    queries: tuple[Envelope, ...]  # generation items
    rank_requests: tuple[Envelope, ...]  # judging items


def write_exam(
    signer: Signer,
    candidate_id: str,
    before: IdentityState,
    height: int,
    head: bytes,
    params: messages_pb2.RoundParameters,
    trust: TrustParams,
) -> ExamPapers:
    """The signed exam of ``candidate_id`` at ledger position (``height``, ``head``)."""
    from sim.model import task_bank

    bank = task_bank()
    exam = draw_node_exam(candidate_id, before, head, trust)
    seed = exam_seed(candidate_id, before.failed_attempts, head)

    def query_for(qid: bytes, task: Any, gens: list[str], ranks: list[str]) -> Envelope:
        query = messages_pb2.Query(
            context=signer.context(qid),
            question=task.question,
            leader_id=signer.node_id,
            previous_record_hash=head,
            height=height,
            generator_ids=gens,
            ranker_ids=ranks,
            parameters=params,
        )
        return signer.seal(envelope_pb2.KIND_QUERY, query)

    queries = [
        query_for(exam_query_id(seed, "gen", i), bank[int(item)], [candidate_id], [])
        for i, item in enumerate(exam.generation_items)
    ]
    requests = []
    for i, item in enumerate(exam.judging_items):
        qid = exam_query_id(seed, "judge", i)
        task = bank[int(item)]
        candidates, digest, assignments = exam_rank_request_content(
            task, bool(exam.judging_correct_first[i]), candidate_id
        )
        request = messages_pb2.RankRequest(
            context=signer.context(qid),
            query=query_for(qid, task, [], [candidate_id]),
            candidates=candidates,
            candidate_set_digest=digest,
            assignments=assignments,
        )
        requests.append(signer.seal(envelope_pb2.KIND_RANK_REQUEST, request))
    return ExamPapers(queries=tuple(queries), rank_requests=tuple(requests))


async def sit_exam(
    client: PeerClient, candidate_id: str, papers: ExamPapers, timeout_s: float
) -> messages_pb2.ExamEvent:
    """Ask the candidate every item and collect what it signed; an unanswered item is left
    out (:func:`complete` tells whether anything is)."""

    async def ask_one(call: Awaitable[Verified]) -> Envelope | None:
        try:
            reply: Verified = await asyncio.wait_for(call, timeout_s)
            return reply.envelope
        except (NodeError, ProtocolError, TimeoutError):
            return None

    answers = await asyncio.gather(
        *(ask_one(client.call_generate(q, timeout_s=timeout_s)) for q in papers.queries)
    )
    ballots = await asyncio.gather(
        *(ask_one(client.call_rank(r, timeout_s=timeout_s)) for r in papers.rank_requests)
    )
    return messages_pb2.ExamEvent(
        candidate_id=candidate_id,
        queries=papers.queries,
        candidates=[a for a in answers if a is not None],
        rank_requests=papers.rank_requests,
        ballots=[b for b in ballots if b is not None],
    )


def complete(event: messages_pb2.ExamEvent) -> bool:
    """Whether ``event`` carries an answer to every item (what rules 1 require of it)."""
    return len(event.candidates) == len(event.queries) and len(event.ballots) == len(
        event.rank_requests
    )


class Examiner:
    """Runs calibration exams and records them.

    Parameters
    ----------
    signer
        The examiner's signing identity.
    records
        The ledger (its ``trust`` must be on).
    client
        A client for a member.
    params
        The round parameters the exam's Queries carry.
    record_events
        Appends and broadcasts a record of trust events
        (:meth:`node.swarm.evidence.EvidenceDesk.record_events`).
    """

    def __init__(
        self,
        signer: Signer,
        records: RecordBook,
        *,
        client: Callable[[Member], PeerClient],
        params: Callable[[], messages_pb2.RoundParameters],
        record_events: Callable[[Sequence[messages_pb2.LedgerEvent]], Awaitable[Any]],
    ) -> None:
        self.signer = signer
        self.records = records
        self.client = client
        self.params = params
        self.record_events = record_events

    async def examine(self, member: Member, *, timeout_s: float = 30.0) -> bool:
        """Run a calibration exam of ``member`` (on probation, out of cooldown) and record it.

        If the ledger moves while the exam runs, the exam is void (:class:`RoundFailed`) and
        can be retaken. Returns whether the candidate passed, as the ledger now says.
        """
        trust = self.records.trust
        if trust is None:
            raise RoundFailed("exams need the trust rules")
        async with self.records.lock:
            height, head = self.records.head()
            before = self.records.state.identity(member.node_id)
        if height == 0 or not can_take_exam(before, height):
            raise RoundFailed(f"{member.node_id} cannot take an exam at height {height}")
        papers = write_exam(self.signer, member.node_id, before, height, head, self.params(), trust)
        event = await sit_exam(self.client(member), member.node_id, papers, timeout_s)
        if not complete(event):
            raise RoundFailed(
                f"{member.node_id} did not answer every exam item in time: nothing recorded "
                "(an incomplete exam is not graded); examine again"
            )
        async with self.records.lock:
            if self.records.head() != (height, head):
                raise RoundFailed("the ledger moved during the exam; examine again")
        await self.record_events([messages_pb2.LedgerEvent(exam=event)])
        return self.records.state.identity(member.node_id).status == "admitted"
