"""``swarmrank status`` rendering: the members table, the trust columns when the swarm has
trust rules, the numerics warning, and ``--json``."""

from __future__ import annotations

import json
from typing import Any

import pytest

import node.cli.swarm as swarm_cli
from node.cli.main import main
from protocol.v1 import services_pb2


def _status(trust: bool, numerics: tuple[str, str] = ("aa", "aa")) -> services_pb2.StatusResponse:
    members = [
        services_pb2.MemberStatus(
            node_id=f"{i}" * 16,
            address=f"127.0.0.1:{7700 + i}",
            model="sim",
            reputation=0.5,
            alive=True,
            numerics=numerics[i],
            trust_status=("admitted", "probation")[i] if trust else "",
            stake=(1.0, 0.0)[i] if trust else 0.0,
        )
        for i in range(2)
    ]
    return services_pb2.StatusResponse(
        swarm_id="s", node_id="0" * 16, ledger_height=3, members=members
    )


def _run(monkeypatch: pytest.MonkeyPatch, response: services_pb2.StatusResponse, *args: str) -> int:
    async def fake_call_status(address: str) -> Any:
        assert address == "127.0.0.1:7700"
        return response

    monkeypatch.setattr(swarm_cli, "call_status", fake_call_status)
    monkeypatch.setenv("COLUMNS", "200")  # a wide terminal: rich folds cells in narrow ones
    return main(["status", "--address", "127.0.0.1:7700", *args])


def test_trust_columns_only_with_trust(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(monkeypatch, _status(trust=True)) == 0
    out = capsys.readouterr().out
    assert "trust" in out and "admitted" in out and "probation" in out
    assert _run(monkeypatch, _status(trust=False)) == 0
    out = capsys.readouterr().out
    assert "admitted" not in out and "stake" not in out


def test_numerics_mix_is_noted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mix of float builds is information since numerics 1 (records verify across them)."""
    assert _run(monkeypatch, _status(trust=False, numerics=("aa", "bb"))) == 0
    out = capsys.readouterr().out
    assert "note:" in out and "2 float builds (aa, bb)" in out and "warning" not in out
    assert _run(monkeypatch, _status(trust=False, numerics=("aa", "aa"))) == 0
    assert "note:" not in capsys.readouterr().out


def test_json(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(monkeypatch, _status(trust=True), "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert [m["trust_status"] for m in data["members"]] == ["admitted", "probation"]
    assert [m["stake"] for m in data["members"]] == [1.0, 0.0]
    assert data["ledger_height"] == 3
