"""Regenerate the committed protobuf and gRPC code under ``protocol/v1/``.

Run ``python -m protocol.generate`` (or ``make proto``) with the pinned ``grpcio-tools``.
The proto path is the repository root, so ``package protocol.v1;`` files import each other as
``protocol.v1.x_pb2`` without patching. ``tests/unit/protocol/test_generated.py`` regenerates
into a temporary folder and fails on any difference from the committed files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "protocol" / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def proto_files() -> list[Path]:
    """Return the ``.proto`` files of protocol v1, sorted."""
    return sorted(PROTO_DIR.glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Generate Python code for every proto into ``out_dir`` (mirroring ``protocol/v1``).

    Returns the generated files. Raises ``RuntimeError`` when protoc fails.
    """
    import grpc_tools
    from grpc_tools import protoc  # dev-only dependency, imported lazily

    include = Path(grpc_tools.__file__).parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"--proto_path={ROOT}",
        f"--proto_path={include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(ROOT)) for p in proto_files()),
    ]
    code = protoc.main(args)
    if code != 0:
        raise RuntimeError(f"protoc failed with exit code {code}")
    gen_dir = out_dir / "protocol" / "v1"
    return sorted(p for p in gen_dir.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate(Path(tmp)):
            shutil.copyfile(path, PROTO_DIR / path.name)
            print(f"wrote {(PROTO_DIR / path.name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
