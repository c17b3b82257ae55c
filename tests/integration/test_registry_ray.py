"""Issue 20, finding 9, through Ray: the registry actor refuses what its pure functions refuse
(an unsigned or replayed call), and a flood of lease requests stays under the caps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.membership.registry import (
    MAX_LEASES_PER_HOLDER,
    deregistration_beat,
    get_or_create_registry,
    lease_request,
    registration_info,
)
from protocol.signing import SystemClock, seal
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2, messages_pb2

pytestmark = [pytest.mark.integration, pytest.mark.ray, pytest.mark.slow]

SWARM = "registry-ray-test"


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    ray = pytest.importorskip("ray")
    # address="local": a fresh instance of our own, never a cluster someone else started here
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        namespace="swarmrank",
    )
    try:
        yield ray
    finally:
        ray.shutdown()


def node_info(index: int) -> bytes:
    identity = test_identity(index)
    info = messages_pb2.NodeInfo(
        context=messages_pb2.MessageContext(swarm_id=SWARM, timestamp_ms=SystemClock().time_ms()),
        node_id=identity.node_id,
        public_key=identity.public_key,
        address=f"127.0.0.1:{7000 + index}",
        model="sim",
    )
    return bytes(seal(identity, envelope_pb2.KIND_NODE_INFO, info, SWARM).SerializeToString())


def test_the_registry_actor_refuses_unsigned_and_replayed_calls(
    ray_local: Any, tmp_path: Path
) -> None:
    ray = ray_local
    registry = get_or_create_registry(SWARM, str(tmp_path / "registry.json"), 60.0)
    a, b = test_identity(1), test_identity(2)
    # A GetInfo-style NodeInfo (no registration purpose) registers nothing.
    with pytest.raises(ray.exceptions.RayTaskError, match="not signed for this purpose"):
        ray.get(registry.register.remote(node_info(1)))
    # explicit signing times, one apart: within one millisecond they would read as replays
    t = SystemClock().time_ms()
    for index, identity in ((1, a), (2, b)):
        ray.get(registry.register.remote(registration_info(identity, SWARM, node_info(index), t)))
    bye = deregistration_beat(b, SWARM, t + 1)
    ray.get(registry.deregister.remote(bye))
    ray.get(registry.register.remote(registration_info(b, SWARM, node_info(2), t + 2)))
    with pytest.raises(ray.exceptions.RayTaskError, match="replay"):
        ray.get(registry.deregister.remote(bye))  # the captured goodbye does not work twice
    assert {m["node_id"] for m in ray.get(registry.members.remote())} == {a.node_id, b.node_id}

    # One member asking for 200 future heights with an endless TTL gets only its cap; the
    # other member still leads.
    now = SystemClock().time_ms()
    granted = ray.get(
        [registry.reserve.remote(lease_request(a, SWARM, h, 10**15, now + h)) for h in range(200)]
    )
    assert sum(granted) == MAX_LEASES_PER_HOLDER
    assert ray.get(registry.reserve.remote(lease_request(b, SWARM, 500, 60_000, now)))
    outsider = test_identity(9)
    with pytest.raises(ray.exceptions.RayTaskError, match="not a registered member"):
        ray.get(registry.reserve.remote(lease_request(outsider, SWARM, 501, 60_000, now)))
