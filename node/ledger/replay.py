"""``swarmrank ledger verify``: :func:`replay_ledger` re-checks a whole ledger from genesis
(every record recomputed with :func:`node.round.check.check_record`, the state moved with
:mod:`node.ledger.state`) and compares the stored reputation table with the replayed one;
:class:`LedgerSummary` is what it reports."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from node.ledger.store import Store
from node.ledger.trust import (
    LedgerState,
)
from protocol.hashing import payload_hash
from protocol.signing import Envelope, Verifier
from protocol.v1 import messages_pb2
from ranking.trust import TrustParams

if TYPE_CHECKING:
    pass
from node.errors import LedgerMismatch, RecordRejected
from node.ledger.state import RecentPositions, apply_state
from node.round.check import check_record


@dataclass(frozen=True)
class LedgerSummary:
    """Result of a successful :func:`replay_ledger`."""

    records: int
    head: bytes
    reputations: dict[str, float]
    state: LedgerState | None = None
    #: the last positions replayed (what records of concurrent rounds are checked against)
    positions: RecentPositions | None = None


def ledger_swarm_id(store: Store) -> str | None:
    """The swarm id named by the first record (``None`` for an empty ledger)."""
    entries = store.records_from(0, 1)
    if not entries:
        return None
    envelope = Envelope.FromString(entries[0].envelope)
    record = messages_pb2.ConsensusRecord.FromString(envelope.payload)
    return str(record.context.swarm_id)


def replay_ledger(
    store: Store,
    swarm_id: str,
    batch: int = 500,
    trust: TrustParams | None = None,
    *,
    upto: int | None = None,
) -> LedgerSummary:
    """Replay a ledger from the start: every signature, hash link, recomputed winner, trust
    event, and the final reputation table. ``trust`` defaults to the swarm default
    (:class:`ranking.trust.TrustParams`) when the first record says trust is on. ``upto``:
    stop after that many records (the reputation table is then not compared). Raises
    :class:`LedgerMismatch` naming the first failure."""
    verifier = Verifier(swarm_id)
    state = LedgerState()
    positions = RecentPositions()
    positions.add(0, b"", state)
    first = store.records_from(0, 1)
    if trust is None and first:
        head = messages_pb2.ConsensusRecord.FromString(
            Envelope.FromString(first[0].envelope).payload
        )
        trust = TrustParams() if head.trust else None
    previous = b""
    height = 0
    while upto is None or height < upto:
        entries = store.records_from(height, batch if upto is None else min(batch, upto - height))
        if not entries:
            break
        for entry in entries:
            if entry.height != height:
                raise LedgerMismatch(height, f"height {height} is missing from the ledger")
            envelope = Envelope.FromString(entry.envelope)
            record_id = payload_hash(envelope)
            if record_id != entry.record_id:
                raise LedgerMismatch(
                    height,
                    f"record {entry.record_id.hex()[:16]}: stored bytes hash to "
                    f"{record_id.hex()[:16]} (edited after it was appended)",
                )
            if entry.prev_hash != previous:
                raise LedgerMismatch(height, f"record {record_id.hex()[:16]}: broken hash link")
            try:
                checked = check_record(
                    envelope,
                    verifier,
                    height,
                    previous,
                    state.reputations,
                    state=state,
                    trust=trust,
                    checkpoint=positions,
                )
            except RecordRejected as exc:
                raise LedgerMismatch(
                    height, f"record {record_id.hex()[:16]} at height {height}: {exc}"
                ) from exc
            state = apply_state(checked, state)
            previous = record_id
            height += 1
            positions.add(height, previous, state)
    reputations = state.reputations
    if upto is not None:
        return LedgerSummary(
            records=height, head=previous, reputations=reputations, state=state, positions=positions
        )
    stored, _ = store.get_reputations()
    if stored != reputations:
        differing = sorted(
            k for k in set(stored) | set(reputations) if stored.get(k) != reputations.get(k)
        )
        raise LedgerMismatch(
            height,
            f"stored reputation table differs from the replayed one for {len(differing)} "
            f"node(s), first {differing[0][:16]}",
        )
    return LedgerSummary(
        records=height, head=previous, reputations=reputations, state=state, positions=positions
    )
