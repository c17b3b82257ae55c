"""The evidence reading (ranking.evidence) in the engine, scored beside the default."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from sim.engine import start_run
from sim.scenario import load_scenario

SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


def test_on_paper_like_it_earns_its_verdicts_and_reads_well_above_vote_and_default() -> None:
    # 600 rounds, 5 seeds: docs/sim/evidence-reading; one seed of 400 rounds here
    scenario = replace(load_scenario(SCENARIOS / "paper-like.toml"), rounds=400)
    state, rng = start_run(scenario)
    models = []
    for t in range(scenario.rounds):
        state.play_round(t, rng)
        models.append(state.reading.model)
    record = state.record()
    evidence = float(record.correct["evidence"].mean())
    assert evidence >= float(record.correct["majority"].mean()) + 0.12
    assert evidence >= float(record.correct["calibrated"].mean()) + 0.05
    # verdicts are read only once gold has shown they add to the votes: not before the first
    # gold round, and (judges at parity still carry information here) by the end
    first_gold = int(np.flatnonzero(state.gold)[0])
    assert not any(m.use_verdicts for m in models[:first_gold])
    assert models[-1].use_verdicts
    reading = state.reading
    assert reading.rounds == len(reading.gold) > 20
    assert np.all(reading.gen_hits <= reading.gen_seen) and reading.gen_seen.max() >= 10
    assert reading.judge_seen.max() > reading.judge_hits.max() > 0
