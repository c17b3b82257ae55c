"""The Queries this node signed as a leader: :class:`IssuedQueries`, one per query id.

``AskRequest.query_id`` lets a client retry an Ask. Leading the round again would sign a
second, different Query under that id (another timestamp, another ledger position): every
generator would keep the two as equivocation evidence and the leader would be slashed for a
client's retry (issue 20, finding 2). So a Query is kept durably, in the store's table of
signed outputs (:meth:`node.ledger.store.Store.put_output_if_absent`), *before* it leaves this
node, and a query id this node has used is never led again: a retry of a recorded round gets
that round's record back (nothing new is signed), any other reuse is refused with
:class:`~node.errors.Rejected` (reason ``query_id_used``).
"""

from __future__ import annotations

import hashlib

from node.errors import Rejected
from node.ledger.store import Store
from protocol.signing import Envelope
from protocol.v1 import envelope_pb2


def question_digest(question: str) -> bytes:
    """What a retry must repeat to be answered from the record: the question asked."""
    return hashlib.sha256(question.encode("utf-8")).digest()


class IssuedQueries:
    """One Query per query id for the rounds ``node_id`` leads (see module doc)."""

    def __init__(self, store: Store, node_id: str) -> None:
        self.store = store
        self.node_id = node_id

    def earlier_record(self, question: str, query_id: bytes) -> Envelope | None:
        """The record of this node's earlier round under ``query_id`` when an Ask repeats
        it (same question); ``None`` when the id is new here.

        Raises :class:`Rejected` when the id was used for another question, or by a round
        that is still running or did not complete: answering it would mean a second Query.
        """
        issued = self.store.get_output(self.node_id, envelope_pb2.KIND_QUERY, query_id)
        if issued is None:
            return None
        recorded = self.store.get_output(self.node_id, envelope_pb2.KIND_CONSENSUS_RECORD, query_id)
        if issued.content != question_digest(question):
            raise _used(query_id, "for another question")
        if recorded is None or recorded.envelope is None:
            raise _used(query_id, "by a round that is running or did not complete")
        record: Envelope = Envelope.FromString(recorded.envelope)
        return record

    def issue(self, query_id: bytes, question: str, query: Envelope) -> None:
        """Keep ``query`` as this node's one Query for ``query_id`` before it is sent; raises
        :class:`Rejected` when another one is kept (a concurrent Ask with the same id)."""
        known = self.store.put_output_if_absent(
            self.node_id,
            envelope_pb2.KIND_QUERY,
            query_id,
            question_digest(question),
            query.SerializeToString(),
        )
        if known is not None:
            raise _used(query_id, "by another Ask")

    def recorded(self, query_id: bytes, record: Envelope) -> None:
        """Note the record of the round led under ``query_id`` (retries are answered with it)."""
        self.store.put_output_if_absent(
            self.node_id,
            envelope_pb2.KIND_CONSENSUS_RECORD,
            query_id,
            b"",
            record.SerializeToString(),
        )


def _used(query_id: bytes, how: str) -> Rejected:
    return Rejected(
        f"query id {query_id.hex()} was already used {how}; this leader signs one Query per "
        "query id, so ask with a new query id",
        reason="query_id_used",
    )
