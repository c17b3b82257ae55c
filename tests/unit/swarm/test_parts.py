"""SwarmNode's parts alone, without sockets: RecordBook (check, append, accept and its hooks)
and EvidenceDesk (a record of trust events, pending evidence)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.errors import RoundFailed
from node.ledger.store import Store
from node.ledger.trust import LedgerState
from node.membership.registry import Member
from node.metrics import NodeMetrics
from node.round.leader import Signer
from node.swarm.evidence import EvidenceDesk
from node.swarm.links import PeerLinks
from node.swarm.records import RecordBook, claimed_height
from protocol.hashing import payload_hash
from protocol.signing import Envelope, Verifier, seal
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2
from ranking.trust import TrustParams

SWARM = "test-swarm"
TRUST = TrustParams()
LEADER = test_identity(1)
FOUNDERS = sorted(test_identity(i).node_id for i in range(3))


def _genesis(height: int = 0, previous: bytes = b"") -> Envelope:
    event = messages_pb2.GenesisEvent(
        node_ids=FOUNDERS, stake=TRUST.min_stake, params_digest=TRUST.digest()
    )
    record = messages_pb2.ConsensusRecord(
        context=messages_pb2.MessageContext(
            swarm_id=SWARM, query_id=b"g" * 16, timestamp_ms=FakeClock().time_ms()
        ),
        leader_id=LEADER.node_id,
        height=height,
        previous_record_hash=previous,
        events=[messages_pb2.LedgerEvent(genesis=event)],
        trust=True,
    )
    return seal(LEADER, envelope_pb2.KIND_CONSENSUS_RECORD, record, SWARM)


class Hooks:
    def __init__(self) -> None:
        self.behind = 0
        self.refused: list[Envelope] = []
        self.appended: list[LedgerState] = []


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "db.sqlite3") as s:
        yield s


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def book(store: Store, hooks: Hooks) -> RecordBook:
    return RecordBook(
        store,
        Verifier(SWARM, clock=FakeClock()),
        NodeMetrics(),
        TRUST,
        on_behind=lambda: setattr(hooks, "behind", hooks.behind + 1),
        on_refused=hooks.refused.append,
        on_appended=hooks.appended.append,
    )


def test_a_record_that_checks_is_appended_once(book: RecordBook, hooks: Hooks) -> None:
    record = _genesis()
    ack = book.accept_locked(record)
    assert (ack.accepted, ack.height) == (True, 1)
    assert book.head() == (1, payload_hash(record))
    assert book.state.identity(FOUNDERS[0]).status == "admitted"
    assert [s.height for s in hooks.appended] == [book.state.height]
    again = book.accept_locked(record)  # a duplicate is acknowledged, not appended
    assert (again.accepted, again.height) == (True, 1)
    assert len(hooks.appended) == 1


def test_a_record_from_ahead_starts_a_catch_up(book: RecordBook, hooks: Hooks) -> None:
    ack = book.accept_locked(_genesis(height=5))
    assert not ack.accepted and ack.reason.startswith("behind")
    assert hooks.behind == 1 and hooks.refused == [] and book.head()[0] == 0
    assert claimed_height(_genesis(height=5)) == 5
    assert claimed_height(Envelope(kind=envelope_pb2.KIND_QUERY)) is None


def test_a_record_that_does_not_check_is_kept_and_refused(
    book: RecordBook, store: Store, hooks: Hooks
) -> None:
    bad = _genesis(previous=b"x" * 32)  # does not link to the empty ledger
    ack = book.accept_locked(bad)
    assert not ack.accepted and "previous_record_hash" in ack.reason
    assert hooks.refused == [bad] and hooks.appended == []
    assert [r.detail for r in store.rejected("record")] == [ack.reason]
    with pytest.raises(RoundFailed, match="would not pass a member's check"):
        book.verify_own_locked(bad, 0, b"")
    book.verify_own_locked(_genesis(), 0, b"")  # a record that checks passes


async def test_evidence_desk_records_trust_events(book: RecordBook, store: Store) -> None:
    broadcast: list[Envelope] = []
    signer = Signer(LEADER, SWARM, FakeClock())
    members: list[Member] = []
    desk = EvidenceDesk(
        signer,
        book.verifier,
        store,
        book,
        PeerLinks(book.verifier),
        members=lambda: members,
        broadcast=broadcast.append,
        broadcast_timeout_s=lambda: 1.0,
    )
    assert await desk.record_events() is None  # nothing to record
    genesis = messages_pb2.ConsensusRecord.FromString(_genesis().payload).events[0]
    envelope = await desk.record_events([genesis])
    assert envelope is not None and broadcast == [envelope]
    assert book.head() == (1, payload_hash(envelope))
    assert desk.pending == [] and desk.valid_pending_locked() == []
