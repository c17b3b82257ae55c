"""Honest nodes on different float builds agree (issue 14): a swarm with trust on whose nodes
compute ``exp``/``log``/``expit`` differently, or run different numpy major versions, keeps
one ledger, slashes nobody, and every node replays its ledger on its own build. The same mix
under the bit-for-bit rules of older records (``numerics = 0``) forks, which is why the rules
changed.

Each node is its own process (``tests/integration/numerics_node.py``), so each has its own
math library; the numpy 1.x environment is built by ``make test`` (``.venv-numpy1``).
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.integration.numerics_node import MARK

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
NUMPY1_PYTHON = ROOT / ".venv-numpy1" / "bin" / "python"
#: relative error put on every exp, log and expit of the perturbed node: about 10^4 ulps
PERTURBATION = 1e-12


class NodeProcess:
    """A ``numerics_node`` child: one JSON command in, one JSON reply out."""

    def __init__(self, python: str, index: int, tmp: Path, numerics: int, perturb: float) -> None:
        self.log = (tmp / f"node{index}.log").open("w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("SWARMRANK_")}
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(
            [
                python,
                "-m",
                "tests.integration.numerics_node",
                f"--index={index}",
                f"--data-dir={tmp / f'node{index}'}",
                f"--numerics={numerics}",
                f"--perturb={perturb}",
            ],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
        )
        self.replies: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.hello = self.receive(120.0)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                self.replies.put(json.loads(line[len(MARK) :]))

    def receive(self, timeout_s: float) -> dict[str, Any]:
        try:
            return self.replies.get(timeout=timeout_s)
        except queue.Empty:
            self.log.flush()
            tail = Path(self.log.name).read_text()[-3000:]
            raise AssertionError(f"node process did not answer in {timeout_s} s:\n{tail}") from None

    def call(self, command: dict[str, Any], timeout_s: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        return self.receive(timeout_s)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.call({"cmd": "stop"}, 20.0)
                self.proc.wait(timeout=20)
            except (AssertionError, subprocess.TimeoutExpired, BrokenPipeError):
                self.proc.kill()
        self.log.close()


def run_swarm(
    tmp: Path, pythons: list[str], perturb: list[float], numerics: int, rounds: int
) -> dict[str, Any]:
    """Start the nodes, lead ``rounds`` rounds rotating the leader, and report what each node
    holds. Stops early, with ``"forked"`` set, when the nodes' ledgers part ways."""
    nodes: list[NodeProcess] = []
    try:
        for index, (python, eps) in enumerate(zip(pythons, perturb, strict=True)):
            nodes.append(NodeProcess(python, index, tmp, numerics, eps))
        addresses = [n.hello["address"] for n in nodes]
        for n in nodes:
            assert n.call({"peers": addresses})["members"] == len(nodes)
        asks: list[dict[str, Any]] = []
        forked = False
        for r in range(rounds):
            leader = nodes[r % len(nodes)]
            asks.append(leader.call({"cmd": "ask", "question": f"What is {17 + r} + {25 + r}?"}))
            target = leader.call({"cmd": "head"})
            deadline = time.monotonic() + 30.0
            while True:
                heads = [n.call({"cmd": "head"}) for n in nodes]
                if all(h == target for h in heads):
                    break
                if time.monotonic() > deadline:
                    forked = True
                    break
                time.sleep(0.05)
            if forked:
                break
        reports = [n.call({"cmd": "report"}, 120.0) for n in nodes]
        heads = [n.call({"cmd": "head"}) for n in nodes]
        return {
            "asks": asks,
            "heads": heads,
            "reports": reports,
            "forked": forked,
            "numpy": [n.hello["numpy"] for n in nodes],
            "fingerprints": [n.hello["fingerprint"] for n in nodes],
        }
    finally:
        for n in nodes:
            n.close()


def assert_one_honest_ledger(outcome: dict[str, Any], rounds: int) -> None:
    assert not outcome["forked"]
    assert all(a["ok"] for a in outcome["asks"]), outcome["asks"]
    heads = outcome["heads"]
    assert len({(h["height"], h["head"]) for h in heads}) == 1
    # the genesis record plus one record per round
    assert heads[0]["height"] == rounds + 1
    for report in outcome["reports"]:
        assert report["rejected"] == []
        assert set(report["statuses"].values()) == {"admitted"}, report["statuses"]
        assert report["verified"] == rounds + 1


@pytest.mark.timeout(900)
def test_a_node_with_another_math_library_keeps_the_ledger(tmp_path: Path) -> None:
    """Four nodes, trust on, one of them with every exp, log and expit off by 1e-12; each
    leads in turn (the perturbed one too), 50 rounds."""
    rounds = 50
    outcome = run_swarm(
        tmp_path, [sys.executable] * 4, [0.0, PERTURBATION, 0.0, 0.0], numerics=1, rounds=rounds
    )
    assert_one_honest_ledger(outcome, rounds)


@pytest.mark.timeout(600)
def test_bit_for_bit_rules_fork_on_the_same_mix(tmp_path: Path) -> None:
    """The undefended arm: the same swarm under numerics 0 (what records were before) does not
    keep one ledger: the perturbed node's records do not recompute on the others, or theirs
    on it."""
    outcome = run_swarm(
        tmp_path, [sys.executable] * 4, [0.0, PERTURBATION, 0.0, 0.0], numerics=0, rounds=16
    )  # it stops at the first fork; 16 rounds, since a round with one answer has nothing to fit
    rejected = [r for report in outcome["reports"] for r in report["rejected"]]
    assert outcome["forked"] or rejected
    assert any("outcome" in reason for reason in rejected) or outcome["forked"]


@pytest.mark.timeout(900)
@pytest.mark.skipif(
    not NUMPY1_PYTHON.exists(), reason=".venv-numpy1 missing: `make venv-numpy1` builds it"
)
def test_numpy_1_and_numpy_2_nodes_keep_one_ledger(tmp_path: Path) -> None:
    """Two nodes on numpy 1.26, two on numpy 2.x, trust on, 50 rounds, each leading in turn."""
    rounds = 50
    pythons = [sys.executable, str(NUMPY1_PYTHON), sys.executable, str(NUMPY1_PYTHON)]
    outcome = run_swarm(tmp_path, pythons, [0.0] * 4, numerics=1, rounds=rounds)
    majors = {version.split(".")[0] for version in outcome["numpy"]}
    assert majors == {"1", "2"}, outcome["numpy"]
    # the two installs really compute differently (their float fingerprints differ)
    assert len(set(outcome["fingerprints"])) == 2, outcome["fingerprints"]
    assert_one_honest_ledger(outcome, rounds)
