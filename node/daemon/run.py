"""The node daemon's life cycle: :func:`run_node` and the backend factory :func:`make_backend`.

Owns start-up order (logging, key, store, backend, node, gRPC server, metrics endpoint, the
ready line), the signal handling (SIGTERM / SIGINT: health NOT_SERVING, drain in-flight calls for
``shutdown_grace_s``, close the backend and the store, exit 0) and the periodic pruning of
replay-guard entries whose timestamp window has closed.

Key files: a missing key is an error unless ``init_key`` is set, in which case a new key is
written with mode 0600. Creating identities silently would let a typo in ``key_path`` turn a
node into a stranger with no reputation, so it must be asked for.

The ready line is one JSON object on stdout, printed once the gRPC port (and the metrics port)
are bound: ``{"event": "ready", "address": "127.0.0.1:PORT", "node_id": ..., "metrics":
"http://127.0.0.1:PORT/metrics" | null, "swarm_id": ..., "pid": ...}``. Logs go to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from pathlib import Path
from typing import TextIO

from node.backends.base import ModelBackend
from node.config import NodeConfig
from node.daemon.lifecycle import stop_on_signals
from node.errors import ConfigError, NodeError
from node.ledger.store import Store
from node.logging import configure_logging, get_logger
from node.membership.registry import RayMembership
from node.membership.static import StaticMembership, member_from_address
from node.metrics import NodeMetrics
from node.round.gold import load_private_bank, use_private_bank
from node.round.settings import RoundSettings
from node.swarm.node import SwarmNode
from node.swarm.peer import Node, NodeLimits
from node.swarm.service import AskGuard, AskPolicy, SwarmServicer, load_ask_keys
from node.transport.ratelimit import RateLimiter
from node.transport.server import ExtraService, NodeServer
from node.transport.tls import channel_credentials_from_config, server_credentials_from_config
from protocol.errors import KeyFileMissing
from protocol.identity import Identity, load_identity, save_identity
from protocol.signing import SystemClock, Verifier
from protocol.v1 import services_pb2_grpc
from ranking.trust import TrustParams

log = get_logger("daemon")
PRUNE_INTERVAL_S = 60.0


def make_backend(config: NodeConfig) -> ModelBackend:
    """The model backend named by ``config.backend``, built from its options."""
    if config.backend == "sim":
        from node.backends.sim import SimBackend

        return SimBackend(
            seed=config.sim_seed,
            generation_skill=config.sim_generation_skill,
            judging_skill=config.sim_judging_skill,
            position_bias=config.sim_position_bias,
            error_correlation=config.sim_error_correlation,
            latency_ms=config.sim_latency_ms,
        )
    if config.backend == "openai":
        api_key: str | None = None
        if config.openai_api_key_env:
            api_key = os.environ.get(config.openai_api_key_env)
            if not api_key:
                raise ConfigError(
                    f"invalid openai_api_key_env = {config.openai_api_key_env!r}: "
                    "that environment variable is not set or empty"
                )
        from node.backends.openai import OpenAIBackend

        backend: ModelBackend = OpenAIBackend(
            base_url=config.openai_base_url,
            model=config.openai_model,
            api_key=api_key,
            timeout_s=config.openai_timeout_s,
            max_retries=config.openai_max_retries,
            judge_mode=config.openai_judge_mode,  # type: ignore[arg-type]
        )
        return backend
    if config.backend == "llama":
        from node.backends.llama import LlamaBackend

        return LlamaBackend(
            config.llama_model,
            cache_dir=config.data_path / "models",
            model_sha256=config.llama_model_sha256,
            chat_format=config.llama_chat_format or None,
            prompt_style=config.llama_prompt_style or None,  # type: ignore[arg-type]
            n_ctx=config.llama_n_ctx,
            n_threads=config.llama_n_threads or None,
            temperature=config.llama_temperature,
            max_tokens=config.llama_max_tokens,
            seed=config.llama_seed,
            judge_mode=config.llama_judge_mode,  # type: ignore[arg-type]
            tie_margin=config.llama_tie_margin,
            timeout_s=config.llama_timeout_s,
        )
    raise ConfigError(f"invalid backend = {config.backend!r}: expected one of sim, openai, llama")


def load_or_create_identity(config: NodeConfig, *, init_key: bool) -> Identity:
    """Load the node key; create it (mode 0600) only when ``init_key`` is set."""
    path = config.key_file
    try:
        return load_identity(path)
    except KeyFileMissing:
        if not init_key:
            raise KeyFileMissing(
                f"{path}: no key file; create one with 'swarmrank keys new --path {path}' "
                "or start with --init-key"
            ) from None
    identity = Identity.generate()
    save_identity(identity, path)
    log.info("created a new node key", extra={"path": str(path), "node_id": identity.node_id})
    return identity


def round_settings(config: NodeConfig) -> RoundSettings:
    """The round parameters this node uses when it leads; :class:`ConfigError` for a
    combination members would reject (e.g. ``round_schedule = "random-k"`` without
    ``round_schedule_k``)."""
    try:
        return RoundSettings(
            max_generators=config.round_max_generators,
            max_rankers=config.round_max_rankers,
            schedule=config.round_schedule,
            schedule_k=config.round_schedule_k,
            judge_budget=config.round_judge_budget,
            max_ranker_share=config.round_max_ranker_share,
            quorum_generators=config.round_quorum_generators,
            quorum_rankers=config.round_quorum_rankers,
            generate_deadline_ms=config.round_generate_deadline_ms,
            rank_deadline_ms=config.round_rank_deadline_ms,
            broadcast_timeout_s=config.call_timeout_s,
            gold_fraction=config.round_gold_fraction,
            contested_gold=config.round_contested_gold,
            contested_margin=config.round_contested_margin,
            consensus=config.round_consensus,
        )
    except ValueError as exc:
        raise ConfigError(f"invalid round settings: {exc}") from None


def trust_params(config: NodeConfig) -> TrustParams | None:
    """The swarm's trust rules, or ``None`` when ``trust_mode`` is off."""
    if config.trust_mode != "on":
        return None
    if config.trust_judging_pass > config.trust_judging_items:
        raise ConfigError(
            f"invalid trust_judging_pass = {config.trust_judging_pass}: expected at most "
            f"trust_judging_items ({config.trust_judging_items})"
        )
    return TrustParams(
        n_judging=config.trust_judging_items,
        judging_pass=config.trust_judging_pass,
        cooldown_rounds=config.trust_cooldown_rounds,
    )


def make_rate_limiter(config: NodeConfig) -> RateLimiter | None:
    """The per-identity limiter for signed requests; ``None`` when ``rate_limit_per_s`` is 0."""
    if config.rate_limit_per_s <= 0.0:
        return None
    return RateLimiter(config.rate_limit_per_s, config.rate_limit_burst)


def ask_guard(config: NodeConfig) -> AskGuard:
    """Who may Ask through the peer port (:class:`~node.swarm.service.AskGuard`)."""
    keys: tuple[str, ...] = ()
    if config.ask_api_keys_file:
        keys = load_ask_keys(Path(config.ask_api_keys_file).expanduser())
    networks = tuple(n.strip() for n in config.ask_allowed_networks.split(",") if n.strip())
    return AskGuard(
        AskPolicy(
            api_keys=keys,
            allowed_networks=networks,
            max_concurrent_per_caller=config.ask_max_concurrent_per_caller,
        )
    )


def use_gold_bank(config: NodeConfig) -> None:
    """Load the operator's private gold bank, when configured, for this process's gold draws."""
    if config.round_gold_bank_file:
        use_private_bank(load_private_bank(Path(config.round_gold_bank_file).expanduser()))


def build_node(
    config: NodeConfig, identity: Identity, backend: ModelBackend, store: Store
) -> SwarmNode:
    """A :class:`SwarmNode` wired from ``config`` (membership is attached by :func:`run_node`)."""
    verifier = Verifier(
        config.swarm_id,
        clock=SystemClock(),
        window_ms=int(config.replay_window_s * 1000),
    )
    return SwarmNode(
        identity,
        verifier,
        backend,
        store,
        NodeMetrics(),
        limits=NodeLimits(
            generate_timeout_s=config.generate_timeout_s,
            judge_timeout_s=config.judge_timeout_s,
            max_rank_pairs=config.rank_max_pairs,
        ),
        address=config.advertise_address,
        settings=round_settings(config),
        rate_limiter=make_rate_limiter(config),
        channel_credentials=channel_credentials_from_config(config),
        trust=trust_params(config),
    )


async def start_membership(config: NodeConfig, node: SwarmNode) -> RayMembership | None:
    """Attach the node's membership: the Ray registry with ``ray_address``, else the static
    ``peers`` list (plus this node). Returns the Ray membership to stop on shutdown."""
    if config.ray_address:
        import ray

        from node.membership.registry import get_or_create_registry

        # On the main thread (blocking start-up briefly): Ray installs signal handlers there.
        ray.init(
            address=config.ray_address,
            namespace="swarmrank",
            log_to_driver=False,
            configure_logging=False,
        )
        state_path = config.registry_state_path or str(config.data_path / "registry.json")
        registry = get_or_create_registry(config.swarm_id, state_path, config.eviction_timeout_s)
        membership = RayMembership(
            registry,
            node.verifier,
            node.info_envelope,
            node.heartbeat_envelope,
            identity=node.identity,
            heartbeat_interval_s=config.heartbeat_interval_s,
            call_timeout_s=config.call_timeout_s,
        )
        await membership.start()
        node.membership = membership
        return membership
    peers = [p.strip() for p in config.peers.split(",") if p.strip()]
    members = [node.self_member()]
    for address in peers:
        try:
            members.append(
                await member_from_address(
                    address, node.verifier, config.call_timeout_s, node.channel_credentials
                )
            )
        except NodeError as exc:
            log.warning("static peer unavailable", extra={"peer": address, "error": str(exc)})
    node.membership = StaticMembership(members)
    return None


async def _catch_up_forever(node: SwarmNode, interval_s: float) -> None:
    while True:
        try:
            added = await node.catch_up()
            if added:
                log.info("caught up with peers", extra={"records": added})
                node.metrics.ledger_height.set(node.store.head()[0])
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a failed catch-up is retried on the next tick
            log.warning("catch-up failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        await asyncio.sleep(interval_s)


async def _prune_forever(node: Node, window_s: float) -> None:
    while True:
        await asyncio.sleep(PRUNE_INTERVAL_S)
        # An envelope first seen at t may carry a timestamp up to one window ahead, so it stays
        # acceptable until t + 2 windows; only then may its replay slot go.
        cutoff_ms = node.clock.time_ms() - int(2 * window_s * 1000) - 1000
        removed = node.store.prune_replay(cutoff_ms)
        if removed:
            log.info("pruned replay-guard entries", extra={"removed": removed})


async def run_node(
    config: NodeConfig,
    *,
    init_key: bool = False,
    ready_stream: TextIO | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run a node until SIGTERM / SIGINT (or ``stop`` is set); return the exit code."""
    configure_logging(config.log_level, config.log_format)
    identity = load_or_create_identity(config, init_key=init_key)
    use_gold_bank(config)
    guard = ask_guard(config)
    stop = stop or asyncio.Event()
    store = Store(config.database_file)
    backend = make_backend(config)
    server: NodeServer | None = None
    node = build_node(config, identity, backend, store)
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []
    prune_task: asyncio.Task[None] | None = None
    catch_up_task: asyncio.Task[None] | None = None
    ray_membership: RayMembership | None = None
    try:
        server = NodeServer(
            node,
            listen_address=config.listen_address,
            max_receive_message_bytes=config.max_receive_message_bytes,
            max_send_message_bytes=config.max_send_message_bytes,
            max_concurrent_rpcs=config.max_concurrent_rpcs,
            server_credentials=server_credentials_from_config(config),
            extra_services=[
                ExtraService(
                    "protocol.v1.SwarmService",
                    SwarmServicer(node, guard),
                    services_pb2_grpc.add_SwarmServiceServicer_to_server,
                )
            ],
        )
        address = await server.start()
        ray_membership = await start_membership(config, node)
        catch_up_task = asyncio.create_task(_catch_up_forever(node, config.catch_up_interval_s))
        metrics_url = node.metrics.serve(config.metrics_address) if config.metrics_address else None
        node.metrics.ledger_height.set(store.head()[0])
        installed = stop_on_signals(loop, stop)
        prune_task = asyncio.create_task(_prune_forever(node, config.replay_window_s))
        ready = {
            "event": "ready",
            "address": address,
            "node_id": identity.node_id,
            "metrics": metrics_url,
            "swarm_id": config.swarm_id,
            "pid": os.getpid(),
        }
        stream = ready_stream or sys.stdout
        stream.write(json.dumps(ready) + "\n")
        stream.flush()
        log.info("node ready", extra=ready)
        await stop.wait()
        log.info("shutting down", extra={"grace_s": config.shutdown_grace_s})
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
        for task in (prune_task, catch_up_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if ray_membership is not None:
            await ray_membership.stop()
        if server is not None:
            await server.stop(config.shutdown_grace_s)
        await node.close()
        node.metrics.stop()
        await backend.close()
        store.close()
    log.info("stopped")
    return 0
