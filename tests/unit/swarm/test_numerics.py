"""The numerics fingerprint: stable, sensitive to the computations it covers, advertised in
NodeInfo, and judged by ``doctor`` and ``status``."""

from __future__ import annotations

import re

import numpy as np
import pytest

from node.cli.swarm import numerics_note
from node.daemon.doctor import assess_numerics
from node.round.numerics import (
    CAPABILITY_PREFIX,
    fingerprint_of,
    numerics_capability,
    numerics_fingerprint,
)


def test_fingerprint_is_stable_hex() -> None:
    first = numerics_fingerprint.__wrapped__()
    assert re.fullmatch(r"[0-9a-f]{16}", first)
    assert numerics_fingerprint.__wrapped__() == first
    assert numerics_capability() == CAPABILITY_PREFIX + numerics_fingerprint()


def test_fingerprint_changes_when_a_last_bit_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    """A node whose exp() differed in the last bit would compute other strengths: the
    fingerprint must see it."""
    honest = numerics_fingerprint.__wrapped__()
    import ranking.robust as robust

    real = robust.expit

    def off_by_one_ulp(x: object) -> object:
        out = np.asarray(real(x))
        return np.nextafter(out, np.inf)

    monkeypatch.setattr(robust, "expit", off_by_one_ulp)
    assert numerics_fingerprint.__wrapped__() != honest


def test_fingerprint_of_capabilities() -> None:
    assert fingerprint_of(["generate", "rank", "numerics:00ff"]) == "00ff"
    assert fingerprint_of(["generate", "rank"]) is None


def test_assess_numerics() -> None:
    own = "aaaa"
    same = {"node_id": "n1", "capabilities": ["rank", "numerics:aaaa"]}
    older = {"node_id": "n2", "capabilities": ["rank"]}
    other = {"node_id": "n3", "capabilities": ["numerics:bbbb"]}
    me_elsewhere = {"node_id": "me", "capabilities": ["numerics:cccc"]}
    assert assess_numerics(own, "me", None).status == "skip"
    passed = assess_numerics(own, "me", [same, older, me_elsewhere])
    assert passed.status == "pass" and "the same as 1 members" in passed.detail
    # another float build is information, not a failure: records verify across builds
    mixed = assess_numerics(own, "me", [same, other])
    assert mixed.status == "pass"
    assert "1 of 2 members run another float build" in mixed.detail
    assert "n3 (bbbb)" in mixed.detail and "numerics 1" in mixed.detail


def test_status_note() -> None:
    assert numerics_note(["aa", "aa", ""]) == ""
    note = numerics_note(["aa", "bb", ""])
    assert "2 float builds" in note and "aa, bb" in note and "verify across builds" in note
