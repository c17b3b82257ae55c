"""A node's ledger as it grows: :class:`RecordBook`.

Owns the ledger lock, the :class:`~node.ledger.trust.LedgerState` kept next to the stored
chain, the check of a received record (:func:`node.round.check.check_record`, against this
node's own ledger), the append (:func:`node.ledger.state.apply_state`, then the store), the
acceptance rules of ``SubmitRecord`` (a duplicate is acknowledged, a record from ahead starts a
catch-up, a record that does not recompute is kept as evidence and refused), and the adversary
alarm evaluated after each append (:func:`ranking.trust.adversary_alarm`).

What happens next is not its concern: the composing node passes hooks for "this node is
behind", "this refused record may be forged" and "a record was appended".
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from node.errors import RecordRejected, RoundFailed
from node.ledger.replay import replay_ledger
from node.ledger.state import RecentPositions, apply_state
from node.ledger.store import Store
from node.ledger.trust import LedgerState, alarm_weights
from node.logging import get_logger
from node.membership.registry import Member
from node.metrics import NodeMetrics
from node.round.check import CheckedRecord, check_record
from protocol.hashing import payload_hash
from protocol.identity import node_id_from_public_key
from protocol.signing import Envelope, Verifier
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2
from ranking.trust import TrustParams, adversary_alarm

log = get_logger("swarm")

#: refused records kept as evidence at most (beyond, they are refused and not kept)
MAX_KEPT_RECORDS = 10_000


def _nothing(*_: object) -> None:
    """The default hook: do nothing."""


class RecordBook:
    """Checks, appends and accepts records on one node's ledger (see module doc).

    Parameters
    ----------
    store
        The node's durable store (the hash-chained ledger lives there).
    verifier
        Verifies every signature inside a record.
    metrics
        Where record checks, rejections and the alarm gauges go.
    trust
        The swarm's trust parameters (``None`` = trust rules off).
    on_behind
        Called when a record claims a height above this ledger's (start a catch-up).
    on_refused
        Called with a refused record when trust is on (it may be proof of forgery).
    on_appended
        Called with the new state after each append.
    members
        The membership view: refused records are kept as evidence only when their signer is a
        member or an identity the ledger knows (a throwaway key's junk is refused, not kept);
        ``None`` keeps every signer's.
    """

    def __init__(
        self,
        store: Store,
        verifier: Verifier,
        metrics: NodeMetrics,
        trust: TrustParams | None = None,
        *,
        on_behind: Callable[[], None] = _nothing,
        on_refused: Callable[[Envelope], None] = _nothing,
        on_appended: Callable[[LedgerState], None] = _nothing,
        members: Callable[[], Sequence[Member]] | None = None,
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.metrics = metrics
        #: the swarm's trust parameters (``None`` = trust rules off)
        self.trust = trust
        self.on_behind = on_behind
        self.on_refused = on_refused
        self.on_appended = on_appended
        self.members = members
        #: held while reading the head to build on it, and while appending
        self.lock = asyncio.Lock()
        self._alarm_firing = False
        #: the last ledger positions, which records of concurrent rounds were opened on
        self.positions = RecentPositions()
        self.state = self._load_state()

    def _load_state(self) -> LedgerState:
        reputations, _ = self.store.get_reputations()
        height, head = self.store.head()
        if self.trust is not None and height:
            # The trust state is not stored separately: rebuild it from the ledger (every
            # record re-checked, as `ledger verify` would).
            summary = replay_ledger(self.store, self.verifier.swarm_id, trust=self.trust)
            if summary.positions is not None:
                self.positions = summary.positions
            if summary.state is not None:
                return summary.state
        state = LedgerState(height=height, reputations=reputations, rules=self._head_rules(height))
        self.positions.add(height, head, state)
        return state

    def _head_rules(self, height: int) -> int:
        """The rules version of the last record (without trust the only state beyond the
        reputations that a record leaves: :mod:`node.round.rules`' ratchet)."""
        if not height:
            return 0
        entries = self.store.records_from(height - 1, 1)
        if not entries:
            return 0
        envelope = Envelope.FromString(entries[0].envelope)
        return int(messages_pb2.ConsensusRecord.FromString(envelope.payload).rules)

    def checkpoint(self, height: int) -> tuple[bytes, LedgerState] | None:
        """The ledger position after ``height`` records (head hash, state), which a record
        of a concurrent round was opened on: from the recent positions, or (after a restart)
        by replaying the ledger up to it. ``None`` beyond this node's ledger."""
        found = self.positions(height)
        if found is not None or height > self.store.head()[0]:
            return found
        summary = replay_ledger(self.store, self.verifier.swarm_id, trust=self.trust, upto=height)
        if summary.records != height or summary.state is None:
            return None
        return summary.head, summary.state

    def head(self) -> tuple[int, bytes]:
        """The ledger's (height, hash of the last record)."""
        return self.store.head()

    def check_locked(self, envelope: Envelope, height: int, head: bytes) -> CheckedRecord:
        """Verify and recompute ``envelope`` against this node's ledger state (lock held)."""
        return check_record(
            envelope,
            self.verifier,
            height,
            head,
            self.state.reputations,
            state=self.state,
            trust=self.trust,
            checkpoint=self.checkpoint,
        )

    def verify_own_locked(self, envelope: Envelope, height: int, head: bytes) -> None:
        """Run a member's check on a record this node made as leader, before appending it
        (issue 20, finding 3; lock held).

        The leader's phases build the record with the functions a member recomputes and drop
        replies a member would refuse, so this passes for every honest round; should a peer's
        reply still slip through, the round fails here (:class:`~node.errors.RoundFailed`)
        instead of this node appending and broadcasting a record every member refuses as
        forged, and forking off.
        """
        try:
            self.check_locked(envelope, height, head)
        except RecordRejected as exc:
            raise RoundFailed(
                f"this leader's record would not pass a member's check ({exc}); not recorded"
            ) from exc

    def append_locked(
        self, checked: CheckedRecord, envelope: Envelope, height: int, head: bytes
    ) -> None:
        """Apply a checked record to the state and store it at ``height`` (lock held)."""
        state = apply_state(checked, self.state)
        self.store.append_record(
            height, checked.record_id, head, envelope.SerializeToString(), state.reputations
        )
        self.state = state
        self.positions.add(height + 1, checked.record_id, state)
        self.on_appended(state)
        log.info(
            "record appended",
            extra={"query_id": checked.query_id.hex(), "height": height},
        )
        self.update_alarm()

    def accept_locked(self, envelope: Envelope) -> services_pb2.RecordAck:
        """Take a submitted record (lock held): a duplicate is acknowledged, one from ahead
        starts a catch-up, one that does not recompute is kept as evidence and refused."""
        height, head = self.store.head()
        record_id = payload_hash(envelope)
        if self.store.get_record(record_id) is not None:
            return services_pb2.RecordAck(accepted=True, height=height)
        ahead = claimed_height(envelope)
        if ahead is not None and ahead > height:
            # This node missed records: not evidence of anything. Fetch them, then this one.
            self.on_behind()
            return services_pb2.RecordAck(
                accepted=False,
                reason=f"behind: ledger at height {height}, record is for {ahead}; catching up",
                height=height,
            )
        started = time.perf_counter()
        try:
            checked = self.check_locked(envelope, height, head)
        except RecordRejected as exc:
            self._keep_refused(envelope, exc)
            self.metrics.rejected.labels("record_" + exc.field.split("[")[0].split(".")[0]).inc()
            log.warning("record rejected", extra={"reason": str(exc)})
            if self.trust is not None:
                self.on_refused(envelope)
            return services_pb2.RecordAck(accepted=False, reason=str(exc), height=height)
        self.append_locked(checked, envelope, height, head)
        self.metrics.record_check.observe(time.perf_counter() - started)
        return services_pb2.RecordAck(accepted=True, height=height + 1)

    def _known(self, signer: str) -> bool:
        if self.members is None or signer in self.state.identities:
            return True
        return signer in self.state.reputations or any(m.node_id == signer for m in self.members())

    def _keep_refused(self, envelope: Envelope, exc: RecordRejected) -> None:
        """Keep a refused record as evidence against its leader: only a known signer's, and at
        most :data:`MAX_KEPT_RECORDS` of them (issue 20, finding 6: junk from throwaway keys
        must not fill the disk)."""
        signer = node_id_from_public_key(envelope.signer) if envelope.signer else ""
        if not self._known(signer):
            log.info("record from an unknown signer refused, not kept", extra={"peer": signer})
            return
        if self.store.rejected_count("record") >= MAX_KEPT_RECORDS:
            log.warning("refused record not kept: the evidence store is full")
            return
        self.store.put_rejected(
            "record", f"bad_record:{exc.field}", str(exc), envelope.SerializeToString()
        )

    def update_alarm(self) -> None:
        """Evaluate :func:`ranking.trust.adversary_alarm` into the gauges; log a warning when
        it starts firing (trust on only)."""
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


def claimed_height(envelope: Envelope) -> int | None:
    """The height a record envelope claims (unverified; ``None`` if it does not parse)."""
    if envelope.kind != envelope_pb2.KIND_CONSENSUS_RECORD:
        return None
    try:
        return int(messages_pb2.ConsensusRecord.FromString(envelope.payload).height)
    except Exception:  # malformed bytes: check_record will reject them properly
        return None
