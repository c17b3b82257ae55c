"""Weighted sampling in integer arithmetic (ranking.exact): accurate, fair, and free of the
float functions whose last bits differ between machines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ranking.errors import InvalidParameters
from ranking.exact import LOG_FRACTION_BITS, UNIFORM_BITS, exact_weighted_sample, fixed_neg_log2
from ranking.selection import select_participants


def test_fixed_log_is_within_its_resolution() -> None:
    rng = np.random.default_rng(0)
    u = np.concatenate(
        [
            np.array([1, 2, 3, 1 << 30, (1 << UNIFORM_BITS) - 1], dtype=np.int64),
            rng.integers(1, 1 << UNIFORM_BITS, size=5000, dtype=np.int64),
        ]
    )
    got = fixed_neg_log2(u) / float(1 << LOG_FRACTION_BITS)
    want = np.array([UNIFORM_BITS - math.log2(int(x)) for x in u])
    error = got - want
    # log2(u) is truncated (the fraction bits and each squared mantissa), so -log2(u) is never
    # below the true value, and less than two units of the last fraction bit above it
    assert float(error.min()) >= -1e-12
    assert float(error.max()) < 2.0 ** (1 - LOG_FRACTION_BITS)


def test_fixed_log_refuses_out_of_range() -> None:
    with pytest.raises(InvalidParameters):
        fixed_neg_log2(np.array([0], dtype=np.int64))


def test_draw_uses_no_float_transcendental(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("a float log or exp was called")

    weights = np.array([0.3, 1.0, 0.55, 0.05])
    expected = exact_weighted_sample(np.random.Generator(np.random.PCG64(7)), weights, 4)
    for name in ("log", "exp", "log2", "power"):
        monkeypatch.setattr(np, name, refuse)
    again = exact_weighted_sample(np.random.Generator(np.random.PCG64(7)), weights, 4)
    assert again.tolist() == expected.tolist()
    assert sorted(again.tolist()) == [0, 1, 2, 3]


def test_first_draw_is_proportional_to_weight() -> None:
    weights = np.array([1.0, 2.0, 3.0, 4.0])
    rng = np.random.Generator(np.random.PCG64(11))
    counts = np.zeros(4)
    draws = 20_000
    for _ in range(draws):
        counts[exact_weighted_sample(rng, weights, 1)[0]] += 1
    expected = weights / weights.sum() * draws
    # chi-square with 3 degrees of freedom: 16.3 is the 0.999 quantile
    assert float(((counts - expected) ** 2 / expected).sum()) < 16.3


def test_invalid_weights_are_refused() -> None:
    rng = np.random.default_rng(0)
    for bad in ([0.0, 1.0], [np.nan, 1.0], [-1.0], [1e9]):
        with pytest.raises(InvalidParameters):
            exact_weighted_sample(rng, np.array(bad), 1)
    with pytest.raises(InvalidParameters):
        exact_weighted_sample(rng, np.array([1.0]), 2)


def test_exact_draw_is_the_float_draw_up_to_its_resolution() -> None:
    """``integers(1, 2**53)`` and ``random()`` read the same 53 bits of each PCG64 output, so
    the integer rule draws what the float rule drew, except where two keys fall within the
    fixed-point resolution of each other."""
    reputations = np.linspace(0.1, 0.9, 20)
    same = 0
    for seed in range(50):
        exact = select_participants(reputations, np.random.default_rng(seed), 5, 20)
        floats = select_participants(reputations, np.random.default_rng(seed), 5, 20, exact=False)
        again = select_participants(reputations, np.random.default_rng(seed), 5, 20)
        assert [x.tolist() for x in exact] == [x.tolist() for x in again]
        assert sorted(exact[1].tolist()) == list(range(20))
        same += [x.tolist() for x in exact] == [x.tolist() for x in floats]
    assert same >= 45
