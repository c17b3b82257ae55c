"""Trust wired into the ledger and rounds (issue 6): each test runs the attack once with the
defence (``trust=TrustParams(...)``) and once without, on an in-process 5-node swarm of real
gRPC servers on loopback (the ``bench.bench_round`` style)."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from node.backends.sim import SimBackend
from node.errors import RoundFailed
from node.round.settings import RoundSettings
from node.swarm.node import SwarmNode
from node.testing import InProcessSwarm, in_process_swarm
from protocol.errors import InvalidEvidence
from protocol.replay import verify_equivocation
from protocol.signing import Envelope, SystemClock, seal
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2
from ranking.trust import TrustParams

pytestmark = pytest.mark.integration

SWARM = "trust-test"
#: small exams and cooldowns keep the tests fast; the rules are the production ones
TRUST = TrustParams(
    n_judging=20, judging_pass=17, n_generation=5, generation_pass=3, cooldown_rounds=3
)


Swarm = InProcessSwarm


def start_swarm(
    tmp: Path,
    backends: Sequence[SimBackend],
    trust: TrustParams | None,
    settings: RoundSettings | None = None,
) -> Any:
    return in_process_swarm(tmp, backends, swarm_id=SWARM, trust=trust, settings=settings)


def competent(seed: int) -> SimBackend:
    return SimBackend(seed=seed, generation_skill=3.0, judging_skill=4.0)


def selected(record_env: Envelope) -> set[str]:
    record = messages_pb2.ConsensusRecord.FromString(record_env.payload)
    query = messages_pb2.Query.FromString(record.query.payload)
    return set(query.generator_ids) | set(query.ranker_ids)


# --- 1. a failed identity is not selected and waits out its cooldown ---------------------------


@pytest.mark.parametrize("defended", [True, False])
async def test_failed_calibration_blocks_selection(tmp_path: Path, defended: bool) -> None:
    backends = [competent(i) for i in range(4)] + [
        SimBackend(seed=99, generation_skill=-3.0, judging_skill=0.0)  # low skill: a coin
    ]
    async with start_swarm(tmp_path, backends, TRUST if defended else None) as swarm:
        leader, newcomer = swarm.nodes[0], swarm.nodes[4]
        swarm.set_membership([0, 1, 2, 3])  # the genesis members
        await leader.ask("What is 12 + 30?")
        swarm.set_membership()  # now the newcomer joins and catches up
        await newcomer.catch_up()
        picked = 0
        if defended:
            passed = await leader.examine(newcomer.self_member())
            assert passed is False
            await swarm.settle(leader.store.head()[0])
            for node in swarm.nodes[:4]:
                state = node.state.identity(newcomer.node_id)
                assert state.status == "probation" and state.failed_attempts == 1
            cooldown_until = leader.state.identity(newcomer.node_id).cooldown_until
            assert cooldown_until == leader.store.head()[0] - 1 + TRUST.cooldown_rounds
            with pytest.raises(RoundFailed, match="cannot take an exam"):
                await leader.examine(newcomer.self_member())
        for i in range(6):
            result = await leader.ask(f"What is {i} + 7?")
            picked += newcomer.node_id in selected(result.record)
        # `swarmrank status` shows each member's trust status and stake from the ledger.
        status = await leader.handle_status(services_pb2.StatusRequest())
        shown = {m.node_id: (m.trust_status, m.stake) for m in status.members}
        if not defended:
            assert set(shown.values()) == {("", 0.0)}
            assert picked > 0  # without probation the coin-flipper is selected at once
            return
        assert shown[newcomer.node_id] == ("probation", 0.0)
        assert all(shown[n.node_id] == ("admitted", TRUST.min_stake) for n in swarm.nodes[:4])
        assert picked == 0
        # Out of its cooldown it may retake the exam (and fails again: a longer cooldown).
        assert leader.store.head()[0] >= cooldown_until
        assert await leader.examine(newcomer.self_member()) is False
        assert leader.state.identity(newcomer.node_id).failed_attempts == 2
        # A competent newcomer passes and is then selected.
        newcomer.backend = competent(5)
        await swarm.settle(leader.store.head()[0])
        for _ in range(20):
            if leader.state.identity(newcomer.node_id).cooldown_until <= leader.store.head()[0]:
                break
            await leader.ask("What is 2 + 2?")
        await swarm.settle(leader.store.head()[0])
        assert await leader.examine(newcomer.self_member()) is True
        await swarm.settle(leader.store.head()[0])
        assert all(n.state.identity(newcomer.node_id).status == "admitted" for n in swarm.nodes)
        picked = 0
        for i in range(6):
            picked += newcomer.node_id in selected((await leader.ask(f"What is {i} + 9?")).record)
        assert picked > 0


# --- 2. equivocation and forged records slash and jail on all nodes -----------------------------


def _query(signer_index: int, query_id: bytes, question: str, generator: str) -> Envelope:
    query = messages_pb2.Query(
        context=messages_pb2.MessageContext(
            swarm_id=SWARM, query_id=query_id, timestamp_ms=SystemClock().time_ms()
        ),
        question=question,
        leader_id=test_identity(signer_index).node_id,
        generator_ids=[generator],
    )
    return seal(test_identity(signer_index), envelope_pb2.KIND_QUERY, query, SWARM)


def _jailed(node: SwarmNode, node_id: str) -> bool:
    return node.state.identity(node_id).status == "jailed"


async def _wait_jailed(nodes: Sequence[SwarmNode], node_id: str) -> bool:
    # about 6 s: a height leased to a forger stays blocked for the lease's TTL (3 s)
    for _ in range(300):
        if all(_jailed(n, node_id) for n in nodes):
            return True
        await asyncio.sleep(0.02)
    return False


@pytest.mark.parametrize("defended", [True, False])
async def test_equivocation_slashes_on_all_nodes(tmp_path: Path, defended: bool) -> None:
    backends = [competent(i) for i in range(5)]
    async with start_swarm(tmp_path, backends, TRUST if defended else None) as swarm:
        await swarm.nodes[0].ask("What is 1 + 1?")
        await swarm.settle(swarm.nodes[0].store.head()[0])
        offender = swarm.nodes[4]
        target = swarm.nodes[1]
        member = target.self_member()
        qid = os.urandom(16)
        # A byte-identical retransmission is answered from the cache: no evidence, no slash.
        first = _query(4, qid, "What is 3 + 3?", target.node_id)
        await offender.client(member).call_generate(first)
        await offender.client(member).call_generate(first)
        await asyncio.sleep(0.3)
        assert not any(_jailed(n, offender.node_id) for n in swarm.nodes)
        assert target.pending_events == []
        with pytest.raises(InvalidEvidence):
            verify_equivocation(first, first, SWARM)
        # A different payload for the same (signer, kind, query): equivocation.
        second = _query(4, qid, "What is 4 + 4?", target.node_id)
        with pytest.raises(Exception, match=r"(?i)equivocat|two different"):
            await offender.client(member).call_generate(second)
        # The evidence verifies standalone, with nothing but the swarm id.
        proven = verify_equivocation(first, second, SWARM)
        assert proven.offender_id == offender.node_id
        honest = swarm.nodes[:4]
        if defended:
            assert await _wait_jailed(honest, offender.node_id)
            for node in honest:
                state = node.state.identity(offender.node_id)
                assert state.stake == 0.0 and state.jailed_at is not None
                assert node.metrics.jailed_identities._value.get() == 1
            # Jailed: never selected again; reporting the same evidence again slashes nothing.
            result = await swarm.nodes[0].ask("What is 5 + 5?")
            assert offender.node_id not in selected(result.record)
            keys = set(swarm.nodes[0].state.applied_evidence)
            report = messages_pb2.EquivocationEvidence(
                context=messages_pb2.MessageContext(
                    swarm_id=SWARM, query_id=qid, timestamp_ms=SystemClock().time_ms()
                ),
                reporter_id=swarm.nodes[2].node_id,
                first=second,
                second=first,
            )
            env = seal(test_identity(2), envelope_pb2.KIND_EQUIVOCATION_EVIDENCE, report, SWARM)
            await swarm.nodes[2].client(swarm.nodes[0].self_member()).call_submit_evidence(env)
            await asyncio.sleep(0.3)
            assert swarm.nodes[0].state.applied_evidence == keys
            assert swarm.nodes[0].pending_events == []
        else:
            assert not await _wait_jailed(honest[:1], offender.node_id)
            picked = 0
            for i in range(4):
                picked += offender.node_id in selected(
                    (await swarm.nodes[0].ask(f"What is {i} + 5?")).record
                )
            assert picked > 0


@pytest.mark.parametrize("defended", [True, False])
async def test_forged_record_slashes_on_all_nodes(tmp_path: Path, defended: bool) -> None:
    backends = [competent(i) for i in range(5)]
    async with start_swarm(tmp_path, backends, TRUST if defended else None) as swarm:
        await swarm.nodes[0].ask("What is 1 + 1?")
        await swarm.settle(swarm.nodes[0].store.head()[0])
        forger = swarm.nodes[4]
        original_send = forger._send_record

        async def send_forged(member: Any, record: Envelope) -> None:
            payload = messages_pb2.ConsensusRecord.FromString(record.payload)
            payload.outcome.strengths[0] += 1.0  # a forged aggregation, re-signed
            forged = seal(forger.identity, envelope_pb2.KIND_CONSENSUS_RECORD, payload, SWARM)
            await original_send(member, forged)

        forger._send_record = send_forged  # type: ignore[method-assign]
        await forger.ask("What is 123 * 456?")
        honest = swarm.nodes[:4]
        for _ in range(100):
            if all(n.store.rejected("record") for n in honest):
                break
            await asyncio.sleep(0.02)
        assert all(n.store.rejected("record") for n in honest)
        if defended:
            assert await _wait_jailed(honest, forger.node_id)
            # The ledger replays to the same verdict (`swarmrank ledger verify`), and the
            # alarm gauge is exported (an honest 4-node swarm: not firing).
            from node.ledger.replay import replay_ledger

            for node in honest:
                summary = replay_ledger(node.store, SWARM, trust=TRUST)
                assert summary.state is not None
                assert summary.state.identity(forger.node_id).status == "jailed"
                assert node.metrics.adversary_alarm._value.get() == 0.0
        else:
            assert not await _wait_jailed(honest[:1], forger.node_id)


# --- 4. blind gold rounds --------------------------------------------------------------------


class GoldCheater(SimBackend):
    """Honest on live rounds, wrong on gold ones; an oracle (the test) tells it which are
    gold, since nothing on the wire does."""

    gold_queries: set[bytes]

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.gold_queries = set()

    async def judge(self, question: str, answer_a: str, answer_b: str, *, query_id: bytes) -> Any:
        judgement = await super().judge(question, answer_a, answer_b, query_id=query_id)
        if query_id in self.gold_queries and judgement.outcome in ("A", "B"):
            from node.backends.base import Judgement

            flipped = "B" if judgement.outcome == "A" else "A"
            return Judgement(outcome=flipped, rationale=judgement.rationale)
        return judgement


def _bank_questions() -> list[str]:
    """Live questions of the generated gold bank's forms (issue 20, finding 10: gold items are
    generated, so this test's live traffic is too, keeping the two alike in form)."""
    import numpy as np

    from node.round.gold import generate_gold_task

    rng = np.random.default_rng(2020)
    return [generate_gold_task(rng).question for _ in range(57)]


#: gold rounds in which the cheater must have judged before its reputation is asserted
GOLD_EXPOSURES = 5


def _gold_ballots_by(node: SwarmNode, ranker_id: str) -> int:
    """Gold records in ``node``'s ledger that carry a ballot of ``ranker_id``."""
    count = 0
    for entry in node.store.records_from(0, 10_000):
        envelope = Envelope.FromString(entry.envelope)
        record = messages_pb2.ConsensusRecord.FromString(envelope.payload)
        if record.HasField("gold") and any(
            messages_pb2.Ballot.FromString(b.payload).ranker_id == ranker_id for b in record.ballots
        ):
            count += 1
    return count


@pytest.mark.parametrize("defended", [True, False])
async def test_gold_rounds_blind_and_move_reputation(tmp_path: Path, defended: bool) -> None:
    # Weak generators, strong judges: generators disagree, so every round has pairs to judge.
    cheater = GoldCheater(seed=4, generation_skill=0.0, judging_skill=4.0)
    backends = [SimBackend(seed=i, generation_skill=0.0, judging_skill=4.0) for i in range(4)]
    backends.append(cheater)
    settings = RoundSettings(generate_deadline_ms=10_000, rank_deadline_ms=10_000, schedule="full")
    async with start_swarm(tmp_path, backends, None, settings) as swarm:
        leader, observer = swarm.nodes[0], swarm.nodes[1]
        seen: dict[bytes, list[Envelope]] = {}
        for method in ("handle_generate", "handle_rank"):
            original = getattr(observer, method)

            async def spy(envelope: Envelope, original: Any = original) -> Envelope:
                payload: Any = (
                    messages_pb2.Query
                    if envelope.kind == envelope_pb2.KIND_QUERY
                    else messages_pb2.RankRequest
                ).FromString(envelope.payload)
                qid = bytes(payload.context.query_id)
                seen.setdefault(qid, []).append(envelope)
                return await original(envelope)

            setattr(observer, method, spy)
        bank = _bank_questions()
        gold_ids: list[bytes] = []
        live_ids: list[bytes] = []
        # A first round, so no observed round sits at height 0 (proto3 omits a zero height).
        await leader.ask("What is 1 + 1?")
        for i in range(12):
            # Seeded query ids: the sim backends' draws, hence the test, are reproducible.
            live = hashlib.sha256(b"live%d" % i).digest()[:16]
            await leader.ask(bank[(7 * i + 3) % len(bank)], query_id=live)
            live_ids.append(live)
            qid = hashlib.sha256(b"gold%d" % i).digest()[:16]
            if defended:
                cheater.gold_queries.add(qid)
                await leader.ask("", query_id=qid, gold=True)
                gold_ids.append(qid)
        # Reputation moves only in the gold rounds where the cheater judged (it must be
        # selected, and generators must disagree so there is a Rank phase): the selection is
        # seeded by ledger hashes, which carry timestamps, so make sure of a few such rounds.
        cheater_id = swarm.nodes[4].node_id
        extra = 0
        while defended and _gold_ballots_by(leader, cheater_id) < GOLD_EXPOSURES and extra < 30:
            qid = hashlib.sha256(b"gold-extra%d" % extra).digest()[:16]
            cheater.gold_queries.add(qid)
            await leader.ask("", query_id=qid, gold=True)
            gold_ids.append(qid)
            extra += 1
        await swarm.settle(leader.store.head()[0])
        reps = leader.reputations
        honest = [reps[n.node_id] for n in swarm.nodes[:4]]
        cheat = reps[swarm.nodes[4].node_id]
        if not defended:
            # Without gold rounds the cheater is never caught: it judges like its peers, so it
            # keeps (at least) its starting reputation of 0.5. Comparing it with the honest
            # nodes would test luck: who generated the winners (a seeded draw over this run's
            # random node ids) moves reputation by up to ~0.2 in 13 rounds.
            assert cheat > 0.45, (cheat, honest)
            return
        # Each gold round it judges halves a flipping ranker's reputation and lifts an honest
        # one towards 1; live rounds won as a generator give a little back. After
        # GOLD_EXPOSURES such rounds (measured over 19 runs: 0.01-0.22 against honest 0.68-0.98,
        # 0.58-0.69 undefended) the gap is wide.
        assert _gold_ballots_by(leader, cheater_id) >= GOLD_EXPOSURES
        assert cheat < 0.4 and cheat < min(honest) - 0.2, (cheat, honest)

        # Nothing the observer received tells gold from live.
        def shape(envelopes: list[Envelope]) -> set[tuple[int, tuple[str, ...]]]:
            out = set()
            for env in envelopes:
                cls = (
                    messages_pb2.Query
                    if env.kind == envelope_pb2.KIND_QUERY
                    else messages_pb2.RankRequest
                )
                msg = cls.FromString(env.payload)
                out.add((env.kind, tuple(sorted(f.name for f, _ in msg.ListFields()))))
            return out

        gold_msgs = [e for q in gold_ids for e in seen.get(q, [])]
        live_msgs = [e for q in live_ids for e in seen.get(q, [])]
        assert gold_msgs and live_msgs
        gold_shape, live_shape = shape(gold_msgs), shape(live_msgs)
        # A RankRequest only exists when generators disagree, on gold and live rounds alike.
        common = {k for k, _ in gold_shape} & {k for k, _ in live_shape}
        assert envelope_pb2.KIND_QUERY in common
        assert {x for x in gold_shape if x[0] in common} == {
            x for x in live_shape if x[0] in common
        }

        def questions(envelopes: list[Envelope]) -> set[str]:
            qs = set()
            for env in envelopes:
                if env.kind == envelope_pb2.KIND_QUERY:
                    qs.add(messages_pb2.Query.FromString(env.payload).question)
            return qs

        # Gold and live questions have the same generated forms, and no gold question is in
        # the public task bank (a lookup finds nothing); parameters are the same.
        from node.round.gold import solve_gold_question
        from sim.model import task_bank

        both = questions(gold_msgs) | questions(live_msgs)
        assert all(solve_gold_question(q) is not None for q in both)
        assert not questions(gold_msgs) & {t.question for t in task_bank()}
        params = {
            messages_pb2.Query.FromString(e.payload).parameters.SerializeToString()
            for e in gold_msgs + live_msgs
            if e.kind == envelope_pb2.KIND_QUERY
        }
        assert len(params) == 1
        # The truth is only in the record.
        gold_records = 0
        for entry in leader.store.records_from(0, 100):
            record = messages_pb2.ConsensusRecord.FromString(
                Envelope.FromString(entry.envelope).payload
            )
            gold_records += record.HasField("gold")
        assert gold_records == len(gold_ids)


# --- the trust parameters travel in the genesis ---------------------------------------------------


@pytest.mark.parametrize("same_rules", [True, False])
async def test_genesis_binds_the_trust_parameters(tmp_path: Path, same_rules: bool) -> None:
    """A member configured with other trust rules refuses the genesis (and so the swarm's
    ledger) instead of silently applying its own rules."""
    backends = [competent(i) for i in range(4)]
    async with start_swarm(tmp_path, backends, TRUST) as swarm:
        odd = swarm.nodes[3]
        if not same_rules:
            odd.trust = TrustParams(
                n_judging=20, judging_pass=16, n_generation=5, generation_pass=3, cooldown_rounds=3
            )
        leader = swarm.nodes[0]
        await leader.ask("What is 2 + 3?")  # genesis, then a live round
        await swarm.settle(leader.store.head()[0], swarm.nodes[:3])
        await asyncio.sleep(0.3)  # give the odd node time to take (or refuse) the records
        if same_rules:
            await swarm.settle(leader.store.head()[0])
            assert odd.store.head() == leader.store.head()
            return
        assert odd.store.head()[0] == 0
        reasons = [item.detail for item in odd.store.rejected("record")]
        assert any("trust parameters differ" in r for r in reasons), reasons
