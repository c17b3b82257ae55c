"""Transport security: a local CA, node certificates bound to the Ed25519 identity, and the gRPC
credentials built from them.

Owns certificate generation (:func:`new_ca`, :func:`issue_node_certificate`), the identity
binding (:func:`binding_extension_value`, :func:`verify_certificate_binding`), PEM file I/O
(:func:`write_pem`, :func:`private_key_pem`) and the gRPC credentials
(:func:`server_credentials`, :func:`channel_credentials`, and the ``*_from_config`` pair that
reads ``tls_mode`` / ``tls_*_file`` of :class:`~node.config.NodeConfig`).

Why the certificate key is ECDSA P-256 and not the node's Ed25519 key: gRPC's TLS stack
(BoringSSL in grpcio 1.85) refuses an Ed25519 certificate at the handshake
(``NO_COMMON_SIGNATURE_ALGORITHMS``: its client does not offer Ed25519 signatures), and keeping
the identity key out of the TLS stack means it only ever signs protocol messages. The
certificate is instead *bound* to the identity:

* subject CN = node id, SAN ``URI:swarmrank://<node_id>`` (plus the DNS names / IPs to dial);
* a non-critical extension :data:`BINDING_OID` holding ``ed25519_public_key (32 bytes) ||
  signature (64 bytes)``, where the signature is the node identity's over
  ``BINDING_TAG || DER(SubjectPublicKeyInfo of the certificate key)``.

:func:`verify_certificate_binding` checks that the public key hashes to the CN / SAN node id and
that the signature covers this certificate's key, so a certificate cannot be re-keyed or
re-labelled with someone else's node id. The CA (one per swarm, generated locally with
``swarmrank certs new-ca``) is what TLS itself checks; the binding is what ties a TLS peer to a
swarm identity.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from node.config import TLS_MODES
from node.errors import ConfigError
from protocol.errors import InvalidSignature, Malformed
from protocol.identity import PUBLIC_KEY_BYTES, SIGNATURE_BYTES, Identity, node_id_from_public_key

if TYPE_CHECKING:
    from node.config import NodeConfig

__all__ = [
    "BINDING_OID",
    "BINDING_TAG",
    "TLS_MODES",
    "binding_extension_value",
    "channel_credentials",
    "channel_credentials_from_config",
    "issue_node_certificate",
    "load_certificate",
    "new_ca",
    "private_key_pem",
    "server_credentials",
    "server_credentials_from_config",
    "verify_certificate_binding",
    "write_pem",
]

#: Unregistered private-enterprise OID naming the identity-binding extension (swarmrank v1).
BINDING_OID = x509.ObjectIdentifier("1.3.6.1.4.1.57264.7700.1")
#: Domain tag of the binding signature, so it can never be replayed as a protocol signature.
BINDING_TAG = b"swarmrank/v1/tls-binding\x00"
URI_SCHEME = "swarmrank://"

CertAndKey = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _spki_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def new_ca(common_name: str = "swarmrank local CA", *, valid_days: int = 3650) -> CertAndKey:
    """A self-signed CA certificate and its ECDSA P-256 key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def binding_extension_value(
    identity: Identity, cert_public_key: ec.EllipticCurvePublicKey
) -> bytes:
    """``public key || signature`` of ``identity`` over the certificate key (module docstring)."""
    signature = identity.sign(BINDING_TAG + _spki_der(cert_public_key))
    return identity.public_key + signature


def issue_node_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    identity: Identity,
    *,
    hostnames: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    valid_days: int = 365,
) -> CertAndKey:
    """A node certificate (server and client auth) signed by the CA and bound to ``identity``.

    ``hostnames`` and ``ip_addresses`` become DNS / IP SANs: the names peers dial, which TLS
    hostname verification checks.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    node_id = identity.node_id
    sans: list[x509.GeneralName] = [x509.UniformResourceIdentifier(URI_SCHEME + node_id)]
    sans += [x509.DNSName(h) for h in hostnames]
    sans += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, node_id)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .add_extension(
            x509.UnrecognizedExtension(
                BINDING_OID, binding_extension_value(identity, key.public_key())
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def verify_certificate_binding(cert: x509.Certificate) -> str:
    """The node id a certificate is bound to; raises if the binding does not hold.

    Checks: the binding extension is present and well formed, its Ed25519 signature covers this
    certificate's public key, and the key's node id equals the subject CN and the
    ``swarmrank://`` SAN. (That the certificate chains to the swarm CA is TLS's job.)

    Raises
    ------
    Malformed
        No binding extension, wrong length, a certificate key that is not ECDSA, or a CN / SAN
        that does not name the bound node id.
    InvalidSignature
        The binding signature does not verify.
    """
    try:
        ext = cert.extensions.get_extension_for_oid(BINDING_OID)
    except x509.ExtensionNotFound as exc:
        raise Malformed("certificate carries no swarmrank identity binding") from exc
    value = ext.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if len(raw) != PUBLIC_KEY_BYTES + SIGNATURE_BYTES:
        raise Malformed(f"identity binding of {len(raw)} bytes; expected 96")
    public_raw, signature = raw[:PUBLIC_KEY_BYTES], raw[PUBLIC_KEY_BYTES:]
    cert_key = cert.public_key()
    if not isinstance(cert_key, ec.EllipticCurvePublicKey):
        raise Malformed("certificate key is not an ECDSA key")
    try:
        Ed25519PublicKey.from_public_bytes(public_raw).verify(
            signature, BINDING_TAG + _spki_der(cert_key)
        )
    except CryptoInvalidSignature as exc:
        raise InvalidSignature(
            "identity binding signature does not cover this certificate"
        ) from exc
    node_id = node_id_from_public_key(public_raw)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names or names[0].value != node_id:
        raise Malformed(f"certificate CN does not name the bound node id {node_id}")
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise Malformed("certificate has no subject alternative names") from exc
    uris = sans.get_values_for_type(x509.UniformResourceIdentifier)
    if URI_SCHEME + node_id not in uris:
        raise Malformed(f"certificate has no SAN {URI_SCHEME}{node_id}")
    return node_id


# --- files ---


def private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """Unencrypted PKCS#8 PEM of a TLS key."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_pem(path: Path, data: bytes, *, private: bool) -> None:
    """Write a new PEM file (never overwrites); private keys get mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o644)
    try:
        if private:
            os.fchmod(fd, 0o600)  # independent of the umask
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def load_certificate(path: Path) -> x509.Certificate:
    """A PEM certificate from ``path``."""
    return x509.load_pem_x509_certificate(Path(path).read_bytes())


def _read(field: str, path: str) -> bytes:
    if not path:
        raise ConfigError(f"invalid {field} = '': TLS needs this file")
    try:
        return Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise ConfigError(f"invalid {field} = {path!r}: cannot read it ({exc.strerror})") from None


# --- gRPC credentials ---


def server_credentials(
    cert_pem: bytes, key_pem: bytes, ca_pem: bytes | None = None, *, require_client_auth: bool
) -> grpc.ServerCredentials:
    """Server TLS credentials; with ``require_client_auth`` (mutual TLS) a client must present
    a certificate chaining to ``ca_pem`` or the handshake fails."""
    if require_client_auth and not ca_pem:
        raise ConfigError("mutual TLS needs the CA certificate that client certificates chain to")
    return grpc.ssl_server_credentials(
        [(key_pem, cert_pem)], root_certificates=ca_pem, require_client_auth=require_client_auth
    )


def channel_credentials(
    ca_pem: bytes, cert_pem: bytes | None = None, key_pem: bytes | None = None
) -> grpc.ChannelCredentials:
    """Client TLS credentials trusting ``ca_pem``; with a certificate and key for mutual TLS."""
    return grpc.ssl_channel_credentials(
        root_certificates=ca_pem, private_key=key_pem, certificate_chain=cert_pem
    )


def server_credentials_from_config(config: NodeConfig) -> grpc.ServerCredentials | None:
    """The server credentials ``config.tls_mode`` asks for; ``None`` for plaintext."""
    if config.tls_mode == "off":
        return None
    mtls = config.tls_mode == "mtls"
    ca = _read("tls_ca_file", config.tls_ca_file) if mtls or config.tls_ca_file else None
    return server_credentials(
        _read("tls_cert_file", config.tls_cert_file),
        _read("tls_key_file", config.tls_key_file),
        ca,
        require_client_auth=mtls,
    )


def channel_credentials_from_config(config: NodeConfig) -> grpc.ChannelCredentials | None:
    """The credentials outgoing calls use under ``config.tls_mode``; ``None`` for plaintext.
    In ``mtls`` mode the node presents its own certificate."""
    if config.tls_mode == "off":
        return None
    ca = _read("tls_ca_file", config.tls_ca_file)
    if config.tls_mode == "mtls":
        return channel_credentials(
            ca,
            _read("tls_cert_file", config.tls_cert_file),
            _read("tls_key_file", config.tls_key_file),
        )
    return channel_credentials(ca)
