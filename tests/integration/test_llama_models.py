"""Real small language models through the ``llama`` backend: the shipped SmolLM2 135M Instruct
and Gemma 3 270M (base) answer, judge in every mode, keep their deadlines, and play whole
rounds as swarm nodes.

These run only where ``llama-cpp-python`` and the model packages are installed (each test
skips with the reason otherwise). What they assert was checked against the models first: both
answer "capital of France" with Paris at temperature 0; as judges both pick by position, so
the tests check the *form* of probability verdicts (in [0, 1], both orders), not their accuracy.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from node.backends.llama import LlamaBackend
from node.errors import BackendError, BackendTimeout
from node.ledger.store import Store
from node.models import SHIPPED_MODELS
from node.models.discovery import find_part
from node.round.settings import RoundSettings
from node.swarm.peer import Node
from node.testing import in_process_swarm, make_query, make_rank_request
from protocol.signing import Verifier
from protocol.testing import FakeClock, test_identity
from protocol.v1 import envelope_pb2, messages_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SMOL = "smollm2-135m"
GEMMA = "gemma3-270m"
FRANCE = "What is the capital of France?"


def _skip_reason(name: str) -> str:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install llama-cpp-python)"
    model = SHIPPED_MODELS[name]
    if any(find_part(part) is None for part in model.parts):
        return f"model {name} is not installed (pip install {model.package})"
    return ""


def _needs(name: str) -> pytest.MarkDecorator:
    reason = _skip_reason(name)
    return pytest.mark.skipif(bool(reason), reason=reason)


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache for the module, so Gemma is assembled once."""
    return tmp_path_factory.mktemp("models")


def backend(name: str, cache_dir: Path, **options: object) -> LlamaBackend:
    options.setdefault("n_threads", 2)
    options.setdefault("temperature", 0.0)
    return LlamaBackend(name, cache_dir=cache_dir, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", [pytest.param(SMOL, marks=_needs(SMOL)), pytest.param(GEMMA, marks=_needs(GEMMA))]
)
async def test_answers_capital_of_france(name: str, cache_dir: Path) -> None:
    model = backend(name, cache_dir)
    try:
        answer = await model.generate(FRANCE, query_id=b"q1")
        assert "Paris" in answer.text
        assert answer.model == name and model.model_name == name
        assert await model.health()
    finally:
        await model.close()
    assert not await model.health()
    with pytest.raises(BackendError, match="closed"):
        await model.generate(FRANCE, query_id=b"q1")


@_needs(SMOL)
async def test_sampling_is_seeded_per_query(cache_dir: Path) -> None:
    model = backend(SMOL, cache_dir, temperature=1.0, seed=7, max_tokens=24)
    try:
        question = "Write one word that rhymes with cat."
        first = await model.generate(question, query_id=b"round-1")
        again = await model.generate(question, query_id=b"round-1")
        assert first.text == again.text  # same node, same round: same answer
    finally:
        await model.close()


@pytest.mark.parametrize(
    "name", [pytest.param(SMOL, marks=_needs(SMOL)), pytest.param(GEMMA, marks=_needs(GEMMA))]
)
async def test_probability_judge_in_both_orders(name: str, cache_dir: Path) -> None:
    model = backend(name, cache_dir, judge_mode="prob")
    try:
        forward = await model.letter_probs(FRANCE, "Paris", "Lyon")
        backward = await model.letter_probs(FRANCE, "Lyon", "Paris")
        for probs in (forward, backward):
            assert 0.0 <= probs.p_a <= 1.0 and 0.0 <= probs.p_b <= 1.0
            assert 0.0 < probs.mass <= 1.0 and 0.0 <= probs.share_a <= 1.0
        verdict = await model.judge(FRANCE, "Paris", "Lyon", query_id=b"q")
        assert verdict.outcome in ("A", "B", "tie")
        if verdict.outcome == "tie":
            assert verdict.confidence is None
        else:
            assert verdict.confidence is not None and 0.5 < verdict.confidence <= 1.0
        assert "as asked" in verdict.rationale and "swapped" in verdict.rationale
    finally:
        await model.close()


@pytest.mark.parametrize(
    "name", [pytest.param(SMOL, marks=_needs(SMOL)), pytest.param(GEMMA, marks=_needs(GEMMA))]
)
async def test_likelihood_and_text_judges(name: str, cache_dir: Path) -> None:
    model = backend(name, cache_dir, judge_mode="likelihood")
    try:
        forward = await model.judge(FRANCE, "Paris", "Lyon", query_id=b"q")
        backward = await model.judge(FRANCE, "Lyon", "Paris", query_id=b"q")
        mirror = {"A": "B", "B": "A", "tie": "tie"}
        assert forward.outcome in mirror and backward.outcome == mirror[forward.outcome]
        model.judge_mode = "text"
        # text judging generates a rationale first: seconds on 2 busy cores, not a deadline test
        model.timeout_s = 300.0
        text = await model.judge(FRANCE, "Paris", "Lyon", query_id=b"q")
        # The small models rarely follow the verdict format: a parse failure is an abstention.
        assert text.outcome in ("A", "B", "tie", "abstain")
    finally:
        await model.close()


@_needs(SMOL)
async def test_deadline_is_a_backend_timeout(cache_dir: Path) -> None:
    model = backend(SMOL, cache_dir, timeout_s=0.001, max_tokens=256)
    try:
        with pytest.raises(BackendTimeout):
            await model.generate("Write a long story about a dragon.", query_id=b"q")
        model.timeout_s = 60.0
        answer = await model.generate(FRANCE, query_id=b"q")  # the model is free again
        assert "Paris" in answer.text
    finally:
        await model.close()


@pytest.mark.skipif(
    bool(_skip_reason(SMOL) or _skip_reason(GEMMA)),
    reason=_skip_reason(SMOL) or _skip_reason(GEMMA) or "-",
)
async def test_a_round_of_real_models_answers_paris(tmp_path: Path, cache_dir: Path) -> None:
    """Three nodes (SmolLM2 twice with different seeds, Gemma once) play a whole round over
    gRPC; every candidate comes from a real model, the swarm answers Paris and the record is
    accepted by every member. (The models often agree word for word, so the round may have
    nothing to rank: ranking is checked through the handler below.)"""
    backends = [
        backend(SMOL, cache_dir, seed=1, judge_mode="prob"),
        backend(SMOL, cache_dir, seed=2, temperature=0.3, judge_mode="likelihood"),
        backend(GEMMA, cache_dir, seed=3, judge_mode="prob"),
    ]
    # Unclustered, so rankers judge the three answers (clustering would merge them all).
    settings = RoundSettings(
        generate_deadline_ms=120_000, rank_deadline_ms=240_000, cluster_answers=False
    )
    try:
        async with in_process_swarm(tmp_path, backends, settings=settings) as swarm:
            result = await swarm.nodes[0].ask(FRANCE)
            await swarm.settle(1)
        assert "Paris" in result.response.answer
        record = messages_pb2.ConsensusRecord.FromString(result.record.payload)
        models = {messages_pb2.Candidate.FromString(c.payload).model for c in record.candidates}
        assert record.candidates and models and models <= {SMOL, GEMMA}
        assert all("Paris" in c.answer for c in result.response.candidates)
    finally:
        for model in backends:
            await model.close()


@pytest.mark.skipif(bool(_skip_reason(GEMMA)), reason=_skip_reason(GEMMA) or "-")
async def test_node_generate_and_rank_handlers_serve_a_real_model(
    tmp_path: Path, cache_dir: Path
) -> None:
    """A node backed by Gemma answers a signed Query with a signed Candidate and a signed
    RankRequest with a Ballot whose verdicts come from the model (likelihood mode: on this
    pair it prefers Paris whichever side it is on)."""
    leader, me, swarm_id = test_identity(31), test_identity(32), "llama-handlers"
    clock = FakeClock()
    model = backend(GEMMA, cache_dir, judge_mode="likelihood")
    with Store(tmp_path / "db.sqlite3") as store:
        node = Node(me, Verifier(swarm_id, clock=clock, window_ms=60_000), model, store)
        query = make_query(
            leader,
            swarm_id,
            clock,
            question=FRANCE,
            generator_ids=[me.node_id],
            ranker_ids=[me.node_id],
        )
        candidate_env = await node.handle_generate(query)
        candidate = Verifier(swarm_id, clock=clock).verify(
            candidate_env, envelope_pb2.KIND_CANDIDATE
        )
        assert candidate.signer_id == me.node_id and "Paris" in candidate.message.answer
        assert candidate.message.model == GEMMA
        request = make_rank_request(
            leader, swarm_id, clock, query, ["Lyon", "Paris"], {me.node_id: [(0, 1), (1, 0)]}
        )
        ballot = Verifier(swarm_id, clock=clock).verify(
            await node.handle_rank(request), envelope_pb2.KIND_BALLOT
        )
        outcomes = [v.outcome for v in ballot.message.verdicts]
        assert outcomes == [messages_pb2.OUTCOME_B, messages_pb2.OUTCOME_A]
        assert all(0.5 < v.confidence <= 1.0 for v in ballot.message.verdicts)
    await model.close()
