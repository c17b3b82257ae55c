"""A round whose ballots the ranking core cannot aggregate fails cleanly on the leader."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.backends.base import Judgement
from node.errors import RoundFailed
from node.swarm import RoundSettings
from node.testing import FakeBackend, in_process_swarm

pytestmark = pytest.mark.integration


def _smaller_wins(question: str, a: str, b: str) -> Judgement:
    """Every judge prefers the numerically smaller answer, with no stated confidence (a
    confidence below 1 would credit the loser a little): one answer never loses."""
    return Judgement(outcome="A" if int(a) < int(b) else "B", confidence=None, rationale="")


@pytest.mark.parametrize("alpha", [0.01, 0.0])
async def test_alpha_zero_with_an_unbeaten_answer_fails_the_round(
    tmp_path: Path, alpha: float
) -> None:
    backends = [FakeBackend(answer=str(i + 1), judge_fn=_smaller_wins) for i in range(4)]
    settings = RoundSettings(generate_deadline_ms=5000, rank_deadline_ms=5000, alpha=alpha)
    async with in_process_swarm(tmp_path, backends, settings=settings) as swarm:
        if alpha > 0:  # the regulariser keeps the unbeaten answer's strength finite
            result = await swarm.nodes[0].ask("Which number?")
            answers = [int(c.answer) for c in result.response.candidates]
            assert len(answers) >= 2 and result.response.answer == str(min(answers))
            await swarm.settle(1)
            return
        # alpha = 0: no maximum-likelihood strengths exist; a typed failure, nothing recorded
        with pytest.raises(RoundFailed, match="cannot be aggregated"):
            await swarm.nodes[0].ask("Which number?")
        assert [node.store.head()[0] for node in swarm.nodes] == [0, 0, 0, 0]
