"""Durable node state in SQLite: :class:`Store`.

Owns the node's database file and every table in it:

* ``ledger`` — the hash-chained consensus records (height, record id, previous hash, envelope).
* ``reputation`` — the node's current reputation view (node id -> value, as of a height).
* ``replay`` — first envelope seen per (signer, kind, query id); :class:`Store` implements
  :class:`protocol.replay.ReplayStore`, so a restart does not re-open the replay window.
* ``reply`` — the signed reply sent for each request (keyed by the request's payload hash), so a
  retransmitted request gets the same bytes back and the node never signs two answers.
* ``rejected`` — records and evidence refused or kept as slashing evidence, with the reason.
* ``output`` — every round output signed per (signer key, output kind, query id): this node's
  own Candidates and Ballots with a digest of the round content they answer (so it never signs
  two different outputs for one query id, whoever asks; issue 20, finding 1), and the outputs
  of every signer that appear in appended ledger records (no digest: "already signed, content
  unknown"), so a node whose database was rebuilt from peers' ledgers still knows what it
  signed. Never pruned: a query id is not bound to the timestamp window.

Schema versions: 1 (no ``output`` table) is migrated to 2 on open by creating the table and
indexing the ledger's outputs and the cached replies into it (:meth:`Store._migrate`).

Durability: WAL journal with ``synchronous=FULL`` and one transaction per write method, so a
``kill -9`` at any point loses nothing that a method returned from and never leaves half a
record. One exception, for speed: replay-guard entries commit with ``synchronous=NORMAL`` (no
fsync of their own; one synced commit costs ~1 ms here). They survive a ``kill -9`` like every
write (the WAL is in the OS page cache); after a power loss the last ones can be missing, but
only those written after the last synced commit, and since the WAL is sequential the synced
commit of a reply makes every guard entry before it durable: a request whose reply was cached
(and so may have been sent) keeps its guard entry.

Every sqlite failure surfaces as :class:`~node.errors.StoreError` with what to do.
One connection, guarded by a lock; methods are short and safe to call from the event loop.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from google.protobuf.message import DecodeError

from node.errors import StoreError
from protocol.identity import node_id_from_public_key
from protocol.replay import ReplayKey, round_slot
from protocol.v1 import envelope_pb2, messages_pb2

SCHEMA_VERSION = 2
#: kinds of signed round outputs indexed in the ``output`` table, with their payload types
OUTPUT_KINDS: dict[int, type[messages_pb2.Candidate] | type[messages_pb2.Ballot]] = {
    envelope_pb2.KIND_CANDIDATE: messages_pb2.Candidate,
    envelope_pb2.KIND_BALLOT: messages_pb2.Ballot,
}
_MAX_INT64 = 2**63 - 1  # sqlite integers; peers may send any uint64

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS ledger (
    height INTEGER PRIMARY KEY,            -- 0 for the first record
    record_id BLOB NOT NULL UNIQUE,        -- SHA-256 of the record payload
    prev_hash BLOB NOT NULL,               -- record id at height - 1 (empty at 0)
    envelope BLOB NOT NULL,                -- the signed ConsensusRecord envelope bytes
    accepted_at_ms INTEGER NOT NULL        -- local wall clock at append
);
CREATE TABLE IF NOT EXISTS reputation (
    node_id TEXT PRIMARY KEY,
    value REAL NOT NULL,
    as_of_height INTEGER NOT NULL          -- ledger height the value reflects
);
CREATE TABLE IF NOT EXISTS replay (
    signer BLOB NOT NULL,
    kind INTEGER NOT NULL,
    query_id BLOB NOT NULL,
    envelope BLOB NOT NULL,                -- the first envelope seen under the key
    seen_at_ms INTEGER NOT NULL,
    PRIMARY KEY (signer, kind, query_id)
);
CREATE TABLE IF NOT EXISTS reply (
    request_hash BLOB PRIMARY KEY,         -- SHA-256 of the request envelope payload
    kind INTEGER NOT NULL,                 -- kind of the request
    envelope BLOB NOT NULL,                -- the signed reply envelope bytes
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rejected (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,                    -- "record", "evidence", ...
    reason TEXT NOT NULL,                  -- machine-readable reason
    detail TEXT NOT NULL,                  -- human-readable message
    envelope BLOB NOT NULL,                -- primary envelope bytes
    other BLOB,                            -- second envelope (equivocation pairs)
    created_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS output (
    signer TEXT NOT NULL,                  -- node id of the output's signer
    kind INTEGER NOT NULL,                 -- envelope kind of the output (CANDIDATE, BALLOT)
    query_id BLOB NOT NULL,                -- the round it answers
    content BLOB NOT NULL,                 -- digest of the request content (empty: unknown)
    envelope BLOB,                         -- the signed output bytes (NULL: only indexed)
    created_at_ms INTEGER NOT NULL,
    PRIMARY KEY (signer, kind, query_id)
);
"""


@dataclass(frozen=True)
class LedgerEntry:
    """One stored ledger record."""

    height: int
    record_id: bytes
    prev_hash: bytes
    envelope: bytes  # signed ConsensusRecord envelope bytes
    accepted_at_ms: int


@dataclass(frozen=True)
class SignedOutput:
    """One row of the ``output`` table: a round output a signer is known to have signed."""

    signer: str  # node id
    kind: int  # envelope kind (KIND_CANDIDATE, KIND_BALLOT)
    query_id: bytes
    content: bytes  # digest of the request content it answers; b"" when unknown
    envelope: bytes | None  # the signed output bytes; None when only indexed from the ledger


@dataclass(frozen=True)
class RejectedItem:
    """One stored rejected record or piece of evidence."""

    id: int
    kind: str
    reason: str
    detail: str
    envelope: bytes
    other: bytes | None
    created_at_ms: int


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Store:
    """The node's SQLite database; see the module docstring. Use as a context manager or
    call :meth:`close`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, isolation_level=None, check_same_thread=False, timeout=10.0
            )
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"cannot open the state database {self.path}: {exc}") from exc
        try:
            with self._lock:
                self._conn.execute("PRAGMA journal_mode=WAL")
                self._conn.execute("PRAGMA synchronous=FULL")
                self._conn.execute("PRAGMA foreign_keys=ON")
                check = self._conn.execute("PRAGMA quick_check").fetchone()
                if check is None or check[0] != "ok":
                    raise sqlite3.DatabaseError(f"integrity check failed: {check}")
                self._conn.executescript(_SCHEMA)
                row = self._conn.execute(
                    "SELECT value FROM meta WHERE key = 'schema_version'"
                ).fetchone()
                if row is None:
                    self._conn.execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                        (str(SCHEMA_VERSION),),
                    )
                elif int(row[0]) == 1:
                    self._migrate_from_1()
                elif int(row[0]) != SCHEMA_VERSION:
                    raise StoreError(
                        f"{self.path}: schema version {row[0]} is not supported "
                        f"(this build reads version {SCHEMA_VERSION})"
                    )
        except sqlite3.Error as exc:
            self._conn.close()
            raise self._error("open", exc) from exc

    def _migrate_from_1(self) -> None:
        """Schema 1 -> 2 (under the lock, inside ``__init__``): the ``output`` table exists now
        (``CREATE TABLE IF NOT EXISTS``); fill it with every output in the ledger and every
        cached reply, with unknown content, so a request for a query id this node answered
        before the upgrade is refused rather than signed twice."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            ledger = conn.execute("SELECT envelope FROM ledger ORDER BY height").fetchall()
            for (envelope,) in ledger:
                _index_record_outputs(conn, bytes(envelope))
            for (envelope,) in conn.execute("SELECT envelope FROM reply").fetchall():
                _index_output(conn, bytes(envelope))
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    # --- plumbing ---

    def _error(self, action: str, exc: sqlite3.Error) -> StoreError:
        text = str(exc)
        if isinstance(exc, sqlite3.OperationalError) and "full" in text.lower():
            hint = "the disk is full; free space and restart"
        elif isinstance(exc, sqlite3.DatabaseError) and (
            "malformed" in text or "not a database" in text or "integrity" in text
        ):
            hint = (
                "the database is corrupt; restore it from a backup or move it aside "
                "(the ledger can be re-fetched from peers)"
            )
        else:
            hint = "see the sqlite message"
        return StoreError(f"state database {self.path}: {action} failed: {text} ({hint})")

    @contextmanager
    def _transaction(self, action: str, *, synced: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; ``synced=False`` commits without an fsync (see the module
        docstring for when that is safe)."""
        with self._lock:
            try:
                if not synced:
                    self._conn.execute("PRAGMA synchronous=NORMAL")
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield self._conn
                        self._conn.execute("COMMIT")
                    except BaseException:
                        # sqlite may already have rolled back (e.g. SQLITE_FULL); never let the
                        # rollback's own failure hide the original error.
                        if self._conn.in_transaction:
                            with suppress(sqlite3.Error):
                                self._conn.execute("ROLLBACK")
                        raise
                finally:
                    if not synced:
                        self._conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc

    @contextmanager
    def _read(self, action: str) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- ledger ---

    def head(self) -> tuple[int, bytes]:
        """``(height, record_id)`` of the next append: the number of records and the id of the
        latest one (``(0, b"")`` for an empty ledger)."""
        with self._read("read the ledger head") as conn:
            row = conn.execute(
                "SELECT height, record_id FROM ledger ORDER BY height DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return 0, b""
        return int(row[0]) + 1, bytes(row[1])

    def append_record(
        self,
        height: int,
        record_id: bytes,
        prev_hash: bytes,
        envelope_bytes: bytes,
        reputations: Mapping[str, float] | None = None,
    ) -> bool:
        """Append a record at ``height`` linked to ``prev_hash``, atomically (together with the
        reputation view after it, when ``reputations`` is given).

        Returns ``True`` when appended, ``False`` when this exact record is already at
        ``height`` (idempotent). Raises :class:`StoreError` for a wrong height or link, or a
        different record at that height.
        """
        with self._transaction("append a ledger record") as conn:
            row = conn.execute(
                "SELECT height, record_id FROM ledger ORDER BY height DESC LIMIT 1"
            ).fetchone()
            next_height, head_id = (0, b"") if row is None else (int(row[0]) + 1, bytes(row[1]))
            if height < next_height:
                existing = conn.execute(
                    "SELECT record_id FROM ledger WHERE height = ?", (height,)
                ).fetchone()
                if existing is not None and bytes(existing[0]) == record_id:
                    return False
                raise StoreError(
                    f"ledger already holds a different record at height {height} "
                    f"(record {record_id.hex()[:16]} refused)"
                )
            if height != next_height:
                raise StoreError(
                    f"ledger append at height {height}; the next height is {next_height}"
                )
            if prev_hash != head_id:
                raise StoreError(
                    f"record at height {height} links to {prev_hash.hex()[:16] or 'nothing'}; "
                    f"the ledger head is {head_id.hex()[:16] or 'empty'}"
                )
            conn.execute(
                "INSERT INTO ledger (height, record_id, prev_hash, envelope, accepted_at_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (height, record_id, prev_hash, envelope_bytes, _now_ms()),
            )
            # Same transaction: whatever a record shows a node signed, the node knows it signed
            # (a database rebuilt by catch-up included), see ``output``.
            _index_record_outputs(conn, envelope_bytes)
            if reputations is not None:
                # Same transaction: the reputation view never lags or leads the ledger.
                self._write_reputations(conn, reputations, height + 1)
            return True

    def records_from(self, height: int, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` records from ``height`` on, in height order."""
        with self._read("read ledger records") as conn:
            rows = conn.execute(
                "SELECT height, record_id, prev_hash, envelope, accepted_at_ms FROM ledger "
                "WHERE height >= ? ORDER BY height LIMIT ?",
                (min(max(0, height), _MAX_INT64), min(max(0, limit), _MAX_INT64)),
            ).fetchall()
        return [_entry(r) for r in rows]

    def get_record(self, record_id: bytes) -> LedgerEntry | None:
        """The record with ``record_id``, or ``None``."""
        with self._read("read a ledger record") as conn:
            row = conn.execute(
                "SELECT height, record_id, prev_hash, envelope, accepted_at_ms FROM ledger "
                "WHERE record_id = ?",
                (record_id,),
            ).fetchone()
        return None if row is None else _entry(row)

    # --- reputation ---

    def set_reputations(self, values: Mapping[str, float], as_of_height: int) -> None:
        """Replace the whole reputation view with ``values`` as of ``as_of_height``."""
        with self._transaction("write reputations") as conn:
            self._write_reputations(conn, values, as_of_height)

    @staticmethod
    def _write_reputations(
        conn: sqlite3.Connection, values: Mapping[str, float], as_of_height: int
    ) -> None:
        conn.execute("DELETE FROM reputation")
        conn.executemany(
            "INSERT INTO reputation (node_id, value, as_of_height) VALUES (?, ?, ?)",
            [(node_id, float(v), as_of_height) for node_id, v in sorted(values.items())],
        )

    def get_reputations(self) -> tuple[dict[str, float], int]:
        """``(reputations, as_of_height)``; ``({}, 0)`` before any were set."""
        with self._read("read reputations") as conn:
            rows = conn.execute(
                "SELECT node_id, value, as_of_height FROM reputation ORDER BY node_id"
            ).fetchall()
        height = max((int(r[2]) for r in rows), default=0)
        return {str(r[0]): float(r[1]) for r in rows}, height

    # --- replay guard (protocol.replay.ReplayStore) ---

    def put_if_absent(self, key: ReplayKey, envelope_bytes: bytes) -> bytes | None:
        """Store ``envelope_bytes`` under ``key`` unless present (atomic, durable); return the
        stored bytes when present, ``None`` when this call stored them."""
        signer, kind, query_id = key
        with self._transaction("record a replay-guard entry", synced=False) as conn:
            row = conn.execute(
                "SELECT envelope FROM replay WHERE signer = ? AND kind = ? AND query_id = ?",
                (signer, kind, query_id),
            ).fetchone()
            if row is not None:
                return bytes(row[0])
            conn.execute(
                "INSERT INTO replay (signer, kind, query_id, envelope, seen_at_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (signer, kind, query_id, envelope_bytes, _now_ms()),
            )
            return None

    def replay_count(self) -> int:
        """Number of replay-guard entries."""
        with self._read("count replay-guard entries") as conn:
            return int(conn.execute("SELECT COUNT(*) FROM replay").fetchone()[0])

    def prune_replay(self, older_than_ms: int) -> int:
        """Drop replay entries (and cached replies) first seen before ``older_than_ms``.

        Safe once the timestamp window has closed on them: the window then rejects the
        envelopes anyway. Returns the number of replay entries removed.
        """
        with self._transaction("prune the replay guard") as conn:
            cur = conn.execute("DELETE FROM replay WHERE seen_at_ms < ?", (older_than_ms,))
            conn.execute("DELETE FROM reply WHERE created_at_ms < ?", (older_than_ms,))
            return int(cur.rowcount)

    # --- cached replies ---

    def put_reply_if_absent(self, request_hash: bytes, kind: int, envelope_bytes: bytes) -> bytes:
        """Cache the reply to a request unless one is cached; return the cached reply (the
        one just stored, or the earlier one). Callers send what this returns, so one request
        never gets two different signed replies."""
        with self._transaction("cache a reply") as conn:
            row = conn.execute(
                "SELECT envelope FROM reply WHERE request_hash = ?", (request_hash,)
            ).fetchone()
            if row is not None:
                return bytes(row[0])
            conn.execute(
                "INSERT INTO reply (request_hash, kind, envelope, created_at_ms) "
                "VALUES (?, ?, ?, ?)",
                (request_hash, kind, envelope_bytes, _now_ms()),
            )
            return envelope_bytes

    def get_reply(self, request_hash: bytes) -> bytes | None:
        """The cached reply to a request, or ``None``."""
        with self._read("read a cached reply") as conn:
            row = conn.execute(
                "SELECT envelope FROM reply WHERE request_hash = ?", (request_hash,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    # --- signed outputs (one per signer, kind and query id) ---

    def put_output_if_absent(
        self, signer: str, kind: int, query_id: bytes, content: bytes, envelope_bytes: bytes
    ) -> SignedOutput | None:
        """Keep ``envelope_bytes`` as ``signer``'s one ``kind`` output for ``query_id`` (answering
        request content ``content``) unless one is known; return the known one, or ``None`` when
        this call stored it. Atomic and durable (synced): callers release an output only after
        this returned ``None``, so no crash or race releases two."""
        with self._transaction("keep a signed output") as conn:
            known = _select_output(conn, signer, kind, query_id)
            if known is not None:
                return known
            conn.execute(
                "INSERT INTO output (signer, kind, query_id, content, envelope, created_at_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (signer, kind, query_id, content, envelope_bytes, _now_ms()),
            )
            return None

    def get_output(self, signer: str, kind: int, query_id: bytes) -> SignedOutput | None:
        """The output ``signer`` is known to have signed for (``kind``, ``query_id``), or
        ``None``."""
        with self._read("read a signed output") as conn:
            return _select_output(conn, signer, kind, query_id)

    def output_count(self) -> int:
        """Number of known signed outputs (all signers)."""
        with self._read("count signed outputs") as conn:
            return int(conn.execute("SELECT COUNT(*) FROM output").fetchone()[0])

    # --- rejected records and evidence ---

    def put_rejected(
        self,
        kind: str,
        reason: str,
        detail: str,
        envelope_bytes: bytes,
        other_bytes: bytes | None = None,
    ) -> int:
        """Keep a refused record or an equivocation pair; returns its row id."""
        with self._transaction("store rejected material") as conn:
            cur = conn.execute(
                "INSERT INTO rejected (kind, reason, detail, envelope, other, created_at_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (kind, reason, detail, envelope_bytes, other_bytes, _now_ms()),
            )
            return int(cur.lastrowid or 0)

    def put_evidence(self, reason: str, detail: str, first: bytes, second: bytes) -> int:
        """Keep an equivocation pair (``first`` accepted earlier, ``second`` conflicting)."""
        return self.put_rejected("evidence", reason, detail, first, second)

    def rejected_count(self, kind: str) -> int:
        """How many rejected items of ``kind`` are kept."""
        with self._read("count rejected material") as conn:
            row = conn.execute("SELECT COUNT(*) FROM rejected WHERE kind = ?", (kind,)).fetchone()
        return int(row[0])

    def rejected(self, kind: str | None = None) -> list[RejectedItem]:
        """Stored rejected items, oldest first, optionally of one ``kind``."""
        with self._read("read rejected material") as conn:
            sql = "SELECT id, kind, reason, detail, envelope, other, created_at_ms FROM rejected"
            params: tuple[object, ...] = ()
            if kind is not None:
                sql += " WHERE kind = ?"
                params = (kind,)
            rows = conn.execute(sql + " ORDER BY id", params).fetchall()
        return [
            RejectedItem(
                id=int(r[0]),
                kind=str(r[1]),
                reason=str(r[2]),
                detail=str(r[3]),
                envelope=bytes(r[4]),
                other=None if r[5] is None else bytes(r[5]),
                created_at_ms=int(r[6]),
            )
            for r in rows
        ]


def _select_output(
    conn: sqlite3.Connection, signer: str, kind: int, query_id: bytes
) -> SignedOutput | None:
    row = conn.execute(
        "SELECT content, envelope FROM output WHERE signer = ? AND kind = ? AND query_id = ?",
        (signer, kind, query_id),
    ).fetchone()
    if row is None:
        return None
    return SignedOutput(
        signer=signer,
        kind=kind,
        query_id=query_id,
        content=bytes(row[0]),
        envelope=None if row[1] is None else bytes(row[1]),
    )


def _index_output(conn: sqlite3.Connection, envelope_bytes: bytes) -> None:
    """Index one signed Candidate or Ballot envelope (anything else, or junk, is skipped: the
    index only ever adds refusals, and a record's envelopes were verified before append)."""
    try:
        envelope = envelope_pb2.Envelope.FromString(envelope_bytes)
        message_type = OUTPUT_KINDS.get(envelope.kind)
        if message_type is None or not envelope.signer:
            return
        # one output per round slot: the query id, and the wave of an adaptive round's ballots
        query_id = round_slot(envelope.kind, message_type.FromString(envelope.payload))
        signer = node_id_from_public_key(bytes(envelope.signer))
    except (DecodeError, ValueError):
        return
    if not query_id:
        return
    conn.execute(
        "INSERT OR IGNORE INTO output (signer, kind, query_id, content, envelope, created_at_ms) "
        "VALUES (?, ?, ?, ?, NULL, ?)",
        (signer, int(envelope.kind), query_id, b"", _now_ms()),
    )


def _index_record_outputs(conn: sqlite3.Connection, record_bytes: bytes) -> None:
    """Index the Candidates and Ballots a ConsensusRecord envelope carries (round and exams)."""
    try:
        envelope = envelope_pb2.Envelope.FromString(record_bytes)
        record = messages_pb2.ConsensusRecord.FromString(envelope.payload)
    except DecodeError:
        return
    outputs = [*record.candidates, *record.ballots]
    for event in record.events:
        if event.HasField("exam"):
            outputs.extend([*event.exam.candidates, *event.exam.ballots])
    for output in outputs:
        _index_output(conn, output.SerializeToString())


def _entry(row: tuple[object, ...]) -> LedgerEntry:
    return LedgerEntry(
        height=int(row[0]),  # type: ignore[call-overload]
        record_id=bytes(row[1]),  # type: ignore[call-overload]
        prev_hash=bytes(row[2]),  # type: ignore[call-overload]
        envelope=bytes(row[3]),  # type: ignore[call-overload]
        accepted_at_ms=int(row[4]),  # type: ignore[call-overload]
    )
