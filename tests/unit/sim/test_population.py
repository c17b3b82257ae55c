"""Admission in the simulator goes through ranking.trust: skilled nodes pass the calibration
exam, coin-flippers and dead nodes almost never do."""

from __future__ import annotations

import numpy as np

from sim.population import build_population, sit_exams, trust_params
from sim.scenario import parse_scenario


def test_exams_admit_the_skilled_and_refuse_guessers() -> None:
    scenario = parse_scenario(
        {
            "name": "exam",
            "rounds": 1,
            "swarm": {"nodes": 300, "generators": 5, "rankers": 5},
            "tasks": {"difficulty": {"mean": 0.0, "sd": 0.5}},
            "nodes": [
                {
                    "name": "able",
                    "behaviour": "honest",
                    "count": 100,
                    "fresh": True,
                    "generation_skill": {"mean": 3.0, "sd": 0.1},
                    "judging_skill": {"mean": 3.0, "sd": 0.1},
                },
                {"name": "lazy", "behaviour": "lazy", "count": 100, "fresh": True},
                {"name": "dead", "behaviour": "dead", "count": 100, "fresh": True},
            ],
        }
    )
    rng = np.random.default_rng(3)
    pop = build_population(scenario, rng)
    params = trust_params(scenario)
    results = sit_exams(pop, np.arange(300, dtype=np.int64), params, 4, rng)
    passed = np.asarray([r.passed for r in results])
    assert passed[:100].mean() > 0.8
    assert passed[100:200].mean() < 0.05
    assert not passed[200:].any()
    assert all(r.judging_items == params.n_judging for r in results)
