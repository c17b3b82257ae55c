"""An embedded local swarm on one machine, behind ``swarmrank up`` and ``swarmrank demo``
(:mod:`node.cli.main.up`).

:class:`LocalSwarm` starts a Ray head locally (a child ``ray start --head``, token
authentication on), N node daemons as separate processes (``swarmrank node run
--ray-address ...``, real gRPC on loopback ports read back from each ready line) and the
OpenAI-compatible HTTP gateway. The first node to join creates the swarm's registry actor
(state file in the state directory). It then writes ``up.json`` in the state directory so that
``ask``, ``status`` and ``ledger verify`` find it. :meth:`LocalSwarm.stop` (Ctrl-C, SIGTERM)
drains the daemons with SIGTERM, stops Ray and removes ``up.json``.

The nodes are heterogeneous on purpose. With the ``sim`` backend (the default) their skills
spread over a range, seeded by node index (:func:`sim_skills`), so a demo question has wrong
candidates for the judges to rank below the right one. With the ``llama`` backend they run the
shipped small models in-process, alternating SmolLM2 135M and Gemma 3 270M with their own seeds
and temperatures (:func:`llama_profile`); the models are verified (and Gemma assembled) once
into ``<state dir>/models``, which every node's ``models`` cache links to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.errors import NodeError
from node.logging import get_logger

log = get_logger("up")
DEFAULT_STATE_DIR = Path("~/.swarmrank/up")
#: hard enough for the weaker simulated nodes to get wrong, so the demo shows a real ranking
DEMO_QUESTION = "What is 4821 x 397?"


#: the backends ``up`` can start nodes with (``openai`` needs a server per node: use node run)
LOCAL_BACKENDS = ("sim", "llama")
#: the shipped models a llama swarm alternates between, node by node
LLAMA_MIX = ("smollm2-135m", "gemma3-270m")
#: round deadlines of a llama swarm: small models on CPUs answer in seconds, not milliseconds
LLAMA_ROUND_SETTINGS = {"round_generate_deadline_ms": 60_000, "round_rank_deadline_ms": 60_000}


class SwarmStartFailed(NodeError):
    """The embedded swarm could not be brought up (the message says which part failed)."""


@dataclass
class NodeProcess:
    """A node daemon started by ``up``."""

    index: int
    process: subprocess.Popen[str]
    data_dir: Path
    address: str = ""
    node_id: str = ""
    metrics: str | None = None
    stderr_path: Path = field(default_factory=Path)


def sim_skills(index: int, nodes: int) -> dict[str, float]:
    """Heterogeneous simulated skills for node ``index`` of ``nodes`` (deterministic)."""
    frac = index / max(1, nodes - 1)
    # Logit-scale skills (see sim.model): generation from weak to strong, judging strong
    # throughout (judging is easier than generating), so wrong candidates appear and lose.
    return {
        "sim_generation_skill": round(0.0 + 2.0 * frac, 3),
        "sim_judging_skill": round(2.5 - 1.0 * frac, 3),
        "sim_position_bias": round(0.1 * ((index % 3) - 1), 3),
        "sim_error_correlation": 0.6,
    }


def llama_profile(index: int, nodes: int, cpus: int | None = None) -> dict[str, object]:
    """Node ``index``'s llama settings: the shipped models in turn (:data:`LLAMA_MIX`), a seed
    of its own, a temperature that differs between the two nodes of each model pair, and an
    even share of the machine's CPUs (deterministic given ``cpus``)."""
    cpus = cpus if cpus is not None else os.cpu_count() or 1
    return {
        "llama_model": LLAMA_MIX[index % len(LLAMA_MIX)],
        "llama_seed": index + 1,
        "llama_temperature": (0.2, 0.7)[(index // len(LLAMA_MIX)) % 2],
        "llama_n_threads": max(1, cpus // max(1, nodes)),
    }


def prepare_llama_models(state_dir: Path, nodes: int) -> Path:
    """Verify (and assemble) the shipped models of a ``nodes``-node llama swarm once, into
    ``<state_dir>/models``, and return that folder.

    Raises
    ------
    SwarmStartFailed
        ``llama-cpp-python`` or one of the models is not installed, or a model does not verify.
    """
    import importlib.util

    from node.backends.llama.runner import INSTALL_HINT
    from node.models import ModelError, resolve_model

    if importlib.util.find_spec("llama_cpp") is None:
        raise SwarmStartFailed(f"backend llama needs llama-cpp-python: {INSTALL_HINT}")
    cache = state_dir / "models"
    for name in sorted({LLAMA_MIX[i % len(LLAMA_MIX)] for i in range(nodes)}):
        try:
            resolve_model(name, cache)
        except ModelError as exc:
            raise SwarmStartFailed(f"model {name}: {exc} (see swarmrank models list)") from exc
    return cache


class LocalSwarm:
    """An embedded swarm: see the module docstring."""

    def __init__(
        self,
        nodes: int = 5,
        state_dir: Path = DEFAULT_STATE_DIR,
        swarm_id: str = "swarmrank-local",
        gateway_port: int = 0,
        fresh: bool = False,
        ready_timeout_s: float = 60.0,
        node_args: tuple[str, ...] = (),
        eviction_timeout_s: float = 6.0,
        heartbeat_interval_s: float = 1.0,
        start_gateway: bool = True,
        per_node_args: tuple[tuple[str, ...], ...] = (),
        backend: str = "sim",
    ) -> None:
        if nodes < 1:
            raise SwarmStartFailed("--nodes must be at least 1")
        if backend not in LOCAL_BACKENDS:
            raise SwarmStartFailed(f"--backend must be one of {', '.join(LOCAL_BACKENDS)}")
        self.backend = backend
        self.n_nodes = nodes
        self.state_dir = Path(state_dir).expanduser()
        self.swarm_id = swarm_id
        self.gateway_port = gateway_port
        self.fresh = fresh
        self.ready_timeout_s = ready_timeout_s
        self.node_args = node_args
        self.eviction_timeout_s = eviction_timeout_s
        self.heartbeat_interval_s = heartbeat_interval_s
        self.start_gateway = start_gateway
        # extra arguments for node i (e.g. its --set=sim_* profile), after node_args so they win
        if per_node_args and len(per_node_args) != nodes:
            raise SwarmStartFailed(f"per_node_args has {len(per_node_args)} entries, not {nodes}")
        self.per_node_args = per_node_args
        self.nodes: list[NodeProcess] = []
        self.gateway: Any = None
        self.ray_address = ""
        self._ray_head: subprocess.Popen[bytes] | None = None
        self._env: dict[str, str] = {}
        self._commands: dict[int, list[str]] = {}

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def _start_ray(self) -> None:
        """Start a Ray head as a child process (``ray start --head --block``).

        Ray's own security model: whoever reaches its ports runs code, so token
        authentication is on; the token is written 0600 into the state directory and handed to
        the node daemons in their environment. This process never becomes a Ray driver, so
        stopping the child stops the cluster and nothing of Ray lingers here.
        """
        token = secrets.token_hex(32)
        token_path = self.state_dir / "ray_token"
        token_path.unlink(missing_ok=True)
        fd = os.open(token_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(token)
        self._env = {
            "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN": token,
            "RAY_USAGE_STATS_ENABLED": "0",
        }
        port = _free_port()
        ray_bin = str(Path(sys.executable).with_name("ray"))
        log_path = self.state_dir / "ray-head.log"
        self._ray_head = subprocess.Popen(
            [
                ray_bin,
                "start",
                "--head",
                "--block",
                "--port",
                str(port),
                "--num-cpus",
                "2",
                "--include-dashboard",
                "false",
                "--disable-usage-stats",
            ],
            stdout=log_path.open("a"),
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **self._env},
            start_new_session=True,
        )
        self.ray_address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + self.ready_timeout_s
        while not _port_open("127.0.0.1", port):
            if self._ray_head.poll() is not None:
                raise SwarmStartFailed(f"the Ray head exited early; see {log_path}")
            if time.monotonic() > deadline:
                raise SwarmStartFailed(f"the Ray head did not start in time; see {log_path}")
            time.sleep(0.2)

    def _spawn_node(self, index: int) -> NodeProcess:
        data_dir = self.state_dir / f"node-{index}"
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = self._node_settings(index, data_dir)
        command = [
            sys.executable,
            "-m",
            "node.cli",
            "node",
            "run",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            str(data_dir),
            "--key",
            str(data_dir / "node.key"),
            "--init-key",
            "--swarm-id",
            self.swarm_id,
            "--backend",
            self.backend,
            "--ray-address",
            self.ray_address,
            *(f"--set={k}={v}" for k, v in settings.items()),
            f"--set=heartbeat_interval_s={self.heartbeat_interval_s}",
            f"--set=eviction_timeout_s={self.eviction_timeout_s}",
            f"--set=registry_state_path={self.state_dir / 'registry.json'}",
            *self.node_args,
            *(self.per_node_args[index] if self.per_node_args else ()),
        ]
        self._commands[index] = command
        stderr_path = data_dir / "node.log"
        env = {**os.environ, **self._env, "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=stderr_path.open("a"),
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,  # Ctrl-C reaches only `up`, which then drains the nodes
        )
        return NodeProcess(index, process, data_dir, stderr_path=stderr_path)

    def _node_settings(self, index: int, data_dir: Path) -> dict[str, object]:
        """Node ``index``'s backend profile (before ``node_args``, which win over it)."""
        if self.backend == "sim":
            return {**sim_skills(index, self.n_nodes), "sim_seed": index + 1}
        models = data_dir / "models"
        if not models.exists() and not models.is_symlink():
            models.symlink_to(self.state_dir / "models", target_is_directory=True)
        return {**LLAMA_ROUND_SETTINGS, **llama_profile(index, self.n_nodes)}

    @staticmethod
    def _read_ready(node: NodeProcess, deadline: float) -> None:
        assert node.process.stdout is not None  # we created it with stdout=PIPE
        while time.monotonic() < deadline:
            line = node.process.stdout.readline()
            if not line:
                raise SwarmStartFailed(
                    f"node {node.index} exited with code {node.process.wait()} before it was "
                    f"ready; see {node.stderr_path}"
                )
            with contextlib.suppress(json.JSONDecodeError):
                event = json.loads(line)
                if isinstance(event, dict) and event.get("event") == "ready":
                    node.address = event["address"]
                    node.node_id = event["node_id"]
                    node.metrics = event.get("metrics")
                    return
        raise SwarmStartFailed(f"node {node.index} not ready in time; see {node.stderr_path}")

    async def start(self) -> None:
        """Bring everything up; on any failure, tear down what started and raise."""
        if self.fresh and self.state_dir.exists():
            shutil.rmtree(self.state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        (self.state_dir / "registry.json").unlink(missing_ok=True)  # a new Ray, a new registry
        try:
            if self.backend == "llama":
                await asyncio.to_thread(prepare_llama_models, self.state_dir, self.n_nodes)
            self._start_ray()  # main thread: Ray installs its signal handlers there
            self.nodes = [self._spawn_node(i) for i in range(self.n_nodes)]
            deadline = time.monotonic() + self.ready_timeout_s
            await asyncio.gather(
                *(asyncio.to_thread(self._read_ready, n, deadline) for n in self.nodes)
            )
            await self._wait_registered(deadline)
            if self.start_gateway:
                from node.gateway.app import Gateway

                self.gateway = Gateway(self.addresses)
                await self.gateway.start("127.0.0.1", self.gateway_port)
            self._write_state()
        except BaseException:
            await self.stop()
            raise

    async def _wait_registered(self, deadline: float) -> None:
        """Wait until every node sees every other node (its Status lists all members)."""
        from node.transport.client import call_status

        wanted = {n.node_id for n in self.nodes}
        while True:
            views = await asyncio.gather(
                *(call_status(n.address) for n in self.nodes), return_exceptions=True
            )
            if all(
                not isinstance(v, BaseException) and wanted <= {m.node_id for m in v.members}
                for v in views
            ):
                return
            if time.monotonic() > deadline:
                raise SwarmStartFailed("nodes did not all see each other through the registry")
            await asyncio.sleep(0.3)

    def _write_state(self) -> None:
        state = {
            "swarm_id": self.swarm_id,
            "pid": os.getpid(),
            "ray_address": self.ray_address,
            "gateway_url": self.gateway.url if self.gateway is not None else None,
            "nodes": [
                {
                    "index": n.index,
                    "node_id": n.node_id,
                    "address": n.address,
                    "metrics": n.metrics,
                    "data_dir": str(n.data_dir),
                    "pid": n.process.pid,
                    "log": str(n.stderr_path),
                }
                for n in self.nodes
            ],
        }
        path = self.state_dir / "up.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp, path)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Drain and stop the nodes, the gateway and Ray; remove ``up.json``."""
        (self.state_dir / "up.json").unlink(missing_ok=True)
        if self.gateway is not None:
            await self.gateway.stop()
            self.gateway = None
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for node in self.nodes:
            remaining = max(0.1, deadline - time.monotonic())
            try:
                await asyncio.to_thread(node.process.wait, remaining)
            except subprocess.TimeoutExpired:
                node.process.kill()
                await asyncio.to_thread(node.process.wait)
            if node.process.stdout is not None:
                node.process.stdout.close()
        self.nodes = []
        if self._ray_head is not None:
            if self._ray_head.poll() is None:
                self._ray_head.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(self._ray_head.wait, grace_s)
            except subprocess.TimeoutExpired:
                self._ray_head.kill()
                await asyncio.to_thread(self._ray_head.wait)
            self._ray_head = None

    def node_command(self, index: int) -> list[str]:
        """The command line node ``index`` was started with (tests restart nodes with it)."""
        return list(self._commands[index])


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0
