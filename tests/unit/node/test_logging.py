"""Structured logs: JSON lines with context keys; private keys never appear."""

from __future__ import annotations

import io
import json

from node.logging import configure_logging, get_logger
from protocol.testing import test_identity


def test_json_lines_with_context_and_redaction() -> None:
    stream = io.StringIO()
    configure_logging("debug", "json", stream)
    identity = test_identity(5)
    pem = identity.private_pem().decode()
    get_logger("t").info("hello", extra={"query_id": b"\x01\x02".hex(), "peer": "p"})
    get_logger("t").warning("oops %s", pem)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["msg"] == "hello" and lines[0]["query_id"] == "0102"
    assert lines[0]["level"] == "info" and lines[0]["logger"] == "swarmrank.t"
    assert "PRIVATE KEY" not in stream.getvalue()
    assert "redacted" in lines[1]["msg"]
