"""Daemon wiring without sockets: backend factory, key handling, CLI overrides."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

from node.backends.sim import call_seed
from node.cli.main import build_parser
from node.cli.node import overrides_from_args
from node.config import NodeConfig, load_config
from node.daemon.run import load_or_create_identity, make_backend, round_settings
from node.errors import ConfigError
from node.round.consensus import CURRENT_CONSENSUS
from protocol.errors import KeyFileMissing

needs_sim = pytest.mark.skipif(
    importlib.util.find_spec("sim.model") is None, reason="sim.model is missing"
)


def test_openai_key_env_must_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    config = NodeConfig(backend="openai", openai_model="m", openai_api_key_env="NO_SUCH_KEY_VAR")
    with pytest.raises(ConfigError, match="openai_api_key_env"):
        make_backend(config)


def test_key_is_created_only_when_asked(tmp_path: Path) -> None:
    config = NodeConfig(key_path=tmp_path / "k" / "node.key")
    with pytest.raises(KeyFileMissing, match="--init-key"):
        load_or_create_identity(config, init_key=False)
    created = load_or_create_identity(config, init_key=True)
    assert (config.key_file.stat().st_mode & 0o777) == 0o600
    assert load_or_create_identity(config, init_key=False).node_id == created.node_id


def test_cli_flags_override_everything(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["node", "run", "--listen", "127.0.0.1:0", "--set", "sim_seed=9", "--swarm-id", "s"]
    )
    config = load_config(
        None, environ={"SWARMRANK_SWARM_ID": "env"}, overrides=overrides_from_args(args)
    )
    assert (config.listen_address, config.sim_seed, config.swarm_id) == ("127.0.0.1:0", 9, "s")
    bad = build_parser().parse_args(["node", "run", "--set", "nonsense"])
    with pytest.raises(ConfigError, match="FIELD=VALUE"):
        overrides_from_args(bad)


def test_call_seed_separates_inputs() -> None:
    base = call_seed(1, "judge", b"q", "a", "b")
    assert base == call_seed(1, "judge", b"q", "a", "b")
    others = {
        call_seed(2, "judge", b"q", "a", "b"),
        call_seed(1, "generate", b"q", "a", "b"),
        call_seed(1, "judge", b"r", "a", "b"),
        call_seed(1, "judge", b"q", "ab", ""),
        call_seed(1, "judge", b"q", "b", "a"),
    }
    assert base not in others and len(others) == 5


@needs_sim
async def test_sim_backend_is_reproducible_per_round() -> None:
    from sim.model import parse_task

    backend = make_backend(NodeConfig(sim_seed=7))
    q = "What is 17 + 25?"
    first = await backend.generate(q, query_id=b"1" * 16)
    assert first == await backend.generate(q, query_id=b"1" * 16)
    assert first.text
    task = parse_task(q)
    assert task is not None
    answers = [(await backend.generate(q, query_id=bytes([i]) * 16)).text for i in range(40)]
    right = sum(task.is_correct(a) for a in answers)
    assert right >= 20  # a skilled model is right on most rounds
    weak = make_backend(NodeConfig(sim_seed=7, sim_generation_skill=-5.0))
    weak_answers = [(await weak.generate(q, query_id=bytes([i]) * 16)).text for i in range(40)]
    assert sum(task.is_correct(a) for a in weak_answers) < 20  # skill reaches the model
    assert len(set(weak_answers)) > 1  # wrong answers vary (plausible distractors)
    verdict = await backend.judge(q, "42", "41", query_id=b"1" * 16)
    assert verdict == await backend.judge(q, "42", "41", query_id=b"1" * 16)
    assert verdict.outcome in ("A", "B", "tie", "abstain")
    assert backend.model_name == "swarmrank-sim"


def test_round_settings_members_would_reject_are_a_config_error(tmp_path: Path) -> None:
    config = NodeConfig(swarm_id="s", data_dir=tmp_path, round_schedule="random-k")
    with pytest.raises(ConfigError, match="random-k needs schedule_k >= 1"):
        round_settings(config)
    fixed = NodeConfig(
        swarm_id="s", data_dir=tmp_path, round_schedule="random-k", round_schedule_k=5
    )
    assert round_settings(fixed).schedule_k == 5
    adaptive = NodeConfig(swarm_id="s", data_dir=tmp_path, round_schedule="adaptive")
    with pytest.raises(ConfigError, match="judge_budget must be an integer >= 1"):
        round_settings(adaptive)
    budgeted = dataclasses.replace(adaptive, round_judge_budget=40)
    assert round_settings(budgeted).to_proto().judge_budget == 40

    calibrated = NodeConfig(swarm_id="s", data_dir=tmp_path, round_consensus=1)
    assert round_settings(calibrated).to_proto().consensus == 1
    # the evidence reading by default, the rule a leader writes today
    assert round_settings(fixed).to_proto().consensus == CURRENT_CONSENSUS == 3


def test_an_unknown_consensus_rule_is_refused_when_the_config_loads(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text('swarm_id = "s"\nround_consensus = 4\n')
    with pytest.raises(ConfigError, match="round_consensus"):
        load_config(path)


@pytest.mark.parametrize("mode", ["text", "prob"])
def test_openai_judge_mode_reaches_the_backend(mode: str) -> None:
    config = NodeConfig(backend="openai", openai_model="m", openai_judge_mode=mode)
    assert make_backend(config).judge_mode == mode  # type: ignore[attr-defined]
