"""Weighted sampling in integer arithmetic, so that every machine draws the same sample.

Owns :func:`fixed_neg_log2` and :func:`exact_weighted_sample`.

Why: the floating-point draw (Efraimidis & Spirakis keys ``log(u) / w``) goes through ``log``,
which numpy computes with CPU-dependent SIMD kernels and which libm implementations round
differently in the last bit. Two honest nodes on different builds could then recompute a
different selection from the same record (DESIGN "The consensus principle": what a record
commits to must not depend on the float build). Here every step is an integer operation on
``int64`` (shifts, products, floor division), which is exact everywhere; the random stream is
``Generator.integers``, which is a pure function of the PCG64 bits.

The draw is the Efraimidis-Spirakis one with the key ``-log2(u) / w`` computed in fixed point:
``-log2(u)`` to :data:`LOG_FRACTION_BITS` fractional bits (an error below ``2**-19``, far
below the resolution that matters for who is drawn), weights to :data:`WEIGHT_FRACTION_BITS`
fractional bits. The smallest keys win; ties break on index (stable sort).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from ranking.errors import InvalidParameters

__all__ = [
    "LOG_FRACTION_BITS",
    "UNIFORM_BITS",
    "WEIGHT_FRACTION_BITS",
    "exact_weighted_sample",
    "fixed_neg_log2",
]

#: bits of the uniform integer ``u`` in ``[1, 2**UNIFORM_BITS)``
UNIFORM_BITS = 53
#: fractional bits of the fixed-point ``-log2(u / 2**UNIFORM_BITS)``
LOG_FRACTION_BITS = 20
#: fractional bits of the fixed-point weights
WEIGHT_FRACTION_BITS = 16
#: largest weight accepted (fixed point keeps the key inside int64)
MAX_WEIGHT = 1 << 14


def fixed_neg_log2(u: NDArray[np.int64]) -> NDArray[np.int64]:
    """``-log2(u / 2**UNIFORM_BITS)`` in fixed point with :data:`LOG_FRACTION_BITS` fractional
    bits, for integers ``1 <= u < 2**UNIFORM_BITS``, in integer arithmetic only.

    The integer part is the position of the highest set bit; the fraction comes bit by bit from
    repeated squaring of the mantissa (each square an exact integer product, truncated to 30
    fractional bits), the classic shift-and-square binary logarithm. The result is truncated:
    it is at most ``2 * 2**-LOG_FRACTION_BITS`` above the true value, and identical on every
    machine.
    """
    u = np.asarray(u, dtype=np.int64)
    if u.size and (int(u.min()) < 1 or int(u.max()) >= 1 << UNIFORM_BITS):
        raise InvalidParameters(f"u must be in [1, 2**{UNIFORM_BITS})")
    # Highest set bit, by binary search over shifts (integer compares only).
    exponent = np.zeros(u.shape, dtype=np.int64)
    rest = u.copy()
    for shift in (32, 16, 8, 4, 2, 1):
        big = rest >= (np.int64(1) << shift)
        exponent += np.where(big, shift, 0)
        rest = np.where(big, rest >> shift, rest)
    # Mantissa m in [1, 2) as a fixed-point integer with 30 fractional bits: products of two
    # such numbers stay below 2**62, inside int64.
    bits = 30
    up = np.maximum(bits - exponent, 0)
    down = np.maximum(exponent - bits, 0)
    m = (u << up) >> down
    fraction = np.zeros(u.shape, dtype=np.int64)
    for _ in range(LOG_FRACTION_BITS):
        m = (m * m) >> bits
        carry = m >= (np.int64(2) << bits)
        fraction = (fraction << 1) | carry.astype(np.int64)
        m = np.where(carry, m >> 1, m)
    log2_u = (exponent << LOG_FRACTION_BITS) | fraction
    out: NDArray[np.int64] = (np.int64(UNIFORM_BITS) << LOG_FRACTION_BITS) - log2_u
    return out


def exact_weighted_sample(
    rng: np.random.Generator, weights: NDArray[np.float64], k: int
) -> NDArray[np.int64]:
    """``k`` distinct indices drawn without replacement, successively proportional to
    ``weights``, computed in integer arithmetic (see the module docstring).

    ``weights`` must be finite, positive and at most :data:`MAX_WEIGHT`; they are turned into
    fixed point by flooring ``w * 2**WEIGHT_FRACTION_BITS`` (an exact operation on a given
    float: a power-of-two product and a floor). Takes one ``integers`` draw of
    ``len(weights)`` values from ``rng``.
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w)) or (w.size and float(w.min()) <= 0.0):
        raise InvalidParameters("weights must be a finite, positive vector")
    if w.size and float(w.max()) > MAX_WEIGHT:
        raise InvalidParameters(f"weights must be at most {MAX_WEIGHT}")
    if not 0 <= k <= w.shape[0]:
        raise InvalidParameters(f"cannot draw {k} of {w.shape[0]}")
    fixed_w = np.maximum(np.floor(w * float(1 << WEIGHT_FRACTION_BITS)).astype(np.int64), 1)
    u = rng.integers(1, np.int64(1) << UNIFORM_BITS, size=w.shape[0], dtype=np.int64)
    # key = -log2(u) / w, scaled so the quotient keeps 36 more bits than the log: the log is
    # below 53 * 2**20 < 2**26, so the shifted numerator stays below 2**62.
    keys = (fixed_neg_log2(u) << 36) // fixed_w
    order = np.argsort(keys, kind="stable")
    return np.asarray(order[:k], dtype=np.int64)
