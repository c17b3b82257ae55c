"""The ``sim`` backend: :class:`SimBackend`, the simulator's behaviour model behind
:class:`~node.backends.base.ModelBackend`.

The behaviour itself (task bank, skills, plausible wrong answers) lives once in
:mod:`sim.model`; this module only adapts it. Every call draws from a fresh
``numpy.random.Generator`` seeded by SHA-256 of (node seed, operation, query id, texts), so a
node's answer to a round is reproducible — the same request always gets the same answer, and
two nodes with different seeds err independently. ``latency_ms`` adds artificial latency;
0 (the default) is instant.

Questions of the generated gold bank (:mod:`node.round.gold`: unit conversions, orderings,
letter puzzles; its arithmetic is the simulator's own) are known to the model too, through
:func:`node.round.gold.solve_gold_question`, and answered and judged with the same skill model
(:func:`sim.model.draw_answers`, :func:`sim.model.judge_probabilities`), so a simulated swarm
can run gold rounds on them. It tells such a question from any other question it can answer
only by its form, like a real model would.
"""

from __future__ import annotations

import asyncio
import hashlib

import numpy as np

from node.backends.base import Answer, Judgement, JudgementOutcome
from node.round.gold import GoldTask, solve_gold_question

MODEL_NAME = "swarmrank-sim"


def call_seed(seed: int, op: str, query_id: bytes, *texts: str) -> int:
    """The 64-bit seed of one call: a hash, so no two (op, query, texts) share a stream."""
    h = hashlib.sha256(b"swarmrank/sim-backend\x00")
    h.update(int(seed).to_bytes(8, "big", signed=False))
    h.update(op.encode("ascii") + b"\x00")
    h.update(len(query_id).to_bytes(4, "big") + query_id)
    for text in texts:
        data = text.encode("utf-8")
        h.update(len(data).to_bytes(8, "big") + data)
    return int.from_bytes(h.digest()[:8], "big")


class SimBackend:
    """Seeded synthetic model; see the module docstring."""

    def __init__(
        self,
        *,
        seed: int = 0,
        generation_skill: float = 1.0,
        judging_skill: float = 1.0,
        position_bias: float = 0.0,
        error_correlation: float = 0.5,
        latency_ms: float = 0.0,
    ) -> None:
        from sim.model import NodeProfile

        self.seed = seed
        self.latency_ms = latency_ms
        self.profile = NodeProfile(
            generation_skill=generation_skill,
            judging_skill=judging_skill,
            position_bias=position_bias,
            error_correlation=error_correlation,
        )

    @property
    def model_name(self) -> str:
        return MODEL_NAME

    def _model(self, op: str, query_id: bytes, *texts: str) -> object:
        from sim.model import SimModel

        rng = np.random.default_rng(call_seed(self.seed, op, query_id, *texts))
        return SimModel(self.profile, rng)

    def _gold_task(self, question: str) -> GoldTask | None:
        """A generated gold question the simulator's own parser does not place, else ``None``."""
        from sim.model import parse_task

        if parse_task(question) is not None:
            return None
        return solve_gold_question(question)

    def _generate_gold(self, task: GoldTask, query_id: bytes) -> str:
        from sim.model import draw_answers

        rng = np.random.default_rng(call_seed(self.seed, "generate", query_id, task.question))
        label = int(
            draw_answers(
                self.profile.generation_skill,
                task.difficulty,
                self.profile.error_correlation,
                len(task.distractors),
                rng,
            )
        )
        return f"The answer is {task.answer if label == 0 else task.distractors[label - 1]}."

    def _judge_gold(
        self, task: GoldTask, answer_a: str, answer_b: str, query_id: bytes
    ) -> Judgement:
        from sim.model import JUDGED_A, JUDGED_TIE, draw_judgements, judge_probabilities

        rng = np.random.default_rng(
            call_seed(self.seed, "judge", query_id, task.question, answer_a, answer_b)
        )
        p_a, p_b, _ = judge_probabilities(
            self.profile.judging_skill,
            task.difficulty,
            task.is_correct(answer_a),
            task.is_correct(answer_b),
            self.profile.position_bias,
        )
        verdict = int(draw_judgements(p_a, p_b, rng))
        if verdict == JUDGED_TIE:
            return Judgement(outcome="tie", confidence=0.5, rationale="both look equally good")
        chosen_a = verdict == JUDGED_A
        p_chosen, p_decided = float(p_a if chosen_a else p_b), float(p_a + p_b)
        confidence = min(max(p_chosen / p_decided if p_decided > 0 else 0.5, 0.5), 1.0)
        side: JudgementOutcome = "A" if chosen_a else "B"
        return Judgement(
            outcome=side,
            confidence=round(confidence, 4),
            rationale=f"{side} is more consistent with the question",
        )

    async def _delay(self) -> None:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)

    async def generate(self, question: str, *, query_id: bytes) -> Answer:
        await self._delay()
        task = self._gold_task(question)
        if task is not None:
            return Answer(text=self._generate_gold(task, query_id), model=MODEL_NAME)
        model = self._model("generate", query_id, question)
        text = model.generate(question)  # type: ignore[attr-defined]
        return Answer(text=str(text), model=MODEL_NAME)

    async def judge(
        self, question: str, answer_a: str, answer_b: str, *, query_id: bytes
    ) -> Judgement:
        await self._delay()
        task = self._gold_task(question)
        if task is not None:
            return self._judge_gold(task, answer_a, answer_b, query_id)
        model = self._model("judge", query_id, question, answer_a, answer_b)
        verdict = model.judge(question, answer_a, answer_b)  # type: ignore[attr-defined]
        outcomes: dict[str, JudgementOutcome] = {"A": "A", "B": "B", "tie": "tie"}
        outcome = outcomes.get(str(verdict.outcome), "abstain")
        confidence = verdict.confidence
        return Judgement(
            outcome=outcome,
            confidence=None if confidence is None else float(confidence),
            rationale=str(verdict.rationale),
        )

    async def health(self) -> bool:
        return True

    async def close(self) -> None:
        return None
