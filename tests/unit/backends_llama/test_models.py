"""node.models on generated fake packages: discovery, chunk assembly, hash checks, typed errors.

No real model is needed: each test writes small fake distributions (a ``*.dist-info`` folder
with METADATA and RECORD plus the files) into a temporary site folder and passes it as the
search path, with a catalog pinned to the fake files' hashes.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import replace
from pathlib import Path

import pytest

from node.errors import NodeError
from node.models import (
    ModelCorrupt,
    ModelError,
    ModelFormatError,
    ModelNotFound,
    ModelPart,
    ShippedModel,
    list_models,
    resolve_model,
)
from node.models.files import STAMP_FILE, assemble_parts, check_gguf, sha256_file

BODY = b"GGUF" + bytes(range(256)) * 40  # a fake model: right magic, arbitrary bytes
CHUNKS = [BODY[:3000], BODY[3000:7000], BODY[7000:]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_dist(site: Path, name: str, files: dict[str, bytes], version: str = "1.0") -> None:
    """A minimal installed distribution: its files plus a dist-info with METADATA and RECORD."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    record = []
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{rel},sha256={digest},{len(data)}")
    record.append(f"{info.name}/RECORD,,")
    (info / "RECORD").write_text("\n".join(record) + "\n")


def single_model(name: str = "tiny") -> ShippedModel:
    return ShippedModel(
        name=name,
        file_name="tiny.gguf",
        parts=(ModelPart("tiny-pkg", "tiny_pkg/tiny.gguf"),),
        sha256=sha(BODY),
        size_bytes=len(BODY),
        chat_format="chatml",
        prompt_style="chat",
        package="tiny-pkg==1.0",
    )


def chunked_model(name: str = "chunky") -> ShippedModel:
    return ShippedModel(
        name=name,
        file_name="chunky.gguf",
        parts=tuple(
            ModelPart(f"chunky-part{i}", f"chunky_part{i}/data/chunky.gguf.part{i:02d}")
            for i in range(len(CHUNKS))
        ),
        sha256=sha(BODY),
        size_bytes=len(BODY),
        chat_format="gemma",
        prompt_style="completion",
        package="chunky==1.0",
        stated_hash_file=ModelPart("chunky", "chunky/data/SHA256SUMS"),
    )


def install_chunky(site: Path, chunks: list[bytes] = CHUNKS, stated: str | None = None) -> None:
    for i, chunk in enumerate(chunks):
        write_dist(site, f"chunky-part{i}", {f"chunky_part{i}/data/chunky.gguf.part{i:02d}": chunk})
    sums = f"{stated or sha(BODY)}  chunky.gguf\n".encode()
    write_dist(site, "chunky", {"chunky/data/SHA256SUMS": sums})


@pytest.fixture
def site(tmp_path: Path) -> Path:
    path = tmp_path / "site"
    path.mkdir()
    return path


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def test_errors_form_a_tree_under_node_error() -> None:
    for cls in (ModelNotFound, ModelCorrupt, ModelFormatError):
        assert issubclass(cls, ModelError)
    assert issubclass(ModelError, NodeError)


def test_single_file_model_is_used_in_place_and_verified(site: Path, cache: Path) -> None:
    write_dist(site, "tiny-pkg", {"tiny_pkg/tiny.gguf": BODY})
    info = resolve_model("tiny", cache, catalog={"tiny": single_model()}, search_path=[str(site)])
    assert info.path == site / "tiny_pkg" / "tiny.gguf"
    assert info.verified and info.sha256 == sha(BODY) and info.size_bytes == len(BODY)
    assert info.chat_format == "chatml" and info.source == "tiny-pkg==1.0"
    assert not (cache / "tiny.gguf").exists()  # no copy of a single-file model


def test_chunked_model_is_assembled_once_into_the_cache(site: Path, cache: Path) -> None:
    install_chunky(site)
    catalog = {"chunky": chunked_model()}
    info = resolve_model("chunky", cache, catalog=catalog, search_path=[str(site)])
    assert info.path == cache / "chunky.gguf"
    assert info.path.read_bytes() == BODY and info.verified
    assert [p.name for p in cache.iterdir() if p.name.endswith(".tmp")] == []
    mtime = info.path.stat().st_mtime_ns
    again = resolve_model("chunky", cache, catalog=catalog, search_path=[str(site)])
    assert again.path == info.path and info.path.stat().st_mtime_ns == mtime  # not re-made


def test_corrupt_cached_copy_is_reassembled(site: Path, cache: Path) -> None:
    install_chunky(site)
    catalog = {"chunky": chunked_model()}
    path = resolve_model("chunky", cache, catalog=catalog, search_path=[str(site)]).path
    assert path is not None
    damaged = bytearray(BODY)
    damaged[100] ^= 0xFF
    path.write_bytes(bytes(damaged))
    os.utime(path, ns=(1, 1))  # a new mtime, so the hash stamp does not vouch for it
    info = resolve_model("chunky", cache, catalog=catalog, search_path=[str(site)])
    assert info.path is not None and info.path.read_bytes() == BODY


def test_corrupt_chunk_is_a_typed_error_and_leaves_no_file(site: Path, cache: Path) -> None:
    bad = [CHUNKS[0], CHUNKS[1][:-1] + b"\x00", CHUNKS[2]]
    install_chunky(site, bad)
    with pytest.raises(ModelCorrupt, match="sha256"):
        resolve_model("chunky", cache, catalog={"chunky": chunked_model()}, search_path=[str(site)])
    assert not (cache / "chunky.gguf").exists()
    assert [p for p in cache.iterdir() if p.suffix == ".tmp"] == []


def test_missing_chunk_package_names_the_package(site: Path, cache: Path) -> None:
    install_chunky(site, CHUNKS[:2])  # part 2 not installed
    with pytest.raises(ModelNotFound, match="chunky-part2") as info:
        resolve_model("chunky", cache, catalog={"chunky": chunked_model()}, search_path=[str(site)])
    assert "pip install chunky==1.0" in str(info.value)


def test_package_stating_another_hash_is_refused(site: Path, cache: Path) -> None:
    install_chunky(site, stated="0" * 64)
    with pytest.raises(ModelCorrupt, match="pins"):
        resolve_model("chunky", cache, catalog={"chunky": chunked_model()}, search_path=[str(site)])


def test_single_file_with_wrong_bytes_is_corrupt(site: Path, cache: Path) -> None:
    write_dist(site, "tiny-pkg", {"tiny_pkg/tiny.gguf": BODY[:-1] + b"\x01"})
    with pytest.raises(ModelCorrupt, match="expected"):
        resolve_model("tiny", cache, catalog={"tiny": single_model()}, search_path=[str(site)])


def test_truncated_single_file_is_corrupt_by_size(site: Path, cache: Path) -> None:
    write_dist(site, "tiny-pkg", {"tiny_pkg/tiny.gguf": BODY[:100]})
    with pytest.raises(ModelCorrupt, match="100 bytes"):
        resolve_model("tiny", cache, catalog={"tiny": single_model()}, search_path=[str(site)])


def test_user_file_must_be_gguf(tmp_path: Path, cache: Path) -> None:
    good = tmp_path / "mine.gguf"
    good.write_bytes(BODY)
    info = resolve_model(str(good), cache, catalog={})
    assert info.path == good and info.source == "file" and not info.verified
    assert resolve_model(str(good), cache, sha256=sha(BODY).upper(), catalog={}).verified
    with pytest.raises(ModelCorrupt):
        resolve_model(str(good), cache, sha256="0" * 64, catalog={})
    text = tmp_path / "model.gguf"
    text.write_text("not a model at all")
    with pytest.raises(ModelFormatError, match="not a GGUF"):
        resolve_model(str(text), cache, catalog={})
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelFormatError):
        resolve_model(str(empty), cache, catalog={})
    with pytest.raises(ModelNotFound, match="does not exist"):
        resolve_model(str(tmp_path / "absent.gguf"), cache, catalog={})
    with pytest.raises(ModelNotFound):
        resolve_model(str(tmp_path), cache, catalog={})  # a folder is not a model file


def test_unknown_name_lists_the_known_ones(site: Path, cache: Path) -> None:
    with pytest.raises(ModelNotFound, match="tiny") as info:
        resolve_model("nope", cache, catalog={"tiny": single_model()}, search_path=[str(site)])
    assert ".gguf" in str(info.value)
    with pytest.raises(ModelNotFound):
        resolve_model("", cache, catalog={}, search_path=[str(site)])


def test_list_reports_each_model_without_raising(site: Path, cache: Path) -> None:
    write_dist(site, "tiny-pkg", {"tiny_pkg/tiny.gguf": BODY})
    install_chunky(site, [CHUNKS[0], CHUNKS[1], CHUNKS[2] + b"!"])  # corrupt
    write_dist(site, "other-pkg", {"other_pkg/Extra-Model.Q8.gguf": BODY})
    catalog = {
        "tiny": single_model(),
        "chunky": chunked_model(),
        "ghost": replace(single_model("ghost"), parts=(ModelPart("ghost-pkg", "g.gguf"),)),
    }
    rows = {r.name: r for r in list_models(cache, catalog=catalog, search_path=[str(site)])}
    assert sorted(rows) == ["chunky", "extra-model.q8", "ghost", "tiny"]
    assert rows["tiny"].verified and rows["tiny"].available
    assert not rows["chunky"].available and rows["chunky"].detail.startswith("error:")
    assert not rows["ghost"].available and rows["ghost"].detail.startswith("not installed")
    extra = rows["extra-model.q8"]
    assert extra.source == "other-pkg==1.0" and extra.sha256 == sha(BODY) and not extra.verified
    resolved = resolve_model(
        "extra-model.q8", cache, catalog=catalog, search_path=[str(site)]
    )  # a packaged file resolves by its stem, checked against its RECORD hash
    assert resolved.verified and resolved.path == site / "other_pkg" / "Extra-Model.Q8.gguf"


def test_list_without_assembling_leaves_the_cache_empty(site: Path, cache: Path) -> None:
    install_chunky(site)
    rows = list_models(
        cache, assemble=False, catalog={"chunky": chunked_model()}, search_path=[str(site)]
    )
    assert rows[0].path is None and "not assembled" in rows[0].detail
    assert not (cache / "chunky.gguf").exists()


def test_sha256_stamp_skips_rehash_until_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"one")
    stamps = tmp_path / "stamps"
    assert sha256_file(path, stamp_dir=stamps) == sha(b"one")
    assert (stamps / STAMP_FILE).is_file()
    path.write_bytes(b"two")  # same size, new mtime
    os.utime(path, ns=(10**18, 10**18))
    assert sha256_file(path, stamp_dir=stamps) == sha(b"two")
    (stamps / STAMP_FILE).write_text("{not json")  # a broken stamp file only costs a re-hash
    assert sha256_file(path, stamp_dir=stamps) == sha(b"two")


def test_assemble_parts_checks_size_and_keeps_old_target(tmp_path: Path) -> None:
    parts = []
    for i, chunk in enumerate(CHUNKS):
        parts.append(tmp_path / f"p{i}")
        parts[-1].write_bytes(chunk)
    target = tmp_path / "out" / "m.gguf"
    target.parent.mkdir()
    target.write_bytes(b"old")
    with pytest.raises(ModelCorrupt, match=f"expected {len(BODY) + 1} bytes"):
        assemble_parts(parts, target, sha256=sha(BODY), size_bytes=len(BODY) + 1, name="m")
    assert target.read_bytes() == b"old"
    assemble_parts(parts, target, sha256=sha(BODY), size_bytes=len(BODY), name="m")
    assert target.read_bytes() == BODY
    check_gguf(target)
    with pytest.raises(ModelNotFound):
        assemble_parts([tmp_path / "gone"], target, sha256="", size_bytes=0, name="m")
