"""Trust rules (:mod:`ranking.trust`): calibration exam against the sim model ("Done when" 1),
stake, unbonding and slashing, the Sybil flood against the weight caps ("Done when" 3 at the
aggregation level) and the adversary alarm. Each defence is exercised once on and once off
("Done when" 7)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranking import (
    OUTCOME_A,
    OUTCOME_B,
    Comparisons,
    IdentityState,
    InvalidParameters,
    InvalidTransition,
    TrustParams,
    adversary_alarm,
    aggregate,
    apply_exam,
    bond,
    can_take_exam,
    draw_exam,
    eligible_for_selection,
    grade_exam,
    release_unbonded,
    request_unbond,
    slash,
    trust_weights,
)
from ranking.trust import ExamResult, admission_heights, cooldown_for
from sim.model import (
    JUDGED_A,
    JUDGED_B,
    NodeProfile,
    draw_judgements,
    judge_probabilities,
    p_generate_correct,
    task_bank,
)

PARAMS = TrustParams()
DIFFICULTY = np.array([task.difficulty for task in task_bank()])

# --------------------------------------------------------------------------------------------
# Calibration exam against the shared sim model ("Done when" 1)


def _sit_exam(profile: NodeProfile, seed: int, params: TrustParams = PARAMS) -> ExamResult:
    """One seeded attempt: draw the exam from the sim gold bank, answer and judge it with the
    sim model's probabilities (a tie counts as wrong), grade it."""
    rng = np.random.default_rng(seed)
    exam = draw_exam(DIFFICULTY.size, params.n_judging, params.n_generation, rng)
    d_judge = DIFFICULTY[exam.judging_items]
    first = exam.judging_correct_first
    p_a, p_b, _ = judge_probabilities(
        profile.judging_skill, d_judge, first, ~first, profile.position_bias
    )
    verdicts = draw_judgements(p_a, p_b, rng)
    judged = np.where(first, verdicts == JUDGED_A, verdicts == JUDGED_B)
    p_gen = p_generate_correct(profile.generation_skill, DIFFICULTY[exam.generation_items])
    answered = rng.random(params.n_generation) < p_gen
    return grade_exam(answered, judged, params)


ATTEMPTS = 1000
LOW_SKILL = NodeProfile(generation_skill=-1.0, judging_skill=-1.0)
COIN_FLIPPER = NodeProfile(generation_skill=0.0, judging_skill=0.0, position_bias=1.0)
COMPETENT = NodeProfile(generation_skill=3.0, judging_skill=3.0)


def _pass_rate(profile: NodeProfile, params: TrustParams = PARAMS) -> float:
    return float(np.mean([_sit_exam(profile, seed, params).passed for seed in range(ATTEMPTS)]))


def test_low_skill_identity_fails_calibration() -> None:
    # Measured: 0.0% of 1000 seeded attempts pass (0.05% over 2000).
    assert 1.0 - _pass_rate(LOW_SKILL) >= 0.99


def test_position_biased_coin_flipper_fails_calibration() -> None:
    # Always answering "A" scores like a coin because the correct side's position is drawn.
    assert 1.0 - _pass_rate(COIN_FLIPPER) >= 0.99


def test_competent_identity_passes_calibration() -> None:
    # Measured: 99.2% of 2000 seeded attempts pass.
    assert _pass_rate(COMPETENT) >= 0.95


def test_pass_mark_is_the_defence() -> None:
    """Defence off (pass mark 0): the low-skill identity is admitted every time."""
    lenient = TrustParams(judging_pass=0, generation_pass=0)
    assert _pass_rate(LOW_SKILL, lenient) == 1.0
    assert _pass_rate(LOW_SKILL) <= 0.01


def test_failed_identity_is_not_selected_and_waits_out_its_cooldown() -> None:
    state = bond(IdentityState(), 5.0, height=0)
    failed = _sit_exam(LOW_SKILL, seed=0)
    assert not failed.passed
    state = apply_exam(state, failed, height=10, params=PARAMS)
    assert state.status == "probation" and state.failed_attempts == 1
    assert state.cooldown_until == 10 + PARAMS.cooldown_rounds
    for height in (10, 50, 109, 10_000):
        assert not eligible_for_selection(state, height, PARAMS)
    assert not can_take_exam(state, 109)
    with pytest.raises(InvalidTransition, match="cooldown"):
        apply_exam(state, _sit_exam(COMPETENT, seed=1), height=109, params=PARAMS)
    # A second failure doubles the wait.
    state = apply_exam(state, failed, height=110, params=PARAMS)
    assert state.cooldown_until == 110 + 2 * PARAMS.cooldown_rounds
    passed = _sit_exam(COMPETENT, seed=1)
    assert passed.passed
    state = apply_exam(state, passed, height=310, params=PARAMS)
    assert state.status == "admitted" and state.admitted_at == 310
    assert not eligible_for_selection(state, 309, PARAMS)
    assert eligible_for_selection(state, 310, PARAMS)
    with pytest.raises(InvalidTransition):
        apply_exam(state, passed, height=400, params=PARAMS)


def test_cooldown_doubles_and_is_capped() -> None:
    params = TrustParams(cooldown_rounds=100, max_cooldown_rounds=1000)
    assert [cooldown_for(k, params) for k in range(6)] == [0, 100, 200, 400, 800, 1000]
    assert cooldown_for(10_000, params) == 1000


def test_grade_exam_boundaries_and_short_sheets() -> None:
    judging = np.zeros(20, dtype=bool)
    judging[:17] = True
    generation = np.array([1, 1, 1, 0, 0], dtype=bool)
    assert grade_exam(generation, judging, PARAMS).passed
    judging[16] = False
    result = grade_exam(generation, judging, PARAMS)
    assert not result.passed and result.judging_correct == 16
    judging[16] = True
    assert not grade_exam(np.array([1, 1, 0, 0, 0], dtype=bool), judging, PARAMS).passed
    with pytest.raises(InvalidParameters, match="items"):
        grade_exam(generation, np.ones(19, dtype=bool), PARAMS)
    with pytest.raises(InvalidParameters):
        grade_exam(np.full(5, 0.5), judging, PARAMS)


def test_draw_exam_is_seeded_and_distinct() -> None:
    a = draw_exam(57, 20, 5, np.random.default_rng(7))
    b = draw_exam(57, 20, 5, np.random.default_rng(7))
    c = draw_exam(57, 20, 5, np.random.default_rng(8))
    assert np.array_equal(a.judging_items, b.judging_items)
    assert np.array_equal(a.judging_correct_first, b.judging_correct_first)
    assert not np.array_equal(a.judging_items, c.judging_items)
    items = np.concatenate([a.judging_items, a.generation_items])
    assert np.unique(items).size == 25 and items.min() >= 0 and items.max() < 57
    with pytest.raises(InvalidParameters, match="gold bank"):
        draw_exam(24, 20, 5, np.random.default_rng(0))


# --------------------------------------------------------------------------------------------
# Stake, unbonding, slashing

amounts = st.floats(min_value=0.01, max_value=1e6, allow_nan=False, allow_infinity=False)


def test_unbonding_leaves_selection_and_releases_after_the_delay() -> None:
    params = TrustParams(min_stake=1.0, unbonding_delay=100)
    state = IdentityState(status="admitted", admitted_at=0)
    assert not eligible_for_selection(state, 5, params)  # no stake
    state = bond(state, 3.0, height=5)
    assert eligible_for_selection(state, 5, params)
    state = request_unbond(state, 2.5, height=10, params=params)
    assert state.stake == pytest.approx(0.5) and state.unbonding_stake == pytest.approx(2.5)
    assert not eligible_for_selection(state, 10, params)  # below min_stake once unbonding
    same, released = release_unbonded(state, 109)
    assert released == 0.0 and same == state
    state, released = release_unbonded(state, 110)
    assert released == pytest.approx(2.5) and state.unbonding == ()
    with pytest.raises(InvalidTransition, match="only"):
        request_unbond(state, 1.0, height=111, params=params)


def test_slash_reaches_unbonding_stake_and_jails() -> None:
    """The delay is the defence: evidence landing before the release still burns the stake;
    without it (delay 0) the offender walks away with everything."""
    params = TrustParams(unbonding_delay=100)
    state = bond(IdentityState(status="admitted", admitted_at=0), 10.0, 0)
    state = request_unbond(state, 10.0, height=50, params=params)
    state = slash(state, height=120, params=params)
    assert state.status == "jailed" and state.jailed_at == 120
    assert state.total_stake == 0.0
    assert release_unbonded(state, 10_000)[1] == 0.0
    assert not eligible_for_selection(state, 10_000, params)
    with pytest.raises(InvalidTransition):
        bond(state, 1.0, 121)

    no_delay = TrustParams(unbonding_delay=0)
    escaped = request_unbond(
        bond(IdentityState(status="admitted", admitted_at=0), 10.0, 0), 10.0, 50, no_delay
    )
    escaped, released = release_unbonded(escaped, 50)
    assert released == 10.0
    assert slash(escaped, 120, no_delay).total_stake == 0.0  # nothing left to burn


@given(
    stake=st.floats(min_value=0.0, max_value=1e6, allow_nan=False),
    unbond=st.lists(amounts, max_size=4),
    fraction=st.floats(min_value=0.01, max_value=1.0),
    height=st.integers(min_value=0, max_value=10**6),
)
@settings(max_examples=150, deadline=None)
def test_slashing_never_increases_stake(
    stake: float, unbond: list[float], fraction: float, height: int
) -> None:
    params = TrustParams(slash_fraction=fraction)
    state = IdentityState(status="admitted", admitted_at=0, stake=stake)
    for amount in unbond:
        if amount <= state.stake:
            state = request_unbond(state, amount, height, params)
    after = slash(state, height + 1, params)
    assert after.stake <= state.stake
    assert after.total_stake <= state.total_stake * (1.0 - fraction) + 1e-9 * (1 + stake)
    assert after.status == "jailed"
    again = slash(after, height + 2, params)
    assert again.total_stake <= after.total_stake and again.jailed_at == after.jailed_at


@given(
    requests=st.lists(
        st.tuples(amounts, st.integers(min_value=0, max_value=1000)), min_size=1, max_size=6
    ),
    delay=st.integers(min_value=0, max_value=500),
    probe=st.integers(min_value=0, max_value=2000),
)
@settings(max_examples=150, deadline=None)
def test_unbonding_never_releases_before_the_delay(
    requests: list[tuple[float, int]], delay: int, probe: int
) -> None:
    params = TrustParams(unbonding_delay=delay)
    state = bond(IdentityState(), sum(a for a, _ in requests), 0)
    for amount, height in sorted(requests, key=lambda r: r[1]):
        state = request_unbond(state, min(amount, state.stake), height, params)
    _, released = release_unbonded(state, probe)
    due = sum(min(a, 1e18) for a, h in requests if h + delay <= probe)
    expected = sum(u.amount for u in state.unbonding if u.release_height <= probe)
    assert released == pytest.approx(expected)
    assert released <= due + 1e-6 * (1 + due)
    earliest = min(h for _, h in requests)
    if probe < earliest + delay:
        assert released == 0.0


def test_transition_inputs_are_checked() -> None:
    with pytest.raises(InvalidParameters):
        bond(IdentityState(), -1.0, 0)
    with pytest.raises(InvalidParameters):
        bond(IdentityState(), math.inf, 0)
    with pytest.raises(InvalidParameters):
        bond(IdentityState(), 1.0, -1)
    with pytest.raises(InvalidParameters):
        IdentityState(status="banned")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameters):
        TrustParams(judging_pass=21)


# --------------------------------------------------------------------------------------------
# Weight caps


def test_trust_weights_caps() -> None:
    params = TrustParams(probation_rounds=100, max_identity_share=0.2)
    reputation = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 50.0, 1.0, 1.0])
    admitted = np.array([0, 0, 0, 0, 0, 0, 950, -1])  # two fresh: recently admitted, probation
    weights = trust_weights(reputation, admitted, 1000, params)
    established = weights[:6]
    assert established.max() <= 0.2 * established.sum() + 1e-12
    assert established.max() <= 0.2 * weights.sum() + 1e-12
    median = float(np.median(established))
    assert weights[6] == pytest.approx(0.01 * median)
    assert weights[7] == pytest.approx(0.01 * median)
    # After probation_rounds the fresh identity is established.
    later = trust_weights(reputation, admitted, 1050, params)
    assert later[6] == pytest.approx(later[0])


def test_trust_weights_flood_budget_and_jail() -> None:
    params = TrustParams()
    reputation = np.ones(1010)
    admitted = np.concatenate([np.zeros(10, dtype=np.int64), np.full(1000, 5000)])
    jailed = np.zeros(1010, dtype=bool)
    jailed[3] = True
    weights = trust_weights(reputation, admitted, 5000, params, jailed=jailed)
    assert weights[3] == 0.0
    fresh_total = weights[10:].sum()
    # A thousand Sybils weigh at most a tenth of the nine established survivors.
    assert fresh_total == pytest.approx(0.1 * weights[:10].sum())
    assert fresh_total < weights[:10].max() * 2


def test_trust_weights_bootstrap_without_established_identities() -> None:
    weights = trust_weights(np.array([1.0, 5.0, 1.0, 1.0, 1.0, 1.0]), np.zeros(6, int), 10, PARAMS)
    assert weights.max() <= PARAMS.max_identity_share * weights.sum() + 1e-12
    assert np.all(weights > 0.0)


def test_admission_heights() -> None:
    states = [IdentityState(), IdentityState(status="admitted", admitted_at=7)]
    assert admission_heights(states).tolist() == [-1, 7]


def test_trust_weights_subnormal_established_weight_counts_as_none() -> None:
    # Found by hypothesis: one established identity with reputation 5e-324, which capping
    # rounds to zero, used to take the median of nothing.
    params = TrustParams(probation_rounds=1000, max_identity_share=0.25)
    weights = trust_weights(np.array([5e-324]), np.array([0]), 1094, params)
    assert np.all(np.isfinite(weights)) and np.all(weights >= 0.0)
    mixed = trust_weights(np.array([5e-324, 2.0]), np.array([0, -1]), 1094, params)
    assert np.all(np.isfinite(mixed)) and mixed[1] <= 2.0


@given(
    reputation=st.lists(st.floats(min_value=0.0, max_value=100.0), min_size=1, max_size=40),
    seed=st.integers(0, 2**32 - 1),
    height=st.integers(0, 5000),
)
@settings(max_examples=150, deadline=None)
def test_trust_weights_invariants(reputation: list[float], seed: int, height: int) -> None:
    rng = np.random.default_rng(seed)
    rep = np.asarray(reputation)
    admitted = rng.integers(-1, 5000, size=rep.size)
    params = TrustParams(probation_rounds=1000, max_identity_share=0.25)
    weights = trust_weights(rep, admitted, height, params)
    assert np.all(weights >= 0.0) and np.all(weights <= rep + 1e-9)
    established = (admitted >= 0) & (admitted <= height) & (height - admitted >= 1000)
    ref = weights[established]
    if (ref > 0).any():
        assert np.all(weights[~established] <= 0.01 * np.median(ref[ref > 0]) * (1 + 1e-9))
        assert weights[~established].sum() <= 0.1 * ref.sum() * (1 + 1e-9)
        if (ref > 0).sum() * 0.25 > 1.0:
            assert weights.max() <= 0.25 * weights.sum() * (1 + 1e-9)


# --------------------------------------------------------------------------------------------
# The Sybil flood at the aggregation level ("Done when" 3, with and without the defence)

N_HONEST, N_SYBIL, N_CANDIDATES, N_QUERIES = 10, 100, 6, 50
HEIGHT = 10_000


def _flood_query(seed: int) -> tuple[Comparisons, int, int]:
    """Ten honest rankers (80% accurate on every pair, candidate 0 truly best) and a hundred
    Sybils who put a target candidate first in every comparison it is in and invert the rest.
    Returns the comparisons, the honest-only winner and the Sybils' target."""
    rng = np.random.default_rng(seed)
    pairs = np.array(
        [(i, j) for i in range(N_CANDIDATES) for j in range(N_CANDIDATES) if i != j],
        dtype=np.int64,
    )
    n_pairs = pairs.shape[0]
    target = int(rng.integers(1, N_CANDIDATES))
    quality = -np.arange(N_CANDIDATES, dtype=np.float64)  # candidate 0 best
    a = np.tile(pairs[:, 0], N_HONEST + N_SYBIL)
    b = np.tile(pairs[:, 1], N_HONEST + N_SYBIL)
    ranker = np.repeat(np.arange(N_HONEST + N_SYBIL), n_pairs)
    better_a = quality[a] > quality[b]
    honest = ranker < N_HONEST
    right = rng.random(a.size) < 0.8
    honest_says_a = np.where(right, better_a, ~better_a)
    sybil_says_a = np.where(a == target, True, np.where(b == target, False, ~better_a))
    says_a = np.where(honest, honest_says_a, sybil_says_a)
    comparisons = Comparisons.from_lists(
        a, b, np.where(says_a, OUTCOME_A, OUTCOME_B), ranker=ranker
    )
    honest_only = Comparisons.from_lists(
        a[honest], b[honest], np.where(says_a, OUTCOME_A, OUTCOME_B)[honest], ranker=ranker[honest]
    )
    reference = aggregate(honest_only, N_CANDIDATES, np.ones(N_HONEST)).winner
    return comparisons, reference, target


def _flood_weights(params: TrustParams) -> np.ndarray:
    """Established honest nodes at reputation 0.8, admitted long ago; Sybils at the probation
    reputation 0.5, each just admitted (a Sybil farm with a capable model passes the exam)."""
    reputation = np.concatenate([np.full(N_HONEST, 0.8), np.full(N_SYBIL, 0.5)])
    admitted = np.concatenate([np.zeros(N_HONEST, np.int64), np.full(N_SYBIL, HEIGHT, np.int64)])
    return trust_weights(reputation, admitted, HEIGHT, params)


def test_sybil_flood_cannot_change_the_winner_with_caps_and_probation() -> None:
    defended = _flood_weights(TrustParams())
    undefended = _flood_weights(
        TrustParams(
            probation_rounds=0,
            probation_weight_fraction=math.inf,
            probation_total_fraction=math.inf,
            max_identity_share=1.0,
        )
    )
    kept, captured = 0, 0
    for seed in range(N_QUERIES):
        comparisons, reference, target = _flood_query(seed)
        assert reference == 0
        kept += aggregate(comparisons, N_CANDIDATES, defended).winner == reference
        captured += aggregate(comparisons, N_CANDIDATES, undefended).winner == target
    assert kept == N_QUERIES  # with the defence: winner unchanged on every query
    assert captured == N_QUERIES  # without it: the flood picks the winner every time


# --------------------------------------------------------------------------------------------
# Alarm


def test_alarm_on_gold_disagreement() -> None:
    spread = np.ones(20)
    quiet = adversary_alarm(0.9, spread, PARAMS)
    assert not quiet.firing and quiet.reasons == ()
    loud = adversary_alarm(0.6, spread, PARAMS)
    assert loud.firing and loud.reasons == ("gold_disagreement",)
    assert loud.gold_disagreement == pytest.approx(0.4)
    assert not adversary_alarm(math.nan, spread, PARAMS).firing


def test_alarm_on_concentration() -> None:
    concentrated = np.concatenate([np.full(3, 10.0), np.ones(17)])
    alarm = adversary_alarm(1.0, concentrated, PARAMS)
    assert alarm.firing and "top_k_share" in alarm.reasons
    assert alarm.top_k_share == pytest.approx(30.0 / 47.0)
    single = adversary_alarm(1.0, np.concatenate([[100.0], np.ones(10)]), PARAMS)
    assert "hhi" in single.reasons and single.hhi > 0.25
    # The same concentration in a swarm too small to tell is not an alarm.
    assert not adversary_alarm(1.0, np.array([10.0, 10.0, 1.0]), PARAMS).firing
    # Weight caps are the defence that keeps the alarm quiet.
    capped = trust_weights(concentrated, np.zeros(20, np.int64), 5000, PARAMS)
    assert adversary_alarm(1.0, capped, PARAMS).top_k_share < alarm.top_k_share
    with pytest.raises(InvalidParameters):
        adversary_alarm(1.5, concentrated, PARAMS)


def test_trust_params_digest_covers_every_field() -> None:
    import dataclasses

    base = TrustParams()
    assert base.digest() == TrustParams().digest() and len(base.digest()) == 32
    seen = {base.digest()}
    for f in dataclasses.fields(TrustParams):
        value = getattr(base, f.name)
        # A valid neighbouring value of each field.
        if f.name == "judging_pass":
            changed = dataclasses.replace(base, judging_pass=value - 1)
        elif f.name == "generation_pass":
            changed = dataclasses.replace(base, generation_pass=value - 1)
        elif isinstance(value, int):
            changed = dataclasses.replace(base, **{f.name: value + 1})
        else:
            changed = dataclasses.replace(base, **{f.name: value / 2})
        seen.add(changed.digest())
    assert len(seen) == len(dataclasses.fields(TrustParams)) + 1
