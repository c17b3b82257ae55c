"""Phase *rank*, first half: which pairs each ranker judges.

* :func:`assign_pairs`: the fixed schedules (``3n``, ``full``, ``random-k``) of
  :mod:`ranking.schedule` over the clusters, one seeded generator per ranker, never a ranker's
  own cluster, both orders.
* :func:`plan_wave` / :func:`wave_assignments`: the adaptive schedule (issue 17) of
  :mod:`ranking.adaptive`, one wave at a time, each wave's generator seeded by the query id and
  the wave's index, so a member recomputes wave ``k`` from the record's first ``k`` waves and
  their ballots alone.
* :func:`replay_waves`: a member's check of recorded waves: every wave and the stopping
  decision recomputed.

Deterministic, because every member recomputes it. The adaptive stop refits the ballots so
far (:func:`ranking.adaptive.robust_separation`); a node's rounds pass a per-wave test
(:class:`PerWaveSeparation`) that records the numbers of each look (leader) or checks them
within the numerics tolerance and decides from the recorded ones (member), so a stop replays
the same on every float build (:mod:`node.round.waves`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from node.round.selection import seeded_generator
from ranking.adaptive import (
    AdaptiveParams,
    Separation,
    Wave,
    WaveDecision,
    concat_comparisons,
    schedule_wave,
)
from ranking.types import Comparisons

__all__ = [
    "ADAPTIVE",
    "ADAPTIVE_FIELDS",
    "PerWaveSeparation",
    "WaveReplay",
    "assign_pairs",
    "own_item_vector",
    "plan_wave",
    "replay_waves",
    "wave_assignments",
    "wave_from_assignments",
]

#: the schedule name of adaptive rounds (``RoundParameters.schedule``, :mod:`node.round.waves`)
ADAPTIVE = "adaptive"
#: RoundParameters fields only schedule "adaptive" uses (0 under the other schedules)
ADAPTIVE_FIELDS = ("judge_budget", "wave_size", "min_rankers", "max_waves")


@runtime_checkable
class PerWaveSeparation(Protocol):
    """A separation test that knows which wave it decides (:mod:`node.round.waves` records,
    and a member checks, the numbers of each look by wave)."""

    def at(self, wave: int) -> Separation:
        """The test for the decision before wave ``wave`` (``wave`` waves asked so far)."""
        ...


def assign_pairs(
    n_items: int,
    ranker_ids: Sequence[str],
    own_items: Mapping[str, int],
    query_id: bytes,
    schedule: str,
    k: int = 0,
) -> list[tuple[str, np.ndarray]]:
    """Each ranker's pairs: a seeded schedule that never includes the ranker's own item."""
    from ranking import schedule_pairs

    out = []
    for ranker_id in ranker_ids:
        own = own_items.get(ranker_id, -1)
        rng = seeded_generator(b"pairs", query_id, ranker_id.encode())
        if n_items < 2:
            pairs = np.zeros((0, 2), dtype=np.int64)
        else:
            pairs = schedule_pairs(
                n_items, schedule, rng, k=k or None, exclude=own if own >= 0 else None
            )
        out.append((ranker_id, np.asarray(pairs, dtype=np.int64).reshape(-1, 2)))
    return out


def own_item_vector(ranker_ids: Sequence[str], own_items: Mapping[str, int]) -> np.ndarray:
    """Each ranker's own cluster in ``ranker_ids`` order (-1: none), the index space of
    :mod:`ranking.adaptive`."""
    return np.asarray([own_items.get(r, -1) for r in ranker_ids], dtype=np.int64)


def plan_wave(
    n_items: int,
    ranker_ids: Sequence[str],
    own_items: Mapping[str, int],
    query_id: bytes,
    history: Sequence[Wave],
    comparisons: Comparisons,
    params: AdaptiveParams,
    separation: Separation | PerWaveSeparation | None = None,
    cluster_sizes: Sequence[int] | None = None,
) -> WaveDecision:
    """The next wave of an adaptive round, or the decision to stop.

    ``history`` holds the waves asked so far and ``comparisons`` the verdicts their ballots
    returned (``ranker`` indexes ``ranker_ids``, the selection's order). The wave's generator
    is seeded by the query id and the wave's index only: neither the leader's clock nor the
    order in which ballots arrived moves it. ``cluster_sizes`` (candidates per cluster) puts
    the pairs between the biggest clusters first (:mod:`ranking.adaptive`'s ``item_prior``).
    """
    rng = seeded_generator(b"wave", query_id, len(history).to_bytes(4, "big"))
    own = own_item_vector(ranker_ids, own_items)
    prior = None if cluster_sizes is None else np.asarray(cluster_sizes, dtype=np.float64)
    test = separation.at(len(history)) if isinstance(separation, PerWaveSeparation) else separation
    return schedule_wave(n_items, own, history, comparisons, params, rng, test, item_prior=prior)


def wave_assignments(wave: Wave, ranker_ids: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """A wave as per-ranker pairs, in ``ranker_ids`` order, rankers without a call left out
    (the shape :func:`assign_pairs` returns)."""
    out = []
    for index, ranker_id in enumerate(ranker_ids):
        mine = wave.ranker == index
        if mine.any():
            pairs = np.stack([wave.a[mine], wave.b[mine]], axis=1).astype(np.int64)
            out.append((ranker_id, pairs))
    return out


def wave_from_assignments(
    assignments: Sequence[tuple[str, Sequence[tuple[int, int]]]], ranker_ids: Sequence[str]
) -> Wave:
    """The inverse of :func:`wave_assignments` up to the order of calls: each ranker's pairs,
    in ``ranker_ids`` order (a ranker not in ``ranker_ids`` is an error: ``ValueError``)."""
    index = {r: i for i, r in enumerate(ranker_ids)}
    ranker: list[int] = []
    a: list[int] = []
    b: list[int] = []
    for ranker_id, pairs in sorted(assignments, key=lambda item: index[item[0]]):
        for x, y in pairs:
            ranker.append(index[ranker_id])
            a.append(int(x))
            b.append(int(y))
    return Wave(ranker=np.asarray(ranker), a=np.asarray(a), b=np.asarray(b))


@dataclass(frozen=True)
class WaveReplay:
    """A member's verdict on recorded waves: ``ok``, else the first ``wave`` that differs
    (``len(waves)`` for the stopping decision) and why."""

    ok: bool
    wave: int = -1
    reason: str = ""


def replay_waves(
    n_items: int,
    ranker_ids: Sequence[str],
    own_items: Mapping[str, int],
    query_id: bytes,
    waves: Sequence[Wave],
    answers: Sequence[Comparisons],
    stop_reason: str,
    params: AdaptiveParams,
    separation: Separation | PerWaveSeparation | None = None,
    cluster_sizes: Sequence[int] | None = None,
) -> WaveReplay:
    """Recompute recorded waves: wave ``k`` must be :func:`plan_wave` of waves ``0..k-1`` and
    their answers (``answers[k]``: the verdicts of wave ``k``'s ballots), and after the last
    wave the schedule must stop for ``stop_reason``. Waves compare as per-ranker calls (the
    order of calls within a wave is not recorded: a RankRequest lists each ranker's pairs)."""
    if len(answers) != len(waves):
        return WaveReplay(False, 0, f"{len(waves)} waves but {len(answers)} answer sets")
    so_far: list[Comparisons] = []
    for k, recorded in enumerate(waves):
        decision = plan_wave(
            n_items,
            ranker_ids,
            own_items,
            query_id,
            waves[:k],
            concat_comparisons(so_far),
            params,
            separation,
            cluster_sizes,
        )
        if decision.stop or not _same_wave(decision.wave, recorded):
            return WaveReplay(False, k, "recorded wave differs from the recomputed one")
        so_far.append(answers[k])
    final = plan_wave(
        n_items,
        ranker_ids,
        own_items,
        query_id,
        waves,
        concat_comparisons(so_far),
        params,
        separation,
        cluster_sizes,
    )
    if not final.stop or final.reason != stop_reason:
        got = final.reason if final.stop else "another wave"
        return WaveReplay(False, len(waves), f"recorded stop {stop_reason!r}, recomputed {got!r}")
    return WaveReplay(True)


def _same_wave(x: Wave, y: Wave) -> bool:
    # stable by ranker: each ranker's calls keep their order, as in its Assignment
    ox = np.argsort(x.ranker, kind="stable")
    oy = np.argsort(y.ranker, kind="stable")
    return (
        np.array_equal(x.ranker[ox], y.ranker[oy])
        and np.array_equal(x.a[ox], y.a[oy])
        and np.array_equal(x.b[ox], y.b[oy])
    )
