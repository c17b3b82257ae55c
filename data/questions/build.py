"""Build the evaluation question set ``questions.jsonl`` from well-kept data packages.

Nobody writes these questions by hand:

* capitals: every country or territory in ``countryinfo`` that has one capital
  ("What is the capital of France?" -> "Paris"; the country's name is the package's);
* elements: the 118 elements of ``periodictable``, asked for their symbol
  ("What is the chemical symbol for gold?" -> "Au") and for their atomic number
  ("What is the atomic number of gold?" -> "79");
* arithmetic: additions, subtractions and multiplications of seeded random operands.

The set is shuffled with a fixed seed so that any prefix (``swarmrank eval --limit K``) mixes
the kinds. It also writes ``gold-bank.json``, a private gold bank (``round_gold_bank_file``) of
the questions from :data:`GOLD_BANK_FROM` on: questions of the same kinds as the first
:data:`GOLD_BANK_FROM`, which an evaluation of ``--limit`` up to that many never asks, so a
swarm can learn from gold its models can answer and that looks like its live traffic. The
output is deterministic for given package versions; the versions used are
written to ``questions.meta.json`` next to it. Run from the repository root::

    .venv/bin/python data/questions/build.py            # writes data/questions/questions.jsonl
    .venv/bin/python data/questions/build.py --out X.jsonl --seed 7
"""

from __future__ import annotations

import argparse
import json
import random
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "questions.jsonl"
DEFAULT_SEED = 20261130
ARITHMETIC_PER_OP = 40
#: the private gold bank holds the shuffled set's questions from this index on
GOLD_BANK_FROM = 300


def capital_questions() -> list[dict[str, Any]]:
    """One question per ``countryinfo`` entry with a single, non-empty capital."""
    import countryinfo

    rows: dict[str, dict[str, Any]] = {}
    for country in countryinfo.all_countries():
        name = country.name()
        capital = country.capital()
        if not name or not isinstance(capital, str) or not capital.strip():
            continue
        key = name.lower()
        rows[key] = {
            "id": "capital:" + "-".join(key.split()),
            "question": f"What is the capital of {name}?",
            "answer": capital.strip(),
            "aliases": [],
            "kind": "capital",
        }
    return [rows[k] for k in sorted(rows)]


def element_questions() -> list[dict[str, Any]]:
    """Symbol and atomic number questions for every element of ``periodictable``."""
    import periodictable

    out: list[dict[str, Any]] = []
    for element in periodictable.elements:
        if element.number < 1:  # the package's neutron pseudo-element
            continue
        for kind, question, answer in (
            ("symbol", f"What is the chemical symbol for {element.name}?", element.symbol),
            ("atomic-number", f"What is the atomic number of {element.name}?", element.number),
        ):
            out.append(
                {
                    "id": f"{kind}:{element.number}",
                    "question": question,
                    "answer": str(answer),
                    "aliases": [],
                    "kind": kind,
                }
            )
    return out


def arithmetic_questions(
    rng: random.Random, per_op: int = ARITHMETIC_PER_OP
) -> list[dict[str, Any]]:
    """``per_op`` seeded questions for each of +, - and x (two- to four-digit operands)."""
    out: list[dict[str, Any]] = []
    for op, word in (("+", "add"), ("-", "sub"), ("x", "mul")):
        for i in range(per_op):
            if op == "x":
                a, b = rng.randint(2, 99), rng.randint(2, 99)
                result = a * b
            else:
                a, b = rng.randint(10, 9999), rng.randint(10, 9999)
                result = a + b if op == "+" else a - b
            out.append(
                {
                    "id": f"arith:{word}:{i}",
                    "question": f"What is {a} {op} {b}?",
                    "answer": str(result),
                    "aliases": [],
                    "kind": "arithmetic",
                }
            )
    return out


def build_questions(seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """The whole set, shuffled with ``seed``; ids are unique."""
    rng = random.Random(seed)
    questions = capital_questions() + element_questions() + arithmetic_questions(rng)
    rng.shuffle(questions)
    ids = [q["id"] for q in questions]
    if len(set(ids)) != len(ids):
        raise ValueError("duplicate question ids")
    return questions


def write_questions(questions: list[dict[str, Any]], out: Path, seed: int) -> None:
    """``out`` as JSONL (one question per line) and ``<stem>.meta.json`` with the sources."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", encoding="utf-8") as fh:
        for question in questions:
            fh.write(json.dumps(question, ensure_ascii=False, sort_keys=True) + "\n")
    kinds: dict[str, int] = {}
    for question in questions:
        kinds[question["kind"]] = kinds.get(question["kind"], 0) + 1
    meta = {
        "questions": len(questions),
        "kinds": dict(sorted(kinds.items())),
        "seed": seed,
        "sources": {p: version(p) for p in ("countryinfo", "periodictable")},
        "built_by": "data/questions/build.py",
    }
    meta_path = out.with_name(out.stem + ".meta.json")
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def gold_bank(questions: list[dict[str, Any]], start: int = GOLD_BANK_FROM) -> list[dict[str, Any]]:
    """A private gold bank (``node.round.gold.load_private_bank``'s format) of
    ``questions[start:]`` (gold is checked by its one answer, without the aliases)."""
    return [{"question": q["question"], "answer": q["answer"]} for q in questions[start:]]


def write_gold_bank(questions: list[dict[str, Any]], out: Path) -> None:
    """``out`` as the bank's JSON list, one item a line."""
    items = gold_bank(questions)
    rows = ["  " + json.dumps(item, ensure_ascii=False, sort_keys=True) for item in items]
    lines = ",\n".join(rows)
    out.write_text("[\n" + lines + "\n]\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    questions = build_questions(args.seed)
    write_questions(questions, args.out, args.seed)
    bank = args.out.with_name("gold-bank.json")
    write_gold_bank(questions, bank)
    print(f"{len(questions)} questions -> {args.out}; {len(questions) - GOLD_BANK_FROM} -> {bank}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
