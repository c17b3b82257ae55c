"""``swarmrank keys new|show``: create and inspect a node's Ed25519 key file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from protocol.identity import Identity, load_identity, save_identity

DEFAULT_KEY_PATH = Path("~/.swarmrank/node.key")


def _path(args: argparse.Namespace) -> Path:
    return Path(args.path).expanduser()


def cmd_keys_new(args: argparse.Namespace) -> int:
    path = _path(args)
    identity = Identity.generate()
    save_identity(identity, path)
    print(f"wrote {path} (mode 0600)")
    print(f"node id:    {identity.node_id}")
    print(f"public key: {identity.public_key.hex()}")
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    identity = load_identity(_path(args))
    if args.json:
        print(json.dumps({"node_id": identity.node_id, "public_key": identity.public_key.hex()}))
    else:
        print(f"node id:    {identity.node_id}")
        print(f"public key: {identity.public_key.hex()}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = subparsers.add_parser("keys", help="create or show a node identity")
    keys_sub = keys.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    new = keys_sub.add_parser("new", help="write a new Ed25519 key file (never overwrites)")
    new.add_argument("--path", default=str(DEFAULT_KEY_PATH), help="key file path")
    new.set_defaults(handler=cmd_keys_new)
    show = keys_sub.add_parser("show", help="print the node id and public key")
    show.add_argument("--path", default=str(DEFAULT_KEY_PATH), help="key file path")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=cmd_keys_show)
