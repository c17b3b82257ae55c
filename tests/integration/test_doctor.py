"""``swarmrank doctor`` against a real node: a Ray head with token auth on loopback, one node
daemon joined to it, and an OpenAI-compatible FakeChatServer as the model backend.

Checks the healthy pass and one specific failure, with its fix, for each of: wrong key
permissions, unreachable backend, unreachable Ray, Ray auth off, clock skew (injected), gRPC port
not reachable, and a node id already registered from another address. Cases that need Ray run
doctor as a subprocess (the operator's view, with the token in its environment); the others
call the CLI in-process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from node.cli.main import main
from node.daemon.doctor import assess_clock_skew, assess_key_file, assess_registry
from node.testing import FakeChatServer
from protocol.identity import Identity, save_identity

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
SWARM = "doctor-swarm"
START_TIMEOUT_S = 60.0


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_tcp(port: int, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def _stop_groups(procs: list[subprocess.Popen[Any]], grace_s: float = 5.0) -> None:
    """SIGTERM the process groups we started (new sessions), then SIGKILL what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace_s
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))


@dataclass
class Swarm:
    env: dict[str, str]  # environment with the Ray token
    ray_address: str
    node_address: str
    key_path: Path
    work: Path


@pytest.fixture(scope="module")
def swarm() -> Iterator[Swarm]:
    work = Path(tempfile.mkdtemp(prefix="srdoc"))  # short: Ray's socket paths are limited
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    port = _closed_port()
    procs: list[subprocess.Popen[Any]] = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    str(Path(sys.executable).with_name("ray")),
                    "start",
                    "--head",
                    "--block",
                    "--node-ip-address=127.0.0.1",
                    f"--port={port}",
                    "--num-cpus=1",
                    "--include-dashboard=false",
                    "--disable-usage-stats",
                    f"--temp-dir={work / 'ray'}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=(work / "ray.log").open("w"),
                env=env,
                start_new_session=True,
            )
        )
        _wait_tcp(port, START_TIMEOUT_S)
        ray_address = f"127.0.0.1:{port}"
        data = work / "node"
        node = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "node.cli",
                "node",
                "run",
                f"--ray-address={ray_address}",
                "--listen=127.0.0.1:0",
                f"--data-dir={data}",
                f"--key={data / 'node.key'}",
                "--init-key",
                f"--swarm-id={SWARM}",
                "--metrics=",
                "--set=shutdown_grace_s=1",
            ],
            stdout=subprocess.PIPE,
            stderr=(work / "node.log").open("w"),
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=ROOT,
            start_new_session=True,
        )
        procs.append(node)
        assert node.stdout is not None  # created with stdout=PIPE
        line = node.stdout.readline()  # the ready line comes after registration with Ray
        if not line:
            raise RuntimeError("node exited: " + (work / "node.log").read_text()[-2000:])
        ready = json.loads(line)
        yield Swarm(env, ray_address, ready["address"], data / "node.key", work)
    finally:
        _stop_groups(procs)
        for proc in procs:
            if proc.stdout is not None:
                proc.stdout.close()
        shutil.rmtree(work, ignore_errors=True)


def _doctor_process(swarm: Swarm, *args: str, env: dict[str, str] | None = None) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "node.cli", "doctor", "--json", f"--swarm-id={SWARM}", *args],
        capture_output=True,
        text=True,
        env=env or swarm.env,
        cwd=ROOT,
        timeout=90,
    )
    return result.returncode, _by_name(json.loads(result.stdout))


def _by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def _doctor_inline(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    code = main(["doctor", "--json", "--timeout=3", f"--swarm-id={SWARM}", *args])
    return code, _by_name(json.loads(capsys.readouterr().out))


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "node.key"
    save_identity(Identity.generate(), path)
    return path


# --- against the running swarm (subprocess, Ray) -----------------------------------------------


@pytest.mark.ray
@pytest.mark.slow
async def test_healthy_node_passes_every_check(swarm: Swarm) -> None:
    async with FakeChatServer() as chat:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "node.cli",
            "doctor",
            "--json",
            f"--swarm-id={SWARM}",
            f"--ray-address={swarm.ray_address}",
            f"--key={swarm.key_path}",
            f"--advertise={swarm.node_address}",
            "--backend=openai",
            f"--set=openai_base_url={chat.base_url}",
            "--set=openai_model=fake-model",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=swarm.env,
            cwd=ROOT,
        )
        out, err = await asyncio.wait_for(proc.communicate(), 90)
        assert chat.chat_requests, "the backend probe reached the model server"
    report = json.loads(out)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert report["ok"] is True
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses == {
        "key_file": "pass",
        "ray": "pass",
        "registry": "pass",
        "numerics": "pass",
        "clock_skew": "pass",
        "grpc_port": "pass",
        "backend": "pass",
    }
    assert "this node is running" in _by_name(report)["registry"]["detail"]


@pytest.mark.ray
@pytest.mark.slow
def test_injected_clock_skew_fails_with_ntp_fix(swarm: Swarm, key: Path) -> None:
    code, checks = _doctor_process(
        swarm, f"--ray-address={swarm.ray_address}", f"--key={key}", "--clock-offset-s=900"
    )
    assert code == 1
    skew = checks["clock_skew"]
    assert skew["status"] == "fail"
    measured = re.search(r"local clock ([+-][0-9.]+) s", skew["detail"])
    assert measured is not None and abs(float(measured.group(1)) - 900) < 5, skew
    assert "replay window ±300 s" in skew["detail"]
    assert "ntp" in skew["fix"]
    assert checks["ray"]["status"] == "pass" and checks["registry"]["status"] == "pass"


@pytest.mark.ray
@pytest.mark.slow
def test_node_id_registered_from_another_address_fails(swarm: Swarm) -> None:
    code, checks = _doctor_process(
        swarm,
        f"--ray-address={swarm.ray_address}",
        f"--key={swarm.key_path}",
        f"--advertise=127.0.0.1:{_closed_port()}",
    )
    assert code == 1
    registry = checks["registry"]
    assert registry["status"] == "fail"
    assert f"already registered from {swarm.node_address}" in registry["detail"]
    assert "swarmrank keys new" in registry["fix"]


def test_unreachable_ray_fails_with_fix(swarm: Swarm, key: Path) -> None:
    port = _closed_port()
    code, checks = _doctor_process(swarm, f"--ray-address=127.0.0.1:{port}", f"--key={key}")
    assert code == 1
    ray_check = checks["ray"]
    assert ray_check["status"] == "fail"
    assert f"127.0.0.1:{port} is not reachable" in ray_check["detail"]
    assert "ray start --head" in ray_check["fix"]
    assert checks["registry"]["status"] == "skip"
    assert checks["numerics"]["status"] == "skip"


# --- local checks (in-process) ------------------------------------------------------------------


def test_ray_without_token_auth_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, key: Path
) -> None:
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    code, checks = _doctor_inline(capsys, "--ray-address=127.0.0.1:1", f"--key={key}")
    assert code == 1
    assert checks["ray"]["status"] == "fail"
    assert "authentication is off" in checks["ray"]["detail"]
    assert "RAY_AUTH_MODE=token" in checks["ray"]["fix"]


def test_wrong_key_permissions_fail_with_chmod_fix(
    capsys: pytest.CaptureFixture[str], key: Path
) -> None:
    key.chmod(0o644)
    code, checks = _doctor_inline(capsys, f"--key={key}")
    assert code == 1
    assert checks["key_file"]["status"] == "fail"
    assert "mode 0644" in checks["key_file"]["detail"]
    assert checks["key_file"]["fix"].startswith(f"chmod 600 {key}")


def test_unreachable_backend_fails_with_fix(capsys: pytest.CaptureFixture[str], key: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    code, checks = _doctor_inline(
        capsys,
        f"--key={key}",
        "--backend=openai",
        f"--set=openai_base_url={url}",
        "--set=openai_model=m",
    )
    assert code == 1
    backend = checks["backend"]
    assert backend["status"] == "fail" and "not healthy" in backend["detail"]
    assert f"start the model server at {url}" in backend["fix"]
    assert checks["key_file"]["status"] == "pass"


def test_unreachable_grpc_port_fails_with_fix(
    capsys: pytest.CaptureFixture[str], key: Path
) -> None:
    address = f"127.0.0.1:{_closed_port()}"
    code, checks = _doctor_inline(capsys, f"--key={key}", f"--advertise={address}")
    assert code == 1
    port = checks["grpc_port"]
    assert port["status"] == "fail" and address in port["detail"]
    assert "--advertise" in port["fix"] and "firewall" in port["fix"]
    assert checks["backend"]["status"] == "pass"  # the sim backend


@pytest.mark.parametrize("same", [True, False])
def test_numerics_compared_with_static_peers(
    swarm: Swarm,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    key: Path,
    same: bool,
) -> None:
    """A stand-alone node (static peers, no Ray) compares its numerics fingerprint with its
    peers' signed NodeInfo; a different install is named (information: records verify across
    float builds)."""
    import node.daemon.doctor

    if not same:
        monkeypatch.setattr(node.daemon.doctor, "numerics_fingerprint", lambda: "0" * 16)
    _code, checks = _doctor_inline(capsys, f"--key={key}", f"--set=peers={swarm.node_address}")
    numerics = checks["numerics"]
    if same:
        assert numerics["status"] == "pass" and "the same as 1 members" in numerics["detail"]
        return
    # another float build passes: records verify across builds (numerics 1)
    assert numerics["status"] == "pass"
    assert "1 of 1 members run another float build" in numerics["detail"]


def test_health_only_reports_serving_and_unreachable(
    swarm: Swarm, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["doctor", "--health-only", swarm.node_address]) == 0
    assert "SERVING" in capsys.readouterr().out
    assert main(["doctor", "--health-only", f"127.0.0.1:{_closed_port()}", "--timeout=2"]) == 1


# --- the pure assessments ------------------------------------------------------------------------


def test_assessments_judge_edges() -> None:
    assert assess_clock_skew([], 300).status == "skip"
    assert assess_clock_skew([299.0, 301.0, 300.0], 300).status == "pass"
    assert assess_clock_skew([-301.0], 300).status == "fail"
    path = Path("/k")
    assert assess_key_file(path, 0o100600, None).status == "pass"
    assert assess_key_file(path, 0o100640, None).status == "fail"
    assert assess_key_file(path, None, None).fix.startswith("create one")
    assert assess_registry("a", "h:1", None).status == "pass"
    assert assess_registry("a", "h:1", [{"node_id": "a", "address": "h:1"}]).status == "pass"
    assert assess_registry("b", "h:1", [{"node_id": "a", "address": "h:1"}]).status == "fail"


def test_unreadable_tls_files_fail_with_fix(
    capsys: pytest.CaptureFixture[str], key: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "absent.pem"
    code, checks = _doctor_inline(
        capsys,
        f"--key={key}",
        "--set=tls_mode=tls",
        f"--set=tls_ca_file={missing}",
        f"--set=tls_cert_file={missing}",
        f"--set=tls_key_file={missing}",
    )
    assert code == 1
    assert checks["tls"]["status"] == "fail" and str(missing) in checks["tls"]["detail"]
    assert "tls_" in checks["tls"]["fix"]
