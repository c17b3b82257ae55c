"""One Query per query id for a leader (node.swarm.queries, issue 20 finding 2): a retry of a
recorded round gets its record back, any other reuse of the id is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from node.errors import Rejected
from node.ledger.store import Store
from node.swarm.queries import IssuedQueries
from protocol.signing import Envelope, seal
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2, messages_pb2

LEADER = test_identity(1)
SWARM = "test-swarm"
QUERY_ID = b"q" * 16


def _query(question: str, timestamp_ms: int) -> Envelope:
    query = messages_pb2.Query(
        context=messages_pb2.MessageContext(
            swarm_id=SWARM, query_id=QUERY_ID, timestamp_ms=timestamp_ms
        ),
        question=question,
        leader_id=LEADER.node_id,
    )
    return seal(LEADER, envelope_pb2.KIND_QUERY, query, SWARM)


@pytest.fixture
def queries(tmp_path: Path) -> Iterator[IssuedQueries]:
    with Store(tmp_path / "db.sqlite3") as store:
        yield IssuedQueries(store, LEADER.node_id)


def test_a_new_query_id_is_led(queries: IssuedQueries) -> None:
    assert queries.earlier_record("What is 6 x 7?", QUERY_ID) is None
    queries.issue(QUERY_ID, "What is 6 x 7?", _query("What is 6 x 7?", 1))


def test_a_second_query_for_one_id_is_refused(queries: IssuedQueries) -> None:
    queries.issue(QUERY_ID, "What is 6 x 7?", _query("What is 6 x 7?", 1))
    with pytest.raises(Rejected, match="another Ask") as refused:
        queries.issue(QUERY_ID, "What is 6 x 7?", _query("What is 6 x 7?", 2))
    assert refused.value.reason == "query_id_used"
    with pytest.raises(Rejected, match="did not complete"):
        queries.earlier_record("What is 6 x 7?", QUERY_ID)


def test_a_retry_of_a_recorded_round_gets_its_record(queries: IssuedQueries) -> None:
    queries.issue(QUERY_ID, "What is 6 x 7?", _query("What is 6 x 7?", 1))
    record = seal(
        LEADER,
        envelope_pb2.KIND_CONSENSUS_RECORD,
        messages_pb2.ConsensusRecord(leader_id=LEADER.node_id, answer="42"),
        SWARM,
    )
    queries.recorded(QUERY_ID, record)
    assert queries.earlier_record("What is 6 x 7?", QUERY_ID) == record
    with pytest.raises(Rejected, match="another question"):
        queries.earlier_record("What is 6 x 8?", QUERY_ID)
    assert queries.earlier_record("What is 6 x 7?", b"r" * 16) is None
