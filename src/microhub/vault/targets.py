"""Where backups go: a folder (a disk or a USB drive) or an S3-compatible bucket.

``BackupTarget`` is the port; :func:`open_target` picks the adapter from the URL:

* ``/path/to/dir`` or ``file:///path`` — :class:`FolderTarget`
* ``s3://BUCKET/PREFIX`` — :class:`S3Target` (boto3; endpoint and credentials from boto3's usual
  configuration: ``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ... or ``?endpoint=URL``)

A query string may set the target's time to live: ``?ttl=48h`` (``m``, ``h`` or ``d``).
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO, Protocol
from urllib.parse import parse_qs, urlsplit

from microhub.errors import NotFound, StorageError, ValidationError

__all__ = [
    "BackupTarget",
    "FolderTarget",
    "S3Target",
    "Stored",
    "TargetSpec",
    "backup_name",
    "parse_target",
    "parse_ttl",
]

_NAME = re.compile(r"^microhub-(?P<hub>[0-9a-f-]{36})-(?P<ts>\d{8}T\d{6}\d{6}Z)\.age$")
_TTL = re.compile(r"^(\d+)([mhd])$")
SYNC_EVERY = 8 << 20


@dataclass(frozen=True, slots=True)
class Stored:
    name: str
    size: int
    hub_id: str
    created: datetime


class BackupTarget(Protocol):
    """A place that holds backup files.

    * ``put`` is atomic: a file that failed half-way is never listed under its final name.
    * ``list`` returns only microhub backup files (by name), any hub's.
    * ``open`` raises ``NotFound`` for an unknown name.
    * ``delete`` is idempotent.
    Errors from the medium are ``StorageError`` (``retryable``: the network or disk may recover).
    """

    url: str

    def put(self, name: str, write: Callable[[BinaryIO], None]) -> int: ...

    def list(self) -> list[Stored]: ...

    def open(self, name: str) -> Any: ...

    def delete(self, name: str) -> None: ...


def backup_name(hub_id: str, when: datetime) -> str:
    return f"microhub-{hub_id}-{when.astimezone(UTC).strftime('%Y%m%dT%H%M%S%fZ')}.age"


def _parse_name(name: str, size: int) -> Stored | None:
    match = _NAME.match(name)
    if not match:
        return None
    created = datetime.strptime(match["ts"], "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    return Stored(name, size, match["hub"], created)


def parse_ttl(text: str) -> timedelta:
    match = _TTL.match(text.strip())
    if not match or int(match[1]) <= 0:
        raise ValidationError(
            "a TTL is a positive number followed by m, h or d (e.g. 48h)", field="ttl", value=text
        )
    n = int(match[1])
    return {"m": timedelta(minutes=n), "h": timedelta(hours=n), "d": timedelta(days=n)}[match[2]]


@dataclass(frozen=True, slots=True)
class TargetSpec:
    target: BackupTarget
    ttl: timedelta | None


class FolderTarget:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.url = str(folder)

    def put(self, name: str, write: Callable[[BinaryIO], None]) -> int:
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as exc:
            raise StorageError(f"cannot create {self.folder}: {exc.strerror}") from None
        for stale in self.folder.glob(".microhub-*.partial"):  # left by a killed backup
            if stale.stat().st_mtime < time.time() - 3600:
                stale.unlink(missing_ok=True)
        tmp = self.folder / f".{name}.{secrets.token_hex(4)}.partial"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb", buffering=1 << 20) as handle:
                write(_SyncingWriter(handle))  # type: ignore[arg-type]
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(self.folder / name)
            dir_fd = os.open(self.folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(
                f"writing the backup to {self.folder} failed: {exc.strerror or exc}",
                retryable=True,
            ) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        return (self.folder / name).stat().st_size

    def list(self) -> list[Stored]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in self.folder.iterdir():
            stored = _parse_name(path.name, 0)
            if stored is not None:
                out.append(Stored(stored.name, path.stat().st_size, stored.hub_id, stored.created))
        return sorted(out, key=lambda s: s.created)

    @contextmanager
    def open(self, name: str) -> Iterator[BinaryIO]:
        try:
            handle = open(self.folder / name, "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise NotFound(f"no backup {name} in {self.folder}", code="no_backup") from None
        with handle:
            yield handle

    def delete(self, name: str) -> None:
        (self.folder / name).unlink(missing_ok=True)


class _SyncingWriter:
    """Flushes the file to disk every :data:`SYNC_EVERY` bytes, so a large backup never piles up
    dirty pages that a sale's fsync on the same disk would then wait behind."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self._unsynced = 0

    def write(self, data: bytes) -> int:
        written = self._handle.write(data)
        self._unsynced += len(data)
        if self._unsynced >= SYNC_EVERY:
            self._handle.flush()
            os.fdatasync(self._handle.fileno())
            self._unsynced = 0
        return written

    def flush(self) -> None:
        self._handle.flush()


class _UploadReader:
    """The read end of the pipe boto3 uploads from; fails instead of ending when told to."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.failed = False

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        if not data and self.failed:
            raise OSError("the backup stream failed; aborting the upload")
        return data


class S3Target:
    def __init__(self, bucket: str, prefix: str, *, endpoint: str | None = None) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}"
        self._client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint or None,
            config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
        )

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def _error(self, exc: Exception, action: str) -> StorageError:
        return StorageError(
            f"S3 {action} on {self.url} failed: {type(exc).__name__}: {exc}",
            code="s3_failed",
            retryable=True,
        )

    def put(self, name: str, write: Callable[[BinaryIO], None]) -> int:
        from boto3.s3.transfer import TransferConfig

        read_fd, write_fd = os.pipe()
        reader = _UploadReader(os.fdopen(read_fd, "rb", buffering=1 << 20))
        errors: list[BaseException] = []
        config = TransferConfig(
            multipart_threshold=16 << 20, multipart_chunksize=16 << 20, max_concurrency=2
        )

        def upload() -> None:
            try:
                self._client.upload_fileobj(reader, self.bucket, self._key(name), Config=config)
            except BaseException as exc:
                errors.append(exc)

        counter = _Counting(os.fdopen(write_fd, "wb", buffering=1 << 20))
        thread = threading.Thread(target=upload, daemon=True)
        thread.start()
        try:
            write(counter)  # type: ignore[arg-type]
        except BaseException:
            reader.failed = True
            raise
        finally:
            try:
                counter.close()
            except OSError:
                reader.failed = True
            thread.join()
        if errors:
            raise self._error(errors[0], "upload")  # type: ignore[arg-type]
        return counter.count

    def list(self) -> list[Stored]:
        out = []
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            prefix = f"{self.prefix}/" if self.prefix else ""
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    stored = _parse_name(obj["Key"][len(prefix) :], int(obj["Size"]))
                    if stored is not None:
                        out.append(stored)
        except Exception as exc:
            raise self._error(exc, "list") from None
        return sorted(out, key=lambda s: s.created)

    @contextmanager
    def open(self, name: str) -> Iterator[Any]:
        try:
            body = self._client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"]
        except self._client.exceptions.NoSuchKey:
            raise NotFound(f"no backup {name} in {self.url}", code="no_backup") from None
        except Exception as exc:
            raise self._error(exc, "download") from None
        try:
            yield body
        finally:
            body.close()

    def delete(self, name: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._key(name))
        except Exception as exc:
            raise self._error(exc, "delete") from None


class _Counting:
    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        self.count = 0

    def write(self, data: bytes) -> int:
        self._handle.write(data)
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def parse_target(url: str, *, default_ttl: timedelta | None = None) -> TargetSpec:
    """The target and TTL named by ``url`` (see the module docstring)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    ttl = parse_ttl(query["ttl"]) if "ttl" in query else default_ttl
    if parts.scheme == "s3":
        if not parts.netloc:
            raise ValidationError("an S3 target is s3://BUCKET/PREFIX", field="to", value=url)
        target: BackupTarget = S3Target(parts.netloc, parts.path, endpoint=query.get("endpoint"))
    elif parts.scheme in ("", "file"):
        path = parts.path if parts.scheme == "file" else url.split("?", 1)[0]
        if not path:
            raise ValidationError("a folder target needs a path", field="to", value=url)
        target = FolderTarget(Path(path).expanduser())
    else:
        raise ValidationError(
            f"unknown backup target scheme {parts.scheme!r} (use a folder or s3://)",
            field="to",
            value=url,
        )
    return TargetSpec(target, ttl)
