"""Unit tests are pure: no network sockets and no Ray. An autouse fixture makes any attempt to
bind or connect an inet socket fail loudly, which also catches ``ray.init`` (it opens ports)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest


class NetworkForbiddenError(RuntimeError):
    """Raised when a unit test tries to use the network."""


@pytest.fixture(autouse=True)
def _forbid_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    real_bind = socket.socket.bind
    real_connect = socket.socket.connect

    def guarded_bind(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise NetworkForbiddenError(
                "unit tests may not bind inet sockets; use tests/integration"
            )
        real_bind(self, address)  # type: ignore[arg-type]

    def guarded_connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            raise NetworkForbiddenError("unit tests may not connect; use tests/integration")
        real_connect(self, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "bind", guarded_bind)
    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield
