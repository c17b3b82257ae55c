"""Intervals across seeds: Student-t on the seeds' values, clipped, none for one seed."""

from __future__ import annotations

import math

import pytest

from sim.metrics import seed_interval


def test_seed_interval_is_student_t_over_seeds() -> None:
    values = [0.80, 0.84, 0.78, 0.86, 0.82]
    mean, sd = 0.82, math.sqrt(sum((v - 0.82) ** 2 for v in values) / 4)
    low, high = seed_interval(values)
    half = 2.776 * sd / math.sqrt(5)  # t(0.975, 4 degrees of freedom)
    assert low == pytest.approx(mean - half) and high == pytest.approx(mean + half)


def test_seed_interval_edges() -> None:
    assert seed_interval([0.6, 0.6, 0.6]) == pytest.approx((0.6, 0.6))  # seeds agree
    assert seed_interval([0.1, 0.9]) == (0.0, 1.0)  # clipped to the range
    assert seed_interval([0.7]) == (0.0, 1.0)  # one seed: no interval across seeds
    assert seed_interval([-0.2, -0.21, -0.19], -1.0, 1.0)[1] < 0.0  # margins may be negative
