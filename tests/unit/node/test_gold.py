"""The gold bank (issue 20, finding 10): generated tasks too many to look up, drawn by the ledger
head alone, answerable by the simulated model; an operator's private bank."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from node.backends.sim import SimBackend
from node.errors import ConfigError
from node.round.check import gold_task_for
from node.round.gold import (
    FAMILIES,
    GoldTask,
    draw_gold_task,
    generate_gold_task,
    load_private_bank,
    solve_gold_question,
)
from node.round.selection import seeded_generator


def head(i: int) -> bytes:
    return hashlib.sha256(b"head%d" % i).digest()


def tasks(n: int, seed: int = 0) -> list[GoldTask]:
    rng = np.random.default_rng(seed)
    return [generate_gold_task(rng) for _ in range(n)]


def test_the_draw_depends_on_the_head_only() -> None:
    """The query id is the leader's free choice: grinding it must not change the item."""
    first = gold_task_for(head(1), b"\x00" * 16)
    assert all(gold_task_for(head(1), bytes([i]) * 16) == first for i in range(50))
    assert len({gold_task_for(head(i), b"q").task_id for i in range(200)}) == 200


def test_every_family_is_drawn_and_solves_back_to_itself() -> None:
    drawn = tasks(2000)
    assert {t.family for t in drawn} == set(FAMILIES)
    for task in drawn:
        assert solve_gold_question(task.question) == task, task.question
        assert task.is_correct(f"The answer is {task.answer}.")
        assert task.distractors and task.answer not in task.distractors
        assert not any(task.is_correct(f"The answer is {d}.") for d in task.distractors)
    assert solve_gold_question("What is the capital of France?") is None
    assert solve_gold_question("Convert 12 parsecs to metres.") is None


def test_answers_are_right() -> None:
    cases = {
        "What is 48213 - 9127?": "39086",
        "How many metres are in 37 kilometres?": "37000",
        "A reading measures 5 feet. How many inches is that?": "60",
        "Which is the largest of 431, 87, 90211 and 16?": "90211",
        "Which number is smallest: 431, 87, 90211, 16?": "16",
        "What is 'kadumelo' spelled backwards?": "olemudak",
        "How many times does the letter 'a' appear in 'banana'?": "3",
        "How many letters are in the word 'kadumelo'?": "8",
    }
    for question, answer in cases.items():
        task = solve_gold_question(question)
        assert task is not None and task.answer == answer, question


def _recognised(questions: list[str], table: set[str]) -> float:
    return sum(q in table for q in questions) / len(questions)


def test_a_lookup_recognises_gold_no_better_than_chance() -> None:
    """A node that keeps every question it can find in public (the simulator's task bank, every
    gold task revealed in earlier records, and 100,000 tasks it generated itself with the
    public generator) and calls a round gold when its question is in that table: against the
    old 57-item bank it recognises every gold round; against the generated bank its hit rate on
    gold rounds is no higher than on live rounds of the same form (both ~0), i.e. chance."""
    from sim.model import task_bank

    public = {t.question for t in task_bank()}
    public |= {t.question for t in tasks(100_000, seed=12345)}
    revealed = {gold_task_for(head(10_000 + i), b"").question for i in range(1000)}
    table = public | revealed

    gold = [gold_task_for(head(i), b"").question for i in range(1000)]
    live = [t.question for t in tasks(1000, seed=777)]  # user traffic of the same forms
    hit_gold, hit_live = _recognised(gold, table), _recognised(live, table)
    assert hit_gold <= 0.005 and abs(hit_gold - hit_live) <= 0.005, (hit_gold, hit_live)

    def old_gold_task(previous_record_hash: bytes, query_id: bytes) -> str:
        bank = task_bank()  # the draw before issue 20: the public bank, head and query id
        rng = seeded_generator(b"gold", previous_record_hash, query_id)
        return bank[int(rng.integers(len(bank)))].question

    old = [old_gold_task(head(i), b"q%d" % i) for i in range(1000)]
    assert _recognised(old, table) == 1.0  # the attack the finding measured (1,000 of 1,000)


@pytest.mark.parametrize("skill", [6.0, -4.0])
async def test_the_sim_backend_answers_and_judges_generated_tasks(skill: float) -> None:
    backend = SimBackend(seed=3, generation_skill=skill, judging_skill=skill)
    sample = [t for t in tasks(300, seed=5) if t.family != "arithmetic"]
    correct = judged = 0
    for i, task in enumerate(sample):
        qid = b"%d" % i
        answer = await backend.generate(task.question, query_id=qid)
        correct += task.is_correct(answer.text)
        wrong = f"The answer is {task.distractors[0]}."
        verdict = await backend.judge(
            task.question, wrong, f"The answer is {task.answer}.", query_id=qid
        )
        judged += verdict.outcome == "B"
    if skill > 0:
        assert correct / len(sample) > 0.9 and judged / len(sample) > 0.9
    else:
        assert correct / len(sample) < 0.5 and judged / len(sample) < 0.6


def test_a_private_bank_is_drawn_from_and_named_by_its_digest(tmp_path: Path) -> None:
    path = tmp_path / "bank.json"
    items: list[dict[str, object]] = [
        {"question": "Which river flows through our office town?", "answer": "Aare"},
        {"question": "How many floors has building 7?", "answer": 12, "difficulty": 1.5},
    ]
    path.write_text(json.dumps(items))
    bank = load_private_bank(path, share=1.0)
    drawn = {draw_gold_task(head(i), bank).question for i in range(50)}
    assert drawn == {i["question"] for i in items}
    task = draw_gold_task(head(0), bank)
    assert task.task_id.startswith(f"private:{bank.digest}:")
    assert task.is_correct("The answer is aare.") or task.is_correct("The answer is 12.")
    half = load_private_bank(path, share=0.5)
    families = {draw_gold_task(head(i), half).family for i in range(200)}
    assert "private" in families and families - {"private"}


@pytest.mark.parametrize(
    "content",
    ["not json", "[]", '[{"question": ""}]', '[{"question": "q", "answer": true}]', "{}"],
)
def test_a_bad_private_bank_is_a_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "bank.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match="gold bank"):
        load_private_bank(path)
