"""Slash evidence on its way into the ledger: :class:`EvidenceDesk`.

Owns the verified slash events not yet recorded (:attr:`EvidenceDesk.pending`): equivocation
caught by the replay guard or reported by a peer (``SubmitEvidence``), and records proven
forged (:func:`node.round.check.verify_forged_record`). Each piece is queued once (deduplicated
by :func:`node.round.check.slash_offender`'s key), broadcast to peers when this node found it,
and recorded by one designated node: the lowest admitted id other than the offender. Any
leader also carries the pending events that still apply into its next round record
(:meth:`EvidenceDesk.valid_pending_locked`). :meth:`EvidenceDesk.record_events` appends and
broadcasts a record of trust events only (genesis, exams, slashes).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Sequence

from node.errors import NodeError, RecordRejected, Rejected, RoundFailed
from node.ledger.store import Store
from node.ledger.trust import EventRejected, LedgerState
from node.logging import get_logger
from node.membership.registry import Member
from node.round.check import check_events, slash_offender, verify_forged_record
from node.round.leader import Signer
from node.round.rules import CURRENT_RULES
from node.swarm.links import PeerLinks
from node.swarm.records import MAX_KEPT_RECORDS, RecordBook
from protocol.errors import ProtocolError
from protocol.identity import node_id_from_public_key
from protocol.signing import Envelope, Verifier
from protocol.v1 import envelope_pb2, messages_pb2

log = get_logger("swarm")


async def _granted(height: int) -> bool:
    """Without a coordinator every lease is granted."""
    return True


#: slash events waiting to be recorded, at most: each is re-verified whenever a record is
#: built, so a flood must not grow this without bound (issue 20, finding 5)
MAX_PENDING_EVIDENCE = 256
#: how long an events record waits for its height's lease (beyond a lease's TTL: a leader
#: whose record was refused keeps the height that long)
EVENTS_LEASE_WAIT_S = 15.0


class EvidenceDesk:
    """Pending slash evidence: queue, broadcast, record (see module doc).

    Parameters
    ----------
    signer
        This node's signing identity (records of events are signed by it).
    verifier
        Verifies events against the ledger.
    store
        Where reported forged records are kept.
    records
        The node's ledger (lock, state, check, append; its ``trust`` is the swarm's rules).
    links
        Background tasks and sends to peers.
    members
        The current membership view.
    broadcast
        Sends a record this node appended to every other member.
    broadcast_timeout_s
        The deadline of each send to a peer.
    """

    def __init__(
        self,
        signer: Signer,
        verifier: Verifier,
        store: Store,
        records: RecordBook,
        links: PeerLinks,
        *,
        members: Callable[[], Sequence[Member]],
        broadcast: Callable[[Envelope], None],
        broadcast_timeout_s: Callable[[], float],
        reserve: Callable[[int], Awaitable[bool]] | None = None,
    ) -> None:
        self.signer = signer
        self.verifier = verifier
        self.store = store
        self.records = records
        self.links = links
        self.members = members
        self.broadcast = broadcast
        self.broadcast_timeout_s = broadcast_timeout_s
        #: ``reserve(height)``: the swarm-wide lease on the height an events record takes
        self.reserve = reserve or _granted
        #: verified slash events not yet in the ledger
        self.pending: list[messages_pb2.LedgerEvent] = []

    def event_key(self, event: messages_pb2.LedgerEvent) -> bytes:
        """The dedup key of a pending slash event (empty when it no longer verifies)."""
        try:
            return slash_offender(event.slash, self.signer.swarm_id, self.records.trust)[1]
        except EventRejected:
            return b""

    def prune(self, state: LedgerState) -> None:
        """Drop the pending events ``state`` has applied (the ``on_appended`` hook)."""
        applied = set(state.applied_evidence)
        self.pending = [e for e in self.pending if self.event_key(e) not in applied]

    def consider_forged_record(self, envelope: Envelope) -> None:
        """A refused record: if it is provably forged, it becomes slash evidence."""
        try:
            verify_forged_record(envelope, self.signer.swarm_id, self.records.trust)
        except RecordRejected:
            return
        self.queue(messages_pb2.SlashEvent(forged_record=envelope), report=envelope)

    def take_forged_record_report(self, envelope: Envelope) -> None:
        """A peer's report of a forged record: verified standalone, kept, and queued.

        Raises :class:`~node.errors.Rejected` when the record proves nothing.
        """
        leader = node_id_from_public_key(envelope.signer) if envelope.signer else ""
        if not self._slashable(leader):
            # Checked first, and cheaply (issue 20, finding 5): a throwaway key's "forged"
            # record proves nothing about anyone the ledger could slash.
            raise Rejected(f"not evidence: {leader or 'the signer'} is not an identity here")
        try:
            verify_forged_record(envelope, self.signer.swarm_id, self.records.trust)
        except RecordRejected as exc:
            raise Rejected(f"not evidence: {exc}") from exc
        if self.store.rejected_count("record") < MAX_KEPT_RECORDS:
            self.store.put_rejected(
                "record", "forged_record_report", "reported", envelope.SerializeToString()
            )
        if self.records.trust is not None:
            self.queue(messages_pb2.SlashEvent(forged_record=envelope), report=None)

    def _slashable(self, node_id: str) -> bool:
        """Whether the ledger holds ``node_id`` as an identity (one with stake to slash)."""
        return node_id in self.records.state.identities

    def queue(self, event: messages_pb2.SlashEvent, report: Envelope | None) -> None:
        """Queue verified evidence once; broadcast ``report`` when this node found it; record
        it when this node is the designated recorder."""
        try:
            offender, key = slash_offender(event, self.signer.swarm_id, self.records.trust)
        except EventRejected:
            return
        state = self.records.state
        if not self._slashable(offender):
            log.info("evidence against a non-identity dropped", extra={"offender": offender})
            return
        if key in state.applied_evidence or any(self.event_key(e) == key for e in self.pending):
            return
        if len(self.pending) >= MAX_PENDING_EVIDENCE:
            log.warning("pending evidence is full; dropped", extra={"offender": offender})
            return
        self.pending.append(messages_pb2.LedgerEvent(slash=event))
        log.warning("slash evidence queued", extra={"offender": offender})
        members = self.members()
        if report is not None:
            for member in members:
                if member.node_id not in (self.signer.node_id, offender):
                    self.links.spawn(
                        self.links.send_evidence(member, report, self.broadcast_timeout_s())
                    )
        recorders = sorted(
            m.node_id
            for m in members
            if m.node_id != offender and state.identity(m.node_id).status == "admitted"
        )
        if recorders and recorders[0] == self.signer.node_id:
            self.links.spawn(self._record_pending_quietly())

    async def _record_pending_quietly(self) -> None:
        try:
            await self.record_events()
        except (NodeError, ProtocolError) as exc:
            log.info("pending events not recorded", extra={"error": str(exc)[:200]})

    def valid_pending_locked(self) -> list[messages_pb2.LedgerEvent]:
        """Pending events that still apply to the current state, each checked alone (ledger
        lock held, trust on)."""
        trust = self.records.trust
        if trust is None:
            return []
        height, head = self.records.head()
        out: list[messages_pb2.LedgerEvent] = []
        for event in self.pending:
            try:
                check_events(
                    [*out, event],
                    self.verifier,
                    self.signer.node_id,
                    height,
                    head,
                    self.records.state,
                    trust,
                )
            except RecordRejected:
                continue
            out.append(event)
        return out

    def _append_events_locked(
        self, events: Sequence[messages_pb2.LedgerEvent], height: int, head: bytes
    ) -> Envelope:
        record = messages_pb2.ConsensusRecord(
            context=self.signer.context(os.urandom(16)),
            leader_id=self.signer.node_id,
            height=height,
            previous_record_hash=head,
            events=events,
            trust=True,
            rules=CURRENT_RULES,
        )
        record_env = self.signer.seal(envelope_pb2.KIND_CONSENSUS_RECORD, record)
        # Checked like any received record: events are re-verified against the ledger.
        checked = self.records.check_locked(record_env, height, head)
        self.records.append_locked(checked, record_env, height, head)
        return record_env

    async def record_events(
        self, events: Sequence[messages_pb2.LedgerEvent] = ()
    ) -> Envelope | None:
        """Append (and broadcast) a record carrying ``events`` plus the pending slash events
        that still apply, and no round; ``None`` when there is nothing to record."""
        if self.records.trust is None:
            return None
        deadline = time.monotonic() + EVENTS_LEASE_WAIT_S
        start = self.records.head()[0]
        while True:
            async with self.records.lock:
                height, head = self.records.head()
                if events and height != start:
                    return None  # the ledger moved: the caller's events may no longer apply
                todo = [*events, *self.valid_pending_locked()] if height else list(events)
                if not todo:
                    return None
                # Two records at one height would fork the ledger: wait for the height's
                # lease like a round's record (a leader whose record was refused holds it
                # until its TTL runs out).
                if await self.reserve(height):
                    record_env = self._append_events_locked(todo, height, head)
                    break
            if time.monotonic() > deadline:
                raise RoundFailed(f"height {height} is leased to another leader; try again")
            await asyncio.sleep(0.1)
        self.broadcast(record_env)
        return record_env
