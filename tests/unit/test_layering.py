"""The functional core stays pure: importing it loads neither gRPC nor Ray."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FORBIDDEN = ("grpc", "ray", "aiohttp", "asyncio")


@pytest.mark.parametrize(
    "module", ["ranking", "protocol", "protocol.signing", "protocol.replay", "protocol.hashing"]
)
def test_core_import_loads_no_network_stack(module: str) -> None:
    code = f"import json, sys; import {module}; print(json.dumps(sorted(m for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    loaded = set(json.loads(out))
    offending = sorted(m for m in loaded if m.split(".")[0] in FORBIDDEN)
    assert offending == [], f"import {module} loaded {offending}"


def test_ranking_imports_nothing_of_ours() -> None:
    code = "import json, sys; import ranking; print(json.dumps(sorted(m for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    ours = sorted(m for m in json.loads(out) if m.split(".")[0] in ("protocol", "node", "sim"))
    assert ours == []
