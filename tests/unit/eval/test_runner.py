"""The eval's edge in isolation: reading a round off the wire, the answers file a rerun resumes
from, asking with a fake swarm, and the report and plots written from a summary."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from node.errors import RoundFailed
from node.eval.observe import observe_round
from node.eval.questions import Question
from node.eval.report import render_report, write_plots
from node.eval.runner import (
    append_answer,
    ask_all,
    pending_questions,
    read_answers,
    write_outputs,
)
from node.eval.scoring import ClusterView, QuestionResult, RoundObservation, failed_result
from node.eval.stats import summarise_results
from protocol.v1 import envelope_pb2, messages_pb2, services_pb2

QUESTIONS = [Question(f"capital:{i}", f"Capital of {i}?", "Paris") for i in range(4)]


def _envelope(message: object) -> envelope_pb2.Envelope:
    return envelope_pb2.Envelope(payload=message.SerializeToString())  # type: ignore[attr-defined]


def test_observe_round_reads_answers_clusters_and_verdicts() -> None:
    response = services_pb2.AskResponse(
        answer="Paris",
        record_id=b"\x01\x02",
        candidates=[
            services_pb2.ScoredCandidate(index=1, answer="Paris", generator_ids=["a"]),
            services_pb2.ScoredCandidate(index=0, answer="Lyon", generator_ids=["b", "c"]),
        ],
    )
    verdict = messages_pb2.Verdict(a=0, b=1)
    record = messages_pb2.ConsensusRecord(
        candidates=[
            _envelope(messages_pb2.Candidate(generator_id=g, answer=a))
            for g, a in (("a", "Paris"), ("b", "Lyon"), ("c", "lyon"))
        ],
        ballots=[
            _envelope(messages_pb2.Ballot(ranker_id=r, verdicts=[verdict] * k))
            for r, k in (("d", 3), ("e", 4))
        ],
    )
    observed = observe_round(response, record, 2.5)
    assert observed.swarm_answer == "Paris"
    assert observed.clusters == (
        ClusterView(1, "Paris", ("a",)),
        ClusterView(0, "Lyon", ("b", "c")),
    )
    assert observed.node_answers == {"a": "Paris", "b": "Lyon", "c": "lyon"}
    assert (observed.judge_calls, observed.seconds, observed.record_id) == (7, 2.5, "0102")


def test_answers_file_resumes_later_lines_win_and_torn_lines_are_skipped(tmp_path: Path) -> None:
    path = tmp_path / "answers.jsonl"
    failed = failed_result(QUESTIONS[0], "UNAVAILABLE: down", 1.0)
    append_answer(path, failed)
    append_answer(path, QuestionResult("capital:1", "capital", "?", "Paris", swarm_correct=True))
    with path.open("a") as fh:
        fh.write('{"id": "capital:2", "kind"')  # killed mid-write
    done = read_answers(path)
    assert set(done) == {"capital:0", "capital:1"}
    # a failed round and the unanswered ones are asked again
    assert [q.id for q in pending_questions(QUESTIONS, done)] == [
        "capital:0",
        "capital:2",
        "capital:3",
    ]
    append_answer(path, QuestionResult("capital:0", "capital", "?", "Paris", swarm_correct=True))
    assert not read_answers(path)["capital:0"].error
    assert read_answers(tmp_path / "none.jsonl") == {}


class FakeAsker:
    """Answers Paris through one generator, fails the round for the third question."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def ask(self, question: str) -> RoundObservation:
        self.asked.append(question)
        if len(self.asked) == 3:
            raise RoundFailed("no quorum: 0 of 2 candidates")
        cluster = ClusterView(0, "Paris", ("n1",))
        return RoundObservation("Paris", (cluster,), {"n1": "Paris"}, 2, 0.1, "ff")


async def test_ask_all_keeps_each_result_and_failures_as_failures(tmp_path: Path) -> None:
    asker, seen = FakeAsker(), list[QuestionResult]()
    path = tmp_path / "answers.jsonl"
    await ask_all(QUESTIONS, asker, path, seen.append)
    assert asker.asked == [q.question for q in QUESTIONS]
    done = read_answers(path)
    assert [r.id for r in seen] == [q.id for q in QUESTIONS] == list(done)
    assert done["capital:2"].error == "no quorum: 0 of 2 candidates"
    assert [done[q.id].swarm_correct for q in QUESTIONS] == [True, True, False, True]


def _summary() -> dict[str, Any]:
    results = [
        QuestionResult(
            f"{kind}:{i}",
            kind,
            "?",
            "x",
            swarm_correct=i % 2 == 0,
            majority_correct=i % 3 == 0,
            any_candidate_correct=True,
            node_answers={"n1": "x", "n2": "y"},
            node_correct={"n1": i % 2 == 0, "n2": False},
            judge_calls=4,
            seconds=1.0,
        )
        for kind in ("capital", "symbol")
        for i in range(5)
    ]
    return summarise_results(results, {"n1": "smollm2-135m", "n2": "gemma3-270m"})


def test_report_states_the_numbers_and_how_they_were_made() -> None:
    summary = _summary()
    text = render_report(summary, {"command": "swarmrank eval q.jsonl --out d", "swarm": "4"})
    assert text.startswith("# swarmrank eval")
    assert "`swarmrank eval q.jsonl --out d`" in text
    assert "| swarm (consensus) | 60.0% |" in text
    assert "swarm - majority: +20.0 [" in text
    assert "smollm2-135m" in text and "(best)" in text
    assert "| capital | 5 |" in text


def test_plots_and_outputs_are_written(tmp_path: Path) -> None:
    paths = write_plots(_summary(), tmp_path / "plots")
    assert [p.name for p in paths] == ["accuracy.png", "by_kind.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    result = QuestionResult("capital:0", "capital", "?", "Paris", swarm_correct=True)
    document = write_outputs(tmp_path, [result], {}, {"command": "c"})
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(document))
    assert on_disk["accuracy"]["swarm"] == 1.0 and on_disk["meta"] == {"command": "c"}
    assert (tmp_path / "report.md").exists()


@pytest.mark.parametrize("limit", [None, 0])
def test_pending_is_everything_when_nothing_is_done(limit: int | None) -> None:
    assert pending_questions(QUESTIONS[:limit], {}) == QUESTIONS[:limit]
