"""``swarmrank models list``: the language models this machine has for the ``llama`` backend.

Shipped models are found in installed packages (:mod:`node.models`), chunked ones assembled
into ``<data dir>/models`` and every file checked against its pinned sha256; a model that is
not installed is listed with the ``pip install`` line that provides it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def cmd_models_list(args: argparse.Namespace) -> int:
    from node.config import load_config
    from node.models import list_models

    config_path = Path(args.config).expanduser() if args.config else None
    config = load_config(config_path, overrides={"data_dir": args.data_dir})
    rows = list_models(config.data_path / "models", assemble=not args.no_assemble)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": r.name,
                        "path": str(r.path) if r.path else None,
                        "size_bytes": r.size_bytes,
                        "sha256": r.sha256,
                        "verified": r.verified,
                        "available": r.available,
                        "source": r.source,
                        "chat_format": r.chat_format,
                        "prompt_style": r.prompt_style,
                        "detail": r.detail,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return 0
    print(f"{'NAME':<24} {'SIZE':>9}  {'VERIFIED':<8}  {'SOURCE':<32} PATH / DETAIL")
    for r in rows:
        size = f"{r.size_bytes / 1e6:.1f} MB" if r.size_bytes else "?"
        where = str(r.path) if r.path else ""
        detail = f"  ({r.detail})" if r.detail else ""
        verified = "yes" if r.verified else "no"
        print(f"{r.name:<24} {size:>9}  {verified:<8}  {r.source:<32} {where}{detail}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    models = subparsers.add_parser("models", help="language models for backend llama")
    models_sub = models.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    listing = models_sub.add_parser(
        "list", help="models found in installed packages, verified and cached under the data dir"
    )
    listing.add_argument("--config", help="TOML config file (for data_dir)")
    listing.add_argument("--data-dir", default=None, help="state directory (models/ inside it)")
    listing.add_argument(
        "--no-assemble", action="store_true", help="do not assemble chunked models yet"
    )
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=cmd_models_list)
