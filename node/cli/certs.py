"""``swarmrank certs new-ca|issue|show``: a swarm's local CA and node certificates bound to the
node's Ed25519 key (:mod:`node.transport.tls`). Files are never overwritten; private keys get mode
0600."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from node.errors import ConfigError
from node.transport.tls import (
    issue_node_certificate,
    load_certificate,
    new_ca,
    private_key_pem,
    verify_certificate_binding,
    write_pem,
)
from protocol.identity import load_identity

DEFAULT_DIR = Path("~/.swarmrank/tls")
DEFAULT_KEY_PATH = Path("~/.swarmrank/node.key")


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _fresh(*paths: Path) -> None:
    for path in paths:
        if path.exists():
            raise ConfigError(f"{path} already exists; refusing to overwrite it")


def cmd_new_ca(args: argparse.Namespace) -> int:
    out = Path(args.dir).expanduser()
    cert_path, key_path = out / "ca.pem", out / "ca.key"
    _fresh(cert_path, key_path)
    cert, key = new_ca(args.name, valid_days=args.days)
    write_pem(key_path, private_key_pem(key), private=True)
    write_pem(cert_path, _cert_pem(cert), private=False)
    print(f"wrote {cert_path} (CA certificate: give it to every node of the swarm)")
    print(f"wrote {key_path} (mode 0600: keep it off the nodes)")
    return 0


def cmd_issue(args: argparse.Namespace) -> int:
    identity = load_identity(Path(args.key).expanduser())
    ca_dir = Path(args.ca_dir).expanduser()
    ca_cert = load_certificate(ca_dir / "ca.pem")
    ca_key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ConfigError(f"{ca_dir / 'ca.key'} is not an ECDSA CA key")
    out = Path(args.out_dir).expanduser()
    cert_path, key_path = out / "node.pem", out / "node-tls.key"
    _fresh(cert_path, key_path)
    cert, key = issue_node_certificate(
        ca_cert,
        ca_key,
        identity,
        hostnames=args.host or ["localhost"],
        ip_addresses=args.ip or ["127.0.0.1"],
        valid_days=args.days,
    )
    write_pem(key_path, private_key_pem(key), private=True)
    write_pem(cert_path, _cert_pem(cert), private=False)
    print(f"wrote {cert_path} (bound to node id {identity.node_id})")
    print(f"wrote {key_path} (mode 0600)")
    print(
        f'set tls_cert_file = "{cert_path}", tls_key_file = "{key_path}", '
        f'tls_ca_file = "{ca_dir / "ca.pem"}"'
    )
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    cert = load_certificate(Path(args.cert).expanduser())
    node_id = verify_certificate_binding(cert)
    info = {
        "node_id": node_id,
        "issuer": cert.issuer.rfc4514_string(),
        "not_valid_after": cert.not_valid_after_utc.isoformat(),
    }
    print(json.dumps(info) if args.json else "\n".join(f"{k}: {v}" for k, v in info.items()))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    certs = subparsers.add_parser("certs", help="create TLS certificates bound to node identities")
    sub = certs.add_subparsers(dest="certs_command", metavar="ACTION", required=True)
    ca = sub.add_parser("new-ca", help="create the swarm's CA (ca.pem, ca.key)")
    ca.add_argument("--dir", default=str(DEFAULT_DIR), help="output directory")
    ca.add_argument("--name", default="swarmrank local CA", help="CA common name")
    ca.add_argument("--days", type=int, default=3650, help="validity in days")
    ca.set_defaults(handler=cmd_new_ca)
    issue = sub.add_parser("issue", help="issue a node certificate bound to a node key")
    issue.add_argument("--key", default=str(DEFAULT_KEY_PATH), help="the node's Ed25519 key file")
    issue.add_argument("--ca-dir", default=str(DEFAULT_DIR), help="directory with ca.pem, ca.key")
    issue.add_argument("--out-dir", default=str(DEFAULT_DIR), help="where node.pem goes")
    issue.add_argument("--host", action="append", help="DNS name peers dial (repeatable)")
    issue.add_argument("--ip", action="append", help="IP address peers dial (repeatable)")
    issue.add_argument("--days", type=int, default=365, help="validity in days")
    issue.set_defaults(handler=cmd_issue)
    show = sub.add_parser("show", help="check a certificate's identity binding")
    show.add_argument("cert", help="PEM certificate")
    show.add_argument("--json", action="store_true", help="machine-readable output")
    show.set_defaults(handler=cmd_show)
