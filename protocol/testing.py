"""Public test doubles for code built on the protocol (like ``trio.testing``).

``FakeClock`` is a settable :class:`~protocol.signing.Clock`; ``test_identity(i)`` returns the
same Ed25519 identity for the same ``i`` on every run and machine.
"""

from __future__ import annotations

import hashlib

from protocol.identity import Identity


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now_ms: int = 1_800_000_000_000) -> None:
        self.now_ms = now_ms

    def time_ms(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        """Move time forward by ``ms`` milliseconds (negative moves it back)."""
        self.now_ms += ms


def test_identity(index: int) -> Identity:
    """A deterministic identity for tests and simulations; never use it for a real node."""
    return Identity.from_seed(hashlib.sha256(b"swarmrank-test-identity-%d" % index).digest())


test_identity.__test__ = False  # type: ignore[attr-defined]  # not a pytest test
