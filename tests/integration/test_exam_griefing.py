"""Exam griefing (issue 20, finding 8) against an in-process 5-node swarm with trust on: an
admitted examiner runs a newcomer's calibration exam, then records it with some of the
newcomer's answers left out, so that "missing counts as wrong" fails it and doubles its
cooldown. From rules 1 (:mod:`node.round.rules`) an exam event must carry the newcomer's own
signed answer to every item: the members refuse the record, the newcomer is not failed, and an
honest examiner admits it at once. The undefended arm grades by the old rule and shows the
attack is real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import node.ledger.trust
from node.backends.sim import SimBackend
from node.errors import RoundFailed
from node.round.rules import CURRENT_RULES
from node.swarm import exams
from node.swarm.node import SwarmNode
from node.testing import FakeBackend, in_process_swarm
from protocol.signing import Envelope
from protocol.v1 import envelope_pb2, messages_pb2
from ranking.trust import TrustParams

pytestmark = pytest.mark.integration

SWARM = "exam-griefing"
TRUST = TrustParams(
    n_judging=20, judging_pass=17, n_generation=5, generation_pass=3, cooldown_rounds=3
)


def competent(seed: int) -> SimBackend:
    return SimBackend(seed=seed, generation_skill=3.0, judging_skill=4.0)


async def griefing_record(examiner: SwarmNode, newcomer: SwarmNode) -> tuple[Envelope, int]:
    """The examiner's exam of ``newcomer`` at its ledger head, recorded with three of the five
    generation answers and four of the twenty ballots left out (below both pass marks if
    missing counts as wrong); returns the signed record and how many answers it dropped."""
    async with examiner.records.lock:
        height, head = examiner.store.head()
        before = examiner.state.identity(newcomer.node_id)
    papers = exams.write_exam(
        examiner.signer,
        newcomer.node_id,
        before,
        height,
        head,
        examiner.settings.to_proto(),
        TRUST,
    )
    event = await exams.sit_exam(
        examiner.client(newcomer.self_member()), newcomer.node_id, papers, 30
    )
    assert exams.complete(event)  # the newcomer answered everything
    dropped = 3 + 4
    del event.candidates[:3]
    del event.ballots[:4]
    signer = examiner.signer
    record = messages_pb2.ConsensusRecord(
        context=signer.context(os.urandom(16)),
        leader_id=signer.node_id,
        height=height,
        previous_record_hash=head,
        events=[messages_pb2.LedgerEvent(exam=event)],
        trust=True,
        rules=CURRENT_RULES,
    )
    return signer.seal(envelope_pb2.KIND_CONSENSUS_RECORD, record), dropped


@pytest.mark.parametrize("defended", [True, False])
async def test_an_examiner_cannot_fail_a_newcomer_by_leaving_answers_out(
    tmp_path: Path, defended: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    backends = [competent(i) for i in range(5)]
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM, trust=TRUST) as swarm:
        examiner, newcomer = swarm.nodes[0], swarm.nodes[4]
        others = swarm.nodes[1:]
        swarm.set_membership([0, 1, 2, 3])  # the genesis members
        await examiner.ask("What is 12 + 30?")
        swarm.set_membership()  # the newcomer joins on probation and catches up
        await newcomer.catch_up()
        await swarm.settle(2)
        if not defended:  # the rule before issue 20: a missing answer counts as wrong
            monkeypatch.setattr(node.ledger.trust, "RULES_ISSUE_20", CURRENT_RULES + 1)
        record_env, dropped = await griefing_record(examiner, newcomer)
        assert dropped == 7
        acks = [await n.handle_submit_record(record_env) for n in others]
        if not defended:
            assert all(ack.accepted for ack in acks)
            for n in others:
                state = n.state.identity(newcomer.node_id)
                assert state.failed_attempts == 1 and state.cooldown_until > 2
            return
        assert not any(ack.accepted for ack in acks)
        assert all("answer to every item" in ack.reason for ack in acks)
        for n in others:
            state = n.state.identity(newcomer.node_id)
            assert state.status == "probation"
            assert state.failed_attempts == 0 and state.cooldown_until == 0
            assert n.store.head()[0] == 2
        assert not any(n.pending_events for n in others)  # not evidence against the examiner
        # Rounds go on; at the next head an honest examiner draws fresh items (at this head
        # the newcomer's generation answers are bound to the griefer's Queries, so an honest
        # exam here would be incomplete and, rightly, not recorded) and records the newcomer's
        # answers whole: it passes and is admitted everywhere.
        await examiner.ask("What is 13 + 29?")
        await swarm.settle(3)
        assert await swarm.nodes[1].examine(newcomer.self_member()) is True
        await swarm.settle(4)
        assert all(n.state.identity(newcomer.node_id).status == "admitted" for n in swarm.nodes)
        await examiner.ask("What is 14 + 28?")
        await swarm.settle(5)
        assert all(n.store.head() == examiner.store.head() for n in swarm.nodes)


async def test_an_examiner_does_not_record_an_exam_the_newcomer_did_not_finish(
    tmp_path: Path,
) -> None:
    """The honest side of the rule: a newcomer that misses items is not graded (no failure,
    no cooldown); nothing is recorded."""
    backends = [competent(i) for i in range(4)] + [FakeBackend(fail_generate=True)]
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM, trust=TRUST) as swarm:
        examiner, newcomer = swarm.nodes[0], swarm.nodes[4]
        swarm.set_membership([0, 1, 2, 3])
        await examiner.ask("What is 12 + 30?")
        swarm.set_membership()
        await newcomer.catch_up()
        with pytest.raises(RoundFailed, match="did not answer every exam item"):
            await examiner.examine(newcomer.self_member(), timeout_s=5)
        assert examiner.store.head()[0] == 2
        state = examiner.state.identity(newcomer.node_id)
        assert state.failed_attempts == 0 and state.cooldown_until == 0
