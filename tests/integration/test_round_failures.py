"""A round whose ballots the ranking core cannot aggregate fails cleanly on the leader."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from node.backends.base import Judgement
from node.errors import RecordRejected, RoundFailed
from node.round.check import check_record
from node.round.settings import RoundSettings
from node.testing import FakeBackend, in_process_swarm
from protocol.hashing import payload_hash
from protocol.signing import PAYLOAD_TYPES, Envelope, Verifier, seal
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2, messages_pb2

pytestmark = pytest.mark.integration
SWARM = "round-failures"


def _smaller_wins(question: str, a: str, b: str) -> Judgement:
    """Every judge prefers the numerically smaller answer, with no stated confidence (a
    confidence below 1 would credit the loser a little): one answer never loses."""
    return Judgement(outcome="A" if int(a) < int(b) else "B", confidence=None, rationale="")


@pytest.mark.parametrize("alpha", [0.01, 0.0])
async def test_alpha_zero_with_an_unbeaten_answer_fails_the_round(
    tmp_path: Path, alpha: float
) -> None:
    backends = [FakeBackend(answer=str(i + 1), judge_fn=_smaller_wins) for i in range(4)]
    # the judges' robust BT decides (consensus 0): the regulariser is what is under test
    settings = RoundSettings(
        generate_deadline_ms=5000, rank_deadline_ms=5000, alpha=alpha, consensus=0
    )
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM, settings=settings) as swarm:
        if alpha > 0:  # the regulariser keeps the unbeaten answer's strength finite
            result = await swarm.nodes[0].ask("Which number?")
            answers = [int(c.answer) for c in result.response.candidates]
            assert len(answers) >= 2 and result.response.answer == str(min(answers))
            await swarm.settle(1)
            return
        # alpha = 0: no maximum-likelihood strengths exist; a typed failure, nothing recorded
        with pytest.raises(RoundFailed, match="cannot be aggregated"):
            await swarm.nodes[0].ask("Which number?")
        assert [node.store.head()[0] for node in swarm.nodes] == [0, 0, 0, 0]


async def test_a_record_that_cannot_be_aggregated_is_rejected(tmp_path: Path) -> None:
    """A leader signs a record of a real round but claims ``alpha = 0`` (re-signing the
    query, and the candidates and request that reference it, with the original keys): the
    ballots have an unbeaten answer, so the recomputation has no solution, and members refuse
    the record with a typed ``RecordRejected`` naming ``outcome``."""
    backends = [FakeBackend(answer=str(i + 1), judge_fn=_smaller_wins) for i in range(4)]
    settings = RoundSettings(generate_deadline_ms=5000, rank_deadline_ms=5000)
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM, settings=settings) as swarm:
        result = await swarm.nodes[0].ask("Which number?")
    keys = {test_identity(i).public_key: test_identity(i) for i in range(4)}

    def resealed(envelope: Envelope, mutate: Any) -> Envelope:
        message = PAYLOAD_TYPES[envelope.kind].FromString(envelope.payload)
        mutate(message)
        return seal(keys[bytes(envelope.signer)], envelope.kind, message, SWARM)

    record = messages_pb2.ConsensusRecord.FromString(result.record.payload)
    query = resealed(record.query, lambda q: setattr(q.parameters, "alpha", 0.0))
    record.query.CopyFrom(query)
    for candidate in record.candidates:
        candidate.CopyFrom(
            resealed(candidate, lambda c: setattr(c, "query_hash", payload_hash(query)))
        )
    record.rank_request.CopyFrom(resealed(record.rank_request, lambda r: r.query.CopyFrom(query)))
    forged = seal(test_identity(0), envelope_pb2.KIND_CONSENSUS_RECORD, record, SWARM)
    verifier = Verifier(SWARM)
    check_record(result.record, verifier, 0, b"", {})  # the honest record recomputes
    with pytest.raises(RecordRejected, match="does not recompute") as exc:
        check_record(forged, verifier, 0, b"", {})
    assert exc.value.field == "outcome"
