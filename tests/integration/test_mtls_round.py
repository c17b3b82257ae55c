"""Whole rounds over mutual TLS (issue 6, Done-when 6): with certificates from the swarm's CA
rounds work; a leader whose client presents no certificate is refused by every peer."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.backends.sim import SimBackend
from node.errors import RoundFailed
from node.round.settings import RoundSettings
from node.testing import in_process_swarm
from node.transport.tls import channel_credentials, issue_node_certificate, new_ca, private_key_pem
from node.transport.tls import server_credentials as make_server_credentials
from protocol.testing import test_identity

pytestmark = pytest.mark.integration
N = 4


def _pki() -> tuple[list[object], list[object], bytes]:
    from cryptography.hazmat.primitives import serialization

    ca_cert, ca_key = new_ca()
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    servers, clients = [], []
    for i in range(N):
        cert, key = issue_node_certificate(ca_cert, ca_key, test_identity(i))
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        key_pem = private_key_pem(key)
        servers.append(make_server_credentials(cert_pem, key_pem, ca_pem, require_client_auth=True))
        clients.append(channel_credentials(ca_pem, cert_pem, key_pem))
    return servers, clients, ca_pem


SETTINGS = RoundSettings(generate_deadline_ms=3000, rank_deadline_ms=3000)


async def test_rounds_work_over_mtls(tmp_path: Path) -> None:
    servers, clients, _ = _pki()
    backends = [SimBackend(seed=i, generation_skill=2.0, judging_skill=3.0) for i in range(N)]
    async with in_process_swarm(
        tmp_path,
        backends,
        settings=SETTINGS,
        server_credentials=servers,
        channel_credentials=clients,
    ) as swarm:
        result = await swarm.nodes[0].ask("What is 21 + 21?")
        assert result.response.answer
        assert not result.response.absent
        await swarm.settle(1)
        assert {n.store.head() for n in swarm.nodes} == {swarm.nodes[0].store.head()}


async def test_leader_without_client_certificate_is_refused(tmp_path: Path) -> None:
    servers, clients, ca_pem = _pki()
    no_cert = channel_credentials(ca_pem)  # trusts the CA but presents nothing
    backends = [SimBackend(seed=i, generation_skill=2.0, judging_skill=3.0) for i in range(N)]
    async with in_process_swarm(
        tmp_path,
        backends,
        settings=SETTINGS,
        server_credentials=servers,
        channel_credentials=[no_cert, *clients[1:]],
    ) as swarm:
        leader = swarm.nodes[0]
        with pytest.raises(RoundFailed):
            # Every peer, the leader's own server included, refuses the handshake, so no
            # generator answers and the round cannot reach its quorum.
            await leader.ask("What is 21 + 21?")
        assert all(n.store.head()[0] == 0 for n in swarm.nodes)
        # The same swarm with proper certificates on the next leader works.
        result = await swarm.nodes[1].ask("What is 21 + 21?")
        assert result.response.answer
