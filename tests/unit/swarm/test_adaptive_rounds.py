"""Adaptive rounds in the node (issue 17): the leader's waves (node.round.leader.rank_in_waves)
recorded and recomputed by a member (node.round.waves.check_waves), without sockets.

Rankers are fake clients that sign a ballot for each wave's RankRequest; the fan-out hands
their replies to the leader in a chosen arrival order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence

import numpy as np
import pytest

from node.errors import RecordRejected
from node.ledger.trust import LedgerState
from node.membership.registry import Member
from node.round import leader
from node.round.check import check_record
from node.round.leader import RoundContext, Signer
from node.round.schedule import assign_pairs
from node.round.settings import RoundSettings
from node.testing import offline_member, perturbed_floats
from protocol.hashing import payload_hash
from protocol.identity import Identity
from protocol.replay import ReplayGuard, verify_equivocation
from protocol.signing import Envelope, Verified, Verifier, seal
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2

SWARM = "adaptive-test"
QUERY_ID = b"a" * 16
HEAD = b"h" * 32
IDENTITIES = [test_identity(i) for i in range(16)]
BY_ID = {i.node_id: i for i in IDENTITIES}
TRUE, POPULAR, CLIQUE = "6 x 7 = 42", "6 x 7 = 41", "6 x 7 = 48"
#: per identity, the answer it generates: 7 right, 5 a popular error, 4 the clique's
ANSWERS = {i.node_id: TRUE for i in IDENTITIES[:7]}
ANSWERS |= {i.node_id: POPULAR for i in IDENTITIES[7:12]}
ANSWERS |= {i.node_id: CLIQUE for i in IDENTITIES[12:]}
CLIQUE_IDS = frozenset(i.node_id for i in IDENTITIES[12:])
#: the robust BT winner (consensus 0): with no gold rounds yet the calibrated rule follows the
#: generators' majority, and these tests are about the judges
SETTINGS = RoundSettings(
    max_generators=16, max_rankers=16, schedule="adaptive", judge_budget=24, consensus=0
)

#: a judge: (ranker id, answer shown as A, answer shown as B) -> outcome, or None to abstain
Judge = Callable[[str, str, str], "int | None"]


def honest(ranker_id: str, a: str, b: str) -> int | None:
    """Honest rankers know the truth; the clique always prefers its own answer."""
    prefer = CLIQUE if ranker_id in CLIQUE_IDS else TRUE
    if prefer in (a, b):
        return messages_pb2.OUTCOME_A if a == prefer else messages_pb2.OUTCOME_B
    return messages_pb2.OUTCOME_TIE


@dataclasses.dataclass
class Ranker:
    """A fake peer client: signs one ballot per RankRequest wave it is called in."""

    identity: Identity
    judge: Judge
    verifier: Verifier
    calls: list[int] = dataclasses.field(default_factory=list)

    async def call_rank(self, request_env: Envelope, timeout_s: float) -> Verified:
        request: messages_pb2.RankRequest = self.verifier.verify(
            request_env, envelope_pb2.KIND_RANK_REQUEST
        ).message
        (mine,) = [a for a in request.assignments if a.ranker_id == self.identity.node_id]
        answers = [c.answer for c in request.candidates]
        verdicts = []
        for pair in mine.pairs:
            outcome = self.judge(self.identity.node_id, answers[pair.a], answers[pair.b])
            verdicts.append(
                messages_pb2.Verdict(
                    a=pair.a, b=pair.b, outcome=outcome or messages_pb2.OUTCOME_ABSTAIN
                )
            )
        self.calls.append(len(verdicts))
        ballot = messages_pb2.Ballot(
            context=messages_pb2.MessageContext(
                swarm_id=SWARM,
                query_id=request.context.query_id,
                timestamp_ms=self.verifier.clock.time_ms(),
            ),
            ranker_id=self.identity.node_id,
            candidate_set_digest=request.candidate_set_digest,
            verdicts=verdicts,
            wave=request.wave,
        )
        envelope = seal(self.identity, envelope_pb2.KIND_BALLOT, ballot, SWARM)
        return self.verifier.verify(envelope, envelope_pb2.KIND_BALLOT)


@dataclasses.dataclass
class Played:
    record_env: Envelope
    record: messages_pb2.ConsensusRecord
    ctx: RoundContext
    verifier: Verifier
    signer: Signer

    @property
    def judge_calls(self) -> int:
        return sum(
            len(messages_pb2.Ballot.FromString(e.payload).verdicts) for e in self.record.ballots
        )

    @property
    def waves(self) -> list[list[tuple[str, list[tuple[int, int]]]]]:
        requests = [self.record.rank_request, *self.record.wave_requests]
        out = []
        for env in requests:
            request = messages_pb2.RankRequest.FromString(env.payload)
            out.append([(a.ranker_id, [(p.a, p.b) for p in a.pairs]) for a in request.assignments])
        return out

    @property
    def winner_answer(self) -> str:
        return self.record.answer

    def check(self) -> None:
        check_record(self.record_env, self.verifier, 3, HEAD, self.ctx.state.reputations)


async def play(
    judge: Judge = honest,
    *,
    settings: RoundSettings = SETTINGS,
    silent: frozenset[str] = frozenset(),
    first: frozenset[str] = frozenset(),
    query_id: bytes = QUERY_ID,
) -> Played:
    """One adaptive round led by identity 0: every selected generator answers per
    :data:`ANSWERS`; rankers judge with ``judge``; ``silent`` rankers never reply; replies
    of ``first`` arrive before the others (otherwise after them)."""
    clock = FakeClock()
    signer = Signer(IDENTITIES[0], SWARM, clock)
    verifier = Verifier(SWARM, clock=clock)
    ctx = RoundContext(
        query_id=query_id,
        question="What is 6 x 7?",
        settings=settings,
        members={i.node_id: offline_member(i) for i in IDENTITIES},
        height=3,
        head=HEAD,
        state=LedgerState(height=3, reputations={}),
    )
    ctx = leader.select(ctx, signer)
    candidates = []
    for g in ctx.selection.generator_ids:
        candidate = messages_pb2.Candidate(
            context=signer.context(query_id),
            generator_id=g,
            query_hash=payload_hash(ctx.query_env),
            answer=ANSWERS[g],
            model="fake",
        )
        env = seal(BY_ID[g], envelope_pb2.KIND_CANDIDATE, candidate, SWARM)
        candidates.append(verifier.verify(env, envelope_pb2.KIND_CANDIDATE))
    ctx = leader.cluster(leader.collect_candidates(ctx, candidates), signer)
    rankers = {i.node_id: Ranker(i, judge, verifier) for i in IDENTITIES}

    async def fan_out(
        members: Sequence[Member],
        call: Callable[..., Awaitable[Verified]],
        timeout_s: float,
    ) -> list[Verified]:
        replies = [await call(rankers[m.node_id]) for m in members if m.node_id not in silent]
        # arrival order: the ``first`` rankers' replies come in before everyone else's
        return sorted(replies, key=lambda v: v.signer_id not in first)

    ctx = leader.aggregate(await leader.rank(ctx, fan_out, signer))
    record_env, checked = leader.record(ctx, signer, verifier)
    return Played(record_env, checked.record, ctx, verifier, signer)


def three_n_calls(played: Played) -> int:
    """Judge calls the 3n schedule would ask in the same round (same clusters, rankers)."""
    ctx = played.ctx
    pairs = assign_pairs(
        len(ctx.clusters), list(ctx.selection.ranker_ids), ctx.own, ctx.query_id, "3n"
    )
    return sum(len(p) for _, p in pairs)


# --- recorded and checked --------------------------------------------------------------------


async def test_an_adaptive_round_is_recorded_and_recomputed_by_a_member() -> None:
    played = await play()
    record = played.record
    assert record.stop_reason in ("separated", "budget", "max-waves", "exhausted")
    assert len(played.waves) >= 2 and len(record.wave_requests) == len(played.waves) - 1
    assert record.looks and all(look.fitted for look in record.looks)
    assert played.winner_answer == TRUE
    assert 0 < played.judge_calls <= SETTINGS.judge_budget < three_n_calls(played)
    params = messages_pb2.Query.FromString(record.query.payload).parameters
    assert (params.schedule, params.judge_budget, params.wave_size) == ("adaptive", 24, 16)
    # every ballot names its wave, and a ranker signs at most one ballot per wave
    ballots = [messages_pb2.Ballot.FromString(e.payload) for e in record.ballots]
    keys = [(b.ranker_id, b.wave) for b in ballots]
    assert len(set(keys)) == len(keys) and {b.wave for b in ballots} == set(
        range(len(played.waves))
    )
    played.check()


def all_honest(ranker_id: str, a: str, b: str) -> int | None:
    """No clique: every ranker knows the truth."""
    return honest("", a, b)


async def test_a_clear_round_stops_separated_before_its_budget() -> None:
    settings = dataclasses.replace(SETTINGS, judge_budget=40)
    played = await play(all_honest, settings=settings)
    assert played.record.stop_reason == "separated" and played.winner_answer == TRUE
    assert played.judge_calls < settings.judge_budget and played.judge_calls < three_n_calls(played)
    # the last look separated the winner: every challenger beaten at the level
    last = played.record.looks[-1]
    assert last.wave == len(played.waves)
    error = (1 - settings.confidence_level) / 8
    assert [x <= error for i, x in enumerate(last.not_beaten) if i != last.winner] == [True, True]
    played.check()


async def test_a_member_on_another_float_build_accepts_the_record() -> None:
    played = await play()
    with perturbed_floats(1e-12):
        played.check()


async def test_looks_are_accepted_within_the_tolerance_and_decide_from_recorded_numbers() -> None:
    played = await play()

    def nudged(r: messages_pb2.ConsensusRecord) -> None:
        for look in r.looks:
            look.not_beaten[0] *= 1 + 1e-9  # another float build's last bits
            look.strengths[0] += 1e-9

    check_record(_resigned(played, nudged), played.verifier, 3, HEAD, played.ctx.state.reputations)

    def beyond(r: messages_pb2.ConsensusRecord) -> None:
        r.looks[0].strengths[0] += 1e-3

    _reject(played, _resigned(played, beyond), r"looks\[0\]")


async def test_fixed_schedule_records_check_as_before() -> None:
    played = await play(settings=RoundSettings(max_generators=16, max_rankers=16, consensus=0))
    assert not played.record.wave_requests and not played.record.looks
    assert played.record.stop_reason == ""
    assert played.judge_calls == three_n_calls(played)
    played.check()


def test_adaptive_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="judge_budget"):
        RoundSettings(schedule="adaptive")
    with pytest.raises(ValueError, match="judge_budget set for '3n'"):
        RoundSettings(judge_budget=10)
    with pytest.raises(ValueError, match="numerics >= 1"):
        RoundSettings(schedule="adaptive", judge_budget=10, numerics=0, consensus=0)


# --- DoD 3: answering fast or abstaining does not steer the stop ------------------------------


async def test_a_clique_that_answers_first_changes_nothing() -> None:
    late = await play(first=frozenset())
    fast = await play(first=CLIQUE_IDS)
    # same clock, deterministic signatures: the very same record, byte for byte
    assert fast.record_env.payload == late.record_env.payload
    assert fast.waves == late.waves and fast.record.stop_reason == late.record.stop_reason
    assert fast.winner_answer == TRUE


async def test_a_clique_alone_cannot_stop_a_round_as_separated() -> None:
    # everyone but the four clique members abstains (no reply at all)
    alone = await play(silent=frozenset(IDENTITIES[i].node_id for i in range(12)))
    assert alone.record.stop_reason != "separated"
    alone.check()

    # abstaining verdicts are no answer either
    def abstain_but_clique(ranker_id: str, a: str, b: str) -> int | None:
        return honest(ranker_id, a, b) if ranker_id in CLIQUE_IDS else None

    abstained = await play(abstain_but_clique)
    assert abstained.record.stop_reason != "separated"
    abstained.check()


async def test_abstention_does_not_stop_a_round_early_in_the_cliques_favour() -> None:
    answered = await play()
    # the honest rankers that judged the clique's pairs stay silent this time
    silent = frozenset(IDENTITIES[i].node_id for i in range(3, 12))
    fewer = await play(silent=silent)
    fewer.check()
    # separated needs min_rankers distinct answering rankers on each of the winner's pairs
    assert not (fewer.record.stop_reason == "separated" and fewer.winner_answer == CLIQUE)
    assert fewer.judge_calls >= answered.judge_calls or fewer.record.stop_reason != "separated"
    assert answered.winner_answer == TRUE


# --- forged records are rejected ---------------------------------------------------------------


def _resigned(played: Played, mutate: Callable[[messages_pb2.ConsensusRecord], None]) -> Envelope:
    record = messages_pb2.ConsensusRecord()
    record.CopyFrom(played.record)
    mutate(record)
    return played.signer.seal(envelope_pb2.KIND_CONSENSUS_RECORD, record)


def _reject(played: Played, env: Envelope, match: str) -> None:
    with pytest.raises(RecordRejected, match=match):
        check_record(env, played.verifier, 3, HEAD, played.ctx.state.reputations)


async def test_a_forged_wave_or_stop_is_rejected() -> None:
    played = await play()
    assert len(played.record.wave_requests) >= 1

    def stop_after_wave_0(r: messages_pb2.ConsensusRecord) -> None:
        del r.wave_requests[:]
        keep = [e for e in r.ballots if messages_pb2.Ballot.FromString(e.payload).wave == 0]
        del r.ballots[:]
        r.ballots.extend(keep)
        del r.looks[1:]
        r.stop_reason = "separated"

    _reject(played, _resigned(played, stop_after_wave_0), r"stop_reason|looks|waves|absent")

    def wrong_reason(r: messages_pb2.ConsensusRecord) -> None:
        r.stop_reason = "budget" if r.stop_reason != "budget" else "exhausted"

    _reject(played, _resigned(played, wrong_reason), "stop_reason")

    def moved_look(r: messages_pb2.ConsensusRecord) -> None:
        r.looks[0].not_beaten[1] += 0.01

    _reject(played, _resigned(played, moved_look), r"looks\[0\]")

    def dropped_ballot(r: messages_pb2.ConsensusRecord) -> None:
        del r.ballots[len(r.ballots) - 1]

    _reject(played, _resigned(played, dropped_ballot), r"looks|waves|stop_reason|absent_ids")


async def test_a_wave_request_with_other_pairs_is_rejected() -> None:
    played = await play()
    request = messages_pb2.RankRequest.FromString(played.record.wave_requests[0].payload)
    first = request.assignments[0]
    first.pairs[0].a, first.pairs[0].b = first.pairs[0].b, first.pairs[0].a
    forged = played.signer.seal(envelope_pb2.KIND_RANK_REQUEST, request)

    def swap(r: messages_pb2.ConsensusRecord) -> None:
        r.wave_requests[0].CopyFrom(forged)

    _reject(played, _resigned(played, swap), r"ballot|waves\[1\]")


# --- equivocation is per wave -----------------------------------------------------------------


async def test_one_ballot_per_wave_is_not_equivocation_but_two_for_one_wave_are() -> None:
    played = await play()
    envelopes = [(messages_pb2.Ballot.FromString(e.payload), e) for e in played.record.ballots]
    by_ranker: dict[str, list[Envelope]] = {}
    for ballot, env in envelopes:
        by_ranker.setdefault(ballot.ranker_id, []).append(env)
    ranker_id, (w0, w1, *_) = next((r, e) for r, e in by_ranker.items() if len(e) >= 2)
    guard = ReplayGuard()
    for env in (w0, w1):
        assert guard.admit(
            played.verifier.verify(env, envelope_pb2.KIND_BALLOT, check_time=False)
        ).new
    with pytest.raises(Exception, match="different waves"):
        verify_equivocation(w0, w1, SWARM)
    ballot = messages_pb2.Ballot.FromString(w1.payload)
    ballot.verdicts[0].outcome = (
        messages_pb2.OUTCOME_A
        if ballot.verdicts[0].outcome != messages_pb2.OUTCOME_A
        else messages_pb2.OUTCOME_B
    )
    other = seal(BY_ID[ranker_id], envelope_pb2.KIND_BALLOT, ballot, SWARM)
    proven = verify_equivocation(w1, other, SWARM)
    assert proven.offender_id == ranker_id and proven.wave == ballot.wave >= 1
    assert np.all([proven.query_id == QUERY_ID])


def test_a_ranker_refuses_waves_its_query_does_not_allow() -> None:
    from node.swarm.peer import check_wave
    from protocol.errors import Malformed

    adaptive = messages_pb2.Query(parameters=SETTINGS.to_proto())
    fixed = messages_pb2.Query(parameters=RoundSettings().to_proto())
    check_wave(messages_pb2.RankRequest(wave=7), adaptive)  # max_waves 8: waves 0..7
    check_wave(messages_pb2.RankRequest(wave=0), fixed)
    with pytest.raises(Malformed, match="wave 8"):
        check_wave(messages_pb2.RankRequest(wave=8), adaptive)
    with pytest.raises(Malformed, match="wave 1 of a '3n' round"):
        check_wave(messages_pb2.RankRequest(wave=1), fixed)
