"""Backup archives: an age-encrypted tar of a consistent hub snapshot, streamed both ways.

Layout of the tar (PAX format), in this order::

    hub/settings.toml
    hub/hub.sqlite            a consistent snapshot (SQLite online backup API, single file)
    hub/keys/<key_id>.pem     the journal signing keys (so a restored hub can keep signing)
    hub/assets/...            the creator asset store
    manifest.json             last: every member's size and SHA-256, the hub id, the time

Never included: ``keys/hub.key`` (the hub key: an erasure replaces it, and old backups must not
carry it — see ``docs/vault.md``), the backup identity, the WAL, temporary files and local
backups. The tar is produced by a thread into a pipe and encrypted by ``pyrage.encrypt_io``
from that pipe, so memory stays flat whatever the size; restore runs the same way backwards and
writes into a staging folder, checking every member against the manifest before anything is
moved into place.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import posixpath
import shutil
import sqlite3
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

import pyrage

from microhub.errors import ValidationError

__all__ = [
    "FORMAT",
    "MANIFEST",
    "Manifest",
    "parse_recipients",
    "read_archive",
    "snapshot_database",
    "write_archive",
]

FORMAT = "microhub-backup"
MANIFEST = "manifest.json"
CHUNK = 1 << 20
_EXCLUDED_KEYS = {"hub.key", "hub.key.next", "backup-identity.txt"}


@dataclass(slots=True)
class Manifest:
    hub_id: str
    created: str
    members: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": 1,
            "hub_id": self.hub_id,
            "created": self.created,
            "members": self.members,
        }

    @property
    def total_bytes(self) -> int:
        return sum(int(m["size"]) for m in self.members)


def parse_recipients(values: list[str]) -> list[pyrage.x25519.Recipient]:
    out = []
    for value in values:
        try:
            out.append(pyrage.x25519.Recipient.from_str(value.strip()))
        except (pyrage.RecipientError, ValueError):
            raise ValidationError(
                "not an age X25519 public key (expected age1...)",
                field="recipient",
                value=value,
                code="bad_recipient",
            ) from None
    return out


def snapshot_database(source: Path, dest: Path) -> None:
    """A consistent copy of ``source`` (taken while writers continue) as one file ``dest``."""
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(dest)
    try:
        src.backup(dst)  # one step: the whole database from one read transaction
        dst.execute("PRAGMA journal_mode = DELETE")
    finally:
        dst.close()
        src.close()


def _members(data_dir: Path, snapshot: Path) -> Iterator[tuple[str, Path]]:
    yield "hub/settings.toml", data_dir / "settings.toml"
    yield "hub/hub.sqlite", snapshot
    key_dir = data_dir / "keys"
    if key_dir.is_dir():
        for path in sorted(key_dir.iterdir()):
            if path.is_file() and path.suffix == ".pem" and path.name not in _EXCLUDED_KEYS:
                yield f"hub/keys/{path.name}", path
    assets = data_dir / "assets"
    if assets.is_dir():
        for root, dirs, files in os.walk(assets):
            dirs.sort()
            for name in sorted(files):
                path = Path(root) / name
                if path.is_file() and not path.is_symlink():
                    yield "hub/" + path.relative_to(data_dir).as_posix(), path


class _HashingReader:
    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle
        self.sha = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self.sha.update(data)
        return data


def _produce_tar(
    out: IO[bytes], data_dir: Path, snapshot: Path, manifest: Manifest, errors: list[BaseException]
) -> None:
    try:
        with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as tar:
            for name, path in _members(data_dir, snapshot):
                with open(path, "rb") as handle:
                    size = os.fstat(handle.fileno()).st_size
                    info = tarfile.TarInfo(name)
                    info.size = size
                    info.mode = 0o600
                    info.mtime = int(os.fstat(handle.fileno()).st_mtime)
                    reader = _HashingReader(handle)
                    tar.addfile(info, reader)
                manifest.members.append(
                    {"name": name, "size": size, "sha256": reader.sha.hexdigest()}
                )
            raw = json.dumps(manifest.to_json(), indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size = len(raw)
            info.mode = 0o600
            tar.addfile(info, io.BytesIO(raw))
    except BaseException as exc:
        errors.append(exc)
    finally:
        try:
            out.close()
        except OSError as exc:
            errors.append(exc)


def write_archive(
    *,
    data_dir: Path,
    snapshot: Path,
    out: BinaryIO,
    recipients: list[pyrage.x25519.Recipient],
    hub_id: str,
    created: str,
) -> Manifest:
    """Stream the encrypted archive of ``data_dir`` (with ``snapshot`` as its database) to
    ``out``. Raises ``OSError`` when a file cannot be read or ``out`` cannot be written."""
    manifest = Manifest(hub_id=hub_id, created=created)
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb", buffering=CHUNK)
    writer = os.fdopen(write_fd, "wb", buffering=CHUNK)
    errors: list[BaseException] = []
    producer = threading.Thread(
        target=_produce_tar, args=(writer, data_dir, snapshot, manifest, errors), daemon=True
    )
    producer.start()
    try:
        pyrage.encrypt_io(reader, out, recipients)
    finally:
        reader.close()  # a producer still writing gets EPIPE instead of blocking forever
        producer.join()
    if errors:
        raise errors[0]
    return manifest


def _bad(message: str, **details: Any) -> ValidationError:
    return ValidationError(message, field="from", code="bad_backup", details=details)


def _safe_target(dest: Path, name: str) -> Path:
    normal = posixpath.normpath(name)
    if (
        not normal.startswith("hub/")
        or normal.startswith("/")
        or ".." in normal.split("/")
        or normal != name
    ):
        raise _bad(f"the backup holds an unexpected member {name!r}", member=name)
    return dest / normal[len("hub/") :]


def _decrypt(
    source: BinaryIO, sink: IO[bytes], identities: list[Any], errors: list[BaseException]
) -> None:
    try:
        pyrage.decrypt_io(source, sink, identities)
    except BaseException as exc:
        errors.append(exc)
    finally:
        with contextlib.suppress(OSError):
            sink.close()


def read_archive(*, source: BinaryIO, identities: list[Any], dest: Path) -> dict[str, Any]:
    """Decrypt and unpack ``source`` into the empty folder ``dest``; check every member against
    the manifest. Returns the manifest. Raises ``ValidationError(code="bad_backup")`` for a wrong
    identity, a corrupted or truncated file or a manifest that does not match (``dest`` may then
    hold partial files: the caller removes it)."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "rb", buffering=CHUNK)
    writer = os.fdopen(write_fd, "wb", buffering=CHUNK)
    errors: list[BaseException] = []
    worker = threading.Thread(
        target=_decrypt, args=(source, writer, identities, errors), daemon=True
    )
    worker.start()
    seen: dict[str, dict[str, Any]] = {}
    manifest: dict[str, Any] | None = None
    problem: ValidationError | None = None
    try:
        with tarfile.open(fileobj=reader, mode="r|", bufsize=CHUNK) as tar:
            for member in tar:
                if manifest is not None:
                    raise _bad("the backup has members after its manifest")
                if member.name == MANIFEST and member.isfile():
                    handle = tar.extractfile(member)
                    assert handle is not None
                    try:
                        manifest = json.loads(handle.read(1 << 24))
                    except ValueError:
                        raise _bad("the backup's manifest is not JSON") from None
                    continue
                if not member.isfile():
                    raise _bad(f"the backup holds a non-file member {member.name!r}")
                if member.name in seen:
                    raise _bad(f"the backup holds {member.name!r} twice")
                target = _safe_target(dest, member.name)
                target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                handle = tar.extractfile(member)
                assert handle is not None
                sha = hashlib.sha256()
                size = 0
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    while chunk := handle.read(CHUNK):
                        sha.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                seen[member.name] = {"size": size, "sha256": sha.hexdigest()}
            while reader.read(CHUNK):
                pass  # drain, so the decryptor reaches and checks the final chunk
    except ValidationError as exc:
        problem = exc
    except (tarfile.TarError, OSError, EOFError):
        problem = _bad("the backup is corrupted or truncated (not a readable archive)")
    finally:
        reader.close()
        worker.join()
    if errors:
        kind = type(errors[0]).__name__
        if kind == "DecryptError" and "no matching keys" in str(errors[0]).lower():
            raise _bad("none of the given identities can decrypt this backup")
        raise _bad(f"the backup is corrupted or truncated ({kind})")
    if problem is not None:
        raise problem
    if manifest is None or manifest.get("format") != FORMAT:
        raise _bad("the backup has no microhub manifest (truncated or not a microhub backup)")
    listed = {m["name"]: m for m in manifest.get("members", [])}
    for name in sorted(set(listed) | set(seen)):
        if name not in seen:
            raise _bad(f"the manifest lists {name!r} but the backup lacks it", member=name)
        if name not in listed:
            raise _bad(f"{name!r} is in the backup but not in the manifest", member=name)
        if listed[name].get("sha256") != seen[name]["sha256"] or int(
            listed[name].get("size", -1)
        ) != int(seen[name]["size"]):
            raise _bad(f"{name!r} does not match the manifest's SHA-256", member=name)
    if "hub/hub.sqlite" not in seen or "hub/settings.toml" not in seen:
        raise _bad("the backup lacks the hub's database or settings")
    return manifest


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
