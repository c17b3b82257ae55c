"""The imperative shell of ``swarmrank eval``: ask every question through a live swarm over
gRPC, keep each result in ``answers.jsonl`` as it finishes, and write ``results.json``,
``report.md`` and the plots.

Resuming: ``answers.jsonl`` is appended one line per finished question (flushed and fsynced),
so an interrupted run loses at most the round in flight. A rerun with the same ``--out`` reads
it, skips the ids already answered and asks only the rest (a question whose round failed is
asked again; the later line wins).
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from node.errors import NodeError
from node.eval.observe import observe_round
from node.eval.questions import EvalError, Question
from node.eval.scoring import QuestionResult, RoundObservation, failed_result, score_round

ANSWERS_FILE = "answers.jsonl"
RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"


class SwarmAsker:
    """Asks a swarm's nodes (round robin, the next one when a node is unavailable) and fetches
    each round's record from the node that led it."""

    def __init__(self, addresses: Sequence[str], timeout_s: float, api_key: str = "") -> None:
        import grpc

        if not addresses:
            raise EvalError("no node address to ask")
        self.addresses = list(addresses)
        self.timeout_s = timeout_s
        self._channels = {a: grpc.aio.insecure_channel(a) for a in self.addresses}
        self._next = itertools.cycle(range(len(self.addresses)))
        key = api_key.strip()
        self._metadata = (("authorization", f"Bearer {key}"),) if key else ()

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()

    def _stub(self, address: str) -> Any:
        from protocol.v1 import services_pb2_grpc

        return services_pb2_grpc.SwarmServiceStub(self._channels[address])  # type: ignore[no-untyped-call]

    async def ask(self, question: str) -> RoundObservation:
        """One round: ``Ask``, then ``GetRecord`` of its record on the same node."""
        import grpc

        from protocol.v1 import messages_pb2, services_pb2

        last: grpc.aio.AioRpcError | None = None
        for _ in self.addresses:
            address = self.addresses[next(self._next)]
            stub = self._stub(address)
            started = time.monotonic()
            try:
                response = await stub.Ask(
                    services_pb2.AskRequest(
                        question=question, timeout_ms=int(self.timeout_s * 1000)
                    ),
                    timeout=self.timeout_s + 5,
                    metadata=self._metadata,
                )
            except grpc.aio.AioRpcError as exc:
                if exc.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
                last = exc
                continue
            seconds = time.monotonic() - started
            envelope = await stub.GetRecord(
                services_pb2.GetRecordRequest(record_id=response.record_id), timeout=30
            )
            record = messages_pb2.ConsensusRecord.FromString(envelope.payload)
            return observe_round(response, record, seconds)
        assert last is not None  # the loop ran at least once (addresses is non-empty)
        raise last

    async def node_models(self) -> dict[str, str]:
        """Each member's model name, from the first node's ``Status``."""
        from protocol.v1 import services_pb2

        status = await self._stub(self.addresses[0]).Status(
            services_pb2.StatusRequest(), timeout=10
        )
        return {str(m.node_id): str(m.model) for m in status.members}


def read_answers(path: Path) -> dict[str, QuestionResult]:
    """The results kept in ``answers.jsonl`` by id (the later line wins); a torn last line (a
    run killed mid-write) is ignored."""
    results: dict[str, QuestionResult] = {}
    if not path.exists():
        return results
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            result = QuestionResult.from_json(json.loads(line))
        except (json.JSONDecodeError, TypeError):
            continue
        results[result.id] = result
    return results


def append_answer(path: Path, result: QuestionResult) -> None:
    """Append one result line and make it durable before the next question is asked (after a
    newline first when a killed run left a torn last line)."""
    torn = False
    if path.exists() and path.stat().st_size:
        with path.open("rb") as fh:
            fh.seek(-1, os.SEEK_END)
            torn = fh.read(1) != b"\n"
    with path.open("a", encoding="utf-8") as fh:
        if torn:
            fh.write("\n")
        fh.write(json.dumps(result.to_json(), ensure_ascii=False, sort_keys=True) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def pending_questions(
    questions: Sequence[Question], done: Mapping[str, QuestionResult]
) -> list[Question]:
    """The questions still to ask: not answered yet, or whose round failed."""
    return [q for q in questions if q.id not in done or done[q.id].error]


async def ask_all(
    questions: Sequence[Question],
    asker: Any,
    answers_path: Path,
    advance: Callable[[QuestionResult], None] = lambda _: None,
) -> None:
    """Ask each question in turn (``asker.ask(text) -> RoundObservation``), appending each
    result to ``answers_path``; a failed round is kept as a failure, not raised."""
    import grpc

    for question in questions:
        started = time.monotonic()
        try:
            result = score_round(question, await asker.ask(question.question))
        except grpc.aio.AioRpcError as exc:
            error = f"{exc.code().name}: {exc.details()}"
            result = failed_result(question, error, time.monotonic() - started)
        except NodeError as exc:
            result = failed_result(question, str(exc), time.monotonic() - started)
        append_answer(answers_path, result)
        advance(result)


def write_outputs(
    out_dir: Path,
    results: Sequence[QuestionResult],
    models: Mapping[str, str],
    meta: Mapping[str, Any],
) -> dict[str, Any]:
    """``results.json``, ``report.md`` and the plots; returns the results dict."""
    from node.eval.report import render_report, write_plots
    from node.eval.stats import summarise_results

    summary = summarise_results(results, models)
    document = {**summary, "meta": dict(meta)}
    (out_dir / RESULTS_FILE).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    (out_dir / REPORT_FILE).write_text(render_report(summary, meta), encoding="utf-8")
    write_plots(summary, out_dir)
    return document
