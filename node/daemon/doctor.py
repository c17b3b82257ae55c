"""The checks behind ``swarmrank doctor``: the self-check an operator runs before (or while)
joining a swarm (the command itself is :mod:`node.cli.main.doctor`).

Each check reads one thing from the outside world and hands it to a pure ``assess_*`` function
that returns a :class:`CheckResult` (pass, fail or skip, what was seen, and the fix), so the
judgement is testable without sockets and the I/O stays at the edge:

==============  ==========================================================================
check           what it looks at
==============  ==========================================================================
tls             (only when the ``tls_*`` settings cannot be loaded; otherwise every gRPC check
                below dials with the node's own TLS credentials)
key_file        the key file exists, parses as Ed25519, and is private (no group/other bits)
ray             ``ray_address`` answers TCP, Ray token authentication is on in this
                environment, and ``ray.init`` connects
registry        the swarm's registry actor exists and no *other* address holds this node id
                (two daemons on one key would equivocate on every round)
numerics        this install's floating-point fingerprint of the round computations
                (:mod:`node.round.numerics`) against every registered member's and static
                peer's: information, since records verify across float builds
                (:mod:`node.round.tolerance`)
clock_skew      this machine's clock against the registry's (the Ray head's) and the other
                members' signed timestamps, which must stay inside ``replay_window_s`` or
                every message of ours is rejected
grpc_port       the advertised gRPC address (the registry's entry for this node if there is
                one) answers the standard health check
backend         the model backend's health probe, then one generation within the probe timeout
==============  ==========================================================================
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import statistics
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from node.config import NodeConfig
from node.errors import NodeError
from node.round.numerics import fingerprint_of, numerics_fingerprint

Status = Literal["pass", "fail", "skip"]
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_PROBE_QUESTION = "What is 2 + 2?"


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check."""

    name: str  # check name, e.g. "key_file"
    status: Status  # "pass", "fail" or "skip" (nothing to check in this configuration)
    detail: str  # what was seen, one line
    fix: str = ""  # what to do about a failure; empty when passing


def _passed(name: str, detail: str) -> CheckResult:
    return CheckResult(name, "pass", detail)


def _failed(name: str, detail: str, fix: str) -> CheckResult:
    return CheckResult(name, "fail", detail, fix)


def _skipped(name: str, detail: str) -> CheckResult:
    return CheckResult(name, "skip", detail)


# --- pure assessments --------------------------------------------------------------------------


def assess_key_file(path: Path, mode: int | None, error: Exception | None) -> CheckResult:
    """Judge the key file from its mode (None = missing) and the error loading it raised."""
    from protocol.errors import KeyFileCorrupt, KeyFileMissing, KeyFilePermissions

    if mode is None or isinstance(error, KeyFileMissing):
        return _failed(
            "key_file",
            f"{path}: no key file",
            f"create one with 'swarmrank keys new --path {path}' (or start the node with "
            "--init-key); restore the old file instead if this node had an identity",
        )
    if mode & 0o077 or isinstance(error, KeyFilePermissions):
        return _failed(
            "key_file",
            f"{path}: mode {stat.S_IMODE(mode):04o} lets other users read the private key",
            f"chmod 600 {path}  (and consider the key leaked: rotate it, see the operator guide)",
        )
    if isinstance(error, PermissionError):
        return _failed(
            "key_file",
            f"{path}: not readable by this user ({error.strerror})",
            f"run as the user that owns {path}, or 'chown' it to that user",
        )
    if isinstance(error, KeyFileCorrupt):
        return _failed(
            "key_file",
            str(error),
            f"restore {path} from backup, or create a new identity with 'swarmrank keys new'",
        )
    if error is not None:
        return _failed("key_file", f"{path}: {error}", f"check {path}")
    return _passed("key_file", f"{path}: Ed25519 key, mode {stat.S_IMODE(mode):04o}")


def assess_ray_auth(environ: Mapping[str, str], home: Path) -> CheckResult | None:
    """A failure when this environment would talk to Ray without token authentication."""
    mode = environ.get("RAY_AUTH_MODE", "")
    if mode != "token":
        return _failed(
            "ray",
            f"Ray token authentication is off here (RAY_AUTH_MODE={mode or 'unset'})",
            "export RAY_AUTH_MODE=token and the cluster's token in RAY_AUTH_TOKEN (or "
            "RAY_AUTH_TOKEN_PATH); a Ray cluster without auth runs anyone's code",
        )
    token_path = environ.get("RAY_AUTH_TOKEN_PATH", "")
    has_token = bool(environ.get("RAY_AUTH_TOKEN")) or (
        Path(token_path).is_file() if token_path else (home / ".ray" / "auth_token").is_file()
    )
    if not has_token:
        return _failed(
            "ray",
            "RAY_AUTH_MODE=token but no token (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, "
            "~/.ray/auth_token)",
            "export RAY_AUTH_TOKEN with the token the head was started with",
        )
    return None


def assess_registry(
    node_id: str, own_address: str, members: Sequence[Mapping[str, Any]] | None
) -> CheckResult:
    """Node id uniqueness from the registry's live members (None = no registry yet)."""
    if members is None:
        return _passed(
            "registry",
            "no registry actor for this swarm yet: the first node to join creates it",
        )
    for member in members:
        if member["node_id"] == node_id and member["address"] != own_address:
            return _failed(
                "registry",
                f"node id {node_id[:16]} is already registered from {member['address']}",
                "each node needs its own key: stop the other daemon using this key, or create "
                "a new identity for this one with 'swarmrank keys new'",
            )
        if member["address"] == own_address and member["node_id"] != node_id:
            return _failed(
                "registry",
                f"{own_address} is registered by another node id {member['node_id'][:16]}",
                "give this node its own advertise address (--advertise HOST:PORT), or stop "
                "the other daemon",
            )
    mine = any(m["node_id"] == node_id for m in members)
    state = "registered (this node is running)" if mine else "not yet registered"
    return _passed(
        "registry", f"node id {node_id[:16]} unique among {len(members)} members; {state}"
    )


def assess_numerics(
    own: str, node_id: str | None, members: Sequence[Mapping[str, Any]] | None
) -> CheckResult:
    """This install's numerics fingerprint against the members' (registered, or static peers;
    see :mod:`node.round.numerics`); members that advertise none (older nodes) are not counted.
    ``members=None``: nobody to compare with (skip)."""
    if members is None:
        return _skipped("numerics", "no registry member or peer to compare with")
    others = [
        (str(m["node_id"]), fingerprint_of(m.get("capabilities", ())))
        for m in members
        if m["node_id"] != node_id
    ]
    differing = [(n, f) for n, f in others if f is not None and f != own]
    compared = sum(1 for _, f in others if f is not None)
    if differing:
        names = ", ".join(f"{n[:12]} ({f})" for n, f in differing[:5])
        # Not a failure since records carry numerics = 1 (node.round.tolerance): selection is
        # exact and aggregation is checked within a tolerance, so honest records verify across
        # builds. Only replaying records made before that (numerics = 0) needs the same build.
        return _passed(
            "numerics",
            f"fingerprint {own}; {len(differing)} of {len(others)} members run another float "
            f"build: {names}. Records verify across builds (numerics 1); only ledgers with "
            "records from before numerics 1 replay bit for bit on one build",
        )
    return _passed("numerics", f"fingerprint {own}, the same as {compared} members")


def assess_clock_skew(skews_s: Sequence[float], window_s: float) -> CheckResult:
    """Judge the clock offsets (local minus peer, seconds) against the replay window."""
    if not skews_s:
        return _skipped("clock_skew", "no reachable peer to compare clocks with")
    skew_s = statistics.median(skews_s)
    detail = (
        f"local clock {skew_s:+.3f} s from the swarm (median of {len(skews_s)} clocks: "
        "registry and peers); "
        f"replay window ±{window_s:g} s"
    )
    if abs(skew_s) > window_s:
        return _failed(
            "clock_skew",
            detail,
            "synchronise the clock (timedatectl set-ntp true, or run chrony/ntpd); peers "
            "reject every message whose timestamp is outside the replay window",
        )
    return _passed("clock_skew", detail)


def assess_grpc_port(address: str, source: str, error: str | None) -> CheckResult:
    """Judge the health check of the address other nodes dial."""
    if error is None:
        return _passed("grpc_port", f"{address} ({source}) answers the gRPC health check")
    return _failed(
        "grpc_port",
        f"{address} ({source}) is not reachable: {error}",
        "start the node ('swarmrank node run'), make --advertise an address other hosts can "
        "dial, and open that TCP port in the firewall",
    )


def assess_backend(
    config: NodeConfig, healthy: bool, probe_error: str | None, probe_s: float, timeout_s: float
) -> CheckResult:
    """Judge the model backend from its health probe and one timed generation."""
    if config.backend == "openai":
        where = config.openai_base_url
        fix = (
            f"start the model server at {config.openai_base_url} (vLLM, llama.cpp server, "
            "Ollama, ...) or correct openai_base_url / openai_model"
        )
    elif config.backend == "llama":
        where = f"in-process llama.cpp model {config.llama_model}"
        fix = (
            "check llama_model (swarmrank models list) and the [llama] settings, or raise "
            "llama_timeout_s"
        )
    else:
        where = "built-in sim model"
        fix = "check the [sim] settings"
    if not healthy:
        return _failed("backend", f"{config.backend} backend at {where} is not healthy", fix)
    if probe_error is not None:
        return _failed("backend", f"{config.backend} backend probe failed: {probe_error}", fix)
    if probe_s > timeout_s:
        return _failed(
            "backend",
            f"probe answered in {probe_s:.1f} s, over the {timeout_s:g} s budget",
            "use a faster model or GPU, or raise generate_timeout_s and the round deadlines",
        )
    return _passed("backend", f"{config.backend} backend at {where} answered in {probe_s:.2f} s")


# --- the I/O edge ------------------------------------------------------------------------------


def check_key_file(config: NodeConfig) -> tuple[CheckResult, str | None]:
    """The key file check and, when it loads, the node id."""
    from protocol.identity import load_identity

    path = config.key_file
    try:
        mode: int | None = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        return _failed("key_file", f"{path}: {exc.strerror}", f"check {path}"), None
    error: Exception | None = None
    node_id = None
    if mode is not None:
        try:
            node_id = load_identity(path).node_id
        except Exception as exc:  # classified by assess_key_file
            error = exc
    return assess_key_file(path, mode, error), node_id


def tcp_error(address: str, timeout_s: float) -> str | None:
    """Why a TCP connection to ``host:port`` fails, or None when it connects."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s):
            return None
    except (OSError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"


def _ray_init(address: str, timeout_s: float) -> str | None:
    """``ray.init`` in a daemon thread (it retries for a long time on a half-open port)."""
    outcome: list[str | None] = []

    def connect() -> None:
        try:
            import ray

            ray.init(
                address=address,
                namespace="swarmrank",
                log_to_driver=False,
                configure_logging=False,
            )
            outcome.append(None)
        except Exception as exc:
            outcome.append(f"{type(exc).__name__}: {str(exc)[:300]}")

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not outcome:
        return f"ray.init did not connect within {timeout_s:g} s"
    return outcome[0]


def check_ray(config: NodeConfig, timeout_s: float) -> CheckResult:
    if not config.ray_address:
        return _skipped("ray", "ray_address is empty: a stand-alone node (static peers)")
    auth = assess_ray_auth(os.environ, Path.home())
    if auth is not None:
        return auth
    error = tcp_error(config.ray_address, timeout_s)
    if error is not None:
        return _failed(
            "ray",
            f"Ray at {config.ray_address} is not reachable: {error}",
            "check that the head runs ('ray start --head ...'), that ray_address is its GCS "
            "host:port, and that the private network between the hosts lets it through",
        )
    error = _ray_init(config.ray_address, timeout_s * 3)
    if error is not None:
        return _failed(
            "ray",
            f"Ray at {config.ray_address} refused the connection: {error}",
            "use the same Ray version and the same RAY_AUTH_TOKEN as the head",
        )
    return _passed("ray", f"connected to {config.ray_address} with token authentication")


def registry_members(
    config: NodeConfig, timeout_s: float
) -> tuple[list[dict[str, Any]] | None, float]:
    """Live registry members (Ray initialised), or None when the swarm has no registry; and the
    local wall clock, seconds, halfway through the call (to read the registry's clock)."""
    import ray

    from node.membership.registry import REGISTRY_NAMESPACE, registry_name

    try:
        actor = ray.get_actor(registry_name(config.swarm_id), namespace=REGISTRY_NAMESPACE)
    except ValueError:
        return None, time.time()
    sent = time.time()
    rows: list[dict[str, Any]] = ray.get(actor.members.remote(), timeout=timeout_s)
    return rows, (sent + time.time()) / 2


def registry_clock_skew(
    rows: Sequence[Mapping[str, Any]], local_s: float, offset_s: float
) -> list[float]:
    """Local clock minus the registry's: each row's ``last_seen_ms + age_ms`` is the registry's
    wall clock when it answered (the Ray head's machine)."""
    if not rows:
        return []
    registry_s = (int(rows[0]["last_seen_ms"]) + int(rows[0]["age_ms"])) / 1000
    return [local_s + offset_s - registry_s]


async def peer_infos(
    addresses: Sequence[str],
    config: NodeConfig,
    offset_s: float,
    timeout_s: float,
    credentials: Any = None,
) -> list[tuple[float, dict[str, Any]]]:
    """For each peer that answers: local clock (plus ``offset_s``) minus its signed NodeInfo
    timestamp, corrected by half the round trip; and the peer as a registry-style member dict
    (``node_id``, ``address``, ``capabilities``)."""
    from node.transport.client import PeerClient
    from protocol.signing import Verifier

    verifier = Verifier(config.swarm_id, window_ms=10**12)  # measuring skew, not enforcing it

    async def one(address: str) -> tuple[float, dict[str, Any]] | None:
        try:
            async with PeerClient(
                address, verifier, call_timeout_s=timeout_s, channel_credentials=credentials
            ) as client:
                sent = time.time()
                verified = await client.call_get_info(os.urandom(16))
                received = time.time()
        except (NodeError, OSError):
            return None
        peer_s = int(verified.message.context.timestamp_ms) / 1000
        member = {
            "node_id": verified.signer_id,
            "address": address,
            "capabilities": list(verified.message.capabilities),
        }
        return (sent + received) / 2 + offset_s - peer_s, member

    infos = await asyncio.gather(*(one(a) for a in addresses))
    return [i for i in infos if i is not None]


async def health_error(address: str, timeout_s: float, credentials: Any = None) -> str | None:
    """Why ``address`` does not answer the gRPC health check as SERVING, or None
    (``credentials``: TLS channel credentials from :mod:`node.transport.tls`, None = plaintext)."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    channel = (
        grpc.aio.insecure_channel(address)
        if credentials is None
        else grpc.aio.secure_channel(address, credentials)
    )
    try:
        async with channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=timeout_s)
    except grpc.aio.AioRpcError as exc:
        return f"{exc.code().name}: {exc.details()}"
    if reply.status != health_pb2.HealthCheckResponse.SERVING:
        return f"health status {health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)}"
    return None


async def check_backend(config: NodeConfig, timeout_s: float) -> CheckResult:
    from node.daemon.run import make_backend

    try:
        backend = make_backend(config)
    except NodeError as exc:
        return _failed("backend", str(exc), "fix the backend settings named above")
    probe_error: str | None = None
    try:
        try:
            healthy = await asyncio.wait_for(backend.health(), timeout_s)
        except TimeoutError:
            healthy = False
        start = time.monotonic()
        if healthy:
            try:
                await asyncio.wait_for(
                    backend.generate(DEFAULT_PROBE_QUESTION, query_id=os.urandom(16)), timeout_s
                )
            except TimeoutError:
                probe_error = f"no answer within {timeout_s:g} s"
            except NodeError as exc:
                probe_error = str(exc)
        elapsed = time.monotonic() - start
    finally:
        await backend.close()
    return assess_backend(config, healthy, probe_error, elapsed, timeout_s)


async def run_checks(
    config: NodeConfig, *, timeout_s: float = DEFAULT_TIMEOUT_S, clock_offset_s: float = 0.0
) -> list[CheckResult]:
    """Run every check in order; a check that needs an earlier one's result skips without it."""
    from node.transport.tls import channel_credentials_from_config

    results: list[CheckResult] = []
    try:
        credentials = channel_credentials_from_config(config)
    except NodeError as exc:
        results.append(_failed("tls", str(exc), "fix the tls_* settings named above"))
        credentials = None
    key, node_id = check_key_file(config)
    results.append(key)
    ray_result = await asyncio.to_thread(check_ray, config, timeout_s)
    results.append(ray_result)

    members: list[dict[str, Any]] | None = None
    skews: list[float] = []
    own_address = config.advertise_address or config.listen_address
    if ray_result.status != "pass":
        results.append(_skipped("registry", "needs Ray"))
    elif node_id is None:
        results.append(_skipped("registry", "needs a readable key file"))
    else:
        try:
            members, local_s = await asyncio.to_thread(registry_members, config, timeout_s)
            skews += registry_clock_skew(members or [], local_s, clock_offset_s)
            results.append(assess_registry(node_id, own_address, members))
        except Exception as exc:  # Ray raises many kinds; all mean the registry did not answer
            results.append(
                _failed(
                    "registry",
                    f"the registry did not answer: {type(exc).__name__}: {str(exc)[:200]}",
                    "check the Ray head's health ('ray status'); the registry restarts itself",
                )
            )

    peers = [m["address"] for m in members or () if m.get("node_id") != node_id]
    peers += [p.strip() for p in config.peers.split(",") if p.strip()]
    infos = await peer_infos(sorted(set(peers)), config, clock_offset_s, timeout_s, credentials)
    skews += [skew for skew, _ in infos]
    # Compare numerics with registered members and with static peers (by node id).
    compared = {m["node_id"]: m for m in members or ()}
    compared.update({m["node_id"]: m for _, m in infos if m["node_id"] not in compared})
    results.append(
        assess_numerics(
            numerics_fingerprint(), node_id, list(compared.values()) if compared else None
        )
    )
    results.append(assess_clock_skew(skews, config.replay_window_s))

    source = "advertised address"
    for member in members or ():
        if member["node_id"] == node_id:
            own_address, source = member["address"], "the registry's entry for this node"
    results.append(
        assess_grpc_port(
            own_address, source, await health_error(own_address, timeout_s, credentials)
        )
    )
    results.append(await check_backend(config, timeout_s))
    return results
