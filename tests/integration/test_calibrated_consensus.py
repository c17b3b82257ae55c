"""The calibrated consensus in a running swarm (issue 12): sim-backend nodes over real gRPC
on loopback, every record checked by every member.

* Judges at chance (they answer by position, as SmolLM2 and Gemma 3 270M do): the swarm's
  answer is always one of its generators' largest clusters, so it answers at least as well as
  their majority vote, and gold rounds teach it to keep the judges out (judge weight 0).
* Judges far better than generators: gold rounds teach it to trust them (judge weight > 0),
  and every member recomputes the same weight from its own ledger.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from node.backends.sim import SimBackend
from node.errors import RecordRejected
from node.ledger.trust import LedgerState
from node.round.check import check_record
from node.round.clustering import cluster_candidates
from node.round.consensus import CURRENT_CONSENSUS
from node.round.settings import RoundSettings
from node.testing import in_process_swarm
from protocol.signing import Envelope, Verifier, seal
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2, messages_pb2
from sim.model import parse_task

pytestmark = pytest.mark.integration

SWARM = "calibrated-test"
SETTINGS = RoundSettings(generate_deadline_ms=10_000, rank_deadline_ms=10_000)
#: two-digit products: generators of skill 0 get about 57% of them right, with a popular error
QUESTIONS = [f"What is {a} x {b}?" for a, b in zip(range(23, 47), range(61, 85), strict=True)]


def chance_judges(n: int) -> list[SimBackend]:
    """Generators that are right a little more often than not; judges that always name the
    first answer shown (position bias 1): no signal at all about which answer is right."""
    return [
        SimBackend(seed=100 + i, generation_skill=0.0, judging_skill=0.0, position_bias=1.0)
        for i in range(n)
    ]


def strong_judges(n: int) -> list[SimBackend]:
    """Weak generators, judges that nearly always know (the Fortytwo premise)."""
    return [
        SimBackend(seed=200 + i, generation_skill=-0.5, judging_skill=5.0, position_bias=0.0)
        for i in range(n)
    ]


def round_clusters(record_env: Envelope) -> tuple[list[int], list[str], int]:
    """(cluster sizes, cluster answers, winner) of a recorded round, clustered as the leader
    clustered them (same function, same seeded order)."""
    record = messages_pb2.ConsensusRecord.FromString(record_env.payload)
    query_id = messages_pb2.Query.FromString(record.query.payload).context.query_id
    candidates = [messages_pb2.Candidate.FromString(e.payload) for e in record.candidates]
    clusters = cluster_candidates(
        [c.answer for c in candidates], [c.reasoning for c in candidates], query_id
    )
    return [len(c.members) for c in clusters], [c.answer for c in clusters], record.outcome.winner


def majority_expectation(sizes: Sequence[int], correct: Sequence[bool]) -> float:
    """Majority vote's chance of being right: the share of correct clusters among the largest
    (ties broken at random)."""
    top = max(sizes)
    tied = [i for i, size in enumerate(sizes) if size == top]
    return sum(correct[i] for i in tied) / len(tied)


@dataclass
class Played:
    """What a swarm answered over :data:`QUESTIONS`."""

    right: float = 0.0  # rounds the swarm answered right
    majority: float = 0.0  # the majority vote's expected right answers (ties split)
    contested: int = 0  # rounds with more than one cluster
    minority_wins: int = 0  # rounds won by a cluster smaller than the largest
    states: list[LedgerState] = field(default_factory=list)  # every node's, caught up


async def _play(tmp: Path, consensus: int, backends: list[SimBackend], gold: int = 0) -> Played:
    """A swarm of ``backends`` under ``consensus`` after ``gold`` gold rounds, asked
    :data:`QUESTIONS`; every response checked against its record."""
    settings = RoundSettings(
        generate_deadline_ms=10_000, rank_deadline_ms=10_000, consensus=consensus
    )
    played = Played()
    async with in_process_swarm(tmp, backends, swarm_id=SWARM, settings=settings) as swarm:
        leader = swarm.nodes[0]
        for _ in range(gold):
            await leader.run_gold_round()
        for question in QUESTIONS:
            result = await leader.ask(question)
            sizes, answers, winner = round_clusters(result.record)
            response = result.response  # what a client sees: the rule, the weight, the winner
            assert response.consensus == consensus and response.winner == winner
            assert response.candidates[0].index == winner and response.judge_weight == 0.0
            assert sum(c.share for c in response.candidates) == pytest.approx(1.0)
            if consensus >= 2:
                assert sum(c.posterior for c in response.candidates) == pytest.approx(1.0)
            task = parse_task(question)
            assert task is not None
            correct = [task.is_correct(answer) for answer in answers]
            played.right += correct[winner]
            played.majority += majority_expectation(sizes, correct)
            played.contested += len(sizes) > 1
            played.minority_wins += sizes[winner] < max(sizes)
        for node in swarm.nodes[1:]:
            await node.catch_up()
        played.states = [node.state for node in swarm.nodes]
    return played


@pytest.mark.parametrize("consensus", [1, 2, 3])
async def test_chance_judges_never_take_the_swarm_below_its_majority_vote(
    tmp_path: Path, consensus: int
) -> None:
    """Consensus 1 (calibrated), 2 and 3 (the evidence reading): without gold rounds nothing
    says the judges know, so each is the generators' majority vote."""
    played = await _play(tmp_path / "rule", consensus, chance_judges(9))
    assert played.states[0].judge_weight == 0.0  # no gold: nothing says the judges know
    assert not played.states[0].evidence_model.use_verdicts
    assert played.contested >= 5  # the generators disagreed often enough for judging to matter
    # every round went to one of the largest clusters, so the swarm answers as its majority
    # vote does (ties between largest clusters go to the judges' coin)
    assert played.minority_wins == 0
    assert played.right >= played.majority - 0.5 * played.contested
    # the rule before issue 12 (robust BT alone) follows the coin-flipping judges
    assert (await _play(tmp_path / "robust-bt", 0, chance_judges(9))).minority_wins >= 1


async def test_gold_rounds_teach_the_swarm_how_far_to_trust_its_judges(tmp_path: Path) -> None:
    for backends, trusted in ((chance_judges(9), False), (strong_judges(9), True)):
        out = tmp_path / ("strong" if trusted else "chance")
        async with in_process_swarm(out, backends, swarm_id=SWARM, settings=SETTINGS) as swarm:
            leader = swarm.nodes[0]
            for _ in range(12):
                await leader.run_gold_round()
            for node in swarm.nodes[1:]:
                await node.catch_up()
            state = leader.state
            assert len(state.gold_rounds) >= 4  # rounds with a right and a wrong cluster
            weights = {node.state.judge_weight for node in swarm.nodes}
            assert weights == {state.judge_weight}  # every member fitted the same ledger
            if trusted:
                assert state.judge_weight > 0.0, state.judge_trust
            else:
                assert state.judge_weight == 0.0, state.judge_trust


async def test_the_evidence_reading_keeps_chance_judges_out_and_reads_strong_ones(
    tmp_path: Path,
) -> None:
    """The evidence reading (consensus 3, issue 12's Done-when 6): every member recomputes
    every record, gold rounds refit the reading identically on every node; with judges at
    chance and generators of one skill the gold rounds earn neither the verdicts nor the
    records, so every round goes to a largest cluster and the swarm answers as its majority
    vote; judges that know are read."""
    played = await _play(tmp_path / "chance", CURRENT_CONSENSUS, chance_judges(9), gold=12)
    states = played.states
    assert all(s.evidence_window for s in states)
    leader = states[0]
    assert leader.evidence_rounds >= 4  # gold rounds with a right and a wrong cluster
    assert {s.evidence_model for s in states} == {leader.evidence_model}
    assert {s.height for s in states} == {leader.height}
    model = leader.evidence_model
    assert not model.use_verdicts and not model.use_records, model  # gold showed nothing
    assert played.contested >= 5
    # Measured over 20 runs of this swarm (2026-12-01): the model stayed the plain vote every
    # time and no round went to a smaller cluster; under consensus 2 (records always read) the
    # same 20 runs answered 347 right against the majority vote's expected 372.4, down to
    # 11 against 17 in one run (8 minority wins).
    assert played.minority_wins == 0
    assert played.right >= played.majority - 0.5 * played.contested

    states = (await _play(tmp_path / "strong", CURRENT_CONSENSUS, strong_judges(9), gold=12)).states
    leader = states[0]
    assert {s.evidence_model for s in states} == {leader.evidence_model}
    assert leader.evidence_model.use_verdicts, leader.evidence_model
    assert leader.judge_record and all(
        hits >= 0.9 * seen for hits, seen in leader.judge_record.values()
    )


async def test_consensus_2_still_reads_the_records_and_its_records_still_check(
    tmp_path: Path,
) -> None:
    """A swarm configured for consensus 2 (the reading as first made) keeps its rule: its fit
    reads the generators' records whatever they show, and every member accepts every record."""
    played = await _play(tmp_path / "two", 2, chance_judges(9), gold=12)
    leader = played.states[0]
    assert leader.evidence_rounds >= 4 and leader.evidence_model.use_records
    assert {s.evidence_model for s in played.states} == {leader.evidence_model}
    assert {s.height for s in played.states} == {leader.height}


async def test_a_reading_record_with_a_moved_posterior_is_refused(tmp_path: Path) -> None:
    """A member recomputes a consensus-2 record's posterior: the leader's own record passes,
    the same record re-signed with a posterior moved beyond the tolerance, or with a judge
    weight (the calibrated rule's field), is refused naming the field."""
    settings = RoundSettings(
        generate_deadline_ms=10_000, rank_deadline_ms=10_000, consensus=CURRENT_CONSENSUS
    )
    async with in_process_swarm(
        tmp_path, chance_judges(5), swarm_id=SWARM, settings=settings
    ) as swarm:
        result = await swarm.nodes[0].ask(QUESTIONS[0])
    verifier = Verifier(SWARM)
    checked = check_record(result.record, verifier, 0, b"", {})
    assert checked.reading is not None and checked.reading.n_items == len(checked.clusters)
    record = messages_pb2.ConsensusRecord.FromString(result.record.payload)
    assert sum(record.outcome.posterior) == pytest.approx(1.0)
    leader = {test_identity(i).node_id: test_identity(i) for i in range(5)}[record.leader_id]

    def refused(mutate: Callable[[messages_pb2.ConsensusRecord], None]) -> str:
        altered = messages_pb2.ConsensusRecord()
        altered.CopyFrom(record)
        mutate(altered)
        envelope = seal(leader, envelope_pb2.KIND_CONSENSUS_RECORD, altered, SWARM)
        with pytest.raises(RecordRejected) as exc:
            check_record(envelope, verifier, 0, b"", {})
        return exc.value.field

    def moved(r: messages_pb2.ConsensusRecord) -> None:
        r.outcome.posterior[0] -= 1e-3

    def weighted(r: messages_pb2.ConsensusRecord) -> None:
        r.outcome.judge_weight = 1.0

    assert refused(moved) == "outcome.posterior"
    assert refused(weighted) == "outcome.judge_weight"
