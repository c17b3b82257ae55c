"""Shared helpers of the seeded scenario checks."""

from __future__ import annotations

from pathlib import Path

import pytest

SCENARIOS = Path(__file__).resolve().parents[2] / "sim" / "scenarios"


@pytest.fixture
def scenarios() -> Path:
    """The directory of shipped scenario files."""
    return SCENARIOS
