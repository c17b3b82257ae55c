"""The round benchmark at a tiny size: real nodes, real gRPC, every record on every ledger."""

from __future__ import annotations

import json

import pytest

from bench import bench_round

pytestmark = pytest.mark.integration


def test_bench_round_tiny_swarm(capsys: pytest.CaptureFixture[str]) -> None:
    result = bench_round.run(json_output=True, sizes=[3], rounds=3, warmup=1)

    assert json.loads(capsys.readouterr().out) == result
    (size,) = result["sizes"]
    assert size["nodes"] == 3
    assert size["rounds"] == 3
    for timing in ("round", "ask", "bare_fanout3", "signed_getinfo_fanout3", "record_check"):
        assert 0 < size[timing]["p50_ms"] <= size[timing]["p99_ms"], timing
    assert size["rounds_per_s"] > 0
    assert size["ratio"] > 0
    # Warm-up and timed rounds each appended one record on every node, the same one.
    assert size["ledger_heights"] == [4, 4, 4]
    assert size["ledger_heads_agree"] is True
