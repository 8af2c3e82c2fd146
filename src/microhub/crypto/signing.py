"""Signing keys for journal series, and the signature check the verifier uses.

Keys are Ed25519 (hub registers) or, for browsers without Ed25519 in WebCrypto, ECDSA P-256
with SHA-256 (``es256``, signatures as raw ``r || s`` like WebCrypto produces). A key id is the
first 16 hex digits of SHA-256 over the raw public key.

The hub's private key lives in ``DATA/keys/<key_id>.pem`` (PKCS#8), created with mode 0600 and
never printed or logged. :class:`FileSigner` loads it on first use and, if it cannot, raises
``SigningError`` so the journal can chain the record unsigned and recover later (a signing failure
never blocks a sale).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from microhub.domain.verify import PublicKey
from microhub.errors import SigningError

__all__ = [
    "FileSigner",
    "Signer",
    "check_signature",
    "check_signatures",
    "generate_key_file",
    "key_id_for",
    "load_public_key",
]


class Signer(Protocol):
    """Signs journal summaries. ``sign`` raises ``SigningError`` when the key is unusable."""

    key_id: str
    alg: str

    def sign(self, message: bytes) -> bytes: ...


def key_id_for(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()[:16]


def _ed25519_public_raw(private: ed25519.Ed25519PrivateKey) -> bytes:
    return private.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )


def generate_key_file(folder: Path) -> PublicKey:
    """Create a new Ed25519 key in ``folder`` (mode 0600) and return its public half."""
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    private = ed25519.Ed25519PrivateKey.generate()
    public_raw = _ed25519_public_raw(private)
    key_id = key_id_for(public_raw)
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path = folder / f"{key_id}.pem"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
        handle.flush()
        os.fsync(handle.fileno())
    return PublicKey(key_id=key_id, alg="ed25519", raw=public_raw)


class FileSigner:
    """An Ed25519 signer whose key is a file in the hub's key folder."""

    alg = "ed25519"

    def __init__(self, folder: Path, key_id: str) -> None:
        self.key_id = key_id
        self._path = folder / f"{key_id}.pem"
        self._key: ed25519.Ed25519PrivateKey | None = None

    def _load(self) -> ed25519.Ed25519PrivateKey:
        try:
            loaded = serialization.load_pem_private_key(self._path.read_bytes(), password=None)
        except (OSError, ValueError) as exc:
            raise SigningError(
                f"signing key {self.key_id} cannot be read ({type(exc).__name__})",
                details={"key_id": self.key_id},
                retryable=True,
            ) from None
        if not isinstance(loaded, ed25519.Ed25519PrivateKey):
            raise SigningError(
                f"signing key {self.key_id} is not an Ed25519 key", details={"key_id": self.key_id}
            )
        if key_id_for(_ed25519_public_raw(loaded)) != self.key_id:
            raise SigningError(
                f"the file for key {self.key_id} holds a different key",
                details={"key_id": self.key_id},
            )
        return loaded

    def switch_to(self, key_id: str) -> None:
        """Sign with another key of the same folder from now on (after a recorded key change)."""
        self.key_id = key_id
        self._path = self._path.parent / f"{key_id}.pem"
        self._key = None

    def sign(self, message: bytes) -> bytes:
        if self._key is None:
            self._key = self._load()
        return self._key.sign(message)

    def __repr__(self) -> str:
        return f"FileSigner(key_id={self.key_id!r})"


def load_public_key(key: PublicKey) -> ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey:
    if key.alg == "ed25519":
        return ed25519.Ed25519PublicKey.from_public_bytes(key.raw)
    if key.alg == "es256":
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), key.raw)
    raise SigningError(f"unknown key algorithm {key.alg!r}", details={"key_id": key.key_id})


_CACHE: dict[tuple[str, bytes], ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey] = {}


def check_signature(key: PublicKey, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is valid for ``message`` under ``key``; never raises on bad input."""
    cache_key = (key.alg, key.raw)
    public = _CACHE.get(cache_key)
    try:
        if public is None:
            public = _CACHE.setdefault(cache_key, load_public_key(key))
        if isinstance(public, ed25519.Ed25519PublicKey):
            public.verify(signature, message)
        else:
            if len(signature) != 64:
                return False
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            public.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, SigningError):
        return False
    return True


_POOL: ThreadPoolExecutor | None = None


def check_signatures(jobs: Sequence[tuple[PublicKey, bytes, bytes]]) -> list[bool]:
    """Check many signatures, in parallel threads (``cryptography`` releases the GIL)."""
    global _POOL
    workers = min(8, os.cpu_count() or 1)
    if len(jobs) < 64 or workers == 1:
        return [check_signature(k, m, s) for k, m, s in jobs]
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify")
    size = -(-len(jobs) // workers)
    chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    results: list[bool] = []
    for part in _POOL.map(lambda chunk: [check_signature(k, m, s) for k, m, s in chunk], chunks):
        results.extend(part)
    return results
