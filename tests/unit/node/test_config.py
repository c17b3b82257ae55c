"""NodeConfig loading: precedence of sources and one-line errors naming the field."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from node.config import FIELDS, NodeConfig, load_config
from node.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "node.toml"
    path.write_text(text)
    return path


def test_defaults_without_sources() -> None:
    assert load_config(None, environ={}) == NodeConfig()


def test_every_field_has_a_comment() -> None:
    source = (ROOT / "node" / "config.py").read_text()
    for name in FIELDS:
        line = next(line for line in source.splitlines() if line.strip().startswith(f"{name}:"))
        assert "#" in line, f"field {name} has no comment"


def test_precedence_defaults_file_env_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        'swarm_id = "from-file"\nlog_level = "debug"\n'
        '[openai]\nmodel = "file-model"\n[limits]\nmax_concurrent_rpcs = 7\n'
        "[sim]\nseed = 3\n",
    )
    env = {"SWARMRANK_SWARM_ID": "from-env", "SWARMRANK_OPENAI_MODEL": "env-model"}
    config = load_config(path, environ=env, overrides={"swarm_id": "from-flag", "log_level": None})
    assert config.swarm_id == "from-flag"  # flag beats env beats file
    assert config.openai_model == "env-model"  # env beats file
    assert config.log_level == "debug"  # file beats default; None flag is "not given"
    assert config.max_concurrent_rpcs == 7
    assert config.sim_seed == 3
    assert config.listen_address == NodeConfig().listen_address


def test_config_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        NodeConfig().swarm_id = "x"  # type: ignore[misc]


def test_env_strings_are_converted() -> None:
    env = {"SWARMRANK_REPLAY_WINDOW_S": "12.5", "SWARMRANK_MAX_CONCURRENT_RPCS": " 9 "}
    config = load_config(None, environ=env)
    assert config.replay_window_s == 12.5
    assert config.max_concurrent_rpcs == 9


@pytest.mark.parametrize(
    ("source", "value", "field", "accepted"),
    [
        ("env", "banana", "backend", "one of sim, openai"),
        ("env", "loud", "log_level", "one of debug, info, warning, error"),
        ("env", "localhost", "listen_address", '"host:port"'),
        ("env", "11", "sim_judging_skill", "from -10 to 10"),
        ("env", "-3", "replay_window_s", "greater than 0"),
        ("env", "many", "max_concurrent_rpcs", "an integer"),
        ("env", "10", "max_receive_message_bytes", "from 1024"),
        ("env", "nan", "call_timeout_s", "a finite number"),
        ("flag", "", "swarm_id", "non-empty"),
        ("flag", "x:99999", "metrics_address", "port 0..65535"),
    ],
)
def test_invalid_values_name_the_field(source: str, value: str, field: str, accepted: str) -> None:
    with pytest.raises(ConfigError) as info:
        if source == "env":
            load_config(None, environ={f"SWARMRANK_{field.upper()}": value})
        else:
            load_config(None, environ={}, overrides={field: value})
    message = str(info.value)
    assert "\n" not in message
    assert field in message
    assert accepted in message


def test_invalid_toml_type_names_field_and_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[limits]\nmax_concurrent_rpcs = true\n")
    with pytest.raises(ConfigError, match=rf"max_concurrent_rpcs.*{path.name}.*an integer"):
        load_config(path, environ={})


def test_unknown_field_and_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown config field 'colour'"):
        load_config(write(tmp_path, 'colour = "red"\n'), environ={})
    with pytest.raises(ConfigError, match=r"unknown section \[bogus\]"):
        load_config(write(tmp_path, "[bogus]\nx = 1\n"), environ={})


def test_missing_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(write(tmp_path, "a = = 1\n"), environ={})


def test_openai_backend_needs_a_model() -> None:
    with pytest.raises(ConfigError, match="openai_model"):
        load_config(None, environ={"SWARMRANK_BACKEND": "openai"})


def test_example_config_loads_and_matches_defaults() -> None:
    config = load_config(ROOT / "node" / "example.toml", environ={})
    assert config == NodeConfig()
