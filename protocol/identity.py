"""Node identities: Ed25519 key pairs (``cryptography``), node ids and key files.

``Identity`` holds a private key and signs; ``node_id_from_public_key`` derives the public node
id (hex of the first 16 bytes of SHA-256 of the raw public key). Key files are PKCS#8 PEM,
created with mode 0600 and never overwritten; loading refuses files readable by others.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.errors import KeyFileCorrupt, KeyFileExists, KeyFileMissing, KeyFilePermissions

PUBLIC_KEY_BYTES = 32
SIGNATURE_BYTES = 64
NODE_ID_BYTES = 16


def node_id_from_public_key(public_key: bytes) -> str:
    """Return the node id of a raw 32-byte Ed25519 public key (hex, 32 characters)."""
    return hashlib.sha256(public_key).digest()[:NODE_ID_BYTES].hex()


@dataclass(frozen=True)
class Identity:
    """An Ed25519 signing identity. ``repr`` never shows the private key."""

    private_key: Ed25519PrivateKey = field(repr=False)
    public_key: bytes = field(init=False)
    node_id: str = field(init=False)

    def __post_init__(self) -> None:
        raw = self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        object.__setattr__(self, "public_key", raw)
        object.__setattr__(self, "node_id", node_id_from_public_key(raw))

    @classmethod
    def generate(cls) -> Identity:
        """A fresh random identity."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        """A deterministic identity from a 32-byte seed (tests and simulations only)."""
        if len(seed) != 32:
            raise ValueError("an Ed25519 seed is exactly 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def sign(self, data: bytes) -> bytes:
        """Sign ``data`` and return the 64-byte signature."""
        return self.private_key.sign(data)

    def private_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM (for writing key files)."""
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def save_identity(identity: Identity, path: Path) -> None:
    """Write ``identity`` to a new key file at ``path`` with mode 0600.

    Raises :class:`KeyFileExists` if anything is already at ``path``: keys are never overwritten.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise KeyFileExists(f"{path}: a key file already exists; refusing to overwrite it") from exc
    try:
        os.fchmod(fd, 0o600)  # independent of the umask
        os.write(fd, identity.private_pem())
        os.fsync(fd)
    finally:
        os.close(fd)


def load_identity(path: Path) -> Identity:
    """Load a key file written by :func:`save_identity`.

    Raises :class:`KeyFileMissing`, :class:`KeyFilePermissions` (group/other bits set) or
    :class:`KeyFileCorrupt`, each naming the file.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise KeyFileMissing(f"{path}: no key file (create one with 'swarmrank keys new')") from exc
    if not stat.S_ISREG(mode):
        raise KeyFileCorrupt(f"{path}: not a regular file")
    if mode & 0o077:
        raise KeyFilePermissions(
            f"{path}: key file mode is {stat.S_IMODE(mode):04o}; it must be private "
            f"(run 'chmod 600 {path}')"
        )
    data = path.read_bytes()
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise KeyFileCorrupt(f"{path}: not a readable unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileCorrupt(f"{path}: the key is not an Ed25519 key")
    return Identity(key)
