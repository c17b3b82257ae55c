"""The repository stays lint-clean, formatted, and type-checked (strict on ranking/ and
protocol/), as STYLE.md asks: these checks run with the suite so CI enforces them."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _tool(name: str) -> str:
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it is in the dev extra)")
    return found


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_is_clean() -> None:
    result = _run(_tool("ruff"), "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-4000:]


def test_ruff_format_is_clean() -> None:
    result = _run(_tool("ruff"), "format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout[-4000:]


@pytest.mark.slow
def test_mypy_clean_and_strict_on_the_pure_core() -> None:
    # pyproject.toml makes ranking/ and protocol/ strict; node/, sim/ and bench/ are checked too.
    result = _run(_tool("mypy"), "ranking", "protocol", "node", "sim", "bench")
    assert result.returncode == 0, result.stdout[-4000:]
