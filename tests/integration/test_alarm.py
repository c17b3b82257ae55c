"""The adversary alarm (issue 6): when consensus keeps disagreeing with gold answers the node
raises its Prometheus gauge and logs a warning; an honest swarm leaves it down."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from node.backends.sim import SimBackend
from node.round.settings import RoundSettings
from node.testing import in_process_swarm
from ranking.trust import TrustParams

pytestmark = pytest.mark.integration
TRUST = TrustParams(n_judging=20, judging_pass=17, n_generation=5, generation_pass=3)
# The alarm is under test, not the consensus rule: robust BT (consensus 0) lets the honest
# swarm's strong judges break its two generators' ties from the first gold round, where the
# calibrated rule would first spend a few gold rounds learning to trust them (a 1-1 tie then
# goes to the seeded order and can miss gold, which this short run would read as an alarm).
SETTINGS = RoundSettings(generate_deadline_ms=5000, rank_deadline_ms=5000, consensus=0)


@pytest.mark.parametrize("captured", [True, False])
async def test_alarm_fires_when_consensus_misses_gold(
    tmp_path: Path, captured: bool, caplog: pytest.LogCaptureFixture
) -> None:
    # A captured swarm: every node generates the popular wrong answer and judges at chance.
    # An honest one: competent nodes.
    skill = (-6.0, -3.0) if captured else (4.0, 5.0)
    backends = [
        SimBackend(seed=i, generation_skill=skill[0], judging_skill=skill[1], error_correlation=1.0)
        for i in range(4)
    ]
    caplog.set_level(logging.WARNING, logger="swarmrank")
    async with in_process_swarm(tmp_path, backends, trust=TRUST, settings=SETTINGS) as swarm:
        leader = swarm.nodes[0]
        await leader.ask("What is 2 + 2?")  # genesis + a live round
        for _ in range(8):
            await leader.run_gold_round()
        await swarm.settle(leader.store.head()[0])
        gauges = [n.metrics.adversary_alarm._value.get() for n in swarm.nodes]
        agreement = leader.metrics.gold_agreement._value.get()
    if captured:
        assert gauges == [1.0] * 4
        assert agreement < 1 - TRUST.alarm_gold_disagreement
        assert any("adversary alarm" in r.getMessage() for r in caplog.records)
    else:
        assert gauges == [0.0] * 4
        assert agreement >= 1 - TRUST.alarm_gold_disagreement
        assert not any("adversary alarm" in r.getMessage() for r in caplog.records)
