"""Shared pytest configuration for the swarmrank suite."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

# Property tests explore fresh random examples on every local run; CI (`.ci/run` sets
# SWARMRANK_TEST_PROFILE=ci) replays a fixed seed per test, so a submission's CI result does not
# depend on which examples one run happened to draw. Anything a local run finds is then fixed
# and pinned as an explicit test.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile(os.environ.get("SWARMRANK_TEST_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _restore_swarmrank_logging() -> Iterator[None]:
    """A test that runs a daemon in-process calls ``configure_logging``, which stops the
    ``swarmrank`` loggers propagating; put them back so later tests' ``caplog`` sees records."""
    logger = logging.getLogger("swarmrank")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved
