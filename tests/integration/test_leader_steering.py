"""A leader that steers and blames (issue 20, findings 4 and 10), each attack run against an
in-process 5-node swarm with trust on (real gRPC on loopback): grinding the query id for a
selection or a gold item, a selection pool with an invented member or one left out, a record
below the quorum its Query declares, and dropping an honest node's answers to mark it absent.
With the defences (:mod:`node.round.rules`) the honest nodes are unharmed: not slashed, not
jailed, not penalised, and rounds go on; the undefended arms switch a defence off inside the
test and show the attack is real."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import node.ledger.state
from node.errors import RecordRejected
from node.ledger.replay import replay_ledger
from node.ledger.trust import eligible_ids
from node.round import leader as phases
from node.round.leader import RoundContext
from node.round.rules import CURRENT_RULES
from node.swarm.node import SwarmNode
from node.testing import FakeBackend, in_process_swarm
from protocol.signing import Envelope, Verified
from protocol.v1 import messages_pb2
from ranking.trust import TrustParams

pytestmark = pytest.mark.integration

SWARM = "leader-steering"
TRUST = TrustParams(
    n_judging=20, judging_pass=17, n_generation=5, generation_pass=3, cooldown_rounds=3
)
#: an id no identity holds
INVENTED = "f" * 32


def start_swarm(tmp: Path) -> Any:
    # Five distinct answers: every round has several clusters, so every ranker has pairs.
    backends = [FakeBackend(answer=str(40 + i)) for i in range(5)]
    return in_process_swarm(tmp, backends, swarm_id=SWARM, trust=TRUST)


def record_of(record_env: Envelope) -> messages_pb2.ConsensusRecord:
    record: messages_pb2.ConsensusRecord = messages_pb2.ConsensusRecord.FromString(
        record_env.payload
    )
    return record


def recorded_at(node: SwarmNode, height: int) -> Envelope:
    envelope: Envelope = Envelope.FromString(node.store.records_from(height, 1)[0].envelope)
    return envelope


def jailed_anywhere(nodes: Sequence[SwarmNode], node_id: str) -> bool:
    return any(n.state.identity(node_id).status == "jailed" for n in nodes)


async def draws(leader: SwarmNode, n: int) -> tuple[set[tuple[str, ...]], set[str]]:
    """The selections and gold items ``leader`` gets on its ledger head for ``n`` query ids
    (the grinding loop: one hash per try)."""
    members = {m.node_id: m for m in leader.membership.members()}
    selections: set[tuple[str, ...]] = set()
    gold_items: set[str] = set()
    for index in range(1, n + 1):
        query_id = index.to_bytes(16, "big")
        ctx = await leader._open_round("", query_id, members, gold=True, timeout_ms=0)
        selection = phases.select(ctx, leader.signer).selection
        selections.add((*selection.generator_ids, "|", *selection.ranker_ids))
        gold_items.add(ctx.gold_task.task_id)
    return selections, gold_items


# --- query-id grinding: the selection and the gold item -------------------------------------


@pytest.mark.parametrize("defended", [True, False])
async def test_grinding_the_query_id_moves_neither_selection_nor_gold_item(
    tmp_path: Path, defended: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with start_swarm(tmp_path) as swarm:
        leader, honest = swarm.nodes[0], swarm.nodes[1:]
        await leader.ask("What is 40 + 2?")  # the genesis, then a first round (rules 1)
        await swarm.settle(2)
        if not defended:
            # The rule before issue 20: the query id seeds the draw, so grinding it picks
            # among many selections; members refuse such a record now (the rules ratchet).
            monkeypatch.setattr(phases, "CURRENT_RULES", 0)
            selections, _ = await draws(leader, 64)
            assert len(selections) > 5
            monkeypatch.setattr(leader.records, "verify_own_locked", lambda *args: None)
            await leader.ask("What is 41 + 1?", query_id=(7).to_bytes(16, "big"))
            with pytest.raises(RecordRejected, match="rules") as refused:
                async with honest[0].records.lock:
                    height, head = honest[0].store.head()
                    honest[0].records.check_locked(recorded_at(leader, 2), height, head)
            assert refused.value.field == "rules"
            assert all(n.store.head()[0] == 2 for n in honest)
            return
        selections, gold_items = await draws(leader, 64)
        assert len(selections) == 1 and len(gold_items) == 1
        # A ground query id leads an ordinary round (and a gold round) every member accepts.
        await leader.ask("What is 41 + 1?", query_id=(7).to_bytes(16, "big"))
        result = await leader.run_gold_round()
        assert record_of(result.record).gold.task_id
        await swarm.settle(4)
        assert all(n.store.head() == leader.store.head() for n in honest)
        assert not any(jailed_anywhere(swarm.nodes, n.node_id) for n in swarm.nodes)


# --- the pool: an invented member, or an eligible one left out ------------------------------


@pytest.mark.parametrize("change", ["invented", "left_out"])
async def test_a_pool_other_than_the_eligible_set_is_refused(
    tmp_path: Path, change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with start_swarm(tmp_path) as swarm:
        leader, honest, victim = swarm.nodes[0], swarm.nodes[1:], swarm.nodes[4]
        await leader.ask("What is 40 + 2?")
        await swarm.settle(2)

        def steered(*args: Any) -> list[str]:
            pool = set(eligible_ids(*args))
            pool = pool | {INVENTED} if change == "invented" else pool - {victim.node_id}
            return sorted(pool)

        with monkeypatch.context() as patch:
            patch.setattr(phases, "eligible_ids", steered)
            patch.setattr(leader.records, "verify_own_locked", lambda *args: None)
            steered_result = await leader.ask("What is 41 + 1?")
        pool = list(record_of(steered_result.record).reputation_ids)
        assert (INVENTED in pool) if change == "invented" else (victim.node_id not in pool)
        bad = recorded_at(leader, 2)
        for node in honest:
            async with node.records.lock:
                with pytest.raises(RecordRejected) as refused:
                    node.records.check_locked(bad, 2, node.store.head()[1])
            assert refused.value.field == "reputation_ids"
        # Rounds go on under an honest leader, with the victim in the pool; nobody is harmed.
        result = await honest[0].ask("What is 42 + 1?")
        assert victim.node_id in record_of(result.record).reputation_ids
        await swarm.settle(3, honest)
        assert all(n.store.head() == honest[0].store.head() for n in honest)
        assert not jailed_anywhere(honest, victim.node_id)
        assert all(not n.pending_events for n in honest)


# --- quorum -----------------------------------------------------------------------------------


async def test_a_record_below_its_declared_quorum_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Query declares a generator quorum of 3; the leader records one candidate anyway.
    Only the leader decided that, so it is proof of a forged record: the leader is jailed and
    the generators it left out are not harmed."""
    async with start_swarm(tmp_path) as swarm:
        leader, honest = swarm.nodes[0], swarm.nodes[1:]
        await leader.ask("What is 40 + 2?")
        await swarm.settle(2)
        leader.settings = dataclasses.replace(leader.settings, quorum_generators=3)
        collect = phases.collect_candidates

        def below_quorum(ctx: RoundContext, replies: Sequence[Verified]) -> RoundContext:
            lax = dataclasses.replace(ctx.settings, quorum_generators=1)
            kept = collect(dataclasses.replace(ctx, settings=lax), list(replies)[:1])
            return dataclasses.replace(kept, settings=ctx.settings)

        monkeypatch.setattr(phases, "collect_candidates", below_quorum)
        monkeypatch.setattr(leader.records, "verify_own_locked", lambda *args: None)
        result = await leader.ask("What is 41 + 1?")
        record = record_of(result.record)
        query = messages_pb2.Query.FromString(record.query.payload)
        assert query.parameters.quorum_generators == 3 and len(record.candidates) == 1
        assert await swarm.wait_jailed(leader.node_id, honest)
        left_out = set(query.generator_ids) - {leader.node_id}
        for node_id in left_out:
            assert not jailed_anywhere(honest, node_id)
        assert all(n.store.head() == honest[0].store.head() for n in honest)


# --- dropping an honest node's answers to mark it absent -------------------------------------


@pytest.mark.parametrize("defended", [True, False])
async def test_a_leader_that_drops_answers_cannot_get_a_node_penalised(
    tmp_path: Path, defended: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with start_swarm(tmp_path) as swarm:
        leader, victim = swarm.nodes[0], swarm.nodes[4]
        honest = swarm.nodes[1:]
        await leader.ask("What is 40 + 2?")
        await swarm.settle(2)
        if not defended:  # the rule before issue 20: every recorded absence costs reputation
            monkeypatch.setattr(
                node.ledger.state,
                "absence_penalties",
                lambda absences, leader_id, absent, answered: (sorted(set(absent)), {}),
            )
        before = [n.reputation_of(victim.node_id) for n in honest]
        keep_candidate, keep_ballot = phases.candidate_answers, phases.ballot_answers
        with monkeypatch.context() as patch:
            patch.setattr(
                phases,
                "candidate_answers",
                lambda ctx, reply: reply.signer_id != victim.node_id and keep_candidate(ctx, reply),
            )
            patch.setattr(
                phases,
                "ballot_answers",
                lambda ctx, reply: reply.signer_id != victim.node_id and keep_ballot(ctx, reply),
            )
            for i in range(4):
                result = await leader.ask(f"What is {i} + 42?")
                assert victim.node_id in record_of(result.record).absent_ids
        await swarm.settle(6)
        after = [n.reputation_of(victim.node_id) for n in honest]
        if not defended:
            assert all(a < b * 0.95 for a, b in zip(after, before, strict=True))
            return
        assert after == before  # four rounds recorded absent by one leader: no penalty
        # Rounds go on; an honest leader records the victim's answers, which clears its streak.
        result = await honest[0].ask("What is 42 + 1?")
        assert victim.node_id not in record_of(result.record).absent_ids
        await swarm.settle(7)
        assert not jailed_anywhere(swarm.nodes, victim.node_id)
        # A node that really does not answer still pays, once two leaders have seen it.
        base = honest[1].reputation_of(victim.node_id)
        victim.backend.fail_generate = victim.backend.fail_judge = True
        await honest[0].ask("What is 43 + 1?")
        await swarm.settle(8, honest)
        once = honest[1].reputation_of(victim.node_id)
        await honest[1].ask("What is 44 + 1?")
        await swarm.settle(9, honest)
        twice = honest[1].reputation_of(victim.node_id)
        assert once == base and twice < base
        assert all(n.reputation_of(victim.node_id) == twice for n in honest)
        # Replaying the ledger from scratch gives the same state, absence streaks included.
        for n in honest:
            summary = replay_ledger(n.store, SWARM, trust=TRUST)
            assert summary.state is not None and summary.state.absences == n.state.absences
            assert summary.reputations == n.reputations


async def test_the_rules_ratchet_survives_a_restart_without_trust(tmp_path: Path) -> None:
    """Without trust a node rebuilds its state from the stored reputations, not by replay; the
    rules version is read from the head record, so after a restart it still refuses records
    that fall back to older rules."""
    backends = [FakeBackend(answer=str(40 + i)) for i in range(3)]
    async with in_process_swarm(tmp_path, backends, swarm_id=SWARM) as swarm:
        await swarm.nodes[0].ask("What is 40 + 2?")
        await swarm.settle(1)
        assert all(n.state.rules == CURRENT_RULES for n in swarm.nodes)
        assert swarm.nodes[1].records._load_state().rules == CURRENT_RULES
