"""The committed generated code matches what the pinned grpcio-tools produces."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.generate import PROTO_DIR, generate


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    generated = generate(tmp_path)
    assert len(generated) == 9  # three protos x (_pb2.py, _pb2.pyi, _pb2_grpc.py)
    stale = [p.name for p in generated if p.read_bytes() != (PROTO_DIR / p.name).read_bytes()]
    assert stale == [], f"run 'make proto': committed files differ: {stale}"


def test_every_proto_field_has_a_comment() -> None:
    for proto in PROTO_DIR.glob("*.proto"):
        for number, line in enumerate(proto.read_text().splitlines(), start=1):
            stripped = line.strip()
            is_field = (
                stripped.endswith(";")
                and "=" in stripped
                and not stripped.startswith(
                    ("option", "syntax", "package", "import", "//", "rpc", "reserved")
                )
            )
            if is_field:
                assert "//" in line, f"{proto.name}:{number} field without a comment"
