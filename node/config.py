"""Node configuration: the one frozen :class:`NodeConfig` and its loader.

Owns every setting of a node daemon and the rule for where each value comes from, loaded once
at start-up and then passed down (nothing else reads the environment):

    defaults  <  TOML file (``tomllib``)  <  ``SWARMRANK_*`` environment  <  command-line flags

In the TOML file a field is written either at the top level under its full name
(``openai_model = "..."``) or inside the section named by its prefix (``[openai] model = "..."``;
sections: ``openai``, ``llama``, ``sim``, ``limits``, ``metrics``, ``log``, ``ray``, ``tls``,
``round``, ``trust``, ``ask``). The environment variable of a field is ``SWARMRANK_`` + its
name in upper case (``SWARMRANK_OPENAI_MODEL``). Every invalid value raises
:class:`~node.errors.ConfigError` with one line naming the field, the source and the accepted
values. ``node/example.toml`` documents
every field.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node.errors import ConfigError

BACKENDS = ("sim", "openai", "llama")
LLAMA_JUDGE_MODES = ("text", "prob", "likelihood")
OPENAI_JUDGE_MODES = ("text", "prob")
LLAMA_PROMPT_STYLES = ("", "chat", "completion")
TLS_MODES = ("off", "tls", "mtls")
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "text")
ENV_PREFIX = "SWARMRANK_"
#: TOML sections; ``[openai] model`` is the field ``openai_model``, ``[limits] x`` is ``x``
SECTIONS: dict[str, str] = {
    "openai": "openai_",
    "llama": "llama_",
    "sim": "sim_",
    "metrics": "metrics_",
    "log": "log_",
    "ray": "ray_",
    "limits": "",
    "round": "round_",
    "trust": "trust_",
    "node": "",
    "tls": "tls_",
    "ask": "ask_",
}


@dataclass(frozen=True)
class NodeConfig:
    """Everything a node daemon needs to start; see the module docstring for the sources."""

    # --- network and identity ---
    listen_address: str = "127.0.0.1:7700"  # gRPC bind "host:port"; port 0 picks a free port
    advertise_address: str = ""  # "host:port" peers should dial; empty = the bound address
    key_path: Path = Path("~/.swarmrank/node.key")  # Ed25519 PEM key file (mode 0600)
    data_dir: Path = Path("~/.swarmrank/data")  # SQLite state (ledger, replay guard, caches)
    swarm_id: str = "swarmrank-local"  # swarm this node belongs to; bound into every signature
    ray_address: str = ""  # Ray cluster to join ("auto", "host:port"); empty = stand-alone
    tls_mode: str = "off"  # gRPC transport: "off" (plaintext), "tls" or "mtls" (client certs)
    tls_ca_file: str = ""  # PEM CA certificate peers' certificates chain to (swarmrank certs)
    tls_cert_file: str = ""  # PEM node certificate bound to the node key (swarmrank certs issue)
    tls_key_file: str = ""  # PEM private key of the node certificate (mode 0600)

    # --- model backend ---
    backend: str = "sim"  # "sim" (synthetic), "openai" (compatible server) or "llama" (GGUF)
    openai_base_url: str = "http://127.0.0.1:8000/v1"  # chat-completions server base URL
    openai_model: str = ""  # model name sent to the server; required for backend "openai"
    openai_api_key_env: str = ""  # name of the env variable holding the API key; empty = none
    openai_timeout_s: float = 60.0  # per-HTTP-request timeout, seconds
    openai_max_retries: int = 2  # retries after a timeout, connection error or 5xx (0 = none)
    openai_judge_mode: str = "text"  # "text" (VERDICT line) or "prob" (A/B logprobs, both orders)

    # --- in-process llama.cpp (backend "llama"; models: swarmrank models list) ---
    llama_model: str = ""  # shipped model name (smollm2-135m, gemma3-270m) or a .gguf path
    llama_model_sha256: str = ""  # expected sha256 of a .gguf given by path; "" = unchecked
    llama_chat_format: str = ""  # llama.cpp chat format; "" = shipped setting or GGUF template
    llama_prompt_style: str = ""  # "chat", "completion" (base models) or "" (model's setting)
    llama_judge_mode: str = "prob"  # "prob" (A/B token chances, both orders), "text", "likelihood"
    llama_n_ctx: int = 2048  # context window, tokens
    llama_n_threads: int = 0  # CPU threads for llama.cpp; 0 = llama.cpp's choice
    llama_temperature: float = 0.2  # sampling temperature of answers (judging is greedy)
    llama_max_tokens: int = 256  # longest answer, tokens
    llama_seed: int = 0  # sampler seed; each answer's seed mixes it with the query id
    llama_tie_margin: float = 0.05  # "prob"/"likelihood": |P - 0.5| at most this is a tie
    llama_timeout_s: float = 120.0  # deadline of one model call, including the wait for the model

    # --- simulated model (backend "sim") ---
    sim_seed: int = 0  # node seed; answers are reproducible per (seed, query id, texts)
    sim_generation_skill: float = 1.0  # logit-scale skill at answering right, -10..10 (sim.model)
    sim_judging_skill: float = 1.0  # logit-scale skill at picking the right side, -10..10
    sim_position_bias: float = 0.0  # tendency to prefer the answer shown first, -1..1
    sim_error_correlation: float = 0.5  # how strongly wrong answers follow the popular one, 0..1
    sim_latency_ms: float = 0.0  # artificial latency per model call; 0 = instant

    # --- limits and timeouts ---
    max_receive_message_bytes: int = 8 * 1024 * 1024  # largest gRPC message accepted
    max_send_message_bytes: int = 8 * 1024 * 1024  # largest gRPC message sent
    max_concurrent_rpcs: int = 64  # in-flight RPCs; beyond this calls get RESOURCE_EXHAUSTED
    generate_timeout_s: float = 120.0  # budget for one backend generate call while serving
    judge_timeout_s: float = 60.0  # budget for one backend judge call while serving
    rank_max_pairs: int = 2048  # pairs one Rank request may ask this node to judge
    call_timeout_s: float = 10.0  # default deadline of every outgoing gRPC call
    replay_window_s: float = 300.0  # accepted clock distance of signed timestamps, both ways
    shutdown_grace_s: float = 10.0  # how long SIGTERM/SIGINT waits for in-flight calls
    rate_limit_per_s: float = 0.0  # signed requests per second per verified identity; 0 = off
    rate_limit_burst: int = 20  # requests an idle identity may send at once (token bucket size)

    # --- swarm membership and rounds ---
    peers: str = ""  # comma-separated "host:port" peers for a swarm without Ray; "" = none
    heartbeat_interval_s: float = 1.0  # how often the node beats to the Ray registry
    eviction_timeout_s: float = 6.0  # registry drops a member silent for this long
    registry_state_path: str = ""  # registry JSON state if this node creates it; "" = data dir
    catch_up_interval_s: float = 5.0  # how often the node fetches records it missed from peers
    round_max_generators: int = 32  # G: generators selected per round this node leads
    round_max_rankers: int = 32  # R: rankers selected per round this node leads
    round_schedule: str = "3n"  # pair schedule: "3n", "full", "random-k" or "adaptive"
    round_schedule_k: int = 0  # pairs per ranker with "random-k"
    round_judge_budget: int = 0  # "adaptive": most judge calls per round (required there)
    round_max_ranker_share: float = 0.2  # cap on one ranker's share of the ranking weight
    round_quorum_generators: int = 1  # minimum candidates for a round to go on
    round_quorum_rankers: int = 1  # minimum ballots for a round to go on
    round_generate_deadline_ms: int = 30_000  # generation phase deadline
    round_rank_deadline_ms: int = 30_000  # ranking phase deadline
    round_gold_fraction: float = 0.1  # live rounds followed by a gold round (consensus learns)
    round_consensus: int = 3  # winner: 3 the evidence reading (default), 2 its first, 1 calibrated
    round_contested_gold: float = 0.3  # extra chance of gold after a contested round (issue 12)
    round_contested_margin: float = 0.2  # contested: top two vote shares within this margin
    round_gold_bank_file: str = ""  # operator's private gold bank (JSON list); same on every node

    # --- who may Ask through this node's peer port (SwarmService.Ask; issue 20) ---
    ask_api_keys_file: str = ""  # keys Ask requires as "authorization: Bearer KEY", one a line
    ask_allowed_networks: str = ""  # comma-separated CIDRs that may Ask without a key
    ask_max_concurrent_per_caller: int = 32  # Asks one caller (key or address) may run at once

    # --- trust (admission, stake, slashing, weight caps; every member must agree) ---
    trust_mode: str = "off"  # "on": calibration exams, stake, slashing, caps; "off": none
    trust_judging_pass: int = 17  # judging items to answer right out of trust_judging_items
    trust_judging_items: int = 20  # judging items per calibration exam
    trust_cooldown_rounds: int = 100  # ledger heights to wait after a first failed exam

    # --- observability ---
    metrics_address: str = "127.0.0.1:0"  # Prometheus "/metrics" bind; port 0 = free port; "" = off
    log_level: str = "info"  # one of debug, info, warning, error
    log_format: str = "json"  # "json" (one object per line on stderr) or "text"

    @property
    def key_file(self) -> Path:
        """The key path with ``~`` expanded."""
        return self.key_path.expanduser()

    @property
    def data_path(self) -> Path:
        """The data directory with ``~`` expanded."""
        return self.data_dir.expanduser()

    @property
    def database_file(self) -> Path:
        """The SQLite database inside the data directory."""
        return self.data_path / "node.sqlite3"


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(NodeConfig)}


# --- value parsing: one function per field type, raising ValueError with the accepted values ---


def _parse_str(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("a string")
    return value


def _parse_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError("an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            raise ValueError("an integer") from None
    raise ValueError("an integer")


def _parse_float(value: object) -> float:
    if isinstance(value, bool):
        raise ValueError("a number")
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        try:
            result = float(value.strip())
        except ValueError:
            raise ValueError("a number") from None
    else:
        raise ValueError("a number")
    if not math.isfinite(result):
        raise ValueError("a finite number")
    return result


def _parse_path(value: object) -> Path:
    if isinstance(value, Path):
        return value
    text = _parse_str(value)
    if not text:
        raise ValueError("a non-empty path")
    return Path(text)


_PARSERS: dict[object, Callable[[object], Any]] = {
    "str": _parse_str,
    "int": _parse_int,
    "float": _parse_float,
    "Path": _parse_path,
}


def _check_address(value: str, *, allow_empty: bool) -> None:
    if allow_empty and value == "":
        return
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        accepted = '"host:port" with port 0..65535' + (' or "" (off)' if allow_empty else "")
        raise ValueError(accepted)


def _check_range(lo: float, hi: float) -> Callable[[float], None]:
    def check(value: float) -> None:
        if not lo <= value <= hi:
            raise ValueError(f"a number from {lo:g} to {hi:g}")

    return check


def _check_choice(choices: tuple[str, ...]) -> Callable[[str], None]:
    def check(value: str) -> None:
        if value not in choices:
            raise ValueError("one of " + ", ".join(choices))

    return check


def _check_positive(value: float) -> None:
    if value <= 0:
        raise ValueError("a number greater than 0")


def _check_non_negative(value: float) -> None:
    if value < 0:
        raise ValueError("a number of at least 0")


def _check_swarm_id(value: str) -> None:
    if not value or len(value.encode("utf-8")) > 255:
        raise ValueError("a non-empty string of at most 255 UTF-8 bytes")


def _check_sha256(value: str) -> None:
    if value and (len(value) != 64 or any(c not in "0123456789abcdefABCDEF" for c in value)):
        raise ValueError('64 hex digits or "" (unchecked)')


def _check_networks(value: str) -> None:
    import ipaddress

    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError as exc:
            raise ValueError(f'comma-separated CIDRs ("10.0.0.0/8, 127.0.0.1"); {exc}') from exc


def _check_message_bytes(value: int) -> None:
    if not 1024 <= value <= 2**31 - 1:
        raise ValueError("an integer from 1024 to 2147483647")


#: per-field checks beyond the type; each raises ValueError naming the accepted values
_CHECKS: dict[str, Callable[[Any], None]] = {
    "listen_address": lambda v: _check_address(v, allow_empty=False),
    "advertise_address": lambda v: _check_address(v, allow_empty=True),
    "metrics_address": lambda v: _check_address(v, allow_empty=True),
    "swarm_id": _check_swarm_id,
    "backend": _check_choice(BACKENDS),
    "tls_mode": _check_choice(TLS_MODES),
    "log_level": _check_choice(LOG_LEVELS),
    "log_format": _check_choice(LOG_FORMATS),
    "openai_timeout_s": _check_positive,
    "openai_max_retries": _check_range(0, 10),
    "openai_judge_mode": _check_choice(OPENAI_JUDGE_MODES),
    "llama_model_sha256": lambda v: _check_sha256(v),
    "llama_prompt_style": _check_choice(LLAMA_PROMPT_STYLES),
    "llama_judge_mode": _check_choice(LLAMA_JUDGE_MODES),
    "llama_n_ctx": _check_range(256, 1_048_576),
    "llama_n_threads": _check_range(0, 1024),
    "llama_temperature": _check_range(0.0, 5.0),
    "llama_max_tokens": _check_range(1, 1_048_576),
    "llama_seed": _check_range(0, 2**63 - 1),
    "llama_tie_margin": _check_range(0.0, 0.49),
    "llama_timeout_s": _check_positive,
    "sim_generation_skill": _check_range(-10.0, 10.0),
    "sim_judging_skill": _check_range(-10.0, 10.0),
    "sim_position_bias": _check_range(-1.0, 1.0),
    "sim_error_correlation": _check_range(0.0, 1.0),
    "sim_latency_ms": _check_range(0.0, 600_000.0),
    "sim_seed": _check_range(0, 2**63 - 1),
    "max_receive_message_bytes": _check_message_bytes,
    "max_send_message_bytes": _check_message_bytes,
    "max_concurrent_rpcs": _check_range(1, 100_000),
    "generate_timeout_s": _check_positive,
    "judge_timeout_s": _check_positive,
    "rank_max_pairs": _check_range(1, 1_000_000),
    "call_timeout_s": _check_positive,
    "replay_window_s": _check_positive,
    "shutdown_grace_s": _check_non_negative,
    "rate_limit_per_s": _check_range(0.0, 1_000_000.0),
    "rate_limit_burst": _check_range(1, 1_000_000),
    "heartbeat_interval_s": _check_positive,
    "eviction_timeout_s": _check_positive,
    "catch_up_interval_s": _check_positive,
    "round_max_generators": _check_range(1, 10_000),
    "round_max_rankers": _check_range(1, 10_000),
    "round_schedule": _check_choice(("3n", "full", "random-k", "adaptive")),
    "round_schedule_k": _check_range(0, 1_000_000),
    "round_judge_budget": _check_range(0, 1_000_000),
    "round_max_ranker_share": _check_range(0.001, 1.0),
    "round_quorum_generators": _check_range(1, 10_000),
    "round_quorum_rankers": _check_range(1, 10_000),
    "round_generate_deadline_ms": _check_range(1, 3_600_000),
    "round_rank_deadline_ms": _check_range(1, 3_600_000),
    "round_gold_fraction": _check_range(0.0, 1.0),
    "round_consensus": _check_range(1, 3),
    "round_contested_gold": _check_range(0.0, 1.0),
    "round_contested_margin": _check_range(1e-9, 1.0),
    "ask_allowed_networks": _check_networks,
    "ask_max_concurrent_per_caller": _check_range(1, 100_000),
    "trust_mode": _check_choice(("off", "on")),
    "trust_judging_pass": _check_range(1, 1000),
    "trust_judging_items": _check_range(1, 1000),
    "trust_cooldown_rounds": _check_range(0, 10_000_000),
}


def _field_type(name: str) -> str:
    annotation = FIELDS[name].type
    return annotation if isinstance(annotation, str) else annotation.__name__


def parse_value(name: str, value: object, source: str) -> Any:
    """Convert and check one raw value for field ``name``; raise a one-line ConfigError."""
    if name not in FIELDS:
        raise ConfigError(f"unknown config field {name!r} ({source}); known fields: {_known()}")
    try:
        result = _PARSERS[_field_type(name)](value)
        check = _CHECKS.get(name)
        if check is not None:
            check(result)
    except ValueError as exc:
        shown = repr(value) if not isinstance(value, Path) else repr(str(value))
        raise ConfigError(
            f"invalid {name} = {_one_line(shown)} ({source}): expected {exc}"
        ) from None
    return result


def _one_line(text: str, limit: int = 80) -> str:
    text = text.replace("\n", "\\n").replace("\r", "\\r")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _known() -> str:
    return ", ".join(FIELDS)


def _flatten_toml(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            if key not in SECTIONS:
                raise ConfigError(
                    f"unknown section [{key}] in {path}; accepted sections: " + ", ".join(SECTIONS)
                )
            for sub_key, sub_value in value.items():
                name = SECTIONS[key] + sub_key
                if name not in FIELDS:
                    raise ConfigError(f"unknown config field {key}.{sub_key} in {path}")
                flat[name] = sub_value
        else:
            if key not in FIELDS:
                raise ConfigError(f"unknown config field {key!r} in {path}")
            flat[key] = value
    return flat


def read_toml(path: Path) -> dict[str, Any]:
    """Read a config file into raw ``{field: value}``; unreadable files raise ConfigError."""
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return _flatten_toml(data, path)


def read_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``SWARMRANK_*`` variables that name config fields (others are ignored)."""
    raw: dict[str, str] = {}
    for name in FIELDS:
        key = ENV_PREFIX + name.upper()
        if key in environ:
            raw[name] = environ[key]
    return raw


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
) -> NodeConfig:
    """Build the config: defaults < TOML file at ``path`` < ``environ`` < ``overrides``.

    ``environ`` defaults to ``os.environ``; ``overrides`` are command-line values (``None``
    entries mean "flag not given"). Raises :class:`ConfigError` on the first invalid value.
    """
    values: dict[str, Any] = {}
    layers: list[tuple[str, Mapping[str, object]]] = []
    if path is not None:
        layers.append((f"in {path}", read_toml(path)))
    layers.append(("from the environment", read_env(os.environ if environ is None else environ)))
    if overrides:
        layers.append(
            ("on the command line", {k: v for k, v in overrides.items() if v is not None})
        )
    for source, raw in layers:
        for name, value in raw.items():
            values[name] = parse_value(name, value, source)
    config = NodeConfig(**values)
    _check_consistency(config)
    return config


def _check_consistency(config: NodeConfig) -> None:
    if config.tls_mode != "off":
        needed = ["tls_cert_file", "tls_key_file"] + (["tls_ca_file"] * (config.tls_mode == "mtls"))
        for name in needed:
            if not getattr(config, name):
                raise ConfigError(
                    f'invalid {name} = "": tls_mode "{config.tls_mode}" needs it '
                    "(create files with 'swarmrank certs new-ca' and 'swarmrank certs issue')"
                )
    if config.backend == "openai" and not config.openai_model:
        raise ConfigError(
            'invalid openai_model = "": backend "openai" needs a model name '
            "(set [openai] model or SWARMRANK_OPENAI_MODEL)"
        )
    if config.backend == "llama" and not config.llama_model:
        raise ConfigError(
            'invalid llama_model = "": backend "llama" needs a model: a shipped name '
            "(swarmrank models list) or a .gguf path (set [llama] model or SWARMRANK_LLAMA_MODEL)"
        )
    if config.openai_api_key_env and not config.openai_api_key_env.replace("_", "").isalnum():
        raise ConfigError(
            f"invalid openai_api_key_env = {config.openai_api_key_env!r}: "
            "expected the name of an environment variable (letters, digits, _)"
        )
