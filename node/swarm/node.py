"""The swarm layer of a node: :class:`SwarmNode` extends :class:`node.swarm.peer.Node`: it
accepts ``SubmitRecord`` by recomputing the record (:func:`node.round.check.check_record`),
appends it to the hash-chained ledger and applies the state transition; it leads rounds
(:meth:`SwarmNode.ask`); and it catches up with peers' ledgers (:meth:`SwarmNode.catch_up`).

Trust (issue 6; model in :mod:`node.ledger.trust`), on when a node gets ``trust=TrustParams(...)``
(every node of a swarm must agree, like the swarm id): the node keeps a
:class:`~node.ledger.trust.LedgerState` next to the ledger; a leader selects only eligible
identities
and weighs ballots with the trust caps; the first record is a genesis of the members the leader
sees; :meth:`SwarmNode.examine` runs a calibration exam and records it; equivocation caught by
the replay guard, equivocation reports (``SubmitEvidence``) and records that are proven forged
(:func:`node.round.check.verify_forged_record`) become pending slash events, broadcast to peers and
recorded by one designated node (the lowest eligible id other than the offender; any leader
also carries pending evidence into its next record); :meth:`SwarmNode.run_gold_round` runs a
blind gold round (the Query is an ordinary Query; the truth is only in the record). After each
append the node evaluates :func:`ranking.trust.adversary_alarm` into a gauge and logs a
warning when it starts firing.

A slow or dead peer is a normal outcome: every fan-out has a deadline, and whoever did not
answer in time is recorded as absent (DESIGN "One round").
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from node.errors import NodeError, RecordRejected, RoundFailed
from node.ledger.replay import replay_ledger
from node.ledger.state import apply_state
from node.ledger.trust import (
    EventRejected,
    LedgerState,
    admitted_height,
    alarm_weights,
    draw_node_exam,
    exam_query_id,
    exam_rank_request_content,
    exam_seed,
)
from node.logging import get_logger
from node.membership.registry import Member
from node.membership.static import MembershipView, StaticMembership
from node.round.aggregate import (
    DEFAULT_REPUTATION,
    absent_ids,
    ballot_weights,
    gold_cluster,
    own_items_by_ranker,
    round_outcome,
)
from node.round.check import (
    CheckedRecord,
    check_events,
    check_record,
    gold_task_for,
    slash_offender,
    verify_forged_record,
)
from node.round.clustering import cluster_candidates
from node.round.numerics import fingerprint_of
from node.round.schedule import assign_pairs
from node.round.selection import select_participants
from node.round.settings import RoundSettings
from node.swarm.peer import Node, node_capabilities
from node.transport.client import PeerClient
from protocol.errors import Equivocation, ProtocolError
from protocol.hashing import candidate_set_digest, payload_hash
from protocol.identity import node_id_from_public_key
from protocol.replay import make_evidence
from protocol.signing import Envelope, Verified, seal
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2
from ranking.errors import RankingError
from ranking.trust import TrustParams, adversary_alarm, can_take_exam

log = get_logger("swarm")


@dataclass
class RoundResult:
    """What the leader returns to the asker."""

    response: services_pb2.AskResponse
    record: Envelope


class SwarmNode(Node):
    """A :class:`Node` that takes part in rounds, keeps the ledger and leads (see module doc)."""

    def __init__(
        self,
        *args: Any,
        membership: MembershipView | None = None,
        settings: RoundSettings | None = None,
        channel_credentials: grpc.ChannelCredentials | None = None,
        trust: TrustParams | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        #: TLS credentials for outgoing calls (``None`` = plaintext); see :mod:`node.transport.tls`
        self.channel_credentials = channel_credentials
        self.membership: MembershipView = membership or StaticMembership()
        self.settings = settings or RoundSettings()
        self._ledger_lock = asyncio.Lock()
        self._clients: dict[str, PeerClient] = {}
        self._background: set[asyncio.Task[Any]] = set()
        #: the swarm's trust parameters (``None`` = trust rules off)
        self.trust = trust
        #: verified slash events not yet in the ledger
        self.pending_events: list[messages_pb2.LedgerEvent] = []
        self._alarm_firing = False
        reputations, _ = self.store.get_reputations()
        height, _ = self.store.head()
        if trust is not None and height:
            # The trust state is not stored separately: rebuild it from the ledger (every
            # record re-checked, as `ledger verify` would).
            summary = replay_ledger(self.store, self.swarm_id, trust=trust)
            self.state = summary.state or LedgerState(height=height, reputations=reputations)
        else:
            self.state = LedgerState(height=height, reputations=reputations)

    @property
    def reputations(self) -> dict[str, float]:
        """The ledger-derived reputation table."""
        return self.state.reputations

    # --- identity towards the registry ---

    def info_envelope(self) -> bytes:
        """This node's signed NodeInfo (registration with the registry)."""
        return bytes(self.signed_info().SerializeToString())

    def heartbeat_envelope(self) -> bytes:
        """A signed Heartbeat carrying the ledger position."""
        height, head = self.store.head()
        beat = messages_pb2.Heartbeat(
            context=self._context(), node_id=self.node_id, ledger_height=height, ledger_head=head
        )
        envelope = seal(self.identity, envelope_pb2.KIND_HEARTBEAT, beat, self.swarm_id)
        return bytes(envelope.SerializeToString())

    def self_member(self) -> Member:
        """This node as a :class:`Member` (for static membership)."""
        return Member(
            node_id=self.node_id,
            public_key=self.identity.public_key,
            address=self.address,
            model=self.backend.model_name,
            capabilities=node_capabilities(),
            info_envelope=self.info_envelope(),
            last_seen_ms=int(time.time() * 1000),
        )

    # --- peers ---

    def client(self, member: Member) -> PeerClient:
        """A cached client for ``member`` (replies must be signed by its node id)."""
        client = self._clients.get(member.node_id)
        if client is None or client.address != member.address:
            client = PeerClient(
                member.address,
                self.verifier,
                expected_node_id=member.node_id,
                channel_credentials=self.channel_credentials,
            )
            self._clients[member.node_id] = client
        return client

    async def close(self) -> None:
        """Close peer channels and wait for background broadcasts."""
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- ledger ---

    def reputation_of(self, node_id: str) -> float:
        return self.reputations.get(node_id, DEFAULT_REPUTATION)

    async def handle_submit_record(self, envelope: Envelope) -> services_pb2.RecordAck:
        """Verify, recompute and append a record; a record that does not recompute is kept as
        evidence and refused (``accepted=False`` with the reason)."""
        signer = node_id_from_public_key(envelope.signer) if envelope.signer else ""
        if signer and signer != self.node_id:
            self.check_rate(signer, "SubmitRecord")
        async with self._ledger_lock:
            return self._accept_record_locked(envelope)

    def _accept_record_locked(self, envelope: Envelope) -> services_pb2.RecordAck:
        height, head = self.store.head()
        record_id = payload_hash(envelope)
        if self.store.get_record(record_id) is not None:
            return services_pb2.RecordAck(accepted=True, height=height)
        ahead = _claimed_height(envelope)
        if ahead is not None and ahead > height:
            # This node missed records: not evidence of anything. Fetch them, then this one.
            self._spawn(self.catch_up())
            return services_pb2.RecordAck(
                accepted=False,
                reason=f"behind: ledger at height {height}, record is for {ahead}; catching up",
                height=height,
            )
        started = time.perf_counter()
        try:
            checked = self._check_locked(envelope, height, head)
        except RecordRejected as exc:
            # Kept: a leader-signed record that does not recompute is evidence against it.
            self.store.put_rejected(
                "record", f"bad_record:{exc.field}", str(exc), envelope.SerializeToString()
            )
            self.metrics.rejected.labels("record_" + exc.field.split("[")[0].split(".")[0]).inc()
            log.warning("record rejected", extra={"reason": str(exc)})
            if self.trust is not None:
                self._consider_forged_record(envelope)
            return services_pb2.RecordAck(accepted=False, reason=str(exc), height=height)
        self._append_locked(checked, envelope, height, head)
        self.metrics.record_check.observe(time.perf_counter() - started)
        return services_pb2.RecordAck(accepted=True, height=height + 1)

    def _check_locked(self, envelope: Envelope, height: int, head: bytes) -> CheckedRecord:
        """Verify and recompute ``envelope`` against this node's ledger state (lock held)."""
        return check_record(
            envelope,
            self.verifier,
            height,
            head,
            self.state.reputations,
            state=self.state,
            trust=self.trust,
        )

    def _append_locked(
        self, checked: CheckedRecord, envelope: Envelope, height: int, head: bytes
    ) -> None:
        state = apply_state(checked, self.state)
        self.store.append_record(
            height, checked.record_id, head, envelope.SerializeToString(), state.reputations
        )
        self.state = state
        applied = set(state.applied_evidence)
        self.pending_events = [e for e in self.pending_events if self._event_key(e) not in applied]
        log.info(
            "record appended",
            extra={"query_id": checked.query_id.hex(), "height": height},
        )
        self._update_alarm()

    # --- trust: alarm, evidence, exams ---

    def _update_alarm(self) -> None:
        if self.trust is None:
            return
        rate = self.state.gold_agreement_rate()
        alarm = adversary_alarm(rate, alarm_weights(self.state, self.trust) or [0.0], self.trust)
        self.metrics.adversary_alarm.set(1.0 if alarm.firing else 0.0)
        self.metrics.gold_agreement.set(rate)
        self.metrics.jailed_identities.set(
            sum(1 for s in self.state.identities.values() if s.status == "jailed")
        )
        if alarm.firing and not self._alarm_firing:
            log.warning(
                "adversary alarm: the adversarial share may be past the safe bound",
                extra={
                    "reasons": ",".join(alarm.reasons),
                    "gold_disagreement": alarm.gold_disagreement,
                    "top_k_share": alarm.top_k_share,
                    "hhi": alarm.hhi,
                },
            )
        self._alarm_firing = alarm.firing

    def _event_key(self, event: messages_pb2.LedgerEvent) -> bytes:
        try:
            return slash_offender(event.slash, self.swarm_id, self.trust)[1]
        except EventRejected:
            return b""

    def _consider_forged_record(self, envelope: Envelope) -> None:
        """A refused record: if it is provably forged, it becomes slash evidence."""
        try:
            verify_forged_record(envelope, self.swarm_id, self.trust)
        except RecordRejected:
            return
        self._queue_evidence(messages_pb2.SlashEvent(forged_record=envelope), report=envelope)

    def _admit(self, verified: Verified) -> bool:
        try:
            return super()._admit(verified)
        except Equivocation as exc:
            if self.trust is not None:
                report = make_evidence(self.identity, exc, self.swarm_id, self.clock)
                evidence = messages_pb2.EquivocationEvidence.FromString(report.payload)
                self._queue_evidence(messages_pb2.SlashEvent(equivocation=evidence), report)
            raise

    async def handle_submit_evidence(self, envelope: Envelope) -> services_pb2.RecordAck:
        """Equivocation reports (kind EQUIVOCATION_EVIDENCE) and forged records (kind
        CONSENSUS_RECORD): verified standalone, kept, and queued as slash events."""
        if envelope.kind == envelope_pb2.KIND_CONSENSUS_RECORD:
            signer = node_id_from_public_key(envelope.signer) if envelope.signer else ""
            if signer:
                self.check_rate(signer, "SubmitEvidence")
            try:
                verify_forged_record(envelope, self.swarm_id, self.trust)
            except RecordRejected as exc:
                from node.errors import Rejected

                raise Rejected(f"not evidence: {exc}") from exc
            self.store.put_rejected(
                "record", "forged_record_report", "reported", envelope.SerializeToString()
            )
            if self.trust is not None:
                self._queue_evidence(messages_pb2.SlashEvent(forged_record=envelope), report=None)
            height, _ = self.store.head()
            return services_pb2.RecordAck(accepted=True, height=height)
        ack = await super().handle_submit_evidence(envelope)
        if self.trust is not None:
            report = messages_pb2.EquivocationEvidence.FromString(envelope.payload)
            self._queue_evidence(messages_pb2.SlashEvent(equivocation=report), report=None)
        return ack

    def _queue_evidence(self, event: messages_pb2.SlashEvent, report: Envelope | None) -> None:
        """Queue verified evidence once; broadcast it when this node found it; record it when
        this node is the designated recorder."""
        try:
            offender, key = slash_offender(event, self.swarm_id, self.trust)
        except EventRejected:
            return
        if key in self.state.applied_evidence or any(
            self._event_key(e) == key for e in self.pending_events
        ):
            return
        self.pending_events.append(messages_pb2.LedgerEvent(slash=event))
        log.warning("slash evidence queued", extra={"offender": offender})
        members = self.membership.members()
        if report is not None:
            for member in members:
                if member.node_id not in (self.node_id, offender):
                    self._spawn(self._send_evidence(member, report))
        recorders = sorted(
            m.node_id
            for m in members
            if m.node_id != offender and self.state.identity(m.node_id).status == "admitted"
        )
        if recorders and recorders[0] == self.node_id:
            self._spawn(self._record_pending_quietly())

    async def _send_evidence(self, member: Member, report: Envelope) -> None:
        try:
            await self.client(member).call_submit_evidence(
                report, timeout_s=self.settings.broadcast_timeout_s
            )
        except NodeError as exc:
            log.info("evidence not delivered", extra={"peer": member.node_id, "error": str(exc)})

    async def _record_pending_quietly(self) -> None:
        try:
            await self.record_events()
        except (NodeError, ProtocolError) as exc:
            log.info("pending events not recorded", extra={"error": str(exc)[:200]})

    def _valid_pending_locked(self) -> list[messages_pb2.LedgerEvent]:
        """Pending events that still apply to the current state, each checked alone."""
        assert self.trust is not None
        height, head = self.store.head()
        out: list[messages_pb2.LedgerEvent] = []
        for event in self.pending_events:
            try:
                check_events(
                    [*out, event],
                    self.verifier,
                    self.node_id,
                    height,
                    head,
                    self.state,
                    self.trust,
                )
            except RecordRejected:
                continue
            out.append(event)
        return out

    async def record_events(
        self, events: Sequence[messages_pb2.LedgerEvent] = ()
    ) -> Envelope | None:
        """Append (and broadcast) a record carrying ``events`` plus the pending slash events
        that still apply, and no round; ``None`` when there is nothing to record."""
        if self.trust is None:
            return None
        async with self._ledger_lock:
            height, head = self.store.head()
            todo = [*events, *self._valid_pending_locked()] if height else list(events)
            if not todo:
                return None
            record = messages_pb2.ConsensusRecord(
                context=self._context(os.urandom(16)),
                leader_id=self.node_id,
                height=height,
                previous_record_hash=head,
                events=todo,
                trust=True,
            )
            record_env = seal(
                self.identity, envelope_pb2.KIND_CONSENSUS_RECORD, record, self.swarm_id
            )
            # Checked like any received record: events are re-verified against the ledger.
            checked = self._check_locked(record_env, height, head)
            self._append_locked(checked, record_env, height, head)
        self._broadcast(record_env)
        return record_env

    def _broadcast(self, record_env: Envelope) -> None:
        for member in self.membership.members():
            if member.node_id != self.node_id:
                self._spawn(self._send_record(member, record_env))

    async def ensure_genesis(self) -> None:
        """With trust on and an empty ledger, record the members this node sees as genesis."""
        if self.trust is None or self.store.head()[0] != 0:
            return
        try:
            fresh = await self.membership.refresh()
        except Exception:  # the registry is slow: the cached view will do
            fresh = self.membership.members()
        ids = sorted({m.node_id for m in fresh} | {self.node_id})
        genesis = messages_pb2.GenesisEvent(
            node_ids=ids, stake=self.trust.min_stake, params_digest=self.trust.digest()
        )
        await self.record_events([messages_pb2.LedgerEvent(genesis=genesis)])

    async def examine(self, member: Member, *, timeout_s: float = 30.0) -> bool:
        """Run a calibration exam of ``member`` (on probation, out of cooldown) and record it.

        Items are drawn from the current head (:func:`node.ledger.trust.draw_node_exam`); if the
        ledger
        moves while the exam runs, the exam is void (:class:`RoundFailed`) and can be retaken.
        Returns whether the candidate passed, as the ledger now says.
        """
        from sim.model import task_bank

        if self.trust is None:
            raise RoundFailed("exams need the trust rules")
        async with self._ledger_lock:
            height, head = self.store.head()
            before = self.state.identity(member.node_id)
        if height == 0 or not can_take_exam(before, height):
            raise RoundFailed(f"{member.node_id} cannot take an exam at height {height}")
        bank = task_bank()
        exam = draw_node_exam(member.node_id, before, head, self.trust)
        seed = exam_seed(member.node_id, before.failed_attempts, head)
        client = self.client(member)
        params = self.settings.to_proto()

        def query_for(qid: bytes, task: Any, gens: list[str], ranks: list[str]) -> Envelope:
            query = messages_pb2.Query(
                context=self._context(qid),
                question=task.question,
                leader_id=self.node_id,
                previous_record_hash=head,
                height=height,
                generator_ids=gens,
                ranker_ids=ranks,
                parameters=params,
            )
            return seal(self.identity, envelope_pb2.KIND_QUERY, query, self.swarm_id)

        queries = [
            query_for(exam_query_id(seed, "gen", i), bank[int(item)], [member.node_id], [])
            for i, item in enumerate(exam.generation_items)
        ]
        requests = []
        for i, item in enumerate(exam.judging_items):
            qid = exam_query_id(seed, "judge", i)
            task = bank[int(item)]
            candidates, digest, assignments = exam_rank_request_content(
                task, bool(exam.judging_correct_first[i]), member.node_id
            )
            request = messages_pb2.RankRequest(
                context=self._context(qid),
                query=query_for(qid, task, [], [member.node_id]),
                candidates=candidates,
                candidate_set_digest=digest,
                assignments=assignments,
            )
            requests.append(
                seal(self.identity, envelope_pb2.KIND_RANK_REQUEST, request, self.swarm_id)
            )

        async def ask_one(call: Any) -> Envelope | None:
            try:
                reply: Verified = await asyncio.wait_for(call, timeout_s)
                return reply.envelope
            except (NodeError, ProtocolError, TimeoutError):
                return None  # an unanswered item counts as wrong

        answers = await asyncio.gather(
            *(ask_one(client.call_generate(q, timeout_s=timeout_s)) for q in queries)
        )
        ballots = await asyncio.gather(
            *(ask_one(client.call_rank(r, timeout_s=timeout_s)) for r in requests)
        )
        event = messages_pb2.ExamEvent(
            candidate_id=member.node_id,
            queries=queries,
            candidates=[a for a in answers if a is not None],
            rank_requests=requests,
            ballots=[b for b in ballots if b is not None],
        )
        async with self._ledger_lock:
            if self.store.head() != (height, head):
                raise RoundFailed("the ledger moved during the exam; examine again")
        await self.record_events([messages_pb2.LedgerEvent(exam=event)])
        return self.state.identity(member.node_id).status == "admitted"

    async def catch_up(self, members: Sequence[Member] | None = None, batch: int = 100) -> int:
        """Fetch and apply records this node missed from peers; returns how many were added.

        Each peer's records are checked exactly like submitted ones, so a lying peer can only
        fail to help.
        """
        added = 0
        for member in members if members is not None else self.membership.members():
            if member.node_id == self.node_id:
                continue
            while True:
                height, _ = self.store.head()
                try:
                    envelopes = await self.client(member).call_get_records(height, batch)
                except NodeError as exc:
                    log.info(
                        "catch-up peer unavailable",
                        extra={"peer": member.node_id, "error": str(exc)},
                    )
                    break
                if not envelopes:
                    break
                progressed = False
                for item in envelopes:
                    ack = await self.handle_submit_record(item)
                    if not ack.accepted:
                        break
                    if ack.height > height:
                        added += 1
                        height = ack.height
                        progressed = True
                if not progressed or len(envelopes) < batch:
                    break
        return added

    # --- leading a round ---

    async def run_gold_round(self, *, timeout_ms: int = 0) -> RoundResult:
        """Lead a blind gold round: a question drawn from the gold bank seeded by the ledger
        head and the query id (:func:`node.round.check.gold_task_for`), sent as an ordinary Query;
        only the record reveals the truth, and reputation moves with it."""
        return await self.ask("", timeout_ms=timeout_ms, gold=True)

    async def _gold_round_quietly(self) -> None:
        try:
            await self.run_gold_round()
        except (NodeError, ProtocolError) as exc:
            log.info("gold round failed", extra={"error": str(exc)[:200]})

    async def _reserve_next_height(self, members: dict[str, Member], timeout_ms: int) -> None:
        """Take the swarm-wide lease on this node's next ledger height before leading.

        Two leaders building records at one height would fork the ledger, so the membership's
        coordinator (the Ray registry) grants each height to one leader at a time. A refused
        lease means another leader's record is on its way: catch up and ask again, until the
        round's deadline. The coordinator can delay a round but cannot forge one.
        """
        ttl_s = (self.settings.generate_deadline_ms + self.settings.rank_deadline_ms) / 1000 + 5
        deadline = time.monotonic() + (timeout_ms / 1000 if timeout_ms else ttl_s)
        while True:
            height, _ = self.store.head()
            if await self.membership.reserve(height, self.node_id, ttl_s):
                return
            if time.monotonic() > deadline:
                raise RoundFailed(
                    f"height {height} is leased to another leader and its record did not "
                    "arrive in time; ask again"
                )
            await self.catch_up([m for m in members.values() if m.node_id != self.node_id])
            await asyncio.sleep(0.05)

    async def ask(
        self, question: str, *, timeout_ms: int = 0, query_id: bytes = b"", gold: bool = False
    ) -> RoundResult:
        """Lead one round for ``question`` and return the consensus with its record
        (``gold=True``: a blind gold round, see :meth:`run_gold_round`)."""
        start = time.perf_counter()
        query_id = query_id or os.urandom(16)
        settings = self.settings
        if self.trust is not None and self.store.head()[0] == 0:
            await self.ensure_genesis()
        try:
            fresh = await self.membership.refresh()
        except Exception as exc:  # the registry is slow or restarting: use the cached view
            log.warning("membership refresh failed", extra={"error": str(exc)[:200]})
            fresh = self.membership.members()
        members = {m.node_id: m for m in fresh}
        await self._reserve_next_height(members, timeout_ms)
        async with self._ledger_lock:
            height, head = self.store.head()
            state = self.state
            reputations = dict(state.reputations)
            events = self._valid_pending_locked() if self.trust is not None else []
        gold_task = gold_task_for(head, query_id) if gold else None
        if gold_task is not None:
            question = gold_task.question
        pool = sorted(members)
        admitted: list[int] = []
        if self.trust is not None:
            pool = [i for i in pool if state.eligible(i, self.trust)]
            admitted = [admitted_height(state.identity(i)) for i in pool]
            if not pool:
                raise RoundFailed("no eligible identity to select (trust rules)")
        pool_reputations = [reputations.get(i, DEFAULT_REPUTATION) for i in pool]
        selection = select_participants(
            pool, pool_reputations, query_id, head, settings.max_generators, settings.max_rankers
        )
        params = settings.to_proto()
        query = messages_pb2.Query(
            context=self._context(query_id),
            question=question,
            leader_id=self.node_id,
            previous_record_hash=head,
            height=height,
            generator_ids=selection.generator_ids,
            ranker_ids=selection.ranker_ids,
            parameters=params,
        )
        query_env = seal(self.identity, envelope_pb2.KIND_QUERY, query, self.swarm_id)
        deadline_scale = 1.0
        if timeout_ms:
            total = settings.generate_deadline_ms + settings.rank_deadline_ms
            deadline_scale = min(1.0, timeout_ms / total)

        # Generate.
        phase = self.metrics.round_phase
        mark = time.perf_counter()
        gen_timeout_s = settings.generate_deadline_ms * deadline_scale / 1000
        replies = await self._fan_out(
            [members[g] for g in selection.generator_ids],
            lambda client: client.call_generate(query_env, timeout_s=gen_timeout_s),
            gen_timeout_s,
        )
        by_generator = {v.signer_id: v for v in replies}
        candidate_envs = [
            by_generator[g].envelope for g in selection.generator_ids if g in by_generator
        ]
        candidates = [by_generator[g].message for g in selection.generator_ids if g in by_generator]
        if len(candidates) < max(1, settings.quorum_generators):
            raise RoundFailed(
                f"only {len(candidates)} of {len(selection.generator_ids)} generators answered "
                f"within {gen_timeout_s:g} s (quorum {settings.quorum_generators})"
            )

        # Rank.
        mark = _observe(phase, "generate", mark)
        clusters = cluster_candidates(
            [c.answer for c in candidates],
            [c.reasoning for c in candidates],
            query_id,
            cluster=settings.cluster_answers,
        )
        own = own_items_by_ranker(clusters, candidates, selection.ranker_ids)
        assignments = assign_pairs(
            len(clusters),
            list(selection.ranker_ids),
            own,
            query_id,
            settings.schedule,
            settings.schedule_k,
        )
        request = messages_pb2.RankRequest(
            context=self._context(query_id),
            query=query_env,
            candidates=[
                messages_pb2.AnonymousCandidate(
                    content_hash=c.content_hash, answer=c.answer, reasoning=c.reasoning
                )
                for c in clusters
            ],
            candidate_set_digest=candidate_set_digest(c.content_hash for c in clusters),
            assignments=[
                messages_pb2.Assignment(
                    ranker_id=ranker_id,
                    pairs=[messages_pb2.Pair(a=int(a), b=int(b)) for a, b in pairs],
                )
                for ranker_id, pairs in assignments
            ],
        )
        request_env = seal(self.identity, envelope_pb2.KIND_RANK_REQUEST, request, self.swarm_id)
        expected_pairs = {
            ranker_id: [(int(a), int(b)) for a, b in pairs] for ranker_id, pairs in assignments
        }
        rankers = [members[r] for r, pairs in assignments if len(pairs)]
        rank_timeout_s = settings.rank_deadline_ms * deadline_scale / 1000
        ballot_replies = await self._fan_out(
            rankers,
            lambda client: client.call_rank(request_env, timeout_s=rank_timeout_s),
            rank_timeout_s,
        )
        by_ranker = {
            v.signer_id: v
            for v in ballot_replies
            if [(x.a, x.b) for x in v.message.verdicts] == expected_pairs.get(v.signer_id)
        }
        ordered = [r for r in selection.ranker_ids if r in by_ranker]
        ballots = [by_ranker[r].message for r in ordered]
        if rankers and len(ballots) < max(1, settings.quorum_rankers):
            raise RoundFailed(
                f"only {len(ballots)} of {len(rankers)} rankers answered within "
                f"{rank_timeout_s:g} s (quorum {settings.quorum_rankers})"
            )

        # Aggregate and record.
        mark = _observe(phase, "rank", mark)
        weights_view = messages_pb2.ConsensusRecord(
            height=height, reputation_ids=pool, reputations=pool_reputations, admitted_at=admitted
        )
        try:
            outcome = round_outcome(
                clusters,
                ballots,
                ballot_weights(weights_view, ordered, reputations, self.trust),
                [own.get(r, -1) for r in ordered],
                params,
            )
        except RankingError as exc:  # e.g. alpha = 0 and a unanimous winner: no MLE exists
            raise RoundFailed(f"the ballots cannot be aggregated: {exc}") from exc
        mark = _observe(phase, "aggregate", mark)
        record = messages_pb2.ConsensusRecord(
            context=self._context(query_id),
            leader_id=self.node_id,
            height=height,
            previous_record_hash=head,
            query=query_env,
            candidates=candidate_envs,
            rank_request=request_env,
            ballots=[by_ranker[r].envelope for r in ordered],
            outcome=outcome,
            answer=clusters[outcome.winner].answer,
            absent_ids=absent_ids(query, candidates, request.assignments, ballots),
            reputation_ids=pool,
            reputations=pool_reputations,
            admitted_at=admitted,
            events=events,
            trust=self.trust is not None,
        )
        if gold_task is not None:
            record.gold.CopyFrom(
                messages_pb2.GoldReveal(task_id=gold_task.task_id, answer=gold_task.answer)
            )
        identities = None
        evidence_keys: tuple[bytes, ...] = ()
        if events and self.trust is not None:
            identities, evidence_keys = check_events(
                events, self.verifier, self.node_id, height, head, state, self.trust
            )
        record_env = seal(self.identity, envelope_pb2.KIND_CONSENSUS_RECORD, record, self.swarm_id)
        # The leader built this record with the very functions a receiver recomputes, so it
        # appends without re-checking it; every other node checks it in full.
        checked = CheckedRecord(
            record=record,
            record_id=payload_hash(record_env),
            leader_id=self.node_id,
            query_id=query_id,
            candidates=tuple(candidates),
            ballots=tuple(ballots),
            clusters=tuple(clusters),
            identities=identities,
            evidence_keys=evidence_keys,
            gold_item=gold_cluster(clusters, gold_task) if gold_task is not None else -1,
            gold=gold_task is not None,
        )
        async with self._ledger_lock:
            if self.store.head() != (height, head):
                # The ledger moved while the round ran (another leader's record arrived): the
                # selection seed is stale, so this round cannot be recorded at this height.
                raise RoundFailed("the ledger moved during the round; ask again")
            self._append_locked(checked, record_env, height, head)
        _observe(phase, "record", mark)
        for member in members.values():
            if member.node_id != self.node_id:
                self._spawn(self._send_record(member, record_env))
        # Leader-local coin: which live round is followed by gold is unpredictable to the
        # rankers; the gold question itself is drawn from the ledger (not cherry-picked).
        coin = int.from_bytes(os.urandom(8), "big") / 2**64
        if not gold and coin < settings.gold_fraction:
            self._spawn(self._gold_round_quietly())
        latency_ms = (time.perf_counter() - start) * 1000
        return RoundResult(
            response=response_from_record(
                record, clusters, candidates, payload_hash(record_env), latency_ms
            ),
            record=record_env,
        )

    async def _fan_out(
        self,
        members: Sequence[Member],
        call: Any,
        timeout_s: float,
    ) -> list[Verified]:
        """Call every member concurrently; keep the verified replies that arrived in time."""
        if not members:
            return []

        async def one(member: Member) -> Verified | None:
            try:
                reply: Verified = await call(self.client(member))
                return reply
            except (NodeError, ProtocolError) as exc:
                log.info(
                    "peer did not answer",
                    extra={"peer": member.node_id, "error": str(exc)[:200]},
                )
                return None

        tasks = [asyncio.create_task(one(m)) for m in members]
        done, pending = await asyncio.wait(tasks, timeout=timeout_s + 0.5)
        for task in pending:
            task.cancel()
        return [r for t in done if (r := t.result()) is not None]

    async def _send_record(self, member: Member, record: Envelope) -> None:
        try:
            ack = await self.client(member).call_submit_record(
                record, timeout_s=self.settings.broadcast_timeout_s
            )
            if not ack.accepted:
                log.warning(
                    "peer refused record", extra={"peer": member.node_id, "reason": ack.reason}
                )
        except NodeError as exc:
            log.info("record not delivered", extra={"peer": member.node_id, "error": str(exc)})

    # --- SwarmService ---

    async def handle_ask(self, request: services_pb2.AskRequest) -> services_pb2.AskResponse:
        if not request.question.strip():
            from protocol.errors import Malformed

            raise Malformed("the question is empty")
        if len(request.query_id) not in (0, 16):
            from protocol.errors import Malformed

            raise Malformed("query_id must be 16 bytes when given")
        result = await self.ask(
            request.question, timeout_ms=request.timeout_ms, query_id=bytes(request.query_id)
        )
        return result.response

    async def handle_get_record(self, request: services_pb2.GetRecordRequest) -> Envelope:
        entry = self.store.get_record(bytes(request.record_id))
        if entry is None:
            from node.errors import NotFound

            raise NotFound(f"no record {bytes(request.record_id).hex()}")
        record: Envelope = Envelope.FromString(entry.envelope)
        return record

    def _trust_status(self, node_id: str) -> dict[str, Any]:
        """A member's trust status and bonded stake from this node's ledger (trust on only)."""
        if self.trust is None:
            return {}
        identity = self.state.identity(node_id)
        return {"trust_status": identity.status, "stake": identity.stake}

    async def handle_status(
        self, request: services_pb2.StatusRequest
    ) -> services_pb2.StatusResponse:
        height, head = self.store.head()
        now_ms = int(time.time() * 1000)
        return services_pb2.StatusResponse(
            swarm_id=self.swarm_id,
            node_id=self.node_id,
            ledger_height=height,
            ledger_head=head,
            members=[
                services_pb2.MemberStatus(
                    node_id=m.node_id,
                    address=m.address,
                    model=m.model,
                    reputation=self.reputation_of(m.node_id),
                    alive=True,
                    last_seen_s=max(0.0, (now_ms - m.last_seen_ms) / 1000),
                    numerics=fingerprint_of(m.capabilities) or "",
                    **self._trust_status(m.node_id),
                )
                for m in sorted(self.membership.members(), key=lambda m: m.node_id)
            ],
        )


def _observe(histogram: Any, phase: str, since: float) -> float:
    """Observe the time since ``since`` under ``phase``; return now (the next phase's start)."""
    now = time.perf_counter()
    histogram.labels(phase).observe(now - since)
    return now


def _claimed_height(envelope: Envelope) -> int | None:
    """The height a record envelope claims (unverified; ``None`` if it does not parse)."""
    if envelope.kind != envelope_pb2.KIND_CONSENSUS_RECORD:
        return None
    try:
        return int(messages_pb2.ConsensusRecord.FromString(envelope.payload).height)
    except Exception:  # malformed bytes: check_record will reject them properly
        return None


def response_from_record(
    record: messages_pb2.ConsensusRecord,
    clusters: Sequence[Any],
    candidates: Sequence[messages_pb2.Candidate],
    record_id: bytes,
    latency_ms: float = 0.0,
) -> services_pb2.AskResponse:
    """The user-facing answer and evidence for a record."""
    outcome = record.outcome
    scored = [
        services_pb2.ScoredCandidate(
            index=i,
            answer=cluster.answer,
            strength=outcome.strengths[i],
            lower=outcome.lower[i],
            upper=outcome.upper[i],
            generator_ids=sorted(candidates[m].generator_id for m in cluster.members),
        )
        for i, cluster in enumerate(clusters)
    ]
    scored.sort(key=lambda s: (-s.strength, s.index))
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
    )
