"""The node daemon as an operator runs it: ``swarmrank node run`` in a subprocess.

Covers the ready line (bound ports read back, never guessed), health and reflection, signed
Generate / Rank replies from the sim backend, /metrics, SIGTERM drain, restart after SIGKILL
(ledger and replay guard intact), secrets absent from logs, and one-line config errors.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import select
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from prometheus_client.parser import text_string_to_metric_families

from node.errors import Rejected
from node.ledger.store import Store
from node.testing import make_query, make_rank_request
from node.transport.client import PeerClient
from protocol.hashing import payload_hash
from protocol.identity import load_identity
from protocol.signing import SystemClock, Verifier, seal
from protocol.testing import test_identity
from protocol.v1 import envelope_pb2, messages_pb2

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SWARM = "proc-swarm"
LEADER = test_identity(21)
CLOCK = SystemClock()
START_TIMEOUT_S = 30.0
needs_sim = pytest.mark.skipif(
    importlib.util.find_spec("sim.model") is None, reason="sim.model (the sim backend) is missing"
)


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    ready: dict[str, object]
    log_path: Path
    key_path: Path
    data_dir: Path

    @property
    def address(self) -> str:
        return str(self.ready["address"])

    @property
    def node_id(self) -> str:
        return str(self.ready["node_id"])

    def logs(self) -> str:
        return self.log_path.read_text()


def daemon_cmd(tmp_path: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "node.cli",
        "node",
        "run",
        "--listen",
        "127.0.0.1:0",
        "--metrics",
        "127.0.0.1:0",
        "--data-dir",
        str(tmp_path / "data"),
        "--key",
        str(tmp_path / "node.key"),
        "--swarm-id",
        SWARM,
        *extra,
    ]


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SWARMRANK_")}


def start_daemon(tmp_path: Path, *extra: str) -> Daemon:
    log_path = tmp_path / f"daemon-{len(list(tmp_path.glob('daemon-*.log')))}.log"
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen(
            daemon_cmd(tmp_path, "--init-key", *extra),
            cwd=ROOT,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=log_file,
        )
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
    if not readable:
        proc.kill()
        pytest.fail(f"daemon not ready in {START_TIMEOUT_S} s: {log_path.read_text()}")
    line = proc.stdout.readline()
    if not line:
        proc.wait(5)
        pytest.fail(f"daemon exited with {proc.returncode}: {log_path.read_text()}")
    ready = json.loads(line)
    assert ready["event"] == "ready"
    return Daemon(proc, ready, log_path, tmp_path / "node.key", tmp_path / "data")


def stop(daemon: Daemon) -> None:
    if daemon.proc.poll() is None:
        daemon.proc.kill()
        daemon.proc.wait(10)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[Daemon]:
    # a little model latency so that SIGTERM finds a call in flight to drain
    d = start_daemon(tmp_path, "--set", "sim_latency_ms=300")
    yield d
    stop(d)


def metric_value(url: str, name: str, labels: dict[str, str]) -> float:
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


def rank_request_for(node_id: str, query: envelope_pb2.Envelope) -> envelope_pb2.Envelope:
    answers = ["42", "41", "24"]
    return make_rank_request(
        LEADER, SWARM, CLOCK, query, answers, {node_id: [(0, 1), (1, 0), (1, 2), (2, 0)]}
    )


@needs_sim
async def test_daemon_serves_signed_replies_health_reflection_metrics(daemon: Daemon) -> None:
    host, _, port = daemon.address.rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    metrics_url = str(daemon.ready["metrics"])
    assert metrics_url.startswith("http://127.0.0.1:") and not metrics_url.endswith(":0/metrics")

    with grpc.insecure_channel(daemon.address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "protocol.v1.NodeService"):
            reply = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        services = ProtoReflectionDescriptorDatabase(channel).get_services()
        assert "protocol.v1.NodeService" in services
        assert "grpc.health.v1.Health" in services

    before = metric_value(
        metrics_url, "swarmrank_node_requests_total", {"method": "Generate", "status": "OK"}
    )
    verifier = Verifier(SWARM)
    async with PeerClient(daemon.address, verifier, expected_node_id=daemon.node_id) as client:
        info = await client.call_get_info(b"hello")
        assert info.message.model == "swarmrank-sim"
        query = make_query(
            LEADER, SWARM, CLOCK, generator_ids=[daemon.node_id], ranker_ids=[daemon.node_id]
        )
        candidate = await client.call_generate(query)
        # independently re-verify the signed reply bytes
        again = Verifier(SWARM).verify(candidate.envelope.SerializeToString())
        assert again.signer_id == daemon.node_id
        assert again.message.query_hash == payload_hash(query)
        assert again.message.answer
        ballot = await client.call_rank(rank_request_for(daemon.node_id, query))
        assert len(ballot.message.verdicts) == 4
        assert all(v.outcome != messages_pb2.OUTCOME_UNSPECIFIED for v in ballot.message.verdicts)
        with pytest.raises(Rejected) as refused:
            forged = make_query(LEADER, SWARM, CLOCK, generator_ids=[daemon.node_id])
            forged.signature = bytes(64)
            await client.call_generate(forged)
        assert refused.value.status == "UNAUTHENTICATED"

    after = metric_value(
        metrics_url, "swarmrank_node_requests_total", {"method": "Generate", "status": "OK"}
    )
    assert after == before + 1
    assert (
        metric_value(
            metrics_url, "swarmrank_node_rejected_envelopes_total", {"reason": "invalid_signature"}
        )
        == 1
    )
    assert (
        metric_value(metrics_url, "swarmrank_node_backend_latency_seconds_count", {"op": "judge"})
        == 4
    )

    # SIGTERM while a Generate is in flight: the call completes, then the daemon exits 0
    async with PeerClient(daemon.address, verifier) as client:
        in_flight = asyncio.create_task(
            client.call_generate(make_query(LEADER, SWARM, CLOCK, generator_ids=[daemon.node_id]))
        )
        await asyncio.sleep(0.1)
        daemon.proc.send_signal(signal.SIGTERM)
        assert (await in_flight).message.answer
    assert await asyncio.to_thread(daemon.proc.wait, 15) == 0
    logs = daemon.logs()
    lines = [json.loads(line) for line in logs.splitlines()]
    qid = messages_pb2.Query.FromString(query.payload).context.query_id.hex()
    assert any(line.get("query_id") == qid for line in lines)
    identity = load_identity(daemon.key_path)
    secret_hex = identity.private_key.private_bytes_raw().hex()
    assert "PRIVATE KEY" not in logs and secret_hex not in logs
    assert identity.private_pem().decode() not in logs
    assert (daemon.key_path.stat().st_mode & 0o777) == 0o600


@needs_sim
async def test_restart_after_sigkill_keeps_ledger_and_replay_guard(tmp_path: Path) -> None:
    first = start_daemon(tmp_path)
    qid = os.urandom(16)
    query = make_query(
        LEADER,
        SWARM,
        CLOCK,
        generator_ids=[first.node_id],
        ranker_ids=[first.node_id],
        query_id=qid,
    )
    rank_request = rank_request_for(first.node_id, query)
    record = seal(
        LEADER,
        envelope_pb2.KIND_CONSENSUS_RECORD,
        messages_pb2.ConsensusRecord(
            context=messages_pb2.MessageContext(swarm_id=SWARM, query_id=qid),
            leader_id=LEADER.node_id,
        ),
        SWARM,
    )
    try:
        async with PeerClient(first.address, Verifier(SWARM)) as client:
            candidate = await client.call_generate(query)
            ballot = await client.call_rank(rank_request)
        # a second connection appends to the ledger while the daemon runs (WAL)
        with Store(first.data_dir / "node.sqlite3") as store:
            store.append_record(0, payload_hash(record), b"", record.SerializeToString())
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
    assert first.proc.returncode == -signal.SIGKILL

    second = start_daemon(tmp_path)
    try:
        assert second.node_id == first.node_id
        async with PeerClient(second.address, Verifier(SWARM)) as client:
            records = await client.call_get_records(0)
            assert [r.SerializeToString() for r in records] == [record.SerializeToString()]
            # a pre-crash envelope replayed byte for byte gets the very same signed reply
            # (documented idempotence: no second backend call, no second signature)
            replayed = await client.call_generate(query)
            assert replayed.envelope.SerializeToString() == candidate.envelope.SerializeToString()
            replayed_ballot = await client.call_rank(rank_request)
            assert (
                replayed_ballot.envelope.SerializeToString() == ballot.envelope.SerializeToString()
            )
            # a different payload under the pre-crash (leader, kind, query id) is refused
            conflicting = make_query(
                LEADER,
                SWARM,
                CLOCK,
                question="What is 2 + 2?",
                generator_ids=[second.node_id],
                query_id=qid,
            )
            with pytest.raises(Rejected) as refused:
                await client.call_generate(conflicting)
            assert (refused.value.status, refused.value.reason) == (
                "ALREADY_EXISTS",
                "equivocation",
            )
        url = str(second.ready["metrics"])
        assert (
            metric_value(url, "swarmrank_node_replies_replayed_total", {"method": "Generate"}) == 1
        )
        assert metric_value(url, "swarmrank_node_backend_calls_total", {"op": "generate"}) == 0
        assert metric_value(url, "swarmrank_node_ledger_height", {}) == 1
    finally:
        stop(second)
    with Store(tmp_path / "data" / "node.sqlite3") as store:
        evidence = store.rejected("evidence")
        assert [e.reason for e in evidence] == ["equivocation"]


@pytest.mark.parametrize(
    ("flags", "env", "field", "accepted"),
    [
        (["--backend", "gpt"], {}, "backend", "one of sim, openai"),
        (["--listen", "nowhere"], {}, "listen_address", "host:port"),
        ([], {"SWARMRANK_SIM_POSITION_BIAS": "2"}, "sim_position_bias", "from -1 to 1"),
        (["--set", "max_concurrent_rpcs=lots"], {}, "max_concurrent_rpcs", "an integer"),
        (["--log-level", "chatty"], {}, "log_level", "one of debug, info, warning, error"),
    ],
)
def test_invalid_config_is_one_line_naming_the_field(
    tmp_path: Path, flags: list[str], env: dict[str, str], field: str, accepted: str
) -> None:
    result = subprocess.run(
        daemon_cmd(tmp_path, *flags),
        cwd=ROOT,
        env={**clean_env(), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert field in lines[0] and accepted in lines[0]


def test_missing_key_without_init_key_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        daemon_cmd(tmp_path), cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "no key file" in result.stderr and "--init-key" in result.stderr
    assert not (tmp_path / "node.key").exists()
