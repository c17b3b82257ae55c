"""One signed output per (own key, kind, query id), whoever asks (issue 20, finding 1): the
``output`` table of :class:`node.ledger.store.Store` and the rule in
:class:`node.swarm.peer.Node`; the schema 1 -> 2 migration on a ledger an earlier release wrote."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.errors import Rejected
from node.ledger.store import Store
from node.swarm.peer import Node
from node.testing import FakeBackend, make_query, make_rank_request
from protocol.errors import Equivocation
from protocol.identity import node_id_from_public_key
from protocol.signing import Envelope, Verifier
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2

SWARM = "test-swarm"
LEADER = test_identity(1)
OTHER = test_identity(3)
ME = test_identity(2)
FIXTURE = Path(__file__).parents[2] / "fixtures" / "ledger-v0" / "node.sqlite3"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "db.sqlite3") as s:
        yield s


def make_node(store: Store, clock: FakeClock, identity: object = ME) -> Node:
    return Node(identity, Verifier(SWARM, clock=clock, window_ms=60_000), FakeBackend(), store)  # type: ignore[arg-type]


def test_the_store_keeps_the_first_output_per_signer_kind_and_query(store: Store) -> None:
    kind = envelope_pb2.KIND_CANDIDATE
    assert store.put_output_if_absent("me", kind, b"q", b"content", b"first") is None
    known = store.put_output_if_absent("me", kind, b"q", b"other", b"second")
    assert known is not None and (known.content, known.envelope) == (b"content", b"first")
    assert store.put_output_if_absent("me", envelope_pb2.KIND_BALLOT, b"q", b"c", b"b") is None
    assert store.put_output_if_absent("you", kind, b"q", b"c", b"x") is None
    assert store.get_output("me", kind, b"q") == known
    assert store.get_output("me", kind, b"other-query") is None
    # Pruning the replay window does not forget outputs: a query id has no timestamp.
    store.prune_replay(2**62)
    assert store.output_count() == 3


async def test_another_leader_gets_the_same_bytes_for_the_same_round(
    store: Store, clock: FakeClock
) -> None:
    node = make_node(store, clock)
    query = make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id])
    qid = messages_pb2.Query.FromString(query.payload).context.query_id
    first = await node.handle_generate(query)
    clock.advance(1000)
    replay = make_query(OTHER, SWARM, clock, generator_ids=[ME.node_id], query_id=qid)
    again = await node.handle_generate(replay)
    assert again.SerializeToString() == first.SerializeToString()
    assert node.backend.calls == [("generate", ("What is 17 + 25?",))]  # type: ignore[attr-defined]
    framing = make_query(
        test_identity(4), SWARM, clock, question="2+2?", generator_ids=[ME.node_id], query_id=qid
    )
    with pytest.raises(Rejected) as refused:
        await node.handle_generate(framing)
    assert refused.value.reason == "already_answered"
    # A restarted node (same database) remembers.
    restarted = make_node(store, clock)
    with pytest.raises(Rejected, match="one per query id"):
        await restarted.handle_generate(
            make_query(
                test_identity(5),
                SWARM,
                clock,
                question="3+3?",
                generator_ids=[ME.node_id],
                query_id=qid,
            )
        )


async def test_a_ballot_is_signed_once_per_query_id(store: Store, clock: FakeClock) -> None:
    node = make_node(store, clock)
    answers = ["The answer is 42.", "The answer is 41."]

    def request(leader: object, pairs: list[tuple[int, int]], qid: bytes | None) -> Envelope:
        query = make_query(leader, SWARM, clock, ranker_ids=[ME.node_id], query_id=qid)  # type: ignore[arg-type]
        return make_rank_request(leader, SWARM, clock, query, answers, {ME.node_id: pairs})  # type: ignore[arg-type]

    first_request = request(LEADER, [(0, 1), (1, 0)], None)
    qid = bytes(messages_pb2.RankRequest.FromString(first_request.payload).context.query_id)
    first = await node.handle_rank(first_request)
    same = await node.handle_rank(request(OTHER, [(0, 1), (1, 0)], qid))
    assert same.SerializeToString() == first.SerializeToString()
    with pytest.raises(Rejected) as refused:
        await node.handle_rank(request(test_identity(4), [(0, 1)], qid))
    assert refused.value.reason == "already_answered"


async def test_a_leader_that_equivocates_is_still_caught(store: Store, clock: FakeClock) -> None:
    """The output rule comes after the replay guard: a leader's own second, different Query for
    an id is still equivocation evidence against the leader, not answered from the table."""
    node = make_node(store, clock)
    query = make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id])
    qid = messages_pb2.Query.FromString(query.payload).context.query_id
    await node.handle_generate(query)
    clock.advance(1000)
    with pytest.raises(Equivocation):
        await node.handle_generate(
            make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id], query_id=qid)
        )
    assert [item.reason for item in store.rejected("evidence")] == ["equivocation"]


async def test_the_membership_hook_refuses_ineligible_leaders(
    store: Store, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    node = make_node(store, clock)
    monkeypatch.setattr(node, "is_eligible_leader", lambda node_id: node_id == LEADER.node_id)
    await node.handle_generate(make_query(LEADER, SWARM, clock, generator_ids=[ME.node_id]))
    with pytest.raises(Rejected) as refused:
        await node.handle_generate(make_query(OTHER, SWARM, clock, generator_ids=[ME.node_id]))
    assert refused.value.reason == "not_eligible_leader"
    assert store.output_count() == 1


def test_a_schema_1_database_is_migrated_with_its_outputs(tmp_path: Path) -> None:
    path = tmp_path / "node.sqlite3"
    shutil.copy(FIXTURE, path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            "1",
        )
    with Store(path) as store:
        assert store.output_count() > 0
        entry = store.records_from(0, 1)[0]
        record = messages_pb2.ConsensusRecord.FromString(
            Envelope.FromString(entry.envelope).payload
        )
        candidate = record.candidates[0]
        signer = node_id_from_public_key(bytes(candidate.signer))
        qid = bytes(messages_pb2.Candidate.FromString(candidate.payload).context.query_id)
        known = store.get_output(signer, envelope_pb2.KIND_CANDIDATE, qid)
        assert known is not None and known.content == b"" and known.envelope is None
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == (
            "2",
        )
    with Store(path) as store:  # opening again is a no-op
        assert store.output_count() > 0


async def test_after_the_migration_recorded_query_ids_are_refused(
    tmp_path: Path, clock: FakeClock
) -> None:
    """Node 1 of the fixture signed candidates in the old ledger; after the upgrade it refuses
    to sign another one for any of those query ids, whoever asks."""
    path = tmp_path / "node.sqlite3"
    shutil.copy(FIXTURE, path)
    with Store(path) as store:
        me = test_identity(1)
        node = make_node(store, clock, me)
        mine = []
        for entry in store.records_from(0, 100):
            record = messages_pb2.ConsensusRecord.FromString(
                Envelope.FromString(entry.envelope).payload
            )
            for candidate in record.candidates:
                if node_id_from_public_key(bytes(candidate.signer)) == me.node_id:
                    mine.append(messages_pb2.Candidate.FromString(candidate.payload))
        assert mine
        query = make_query(
            test_identity(9),
            SWARM,
            clock,
            generator_ids=[me.node_id],
            query_id=bytes(mine[0].context.query_id),
        )
        with pytest.raises(Rejected) as refused:
            await node.handle_generate(query)
        assert refused.value.reason == "already_answered"
