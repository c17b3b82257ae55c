"""Ledgers written by earlier releases still verify: ``tests/fixtures/ledger-v0`` holds a
ledger made before ``RoundParameters.em_ilsr_steps`` existed (see its ``make_ledger.py``)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

import node.round.aggregate
from node.cli.main import main
from ranking import AggregationParams

FIXTURE = Path(__file__).parents[2] / "fixtures" / "ledger-v0" / "node.sqlite3"


@pytest.fixture
def old_ledger(tmp_path: Path) -> Path:
    """A copy of the fixture's data directory (opening the database writes beside it)."""
    shutil.copy(FIXTURE, tmp_path / "node.sqlite3")
    return tmp_path


def test_a_ledger_from_before_em_ilsr_steps_verifies(
    old_ledger: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ledger", "verify", "--data-dir", str(old_ledger)]) == 0
    assert "OK, 8 records" in capsys.readouterr().out


def test_the_recorded_rule_is_what_makes_it_verify(
    old_ledger: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recomputed with today's default (one I-LSR step per EM step) instead of the rule its
    records carry (0: a full refit), the old ledger fails at its first record."""
    recorded = node.round.aggregate.aggregation_params

    def todays_default(params: object) -> AggregationParams:
        return dataclasses.replace(recorded(params), em_ilsr_steps=1)  # type: ignore[arg-type]

    monkeypatch.setattr(node.round.aggregate, "aggregation_params", todays_default)
    assert main(["ledger", "verify", "--data-dir", str(old_ledger)]) == 1
    err = capsys.readouterr().err
    assert "FAILED at height 0" in err and "outcome.strengths" in err
