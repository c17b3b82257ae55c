"""``swarmrank ledger verify`` on the ledger of a swarm with a private gold bank: its gold rounds
replay only with the bank (``--gold-bank``), and without it the failure says so."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from node.backends.sim import SimBackend
from node.cli.main import main
from node.round.gold import load_private_bank, use_private_bank
from node.testing import in_process_swarm

pytestmark = pytest.mark.integration

SWARM = "private-gold-test"


async def test_ledger_verify_replays_private_gold_with_the_bank(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bank = tmp_path / "bank.json"
    items = [{"question": f"What is {i} + {i + 7}?", "answer": str(2 * i + 7)} for i in range(40)]
    bank.write_text(json.dumps(items))
    use_private_bank(load_private_bank(bank))
    try:
        backends = [SimBackend(seed=i, generation_skill=0.5) for i in range(3)]
        async with in_process_swarm(tmp_path / "swarm", backends, swarm_id=SWARM) as swarm:
            # half the gold draws come from the bank: 12 rounds miss it once in 4,096 runs
            for _ in range(12):
                await swarm.nodes[0].run_gold_round()
            records = swarm.nodes[0].store.head()[0]
    finally:
        use_private_bank(None)
    assert records == 12
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(tmp_path / "swarm" / "node0" / "state.db", data / "node.sqlite3")

    assert main(["ledger", "verify", "--data-dir", str(data)]) == 1
    assert "pass it with --gold-bank FILE" in capsys.readouterr().err
    try:
        assert main(["ledger", "verify", "--data-dir", str(data), "--gold-bank", str(bank)]) == 0
        assert "OK, 12 records" in capsys.readouterr().out
    finally:
        use_private_bank(None)
