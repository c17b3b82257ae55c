"""Store: ledger chain rules, replay guard atomicity, reply cache, durability, clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from node.errors import StoreError
from node.ledger.store import Store
from protocol.replay import ReplayGuard
from protocol.signing import Verifier, seal
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2


def rid(i: int) -> bytes:
    return hashlib.sha256(b"record%d" % i).digest()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "node.sqlite3")
    yield s
    s.close()


def test_ledger_chain(store: Store) -> None:
    assert store.head() == (0, b"")
    assert store.append_record(0, rid(0), b"", b"env0")
    assert store.append_record(1, rid(1), rid(0), b"env1")
    assert store.head() == (2, rid(1))
    assert not store.append_record(1, rid(1), rid(0), b"env1")  # idempotent
    with pytest.raises(StoreError, match="different record at height 1"):
        store.append_record(1, rid(9), rid(0), b"other")
    with pytest.raises(StoreError, match="next height is 2"):
        store.append_record(5, rid(5), rid(1), b"env5")
    with pytest.raises(StoreError, match="links to"):
        store.append_record(2, rid(2), rid(0), b"env2")
    assert [e.height for e in store.records_from(1, 10)] == [1]
    assert store.records_from(2**64 - 1, 2**32) == []
    entry = store.get_record(rid(0))
    assert entry is not None and entry.envelope == b"env0"
    assert store.get_record(rid(7)) is None


def test_reputations_roundtrip(store: Store) -> None:
    assert store.get_reputations() == ({}, 0)
    store.set_reputations({"b": 0.5, "a": 1.25}, 4)
    store.set_reputations({"a": 2.0}, 5)
    assert store.get_reputations() == ({"a": 2.0}, 5)


def test_replay_store_protocol(store: Store) -> None:
    key = (b"k" * 32, 2, b"q" * 16)
    assert store.put_if_absent(key, b"first") is None
    assert store.put_if_absent(key, b"second") == b"first"
    assert store.replay_count() == 1


def test_replay_entries_commit_unsynced_everything_else_synced(store: Store) -> None:
    """Replay-guard entries skip their own fsync (the next synced commit covers them); every
    other write, and the connection after a replay write, stays ``synchronous=FULL``."""
    statements: list[str] = []
    store._conn.set_trace_callback(statements.append)
    store.put_if_absent((b"k" * 32, 2, b"q" * 16), b"first")
    assert statements[0] == "PRAGMA synchronous=NORMAL"
    assert statements[-1] == "PRAGMA synchronous=FULL"
    statements.clear()
    store.put_reply_if_absent(b"h", 2, b"reply")
    store.append_record(0, rid(0), b"", b"env0")
    assert not any("synchronous" in s for s in statements)
    store._conn.set_trace_callback(None)
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_failed_replay_write_restores_synced_mode(store: Store) -> None:
    store._conn.execute("DROP TABLE replay")
    with pytest.raises(StoreError, match="replay-guard entry"):
        store.put_if_absent((b"k" * 32, 2, b"q" * 16), b"first")
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_reply_cache_keeps_first(store: Store) -> None:
    assert store.put_reply_if_absent(b"h", 2, b"one") == b"one"
    assert store.put_reply_if_absent(b"h", 2, b"two") == b"one"
    assert store.get_reply(b"h") == b"one"
    assert store.get_reply(b"x") is None


def test_state_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite3"
    with Store(path) as first:
        first.append_record(0, rid(0), b"", b"env0")
        first.put_if_absent((b"s", 2, b"q"), b"env")
        first.put_evidence("equivocation", "two payloads", b"a", b"b")
    with Store(path) as second:
        assert second.head() == (1, rid(0))
        assert second.put_if_absent((b"s", 2, b"q"), b"other") == b"env"
        (item,) = second.rejected("evidence")
        assert (item.envelope, item.other, item.reason) == (b"a", b"b", "equivocation")


def test_guard_on_store_detects_equivocation_across_reopen(tmp_path: Path) -> None:
    from protocol.errors import Equivocation

    leader = test_identity(1)
    clock = FakeClock()
    verifier = Verifier("s", clock=clock)

    def query(question: str) -> envelope_pb2.Envelope:
        msg = messages_pb2.Query(
            context=messages_pb2.MessageContext(
                swarm_id="s", query_id=b"q" * 16, timestamp_ms=clock.time_ms()
            ),
            question=question,
            leader_id=leader.node_id,
        )
        return seal(leader, envelope_pb2.KIND_QUERY, msg, "s")

    path = tmp_path / "db.sqlite3"
    with Store(path) as s:
        assert ReplayGuard(s).admit(verifier.verify(query("one"))).new
    with Store(path) as s:
        guard = ReplayGuard(s)
        assert not guard.admit(verifier.verify(query("one"))).new
        with pytest.raises(Equivocation):
            guard.admit(verifier.verify(query("two")))


def test_prune(store: Store) -> None:
    store.put_if_absent((b"s", 2, b"q"), b"env")
    store.put_reply_if_absent(b"h", 2, b"r")
    assert store.prune_replay(0) == 0
    assert store.prune_replay(2**62) == 1
    assert store.replay_count() == 0 and store.get_reply(b"h") is None


def test_corrupt_database_is_a_clear_store_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match="corrupt"):
        Store(path)


def test_unopenable_path_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot open"):
        Store(blocker / "sub" / "db.sqlite3")


def test_disk_full_is_reported(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate the sqlite error a full disk raises, through the real transaction path.
    store._conn.execute("PRAGMA max_page_count = 8")
    with pytest.raises(StoreError, match="the disk is full"):
        for i in range(2000):
            store.put_reply_if_absent(b"%d" % i, 2, b"x" * 4000)


def test_wal_and_full_sync(store: Store) -> None:
    assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
