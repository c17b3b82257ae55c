"""Adaptive pair scheduling: budget, exclusion, balanced orders, determinism, stopping, and a
clique that answers first or abstains."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranking import OUTCOME_A, OUTCOME_B, Comparisons, InvalidParameters
from ranking.adaptive import (
    AdaptiveParams,
    Wave,
    robust_separation,
    run_waves,
    schedule_wave,
)


def _bt_judge(truth: np.ndarray, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    """Honest Bradley-Terry judges on ``truth`` log-strengths."""

    def judge(wave: Wave) -> Comparisons:
        p = 1.0 / (1.0 + np.exp(-(truth[wave.a] - truth[wave.b])))
        outcome = np.where(rng.random(len(wave)) < p, OUTCOME_A, OUTCOME_B)
        return Comparisons.from_lists(wave.a, wave.b, outcome, wave.ranker)

    return judge


def _never_separated(comparisons: Comparisons) -> bool:
    del comparisons
    return False


def _always_separated(comparisons: Comparisons) -> bool:
    del comparisons
    return True


@settings(max_examples=40, deadline=None)
@given(
    n_items=st.integers(0, 7),
    n_rankers=st.integers(1, 12),
    budget=st.integers(1, 80),
    wave=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_budget_exclusion_and_one_call_per_slot(
    n_items: int, n_rankers: int, budget: int, wave: int, seed: int
) -> None:
    rng = np.random.default_rng(seed)
    own = rng.integers(-1, max(n_items, 1), size=n_rankers) if n_items else np.full(n_rankers, -1)
    truth = rng.normal(size=max(n_items, 1))
    params = AdaptiveParams(judge_budget=budget, wave_size=wave, max_waves=50)
    result = run_waves(
        n_items, own, _bt_judge(truth, rng), params, np.random.default_rng(seed), _never_separated
    )
    assert result.judge_calls <= budget
    assert all(len(w) <= wave for w in result.waves)
    ranker = np.concatenate([w.ranker for w in result.waves] or [np.zeros(0, np.int64)])
    a = np.concatenate([w.a for w in result.waves] or [np.zeros(0, np.int64)])
    b = np.concatenate([w.b for w in result.waves] or [np.zeros(0, np.int64)])
    assert not np.any(own[ranker] == a) and not np.any(own[ranker] == b)
    assert np.all(a != b)
    slots = {(r, min(x, y), max(x, y)) for r, x, y in zip(ranker, a, b, strict=True)}
    assert len(slots) == ranker.shape[0]  # a ranker is asked a pair at most once
    # the two presentation orders of every pair differ by at most one over the round
    for pair in {(x, y) for _, x, y in slots}:
        on_pair = (np.minimum(a, b) == pair[0]) & (np.maximum(a, b) == pair[1])
        lower_first = int(np.count_nonzero(on_pair & (a < b)))
        assert abs(2 * lower_first - int(np.count_nonzero(on_pair))) <= 1
    assert result.reason in ("budget", "exhausted", "max-waves")
    if result.reason == "exhausted":  # every eligible slot was asked
        i, j = np.triu_indices(n_items, 1)
        eligible = (own[:, None] != i) & (own[:, None] != j)
        assert ranker.shape[0] == int(eligible.sum())


def test_deterministic_for_a_seed() -> None:
    own = np.array([0, 1, 2, 3, -1, -1, 0, 1, 2, 3, -1, 2])

    def play(seed: int) -> list[np.ndarray]:
        judge = _bt_judge(np.array([0.0, 0.3, -0.2, 0.1]), np.random.default_rng(5))
        result = run_waves(
            4, own, judge, AdaptiveParams(judge_budget=40), np.random.default_rng(seed)
        )
        return [np.stack([w.ranker, w.a, w.b]) for w in result.waves]

    first, again, other = play(11), play(11), play(12)
    assert len(first) == len(again)
    for x, y in zip(first, again, strict=True):
        np.testing.assert_array_equal(x, y)
    assert any(
        x.shape != y.shape or not np.array_equal(x, y) for x, y in zip(first, other, strict=False)
    )


def test_stops_early_on_a_clear_winner() -> None:
    own = np.full(30, -1)
    judge = _bt_judge(np.array([4.0, 0.0, -0.5]), np.random.default_rng(1))
    params = AdaptiveParams(judge_budget=90, wave_size=12)
    result = run_waves(3, own, judge, params, np.random.default_rng(2))
    assert result.reason == "separated"
    assert result.judge_calls < 90
    assert result.tied.tolist() == [0]


def test_uses_the_whole_budget_on_a_close_call() -> None:
    own = np.full(30, -1)
    judge = _bt_judge(np.array([0.05, 0.0, -0.05]), np.random.default_rng(1))
    params = AdaptiveParams(judge_budget=60, wave_size=12)
    result = run_waves(3, own, judge, params, np.random.default_rng(2))
    assert result.reason == "budget" and result.judge_calls == 60


def test_uncertain_pairs_near_the_top_come_first() -> None:
    # 0 and 1 are close and tied at the top; 2 and 3 are close far below: after the first wave
    # the top pair gets more of the next wave than the equally uncertain bottom pair
    own = np.full(40, -1)

    def top_two(comparisons: Comparisons) -> np.ndarray:
        del comparisons
        return np.array([0, 1])

    first = run_waves(
        4,
        own,
        _bt_judge(np.array([3.0, 3.0, -3.0, -3.0]), np.random.default_rng(3)),
        AdaptiveParams(judge_budget=60, wave_size=30, max_waves=2),
        np.random.default_rng(4),
        top_two,
    )
    second = first.waves[1]
    pairs = np.stack([np.minimum(second.a, second.b), np.maximum(second.a, second.b)], axis=1)
    top = int(np.count_nonzero((pairs[:, 0] == 0) & (pairs[:, 1] == 1)))
    bottom = int(np.count_nonzero((pairs[:, 0] == 2) & (pairs[:, 1] == 3)))
    assert top > bottom


def test_a_separation_verdict_needs_distinct_rankers() -> None:
    # the test says "separated" from the first verdict on, yet the round goes on until the
    # winner's pairs were answered by min_rankers distinct rankers
    own = np.full(20, -1)
    params = AdaptiveParams(judge_budget=200, wave_size=2, min_rankers=5, max_waves=100)
    result = run_waves(
        2,
        own,
        _bt_judge(np.array([2.0, 0.0]), np.random.default_rng(0)),
        params,
        np.random.default_rng(1),
        _always_separated,
    )
    assert result.reason == "separated"
    assert np.unique(result.comparisons.ranker).shape[0] >= 5


def test_a_clique_that_answers_first_or_abstains_cannot_stop_the_round() -> None:
    # rankers 0-5 are a clique backing item 2; the honest rankers 6-29 prefer item 0. The
    # clique's verdicts arrive first and the honest rankers of the first wave abstain (send
    # nothing): a separation test that believes the clique does not end the round, because
    # the winner's pairs lack distinct answering rankers; the waves go to rankers drawn by
    # the seed, so the honest rankers are asked and then answer.
    own = np.full(30, -1)
    clique = np.arange(6)
    truth = np.array([2.0, 0.0, -1.0])
    honest = _bt_judge(truth, np.random.default_rng(7))
    waves_seen = 0

    def judge(wave: Wave) -> Comparisons:
        nonlocal waves_seen
        waves_seen += 1
        in_clique = np.isin(wave.ranker, clique)
        clique_votes = Comparisons.from_lists(
            wave.a[in_clique],
            wave.b[in_clique],
            np.where(wave.a[in_clique] == 2, OUTCOME_A, OUTCOME_B),
            wave.ranker[in_clique],
        )
        if waves_seen == 1:  # the honest rankers of the first wave stay silent
            return clique_votes
        rest = Wave(ranker=wave.ranker[~in_clique], a=wave.a[~in_clique], b=wave.b[~in_clique])
        return _concat(clique_votes, honest(rest))

    def clique_separation(comparisons: Comparisons) -> np.ndarray:
        # a test that trusts whoever answered: item 2 separated once it has any votes
        return np.array([2]) if len(comparisons) else np.arange(3)

    params = AdaptiveParams(judge_budget=60, wave_size=12, min_rankers=5)
    rng = np.random.default_rng(3)
    first = schedule_wave(3, own, [], Comparisons.from_lists([], [], []), params, rng)
    assert not first.stop
    # the first wave is the seed's draw, not the first rankers in line
    assert np.count_nonzero(np.isin(first.wave.ranker, clique)) < len(first.wave)
    result = run_waves(3, own, judge, params, np.random.default_rng(3), clique_separation)
    answered_by = np.unique(result.comparisons.ranker)
    assert np.count_nonzero(~np.isin(answered_by, clique)) > 0
    assert result.judge_calls > len(first.wave)
    # with the default (robust) test the honest majority's winner stands
    fair = run_waves(3, own, judge_fresh(truth, clique), params, np.random.default_rng(3))
    weights = np.ones(30)
    tied = robust_separation(3, weights, own)(fair.comparisons)
    assert 0 in tied.tolist() and 2 not in tied.tolist()


def judge_fresh(truth: np.ndarray, clique: np.ndarray):  # type: ignore[no-untyped-def]
    honest = _bt_judge(truth, np.random.default_rng(8))

    def judge(wave: Wave) -> Comparisons:
        in_clique = np.isin(wave.ranker, clique)
        # the clique abstains wherever its item is not in the pair, and backs it otherwise
        backs = in_clique & ((wave.a == 2) | (wave.b == 2))
        votes = Comparisons.from_lists(
            wave.a[backs],
            wave.b[backs],
            np.where(wave.a[backs] == 2, OUTCOME_A, OUTCOME_B),
            wave.ranker[backs],
        )
        rest = Wave(ranker=wave.ranker[~in_clique], a=wave.a[~in_clique], b=wave.b[~in_clique])
        return _concat(votes, honest(rest))

    return judge


def _concat(x: Comparisons, y: Comparisons) -> Comparisons:
    return Comparisons(
        a=np.concatenate([x.a, y.a]),
        b=np.concatenate([x.b, y.b]),
        outcome=np.concatenate([x.outcome, y.outcome]),
        ranker=np.concatenate([x.ranker, y.ranker]),
        confidence=np.concatenate([x.confidence, y.confidence]),
    )


def test_single_candidate_and_no_eligible_ranker() -> None:
    params = AdaptiveParams(judge_budget=10)
    none = Comparisons.from_lists([], [], [])
    one = schedule_wave(1, np.array([-1, -1]), [], none, params, np.random.default_rng(0))
    assert one.stop and one.reason == "exhausted" and len(one.wave) == 0
    # two candidates, every ranker owns one of them: nobody may judge
    two = schedule_wave(2, np.array([0, 1, 0]), [], none, params, np.random.default_rng(0))
    assert two.stop and two.reason == "exhausted"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"judge_budget": 0},
        {"judge_budget": 5, "wave_size": 0},
        {"judge_budget": 5, "min_rankers": 0},
        {"judge_budget": 5, "max_waves": 0},
        {"judge_budget": True},
    ],
)
def test_bad_parameters(kwargs: dict[str, int]) -> None:
    with pytest.raises(InvalidParameters):
        AdaptiveParams(**kwargs)


def test_bad_inputs() -> None:
    params = AdaptiveParams(judge_budget=10)
    none = Comparisons.from_lists([], [], [])
    with pytest.raises(InvalidParameters):
        schedule_wave(3, np.array([3]), [], none, params, np.random.default_rng(0))
    with pytest.raises(InvalidParameters):
        schedule_wave(3, np.array([0]), [], none, params, None)  # type: ignore[arg-type]
    bad = Wave(ranker=[5], a=[0], b=[1])
    with pytest.raises(InvalidParameters):
        schedule_wave(3, np.array([0]), [bad], none, params, np.random.default_rng(0))


def test_heavier_rankers_are_asked_more() -> None:
    own = np.full(20, -1)
    weights = np.where(np.arange(20) < 10, 3.0, 1.0)
    result = run_waves(
        3,
        own,
        _bt_judge(np.zeros(3), np.random.default_rng(0)),
        AdaptiveParams(judge_budget=40),
        np.random.default_rng(1),
        _never_separated,
        ranker_weights=weights,
    )
    ranker = np.concatenate([w.ranker for w in result.waves])
    heavy = int(np.count_nonzero(ranker < 10))
    assert heavy >= 2 * (ranker.shape[0] - heavy)
    with pytest.raises(InvalidParameters):
        run_waves(
            3,
            own,
            _bt_judge(np.zeros(3), np.random.default_rng(0)),
            AdaptiveParams(judge_budget=4),
            np.random.default_rng(1),
            ranker_weights=-weights,
        )


def test_a_prior_sends_calls_to_the_pairs_between_likely_winners() -> None:
    # four candidates with no verdicts to tell them apart yet: with cluster sizes 10, 9, 1, 1
    # the pair of the two big clusters gets the most of the first wave
    own = np.full(30, -1)
    decision = schedule_wave(
        4,
        own,
        [],
        Comparisons.from_lists([], [], []),
        AdaptiveParams(judge_budget=24, wave_size=24),
        np.random.default_rng(0),
        item_prior=np.array([10, 9, 1, 1]),
    )
    pairs = np.stack(
        [
            np.minimum(decision.wave.a, decision.wave.b),
            np.maximum(decision.wave.a, decision.wave.b),
        ],
        axis=1,
    )
    counts = {
        (i, j): int(np.count_nonzero((pairs[:, 0] == i) & (pairs[:, 1] == j)))
        for i in range(4)
        for j in range(i + 1, 4)
    }
    assert counts[(0, 1)] == max(counts.values())
    assert counts[(0, 1)] > counts[(2, 3)]
    with pytest.raises(InvalidParameters):
        schedule_wave(
            4,
            own,
            [],
            Comparisons.from_lists([], [], []),
            AdaptiveParams(judge_budget=4),
            np.random.default_rng(0),
            item_prior=np.array([1, -1, 0, 0]),
        )
