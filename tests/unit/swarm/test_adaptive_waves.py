"""The node's adaptive waves (node.round.schedule, issue 17): seeded by the query id and the
wave index, never a ranker's own cluster, recomputed by a member from the recorded waves and
their answers; a tampered wave or stop is caught."""

from __future__ import annotations

import numpy as np

from node.round.schedule import plan_wave, replay_waves, wave_assignments
from ranking import OUTCOME_A, OUTCOME_B, Comparisons
from ranking.adaptive import AdaptiveParams, Wave, concat_comparisons

RANKERS = [f"node-{i:02d}" for i in range(12)]
OWN = {"node-00": 0, "node-01": 1, "node-02": 2, "node-03": 0, "node-04": 1}
QUERY = b"q" * 32
PARAMS = AdaptiveParams(judge_budget=30, wave_size=8)
SIZES = [6, 4, 2]


def _answers(wave: Wave) -> Comparisons:
    # every ranker prefers the lower-numbered cluster
    outcome = np.where(wave.a < wave.b, OUTCOME_A, OUTCOME_B)
    return Comparisons.from_lists(wave.a, wave.b, outcome, wave.ranker)


def _lead(query: bytes = QUERY) -> tuple[list[Wave], list[Comparisons], str]:
    waves: list[Wave] = []
    answers: list[Comparisons] = []
    while True:
        decision = plan_wave(
            3, RANKERS, OWN, query, waves, concat_comparisons(answers), PARAMS, None, SIZES
        )
        if decision.stop:
            return waves, answers, decision.reason
        waves.append(decision.wave)
        answers.append(_answers(decision.wave))


def test_waves_are_seeded_by_the_query_and_never_own_clusters() -> None:
    waves, _, reason = _lead()
    again, _, _ = _lead()
    other, _, _ = _lead(b"r" * 32)
    assert reason in ("separated", "budget", "exhausted")
    assert [w.ranker.tolist() for w in waves] == [w.ranker.tolist() for w in again]
    assert [w.ranker.tolist() for w in waves] != [w.ranker.tolist() for w in other]
    assert sum(len(w) for w in waves) <= PARAMS.judge_budget
    for wave in waves:
        for ranker_id, pairs in wave_assignments(wave, RANKERS):
            own = OWN.get(ranker_id, -1)
            assert not np.any(pairs == own)
            assert pairs.shape[1] == 2 and pairs.shape[0] >= 1


def test_a_member_recomputes_the_recorded_waves() -> None:
    waves, answers, reason = _lead()
    assert replay_waves(3, RANKERS, OWN, QUERY, waves, answers, reason, PARAMS, None, SIZES).ok


def test_a_tampered_wave_or_stop_is_caught() -> None:
    waves, answers, reason = _lead()
    first = waves[0]
    # the leader hands one call to another ranker than the schedule's
    swapped = Wave(ranker=(first.ranker + 1) % len(RANKERS), a=first.a, b=first.b)
    bad = replay_waves(
        3, RANKERS, OWN, QUERY, [swapped, *waves[1:]], answers, reason, PARAMS, None, SIZES
    )
    assert not bad.ok and bad.wave == 0
    # the leader stops early, after the first wave, claiming separation
    early = replay_waves(
        3, RANKERS, OWN, QUERY, waves[:1], answers[:1], "separated", PARAMS, None, SIZES
    )
    assert not early.ok and early.wave == 1
    # a recorded stop reason that the waves do not support
    wrong = "budget" if reason != "budget" else "exhausted"
    assert not replay_waves(3, RANKERS, OWN, QUERY, waves, answers, wrong, PARAMS, None, SIZES).ok
