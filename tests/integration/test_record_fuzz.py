"""A leader (or any signer) can put anything into what it signs. Records mutated at random, at
every depth, and re-signed by the very keys that signed the originals must be either accepted
(the mutation changed nothing that matters) or refused with :class:`RecordRejected`: never
another exception, never a crash or a hang."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from node.backends.base import Judgement
from node.backends.sim import SimBackend
from node.errors import RecordRejected
from node.round.check import check_record
from node.round.settings import RoundSettings
from node.testing import FakeBackend, MessageMutator, in_process_swarm
from protocol.signing import Envelope, Verifier
from protocol.testing import test_identity
from protocol.v1 import messages_pb2
from ranking.trust import TrustParams

pytestmark = pytest.mark.integration

SWARM = "fuzz-swarm"
N_NODES = 5
TRIALS = 400


def _smaller_wins(question: str, a: str, b: str) -> Judgement:
    return Judgement(outcome="A" if int(a) < int(b) else "B", confidence=0.8, rationale="")


def fuzz(
    original: Envelope, check: Any, node_ids: list[str], seed: int, trials: int = TRIALS
) -> dict[str, int]:
    """Mutate ``original``'s record ``trials`` times (1-3 mutations each), re-sign it as its
    leader and run ``check`` (a ``check_record`` call) on it; fail the test if anything but
    :class:`RecordRejected` escapes. Returns how often each field was named in a rejection."""
    check(original)  # the unmutated record is accepted
    rng = np.random.default_rng(seed)
    identities = [test_identity(i) for i in range(N_NODES)]
    mutator = MessageMutator(rng, identities, SWARM, strings=node_ids)
    fields: dict[str, int] = {}
    for _ in range(trials):
        envelope = mutator.mutated(original)  # re-signed by the original signers
        try:
            check(envelope)
        except RecordRejected as exc:
            name = exc.field.split("[")[0]
            fields[name] = fields.get(name, 0) + 1
        except Exception as exc:  # the property under test: nothing else escapes
            mutated = messages_pb2.ConsensusRecord.FromString(envelope.payload)
            pytest.fail(f"{type(exc).__name__} escaped check_record: {exc}\n{mutated}")
    return fields


async def test_mutated_records_are_accepted_or_rejected_never_crash(tmp_path: Path) -> None:
    # Distinct answers and judges that state a confidence: the round always has a Rank phase.
    backends = [FakeBackend(answer=str(i + 1), judge_fn=_smaller_wins) for i in range(N_NODES)]
    settings = RoundSettings(generate_deadline_ms=5000, rank_deadline_ms=5000)
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM, settings=settings) as swarm:
        result = await swarm.nodes[0].ask("Which number is smallest?")
        node_ids = [node.node_id for node in swarm.nodes]
    record = messages_pb2.ConsensusRecord.FromString(result.record.payload)
    assert len(record.candidates) >= 2 and record.ballots  # a round with a Rank phase
    verifier = Verifier(SWARM)
    fields = fuzz(
        result.record, lambda env: check_record(env, verifier, 0, b"", {}), node_ids, 20261123
    )
    # Most mutations break something a member checks, and many different checks fire.
    assert sum(fields.values()) > TRIALS // 2, fields
    assert len(fields) >= 10, fields


async def test_mutated_adaptive_records_are_accepted_or_rejected_never_crash(
    tmp_path: Path,
) -> None:
    """An adaptive round (issue 17): several waves' requests and ballots, the stop test's
    looks and the stop reason, all fuzzed."""
    backends = [FakeBackend(answer=str(i + 1), judge_fn=_smaller_wins) for i in range(N_NODES)]
    settings = RoundSettings(
        generate_deadline_ms=5000,
        rank_deadline_ms=5000,
        schedule="adaptive",
        judge_budget=12,
        wave_size=4,
    )
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM, settings=settings) as swarm:
        result = await swarm.nodes[0].ask("Which number is smallest?")
        node_ids = [node.node_id for node in swarm.nodes]
    record = messages_pb2.ConsensusRecord.FromString(result.record.payload)
    assert record.wave_requests and record.looks and record.stop_reason
    verifier = Verifier(SWARM)
    fields = fuzz(
        result.record, lambda env: check_record(env, verifier, 0, b"", {}), node_ids, 20261125
    )
    assert sum(fields.values()) > TRIALS // 2, fields
    assert {"looks", "wave_requests"} & set(fields), fields


async def test_mutated_trust_records_are_accepted_or_rejected_never_crash(
    tmp_path: Path,
) -> None:
    """With the trust rules on, fuzz a record carrying a calibration exam (an event with its
    own queries, candidates, rank requests and ballots), checked against the member state the
    record was made on."""
    trust = TrustParams(
        n_judging=20, judging_pass=17, n_generation=5, generation_pass=3, cooldown_rounds=3
    )
    backends = [SimBackend(seed=i, generation_skill=3.0, judging_skill=4.0) for i in range(N_NODES)]
    settings = RoundSettings(generate_deadline_ms=5000, rank_deadline_ms=5000)
    async with in_process_swarm(
        tmp_path, backends, swarm_id=SWARM, trust=trust, settings=settings
    ) as swarm:
        leader, member, newcomer = swarm.nodes[0], swarm.nodes[1], swarm.nodes[4]
        swarm.set_membership([0, 1, 2, 3])  # the genesis members
        await leader.ask("What is 12 + 30?")
        swarm.set_membership()
        await newcomer.catch_up()
        await swarm.settle(leader.store.head()[0])
        height, head = member.store.head()
        state = member.state  # immutable: the state the exam record is checked against
        await leader.examine(newcomer.self_member())
        (entry,) = leader.store.records_from(height, 1)
        node_ids = [node.node_id for node in swarm.nodes]
    exam_record = Envelope.FromString(entry.envelope)
    record = messages_pb2.ConsensusRecord.FromString(exam_record.payload)
    assert [e.WhichOneof("event") for e in record.events] == ["exam"]
    verifier = Verifier(SWARM)

    def check(envelope: Envelope) -> object:
        return check_record(
            envelope, verifier, height, head, state.reputations, state=state, trust=trust
        )

    fields = fuzz(exam_record, check, node_ids, 20261124)
    assert sum(fields.values()) > TRIALS // 2, fields
    assert "events" in fields, fields
