"""Shared pytest configuration for the swarmrank suite."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _restore_swarmrank_logging() -> Iterator[None]:
    """A test that runs a daemon in-process calls ``configure_logging``, which stops the
    ``swarmrank`` loggers propagating; put them back so later tests' ``caplog`` sees records."""
    logger = logging.getLogger("swarmrank")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
