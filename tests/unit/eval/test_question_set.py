"""The shipped question set is what ``data/questions/build.py`` makes from its data packages:
rebuilt here and compared line by line with the committed file."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from node.eval.questions import load_questions

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = ROOT / "data" / "questions" / "questions.jsonl"

pytest.importorskip("countryinfo", reason="countryinfo is in the dev extra")
pytest.importorskip("periodictable", reason="periodictable is in the dev extra")


def _build_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("questions_build", SHIPPED.with_name("build.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_shipped_set_is_the_build_scripts_output(tmp_path: Path) -> None:
    build = _build_module()
    out = tmp_path / "questions.jsonl"
    assert build.main(["--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")
    bank = SHIPPED.with_name("gold-bank.json")
    assert (tmp_path / "gold-bank.json").read_text(encoding="utf-8") == bank.read_text(
        encoding="utf-8"
    )
    meta = json.loads((tmp_path / "questions.meta.json").read_text())
    assert meta["questions"] >= 300
    assert set(meta["kinds"]) == {"capital", "symbol", "atomic-number", "arithmetic"}


def test_the_shipped_set_parses_and_states_known_facts() -> None:
    questions = {q.id: q for q in load_questions(SHIPPED)}
    assert len(questions) >= 300
    assert questions["capital:france"].answer == "Paris"
    assert questions["symbol:79"].answer == "Au"
    assert questions["atomic-number:79"].question == "What is the atomic number of gold?"
    assert questions["atomic-number:79"].answer == "79"
    arithmetic = [q for q in questions.values() if q.kind == "arithmetic"]
    for question in arithmetic:
        a, op, b = question.question.removeprefix("What is ").rstrip("?").split()
        expected = {"+": int(a) + int(b), "-": int(a) - int(b), "x": int(a) * int(b)}[op]
        assert question.answer == str(expected)


def test_another_seed_shuffles_the_same_questions() -> None:
    build = _build_module()
    default, other = build.build_questions(), build.build_questions(seed=7)
    assert [q["id"] for q in default] != [q["id"] for q in other]
    assert sorted(q["id"] for q in default if q["kind"] != "arithmetic") == sorted(
        q["id"] for q in other if q["kind"] != "arithmetic"
    )


def test_the_gold_bank_never_asks_what_an_evaluation_of_300_questions_asks() -> None:
    """The private gold bank (``round_gold_bank_file``) holds the set's questions from 300 on,
    of the same kinds as the live questions, and loads as a bank; ``--limit`` up to 300 never
    asks one of them as a live question."""
    from node.round.gold import load_private_bank

    shipped = list(load_questions(SHIPPED))
    bank = load_private_bank(SHIPPED.with_name("gold-bank.json"))
    asked = {q.question for q in shipped[:300]}
    assert len(bank.tasks) == len(shipped) - 300
    assert not asked & {t.question for t in bank.tasks}
    assert {t.answer for t in bank.tasks} == {q.answer for q in shipped[300:]}
    assert {q.kind for q in shipped[300:]} == {q.kind for q in shipped[:300]}
