"""A node of the swarm: :class:`SwarmNode`, a thin composition of parts that each hold one
concern (map in :mod:`node.swarm`).

:class:`SwarmNode` extends :class:`node.swarm.peer.Node` (what a node does with each peer
request) with:

* ``records`` (:class:`~node.swarm.records.RecordBook`): accepting ``SubmitRecord`` by
  recomputing the record (:func:`node.round.check.check_record`), appending it to the
  hash-chained ledger, and the adversary alarm;
* ``evidence`` (:class:`~node.swarm.evidence.EvidenceDesk`): pending slash evidence
  (equivocation caught by the replay guard or reported, records proven forged), broadcast and
  recorded by one designated node, and records of trust events;
* ``examiner`` (:class:`~node.swarm.exams.Examiner`): calibration exams;
* ``links`` (:class:`~node.swarm.links.PeerLinks`): peer clients, fan-outs, background tasks;
* ``queries`` (:class:`~node.swarm.queries.IssuedQueries`): one Query per query id for the
  rounds this node leads (a retried Ask gets the recorded round back);
* leading a round (:meth:`SwarmNode.ask`): the phases of :mod:`node.round.leader` in order,
  concurrently with other rounds, then the append under the swarm-wide height lease
  (:mod:`node.swarm.lease`: why concurrent rounds keep one ledger) and the broadcast; blind gold
  rounds (:meth:`SwarmNode.run_gold_round`); catching up (:func:`node.swarm.catchup.catch_up`);
  status (:mod:`node.swarm.status`).

Trust (issue 6; model in :mod:`node.ledger.trust`) is on when a node gets
``trust=TrustParams(...)`` (every node of a swarm must agree, like the swarm id): a leader then
selects only eligible identities and weighs ballots with the trust caps, and the first record
is a genesis of the members the leader sees (:meth:`SwarmNode.ensure_genesis`).

A slow or dead peer is a normal outcome: every fan-out has a deadline, and whoever did not
answer in time is recorded as absent (DESIGN "One round").
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

import grpc

from node.errors import NodeError, NotFound, RoundFailed
from node.ledger.trust import LedgerState
from node.logging import get_logger
from node.membership.registry import Member
from node.membership.static import MembershipView, StaticMembership
from node.round import leader
from node.round.aggregate import DEFAULT_REPUTATION
from node.round.check import CHECKPOINT_WINDOW, CheckedRecord, gold_task_for
from node.round.consensus import cluster_shares
from node.round.leader import RoundContext, Signer
from node.round.settings import RoundSettings
from node.swarm.catchup import SingleFlight, catch_up
from node.swarm.evidence import EvidenceDesk
from node.swarm.exams import Examiner
from node.swarm.lease import COMMIT_LEASE_S, fresh_members, reserve_next_height
from node.swarm.links import PeerLinks
from node.swarm.peer import Node
from node.swarm.queries import IssuedQueries
from node.swarm.records import RecordBook
from node.swarm.status import (
    heartbeat_envelope,
    response_from_envelope,
    response_from_record,
    self_member,
    status_response,
)
from node.transport.client import PeerClient
from protocol.errors import Equivocation, Malformed, ProtocolError
from protocol.identity import node_id_from_public_key
from protocol.replay import make_evidence
from protocol.signing import Envelope, Verified, Verifier
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2
from ranking.trust import TrustParams

__all__ = ["RoundResult", "SwarmNode", "response_from_record"]

log = get_logger("swarm")


@dataclass
class RoundResult:
    """What the leader returns to the asker."""

    response: services_pb2.AskResponse
    record: Envelope


class SwarmNode(Node):
    """A :class:`Node` that takes part in rounds, keeps the ledger and leads (see module doc).

    Parameters
    ----------
    *args, **kwargs
        As for :class:`~node.swarm.peer.Node`.
    membership
        The membership view (default: a static view, set later by the daemon or tests).
    settings
        The parameters of the rounds this node leads.
    channel_credentials
        TLS credentials for outgoing calls (``None`` = plaintext); see
        :mod:`node.transport.tls`.
    trust
        The swarm's trust parameters (``None`` = trust rules off).
    """

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
        self.membership: MembershipView = membership or StaticMembership()
        self.settings = settings or RoundSettings()
        self.signer = Signer(self.identity, self.swarm_id, self.clock)
        self.links = PeerLinks(self.verifier, channel_credentials)
        self.signature_check = Verifier(self.swarm_id)  # SubmitRecord's first check
        self._catch_up_once = SingleFlight(lambda: self.catch_up(), self.links.background)
        # Hooks are lambdas so that they follow parts (and test doubles) assigned later.
        self.records = RecordBook(
            self.store,
            self.verifier,
            self.metrics,
            trust,
            on_behind=lambda: self._catch_up_once(),
            members=lambda: self.membership.members(),
            on_refused=lambda envelope: self.evidence.consider_forged_record(envelope),
            on_appended=lambda state: self.evidence.prune(state),
        )
        self.evidence = EvidenceDesk(
            self.signer,
            self.verifier,
            self.store,
            self.records,
            self.links,
            members=lambda: self.membership.members(),
            broadcast=lambda envelope: self._broadcast(envelope),
            broadcast_timeout_s=lambda: self.settings.broadcast_timeout_s,
            reserve=lambda height: self._lease(height),
        )
        self.queries = IssuedQueries(self.store, self.node_id)
        self.examiner = Examiner(
            self.signer,
            self.records,
            client=self.client,
            params=lambda: self.settings.to_proto(),
            record_events=self.record_events,
        )

    # --- the parts' state, under the names callers know ---

    @property
    def trust(self) -> TrustParams | None:
        """The swarm's trust parameters (``None`` = trust rules off)."""
        return self.records.trust

    @trust.setter
    def trust(self, value: TrustParams | None) -> None:
        self.records.trust = value

    @property
    def state(self) -> LedgerState:
        """The ledger state (reputations, identities, applied evidence)."""
        return self.records.state

    @property
    def reputations(self) -> dict[str, float]:
        """The ledger-derived reputation table."""
        return self.state.reputations

    @property
    def pending_events(self) -> list[messages_pb2.LedgerEvent]:
        """Verified slash events not yet in the ledger."""
        return self.evidence.pending

    @property
    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials for outgoing calls (``None`` = plaintext)."""
        return self.links.channel_credentials

    @property
    def _background(self) -> set[asyncio.Task[Any]]:
        return self.links.background

    def reputation_of(self, node_id: str) -> float:
        return self.reputations.get(node_id, DEFAULT_REPUTATION)

    def is_eligible_leader(self, node_id: str) -> bool:
        """With trust on, Generate and Rank are answered for identities the ledger holds
        eligible, or members of the current view the ledger does not hold jailed (a record
        admitting a leader, the genesis included, may arrive after its first Query); an
        outsider's key is neither (issue 20)."""
        if self.trust is None or self.state.eligible(node_id, self.trust):
            return True
        if self.state.identity(node_id).status == "jailed":
            return False
        return any(m.node_id == node_id for m in self.membership.members())

    # --- identity towards the registry ---

    def info_envelope(self) -> bytes:
        """This node's signed NodeInfo (registration with the registry)."""
        return bytes(self.signed_info().SerializeToString())

    def heartbeat_envelope(self) -> bytes:
        """A signed Heartbeat carrying the ledger position."""
        return heartbeat_envelope(self.identity, self.swarm_id, self._context(), self.store.head())

    def self_member(self) -> Member:
        """This node as a :class:`Member` (for static membership)."""
        return self_member(self.identity, self.address, self.backend, self.info_envelope())

    # --- peers ---

    def client(self, member: Member) -> PeerClient:
        """A cached client for ``member`` (replies must be signed by its node id)."""
        return self.links.client(member)

    async def close(self) -> None:
        """Close peer channels and wait for background broadcasts."""
        await self.links.close()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.links.spawn(coro)

    async def _send_record(self, member: Member, record: Envelope) -> None:
        await self.links.send_record(member, record, self.settings.broadcast_timeout_s)

    def _broadcast(self, record_env: Envelope, members: Iterable[Member] | None = None) -> None:
        """Send a record to every member but this node (default: the membership view)."""
        for member in self.membership.members() if members is None else members:
            if member.node_id != self.node_id:
                self._spawn(self._send_record(member, record_env))

    # --- records and evidence (NodeService) ---

    async def handle_submit_record(self, envelope: Envelope) -> services_pb2.RecordAck:
        """Verify, recompute and append a record; a record that does not recompute is kept as
        evidence and refused (``accepted=False`` with the reason)."""
        # Authenticate first (issue 20, finding 6): nothing is charged, stored or started for
        # bytes that no key signed as a record of this swarm.
        signer = self.signature_check.verify(
            envelope, envelope_pb2.KIND_CONSENSUS_RECORD, check_time=False
        ).signer_id
        if signer != self.node_id:
            self.check_rate(signer, "SubmitRecord")
        async with self.records.lock:
            return self._accept_record_locked(envelope)

    def _accept_record_locked(self, envelope: Envelope) -> services_pb2.RecordAck:
        return self.records.accept_locked(envelope)

    def _admit(self, verified: Verified) -> bool:
        try:
            return super()._admit(verified)
        except Equivocation as exc:
            if self.trust is not None:
                report = make_evidence(self.identity, exc, self.swarm_id, self.clock)
                evidence = messages_pb2.EquivocationEvidence.FromString(report.payload)
                self.evidence.queue(messages_pb2.SlashEvent(equivocation=evidence), report)
            raise

    async def handle_submit_evidence(self, envelope: Envelope) -> services_pb2.RecordAck:
        """Equivocation reports (kind EQUIVOCATION_EVIDENCE) and forged records (kind
        CONSENSUS_RECORD): verified standalone, kept, and queued as slash events."""
        if envelope.kind == envelope_pb2.KIND_CONSENSUS_RECORD:
            signer = node_id_from_public_key(envelope.signer) if envelope.signer else ""
            if signer:
                self.check_rate(signer, "SubmitEvidence")
            self.evidence.take_forged_record_report(envelope)
            return services_pb2.RecordAck(accepted=True, height=self.store.head()[0])
        ack = await super().handle_submit_evidence(envelope)
        if self.trust is not None:
            report = messages_pb2.EquivocationEvidence.FromString(envelope.payload)
            self.evidence.queue(messages_pb2.SlashEvent(equivocation=report), report=None)
        return ack

    async def record_events(
        self, events: Iterable[messages_pb2.LedgerEvent] = ()
    ) -> Envelope | None:
        """Append (and broadcast) a record carrying ``events`` plus the pending slash events
        that still apply, and no round; ``None`` when there is nothing to record (or trust is
        off). See :meth:`node.swarm.evidence.EvidenceDesk.record_events`."""
        return await self.evidence.record_events(list(events))

    async def ensure_genesis(self) -> None:
        """With trust on and an empty ledger, record the members this node sees as genesis."""
        if self.trust is None or self.store.head()[0] != 0:
            return
        fresh = await fresh_members(self.membership)
        ids = sorted({m.node_id for m in fresh} | {self.node_id})
        genesis = messages_pb2.GenesisEvent(
            node_ids=ids, stake=self.trust.min_stake, params_digest=self.trust.digest()
        )
        await self.record_events([messages_pb2.LedgerEvent(genesis=genesis)])

    async def examine(self, member: Member, *, timeout_s: float = 30.0) -> bool:
        """Run a calibration exam of ``member`` and record it; whether it passed
        (:meth:`node.swarm.exams.Examiner.examine`)."""
        return await self.examiner.examine(member, timeout_s=timeout_s)

    async def catch_up(self, members: Iterable[Member] | None = None, batch: int = 100) -> int:
        """Fetch and apply records this node missed from peers; returns how many were added
        (:func:`node.swarm.catchup.catch_up`: each record is checked like a submitted one)."""
        return await catch_up(
            list(self.membership.members() if members is None else members),
            self_id=self.node_id,
            client=self.client,
            submit=self.handle_submit_record,
            height=lambda: self.store.head()[0],
            batch=batch,
        )

    # --- leading a round ---

    async def run_gold_round(self, *, timeout_ms: int = 0) -> RoundResult:
        """Lead a blind gold round: a question drawn from the gold bank seeded by the ledger
        head (:func:`node.round.check.gold_task_for`), sent as an ordinary Query; only the
        record reveals the truth, and reputation moves with it."""
        return await self.ask("", timeout_ms=timeout_ms, gold=True)

    async def _gold_round_quietly(self) -> None:
        try:
            await self.run_gold_round()
        except (NodeError, ProtocolError) as exc:
            log.info("gold round failed", extra={"error": str(exc)[:200]})

    async def _open_round(
        self,
        question: str,
        query_id: bytes,
        members: dict[str, Member],
        *,
        gold: bool,
        timeout_ms: int,
    ) -> RoundContext:
        """The round's context: a snapshot of the ledger taken under the ledger lock (the
        pending evidence the record carries is taken when it is recorded, :meth:`_commit`)."""
        async with self.records.lock:
            height, head = self.store.head()
            state = self.state
        gold_task = gold_task_for(head, query_id) if gold else None
        return RoundContext(
            query_id=query_id,
            question=gold_task.question if gold_task is not None else question,
            settings=self.settings,
            members=members,
            height=height,
            head=head,
            state=state,
            trust=self.trust,
            gold_task=gold_task,
            deadline_scale=leader.deadline_scale(self.settings, timeout_ms),
        )

    async def ask(
        self, question: str, *, timeout_ms: int = 0, query_id: bytes = b"", gold: bool = False
    ) -> RoundResult:
        """Lead one round for ``question`` and return the consensus with its record
        (``gold=True``: a blind gold round, see :meth:`run_gold_round`).

        The phases are :mod:`node.round.leader`'s; around them: a retry's answer from its
        record, the genesis (trust on, empty ledger), the height lease, the Query kept before
        it is sent, the phase timings, a member's check of the record, the append and the
        broadcast.
        """
        start = time.perf_counter()
        earlier = self.queries.earlier_record(question, query_id) if query_id else None
        if earlier is not None:  # a retry of a recorded round: its record, nothing signed
            latency_ms = (time.perf_counter() - start) * 1000
            return RoundResult(response_from_envelope(earlier, latency_ms), earlier)
        if self.trust is not None and self.store.head()[0] == 0:
            try:
                await self.ensure_genesis()
            except RoundFailed:  # another leader is recording the genesis: take theirs
                await self.catch_up()
                if self.store.head()[0] == 0:
                    raise
        members = {m.node_id: m for m in await fresh_members(self.membership)}
        ctx = await self._open_round(
            question, query_id or os.urandom(16), members, gold=gold, timeout_ms=timeout_ms
        )
        ctx = leader.select(ctx, self.signer)
        self.queries.issue(ctx.query_id, question, ctx.query_env)  # kept before it is sent
        timer = _PhaseTimer(self.metrics.round_phase)
        ctx = await leader.generate(ctx, self.links.fan_out)
        timer.lap("generate")
        ctx = await leader.rank(leader.cluster(ctx, self.signer), self.links.fan_out, self.signer)
        timer.lap("rank")
        ctx = leader.aggregate(ctx)
        timer.lap("aggregate")
        record_env, checked = await self._commit(ctx, members, timeout_ms)
        timer.lap("record")
        self._broadcast(record_env, members.values())
        # Leader-local coin: which live round is followed by gold is unpredictable to the
        # rankers; the gold question itself is drawn from the ledger (not cherry-picked).
        # More often after a contested round (issue 12): gold teaches where the vote is unsure.
        if not gold:
            coin = int.from_bytes(os.urandom(8), "big") / 2**64
            gold_record, rules = ctx.state.generator_gold, int(checked.record.rules)
            shares = cluster_shares(checked.clusters, checked.candidates, gold_record, rules=rules)
            if coin < self.settings.gold_chance(shares):
                self._spawn(self._gold_round_quietly())
        response = response_from_record(
            checked.record,
            ctx.clusters,
            ctx.candidates,
            checked.record_id,
            (time.perf_counter() - start) * 1000,
        )
        return RoundResult(response=response, record=record_env)

    async def _commit(
        self, ctx: RoundContext, members: dict[str, Member], timeout_ms: int
    ) -> tuple[Envelope, CheckedRecord]:
        """Record a finished round at the ledger's head as it is now: the lease on the next
        height, then under the ledger lock the linked record, a member's check, the append
        (:mod:`node.swarm.lease`, issue 18). Fails once the ledger is more than
        :data:`~node.round.check.CHECKPOINT_WINDOW` records past where the round opened."""
        others = [m for m in members.values() if m.node_id != self.node_id]
        while True:
            if self.store.head()[0] - ctx.height > CHECKPOINT_WINDOW:
                raise RoundFailed("the ledger moved too far during the round; ask again")
            leased = await reserve_next_height(
                self.membership,
                self.node_id,
                lambda: self.store.head()[0],
                lambda: self.catch_up(others),
                ttl_s=COMMIT_LEASE_S,
                timeout_ms=timeout_ms
                or (self.settings.generate_deadline_ms + self.settings.rank_deadline_ms),
            )
            leased_at = time.monotonic()
            async with self.records.lock:
                height, head = self.store.head()
                if height - ctx.height > CHECKPOINT_WINDOW:
                    continue  # fails above
                position = leader.Position(
                    height, head, self.state, tuple(self.evidence.valid_pending_locked())
                )
                record_env, checked = leader.record(ctx, self.signer, self.verifier, position)
                fresh = height == leased and time.monotonic() - leased_at < COMMIT_LEASE_S / 2
                if not fresh and not await self._lease(height):  # moved on, or lease aging
                    continue
                self.records.verify_own_locked(record_env, height, head)
                self.records.append_locked(checked, record_env, height, head)
                self.queries.recorded(ctx.query_id, record_env)
                return record_env, checked

    async def _lease(self, height: int) -> bool:
        return await self.membership.reserve(height, self.node_id, COMMIT_LEASE_S)

    # --- SwarmService ---

    async def handle_ask(self, request: services_pb2.AskRequest) -> services_pb2.AskResponse:
        if not request.question.strip():
            raise Malformed("the question is empty")
        if len(request.query_id) not in (0, 16):
            raise Malformed("query_id must be 16 bytes when given")
        result = await self.ask(
            request.question, timeout_ms=request.timeout_ms, query_id=bytes(request.query_id)
        )
        return result.response

    async def handle_get_record(self, request: services_pb2.GetRecordRequest) -> Envelope:
        entry = self.store.get_record(bytes(request.record_id))
        if entry is None:
            raise NotFound(f"no record {bytes(request.record_id).hex()}")
        record: Envelope = Envelope.FromString(entry.envelope)
        return record

    async def handle_status(
        self, request: services_pb2.StatusRequest
    ) -> services_pb2.StatusResponse:
        return status_response(
            self.swarm_id,
            self.node_id,
            self.store.head(),
            self.membership.members(),
            self.reputation_of,
            self.state if self.trust is not None else None,
        )


class _PhaseTimer:
    """Observes the time of each phase of a round (``metrics.round_phase``) as it ends."""

    def __init__(self, histogram: Any) -> None:
        self.histogram = histogram
        self.mark = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.histogram.labels(phase).observe(now - self.mark)
        self.mark = now
