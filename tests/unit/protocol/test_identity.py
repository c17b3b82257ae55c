"""Key files: created private, never overwritten, clear errors naming the file."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from node.cli.main import main
from protocol.errors import KeyFileCorrupt, KeyFileExists, KeyFileMissing, KeyFilePermissions
from protocol.identity import Identity, load_identity, node_id_from_public_key, save_identity


def test_roundtrip_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "node.key"
    identity = Identity.generate()
    save_identity(identity, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded = load_identity(path)
    assert loaded.public_key == identity.public_key
    assert loaded.node_id == hashlib.sha256(identity.public_key).digest()[:16].hex()
    assert node_id_from_public_key(identity.public_key) == identity.node_id


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    save_identity(Identity.generate(), path)
    before = path.read_bytes()
    with pytest.raises(KeyFileExists, match=str(path)):
        save_identity(Identity.generate(), path)
    assert path.read_bytes() == before


def test_clear_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "node.key"
    with pytest.raises(KeyFileMissing, match=str(path)):
        load_identity(path)
    save_identity(Identity.generate(), path)
    path.chmod(0o640)
    with pytest.raises(KeyFilePermissions, match="chmod 600"):
        load_identity(path)
    path.chmod(0o600)
    path.write_bytes(b"not a key")
    with pytest.raises(KeyFileCorrupt, match=str(path)):
        load_identity(path)


def test_repr_hides_private_key() -> None:
    identity = Identity.generate()
    assert "private" not in repr(identity)
    assert identity.private_pem().decode() not in repr(identity)


def test_cli_keys_new_and_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "node.key"
    assert main(["keys", "new", "--path", str(path)]) == 0
    created = capsys.readouterr().out
    assert main(["keys", "show", "--path", str(path), "--json"]) == 0
    shown = capsys.readouterr().out
    identity = load_identity(path)
    assert identity.node_id in created and identity.node_id in shown
    assert main(["keys", "new", "--path", str(path)]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    path.chmod(0o644)
    assert main(["keys", "show", "--path", str(path)]) == 2
    assert str(path) in capsys.readouterr().err
