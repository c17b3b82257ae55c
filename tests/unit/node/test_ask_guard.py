"""Who may Ask through a node's peer port (issue 20, finding 11): :class:`AskGuard`."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.config import load_config
from node.daemon.run import ask_guard
from node.errors import ConfigError, Overloaded, Unauthenticated
from node.swarm.service import AskGuard, AskPolicy, load_ask_keys, peer_host

KEY = "s3cret-key"


def bearer(key: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {key}")]


def test_peer_host() -> None:
    assert peer_host("ipv4:10.0.0.7:5123") == "10.0.0.7"
    assert peer_host("ipv6:[::1]:5123") == "::1"
    assert peer_host("unix:/tmp/sock") == "unix:/tmp/sock"


def test_an_open_guard_names_callers_by_address() -> None:
    guard = AskGuard()
    assert guard.caller_of([], "ipv4:10.0.0.7:5123") == "peer:10.0.0.7"


def test_keys_are_required_and_checked() -> None:
    guard = AskGuard(AskPolicy(api_keys=(KEY, "other")))
    for metadata in ([], bearer("wrong"), [("authorization", KEY)], bearer("")):
        with pytest.raises(Unauthenticated, match="Bearer"):
            guard.caller_of(metadata, "ipv4:10.0.0.7:5123")
    by_key = guard.caller_of(bearer(KEY), "ipv4:10.0.0.7:1")
    assert by_key.startswith("key:") and KEY not in by_key
    assert guard.caller_of(bearer(KEY), "ipv4:10.9.9.9:2") == by_key  # a key, wherever from
    assert guard.caller_of(bearer("other"), "ipv4:10.0.0.7:1") != by_key


def test_allowed_networks_need_no_key() -> None:
    guard = AskGuard(AskPolicy(allowed_networks=("10.0.0.0/8", "::1")))
    assert guard.caller_of([], "ipv4:10.1.2.3:9") == "peer:10.1.2.3"
    assert guard.caller_of([], "ipv6:[::1]:9") == "peer:::1"
    with pytest.raises(Unauthenticated):
        guard.caller_of([], "ipv4:192.168.1.1:9")


def test_concurrent_asks_are_capped_per_caller() -> None:
    guard = AskGuard(AskPolicy(max_concurrent_per_caller=2))
    with guard.admit("a"), guard.admit("a"):
        with pytest.raises(Overloaded, match="at most 2"), guard.admit("a"):
            pass
        with guard.admit("b"):  # another caller is not affected
            assert guard.in_flight("b") == 1
        assert guard.in_flight("a") == 2
    assert guard.in_flight("a") == 0 and guard._in_flight == {}


def test_the_daemon_builds_the_guard_from_its_config(tmp_path: Path) -> None:
    keys = tmp_path / "ask-keys"
    keys.write_text("# gateway\n" + KEY + "\n\n")
    config = load_config(
        None,
        environ={
            "SWARMRANK_ASK_API_KEYS_FILE": str(keys),
            "SWARMRANK_ASK_ALLOWED_NETWORKS": "127.0.0.1/32",
            "SWARMRANK_ASK_MAX_CONCURRENT_PER_CALLER": "3",
        },
    )
    guard = ask_guard(config)
    assert guard.policy.api_keys == (KEY,)
    assert guard.policy.max_concurrent_per_caller == 3
    assert guard.caller_of([], "ipv4:127.0.0.1:5") == "peer:127.0.0.1"
    with pytest.raises(Unauthenticated):
        guard.caller_of([], "ipv4:10.0.0.1:5")
    with pytest.raises(ConfigError, match="ask_allowed_networks"):
        load_config(None, environ={"SWARMRANK_ASK_ALLOWED_NETWORKS": "10.0.0.0/33"})
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(ConfigError, match="holds no key"):
        load_ask_keys(tmp_path / "empty")
