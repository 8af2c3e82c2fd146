"""The hub key: 32 random bytes that protect every person's key, stored wrapped in one file.

The file is ``DATA/keys/hub.key`` (JSON, created with mode 0600, never printed or logged). It
holds the key in one of two wrappings:

* ``"wrap": "file"`` — the embedded default. The key is in the file itself; the protection is
  the file mode (readable only by its owner) and the disk it is on.
* ``"wrap": "argon2id"`` — the key is sealed with AES-256-GCM under a key derived from an
  operator passphrase with Argon2id (:data:`ARGON2_TIME_COST` passes over
  :data:`ARGON2_MEMORY_KIB` KiB with :data:`ARGON2_PARALLELISM` lanes, 16-byte random salt; the
  parameters are stored in the file so they can be raised later). A wrong passphrase fails the
  GCM tag check and raises ``ValidationError(code="wrong_passphrase")``.

Sub-keys are derived with HKDF-SHA256 (``info`` names the purpose): the blind-index key and the
key that wraps per-person keys. The ``key_id`` is an HMAC of a constant under the key, so it
names the key without revealing it.

Replacing the hub key (``key rotate``, and every erasure) is crash-safe: the new key is written
to ``hub.key.next`` first, the database re-wraps the person keys and records the new key id in
one transaction, and only then does ``hub.key.next`` replace ``hub.key``.
:func:`load_hub_key` picks whichever of the two files the database names.

The hub's backup identity (an age X25519 identity, ``keys/backup-identity.txt``, mode 0600) is
separate from the hub key so that replacing the hub key never locks the hub out of its own
earlier backups.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from microhub.errors import ConfigurationError, ValidationError

__all__ = [
    "ARGON2_MEMORY_KIB",
    "ARGON2_PARALLELISM",
    "ARGON2_TIME_COST",
    "BACKUP_IDENTITY_FILE",
    "HUB_KEY_FILE",
    "HubKey",
    "backup_recipient",
    "create_backup_identity",
    "create_hub_key_file",
    "load_backup_identity",
    "load_hub_key",
    "new_hub_key",
    "promote_next",
    "read_key_file_info",
    "write_hub_key_file",
]

HUB_KEY_FILE = "hub.key"
NEXT_SUFFIX = ".next"
BACKUP_IDENTITY_FILE = "backup-identity.txt"
FORMAT = "microhub-hub-key"

# Argon2id, RFC 9106's second recommended option with memory lowered for a Raspberry Pi:
# t=3 passes, 64 MiB, 2 lanes. About 0.3 s on a Pi 4; stored per file, so it can be raised.
ARGON2_TIME_COST = 3
ARGON2_MEMORY_KIB = 64 * 1024
ARGON2_PARALLELISM = 2


@dataclass(frozen=True, slots=True)
class HubKey:
    """The unwrapped hub key. ``repr`` never shows the key."""

    secret: bytes

    @property
    def key_id(self) -> str:
        return hmac.new(self.secret, b"microhub hub key id v1", hashlib.sha256).hexdigest()[:16]

    def derive(self, purpose: str) -> bytes:
        """A 32-byte sub-key for ``purpose`` (HKDF-SHA256, no salt, ``info`` = purpose)."""
        return HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=f"microhub {purpose}".encode()
        ).derive(self.secret)

    def __repr__(self) -> str:
        return f"HubKey(key_id={self.key_id!r})"


def new_hub_key() -> HubKey:
    return HubKey(secrets.token_bytes(32))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any, *, path: Path) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise ConfigurationError(f"{path} is damaged", code="bad_hub_key") from None


def _kek(passphrase: str, salt: bytes, t: int, m: int, p: int) -> bytes:
    return hash_secret_raw(
        passphrase.encode("utf-8"),
        salt,
        time_cost=t,
        memory_cost=m,
        parallelism=p,
        hash_len=32,
        type=Type.ID,
    )


def _encode(key: HubKey, passphrase: str | None) -> bytes:
    doc: dict[str, Any] = {"format": FORMAT, "version": 1, "key_id": key.key_id}
    if passphrase is None:
        doc |= {"wrap": "file", "key": _b64(key.secret)}
    else:
        if len(passphrase) < 8:
            raise ValidationError(
                "the passphrase must be at least 8 characters", field="passphrase", value=None
            )
        salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
        t, m, p = ARGON2_TIME_COST, ARGON2_MEMORY_KIB, ARGON2_PARALLELISM
        sealed = AESGCM(_kek(passphrase, salt, t, m, p)).encrypt(
            nonce, key.secret, f"{FORMAT}|{key.key_id}".encode()
        )
        doc |= {
            "wrap": "argon2id",
            "kdf": {"t": t, "m": m, "p": p, "salt": _b64(salt)},
            "nonce": _b64(nonce),
            "ciphertext": _b64(sealed),
        }
    return json.dumps(doc, indent=2).encode() + b"\n"


def _write_private(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically with mode 0600 (temp file, fsync, rename)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_hub_key_file(
    key_dir: Path, key: HubKey, *, passphrase: str | None = None, next_: bool = False
) -> Path:
    """Write ``key`` wrapped (by ``passphrase``, or by the file mode) to ``hub.key[.next]``."""
    path = key_dir / (HUB_KEY_FILE + (NEXT_SUFFIX if next_ else ""))
    _write_private(path, _encode(key, passphrase))
    return path


def create_hub_key_file(key_dir: Path, *, passphrase: str | None = None) -> HubKey:
    """Create the hub key for a new hub. Refuses to replace an existing one."""
    if (key_dir / HUB_KEY_FILE).exists():
        raise ConfigurationError(f"{key_dir / HUB_KEY_FILE} already exists", code="hub_key_exists")
    key = new_hub_key()
    write_hub_key_file(key_dir, key, passphrase=passphrase)
    return key


def read_key_file_info(key_dir: Path) -> dict[str, Any]:
    """The non-secret part of ``hub.key``: ``key_id``, ``wrap`` and the KDF parameters."""
    doc = _read_doc(key_dir / HUB_KEY_FILE)
    info = {"key_id": doc.get("key_id"), "wrap": doc.get("wrap")}
    if doc.get("wrap") == "argon2id":
        kdf = doc.get("kdf", {})
        info["kdf"] = {
            "alg": "argon2id",
            "t": kdf.get("t"),
            "m_kib": kdf.get("m"),
            "p": kdf.get("p"),
        }
    return info


def _read_doc(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ConfigurationError(
            f"the hub key {path} is missing", code="no_hub_key", details={"path": str(path)}
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigurationError(
            f"the hub key {path} cannot be read ({type(exc).__name__})", code="bad_hub_key"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ConfigurationError(f"{path} is not a microhub hub key", code="bad_hub_key")
    return doc


def _decode(path: Path, passphrase: str | None) -> HubKey:
    doc = _read_doc(path)
    wrap = doc.get("wrap")
    if wrap == "file":
        key = HubKey(_unb64(doc.get("key"), path=path))
    elif wrap == "argon2id":
        if passphrase is None:
            raise ConfigurationError(
                "the hub key is protected by a passphrase: set MICROHUB_VAULT_PASSPHRASE",
                code="passphrase_required",
            )
        kdf = doc.get("kdf", {})
        try:
            kek = _kek(
                passphrase,
                _unb64(kdf["salt"], path=path),
                int(kdf["t"]),
                int(kdf["m"]),
                int(kdf["p"]),
            )
            secret = AESGCM(kek).decrypt(
                _unb64(doc["nonce"], path=path),
                _unb64(doc["ciphertext"], path=path),
                f"{FORMAT}|{doc.get('key_id')}".encode(),
            )
        except KeyError:
            raise ConfigurationError(f"{path} is damaged", code="bad_hub_key") from None
        except InvalidTag:
            raise ValidationError(
                "wrong passphrase for the hub key",
                field="passphrase",
                value=None,
                code="wrong_passphrase",
            ) from None
        key = HubKey(secret)
    else:
        raise ConfigurationError(f"{path}: unknown wrapping {wrap!r}", code="bad_hub_key")
    if len(key.secret) != 32 or key.key_id != doc.get("key_id"):
        raise ConfigurationError(f"{path} is damaged", code="bad_hub_key")
    return key


def load_hub_key(key_dir: Path, *, passphrase: str | None, expect_id: str | None) -> HubKey:
    """Unwrap the hub key. ``expect_id`` is the key id the database names (``None``: any).

    When a rotation was interrupted after the database committed, the key is in ``hub.key.next``:
    it is used and promoted to ``hub.key``.
    """
    current = key_dir / HUB_KEY_FILE
    pending = key_dir / (HUB_KEY_FILE + NEXT_SUFFIX)
    if expect_id is not None and pending.exists():
        if _read_doc(pending).get("key_id") == expect_id:
            key = _decode(pending, passphrase)
            promote_next(key_dir)
            return key
        if _read_doc(current).get("key_id") == expect_id:
            pending.unlink()  # a rotation that never committed
    key = _decode(current, passphrase)
    if expect_id is not None and key.key_id != expect_id:
        raise ConfigurationError(
            "the hub key file does not belong to this database (wrong or replaced hub.key)",
            code="hub_key_mismatch",
            details={"key_id": key.key_id, "expected": expect_id},
        )
    return key


def promote_next(key_dir: Path) -> None:
    """Make ``hub.key.next`` the hub key, overwriting the old file's bytes first."""
    current = key_dir / HUB_KEY_FILE
    pending = key_dir / (HUB_KEY_FILE + NEXT_SUFFIX)
    if current.exists():
        size = current.stat().st_size
        with open(current, "r+b") as handle:
            handle.write(secrets.token_bytes(size))
            handle.flush()
            os.fsync(handle.fileno())
    pending.replace(current)
    dir_fd = os.open(key_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def create_backup_identity(key_dir: Path) -> str:
    """Create the hub's age identity (if missing) and return its public recipient."""
    path = key_dir / BACKUP_IDENTITY_FILE
    if not path.exists():
        identity = pyrage.x25519.Identity.generate()
        recipient = str(identity.to_public())
        _write_private(path, f"# public key: {recipient}\n{identity}\n".encode())
    return backup_recipient(key_dir)


def load_backup_identity(path: Path) -> list[pyrage.x25519.Identity]:
    """Read an age identity file (``age-keygen`` format). Raises ``ValidationError`` if unusable."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ValidationError(
            f"cannot read the identity file ({exc.strerror})", field="identity", value=str(path)
        ) from None
    out = []
    for line in lines:
        text = line.strip()
        if text.startswith("AGE-SECRET-KEY-"):
            try:
                out.append(pyrage.x25519.Identity.from_str(text))
            except pyrage.IdentityError:
                raise ValidationError(
                    "the identity file holds a malformed age key", field="identity", value=str(path)
                ) from None
    if not out:
        raise ValidationError(
            "the identity file holds no age X25519 identity", field="identity", value=str(path)
        )
    return out


def backup_recipient(key_dir: Path) -> str:
    """The public age recipient of the hub's backup identity."""
    identities = load_backup_identity(key_dir / BACKUP_IDENTITY_FILE)
    return str(identities[0].to_public())
