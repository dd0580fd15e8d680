"""Ed25519 node keys.

A node's private key lives in one PEM file (PKCS#8, mode 0600) in its data
folder and is created on first use.  Public keys travel as the raw 32 bytes in
unpadded base64url; the key id is derived from them, so it is stable.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_from_b64(text: str) -> Ed25519PublicKey:
    try:
        raw = _unb64url(text)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"public key {text!r} is not base64url") from exc
    if len(raw) != 32:
        raise ValueError(f"public key {text!r} is not 32 bytes of Ed25519 key")
    return Ed25519PublicKey.from_public_bytes(raw)


class NodeKey:
    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self.private_key = private_key
        self.public_key = private_key.public_key()
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.public_b64 = b64url(raw)
        self.kid = b64url(hashlib.sha256(raw).digest())[:16]

    @classmethod
    def generate(cls) -> NodeKey:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, data: bytes) -> NodeKey:
        key = serialization.load_pem_private_key(data, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the key file does not hold an Ed25519 private key")
        return cls(key)

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @classmethod
    def load_or_create(cls, path: Path) -> NodeKey:
        if path.exists():
            return cls.from_pem(path.read_bytes())
        path.parent.mkdir(parents=True, exist_ok=True)
        key = cls.generate()
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key.to_pem())
        try:
            os.link(tmp, path)  # never replace a key another process just created
        except FileExistsError:
            tmp.unlink()
            return cls.from_pem(path.read_bytes())
        tmp.unlink()
        return key
