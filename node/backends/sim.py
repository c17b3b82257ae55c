"""The ``sim`` backend: :class:`SimBackend`, the simulator's behaviour model behind
:class:`~node.backends.base.ModelBackend`.

The behaviour itself (task bank, skills, plausible wrong answers) lives once in
:mod:`sim.model`; this module only adapts it. Every call draws from a fresh
``numpy.random.Generator`` seeded by SHA-256 of (node seed, operation, query id, texts), so a
node's answer to a round is reproducible — the same request always gets the same answer, and
two nodes with different seeds err independently. ``latency_ms`` adds artificial latency;
0 (the default) is instant.
"""

from __future__ import annotations

import asyncio
import hashlib

import numpy as np

from node.backends.base import Answer, Judgement, JudgementOutcome

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

    async def _delay(self) -> None:
        if self.latency_ms > 0:
            await asyncio.sleep(self.latency_ms / 1000)

    async def generate(self, question: str, *, query_id: bytes) -> Answer:
        await self._delay()
        model = self._model("generate", query_id, question)
        text = model.generate(question)  # type: ignore[attr-defined]
        return Answer(text=str(text), model=MODEL_NAME)

    async def judge(
        self, question: str, answer_a: str, answer_b: str, *, query_id: bytes
    ) -> Judgement:
        await self._delay()
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
