"""Round metrics: the leader times each phase of the rounds it leads, members time each record
they check (``swarmrank_node_round_phase_seconds``, ``swarmrank_node_record_check_seconds``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.backends.sim import SimBackend
from node.round.settings import RoundSettings
from node.testing import in_process_swarm

pytestmark = pytest.mark.integration
PHASES = ("generate", "rank", "aggregate", "record")


def _count(node: object, name: str, labels: dict[str, str] | None = None) -> float:
    registry = node.metrics.registry  # type: ignore[attr-defined]
    return registry.get_sample_value(name, labels or {}) or 0.0


async def test_phase_and_record_check_histograms(tmp_path: Path) -> None:
    # Weak generators on a hard question: several candidates, so the round has a Rank phase.
    backends = [SimBackend(seed=i, generation_skill=0.0, judging_skill=3.0) for i in range(4)]
    settings = RoundSettings(generate_deadline_ms=5000, rank_deadline_ms=5000)
    async with in_process_swarm(tmp_path, backends, settings=settings) as swarm:
        leader, members = swarm.nodes[0], swarm.nodes[1:]
        for i in range(2):
            await leader.ask(f"What is {347 + i} x {829 - i}?")
        await swarm.settle(2)
        for phase in PHASES:
            labels = {"phase": phase}
            assert _count(leader, "swarmrank_node_round_phase_seconds_count", labels) == 2
            assert _count(leader, "swarmrank_node_round_phase_seconds_sum", labels) > 0
            # Only the leader of a round times its phases.
            for member in members:
                assert _count(member, "swarmrank_node_round_phase_seconds_count", labels) == 0
        for member in members:
            assert _count(member, "swarmrank_node_record_check_seconds_count") == 2
            assert _count(member, "swarmrank_node_record_check_seconds_sum") > 0
        # The leader appends its own record without checking it.
        assert _count(leader, "swarmrank_node_record_check_seconds_count") == 0
