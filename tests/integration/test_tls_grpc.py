"""Transport security over real gRPC on 127.0.0.1:0 ("Done when" 6): plaintext on loopback,
server TLS, and mutual TLS, where a client without a valid certificate is refused at the
handshake (PeerUnavailable, no model call) and one with a certificate from the swarm CA gets
Generate and Rank answered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives import serialization

from node.errors import PeerUnavailable
from node.ledger.store import Store
from node.swarm.peer import Node
from node.testing import FakeBackend, make_query, make_rank_request
from node.transport.client import PeerClient
from node.transport.server import NodeServer
from node.transport.tls import (
    channel_credentials,
    issue_node_certificate,
    new_ca,
    private_key_pem,
    server_credentials,
)
from protocol.signing import SystemClock, Verifier
from protocol.testing import test_identity

pytestmark = pytest.mark.integration

SWARM = "tls-swarm"
LEADER = test_identity(31)
ME = test_identity(32)
CLOCK = SystemClock()


def _pem(cert: object) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)  # type: ignore[attr-defined,no-any-return]


@dataclass(frozen=True)
class Pki:
    ca: bytes
    server_cert: bytes
    server_key: bytes
    client_cert: bytes
    client_key: bytes
    rogue_ca: bytes
    rogue_cert: bytes
    rogue_key: bytes


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_cert, ca_key = new_ca()
    server_cert, server_key = issue_node_certificate(ca_cert, ca_key, ME)
    client_cert, client_key = issue_node_certificate(ca_cert, ca_key, LEADER)
    rogue_ca_cert, rogue_ca_key = new_ca("someone else's CA")
    rogue_cert, rogue_key = issue_node_certificate(rogue_ca_cert, rogue_ca_key, LEADER)
    return Pki(
        ca=_pem(ca_cert),
        server_cert=_pem(server_cert),
        server_key=private_key_pem(server_key),
        client_cert=_pem(client_cert),
        client_key=private_key_pem(client_key),
        rogue_ca=_pem(rogue_ca_cert),
        rogue_cert=_pem(rogue_cert),
        rogue_key=private_key_pem(rogue_key),
    )


@dataclass
class Served:
    server: NodeServer
    backend: FakeBackend

    def client(self, credentials: grpc.ChannelCredentials | None) -> PeerClient:
        return PeerClient(
            self.server.address,
            Verifier(SWARM),
            expected_node_id=ME.node_id,
            call_timeout_s=5,
            channel_credentials=credentials,
        )


async def _serve(tmp_path: Path, credentials: grpc.ServerCredentials | None) -> Served:
    backend = FakeBackend()
    node = Node(ME, Verifier(SWARM, window_ms=60_000), backend, Store(tmp_path / "db.sqlite3"))
    server = NodeServer(node, listen_address="127.0.0.1:0", server_credentials=credentials)
    await server.start()
    return Served(server, backend)


@pytest.fixture
async def mtls(tmp_path: Path, pki: Pki) -> AsyncIterator[Served]:
    creds = server_credentials(pki.server_cert, pki.server_key, pki.ca, require_client_auth=True)
    served = await _serve(tmp_path, creds)
    yield served
    await served.server.stop(0)
    served.server.node.store.close()


async def _round_trip(client: PeerClient) -> None:
    """Generate then Rank, asserting signed replies."""
    query = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id], ranker_ids=[ME.node_id])
    candidate = await client.call_generate(query)
    assert candidate.message.answer == "42"
    request = make_rank_request(LEADER, SWARM, CLOCK, query, ["1", "2"], {ME.node_id: [(0, 1)]})
    ballot = await client.call_rank(request)
    assert ballot.signer_id == ME.node_id and len(ballot.message.verdicts) == 1


async def test_plaintext_on_loopback(tmp_path: Path) -> None:
    served = await _serve(tmp_path, None)
    try:
        async with served.client(None) as client:
            await _round_trip(client)
        assert len(served.backend.calls) == 2
    finally:
        await served.server.stop(0)
        served.server.node.store.close()


async def test_mtls_with_a_valid_certificate_rounds_work(mtls: Served, pki: Pki) -> None:
    creds = channel_credentials(pki.ca, pki.client_cert, pki.client_key)
    async with mtls.client(creds) as client:
        await _round_trip(client)
    assert [op for op, _ in mtls.backend.calls] == ["generate", "judge"]


@pytest.mark.parametrize("who", ["no certificate", "foreign CA certificate", "plaintext"])
async def test_mtls_refuses_a_client_without_a_valid_certificate(
    mtls: Served, pki: Pki, who: str
) -> None:
    credentials = {
        "no certificate": channel_credentials(pki.ca),
        "foreign CA certificate": channel_credentials(pki.ca, pki.rogue_cert, pki.rogue_key),
        "plaintext": None,
    }[who]
    async with mtls.client(credentials) as client:
        query = make_query(LEADER, SWARM, CLOCK, generator_ids=[ME.node_id])
        with pytest.raises(PeerUnavailable):
            await client.call_generate(query, timeout_s=5)
        with pytest.raises(PeerUnavailable):
            await client.call_get_info(b"c", timeout_s=5)
    assert mtls.backend.calls == []


async def test_client_refuses_a_server_from_another_ca(tmp_path: Path, pki: Pki) -> None:
    served = await _serve(
        tmp_path, server_credentials(pki.rogue_cert, pki.rogue_key, require_client_auth=False)
    )
    try:
        async with served.client(channel_credentials(pki.ca)) as client:
            with pytest.raises(PeerUnavailable):
                await client.call_get_info(b"c", timeout_s=5)
    finally:
        await served.server.stop(0)
        served.server.node.store.close()


async def test_server_tls_without_client_certificates(tmp_path: Path, pki: Pki) -> None:
    creds = server_credentials(pki.server_cert, pki.server_key, require_client_auth=False)
    served = await _serve(tmp_path, creds)
    try:
        async with served.client(channel_credentials(pki.ca)) as client:
            await _round_trip(client)
        # The same server refuses plaintext.
        async with served.client(None) as client:
            with pytest.raises(PeerUnavailable):
                await client.call_get_info(b"c", timeout_s=5)
    finally:
        await served.server.stop(0)
        served.server.node.store.close()
