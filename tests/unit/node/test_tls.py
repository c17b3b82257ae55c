"""Certificates bound to node identities (:mod:`node.transport.tls`), the ``swarmrank certs`` CLI
and the TLS config fields. No sockets: the handshakes are in tests/integration/test_tls_grpc.py."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from node.cli.main import main
from node.config import load_config
from node.errors import ConfigError
from node.transport.tls import (
    BINDING_OID,
    binding_extension_value,
    channel_credentials_from_config,
    issue_node_certificate,
    load_certificate,
    new_ca,
    server_credentials_from_config,
    verify_certificate_binding,
)
from protocol.errors import InvalidSignature, Malformed
from protocol.identity import save_identity
from protocol.testing import test_identity

ME = test_identity(41)
OTHER = test_identity(42)


def test_issued_certificate_is_bound_to_the_identity() -> None:
    ca_cert, ca_key = new_ca()
    cert, _ = issue_node_certificate(ca_cert, ca_key, ME, hostnames=["node.example"])
    assert verify_certificate_binding(cert) == ME.node_id
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert f"swarmrank://{ME.node_id}" in sans.get_values_for_type(x509.UniformResourceIdentifier)
    assert "node.example" in sans.get_values_for_type(x509.DNSName)
    # Signed by the CA.
    ca_public = ca_cert.public_key()
    assert isinstance(ca_public, ec.EllipticCurvePublicKey)
    ca_public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA256()))


def _rebuild(
    template: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    key: ec.EllipticCurvePrivateKey,
    binding: bytes | None,
) -> x509.Certificate:
    """The template's subject and SANs on ``key`` with ``binding`` as the extension value."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(template.subject)
        .issuer_name(template.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(template.not_valid_before_utc)
        .not_valid_after(template.not_valid_after_utc)
        .add_extension(
            template.extensions.get_extension_for_class(x509.SubjectAlternativeName).value,
            critical=False,
        )
    )
    if binding is not None:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(BINDING_OID, binding), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


def test_binding_cannot_be_moved_to_another_key_or_identity() -> None:
    """The binding is the defence: without it (or with a copied one) a CA-signed certificate
    for ME's node id on another key would be indistinguishable."""
    ca_cert, ca_key = new_ca()
    cert, _ = issue_node_certificate(ca_cert, ca_key, ME)
    original = cert.extensions.get_extension_for_oid(BINDING_OID).value.value  # type: ignore[attr-defined]
    attacker_key = ec.generate_private_key(ec.SECP256R1())
    # The same binding bytes copied onto another certificate key: the signature does not cover it.
    with pytest.raises(InvalidSignature):
        verify_certificate_binding(_rebuild(cert, ca_key, key=attacker_key, binding=original))
    # Another identity's valid binding on a certificate whose CN / SAN name ME.
    forged = binding_extension_value(OTHER, attacker_key.public_key())
    with pytest.raises(Malformed, match="CN"):
        verify_certificate_binding(_rebuild(cert, ca_key, key=attacker_key, binding=forged))
    # No binding at all.
    with pytest.raises(Malformed, match="no swarmrank identity binding"):
        verify_certificate_binding(_rebuild(cert, ca_key, key=attacker_key, binding=None))
    with pytest.raises(Malformed, match="bytes"):
        verify_certificate_binding(_rebuild(cert, ca_key, key=attacker_key, binding=b"short"))


def test_certs_cli_writes_a_bound_certificate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key_path = tmp_path / "node.key"
    save_identity(ME, key_path)
    tls_dir = tmp_path / "tls"
    assert main(["certs", "new-ca", "--dir", str(tls_dir)]) == 0
    assert stat.S_IMODE((tls_dir / "ca.key").stat().st_mode) == 0o600
    assert (
        main(
            [
                "certs",
                "issue",
                "--key",
                str(key_path),
                "--ca-dir",
                str(tls_dir),
                "--out-dir",
                str(tls_dir),
            ]
        )
        == 0
    )
    assert stat.S_IMODE((tls_dir / "node-tls.key").stat().st_mode) == 0o600
    assert verify_certificate_binding(load_certificate(tls_dir / "node.pem")) == ME.node_id
    capsys.readouterr()
    assert main(["certs", "show", str(tls_dir / "node.pem"), "--json"]) == 0
    assert ME.node_id in capsys.readouterr().out
    config = load_config(
        None,
        environ={
            "SWARMRANK_TLS_MODE": "mtls",
            "SWARMRANK_TLS_CA_FILE": str(tls_dir / "ca.pem"),
            "SWARMRANK_TLS_CERT_FILE": str(tls_dir / "node.pem"),
            "SWARMRANK_TLS_KEY_FILE": str(tls_dir / "node-tls.key"),
        },
    )
    assert server_credentials_from_config(config) is not None
    assert channel_credentials_from_config(config) is not None
    # Never overwrites.
    assert main(["certs", "new-ca", "--dir", str(tls_dir)]) == 2


def test_tls_config(tmp_path: Path) -> None:
    off = load_config(None, environ={})
    assert off.tls_mode == "off"
    assert server_credentials_from_config(off) is None
    assert channel_credentials_from_config(off) is None
    with pytest.raises(ConfigError, match="tls_mode"):
        load_config(None, environ={"SWARMRANK_TLS_MODE": "ssl"})
    with pytest.raises(ConfigError, match="tls_ca_file"):
        load_config(
            None,
            environ={
                "SWARMRANK_TLS_MODE": "mtls",
                "SWARMRANK_TLS_CERT_FILE": "a.pem",
                "SWARMRANK_TLS_KEY_FILE": "a.key",
            },
        )
    config_file = tmp_path / "node.toml"
    missing = tmp_path / "missing.pem"
    config_file.write_text(
        f'[tls]\nmode = "mtls"\nca_file = "{missing}"\ncert_file = "{missing}"\n'
        f'key_file = "{missing}"\n'
    )
    config = load_config(config_file, environ={})
    assert config.tls_mode == "mtls"
    with pytest.raises(ConfigError, match="cannot read"):
        server_credentials_from_config(config)
