"""Backup and restore use cases, and the backup scheduler ``serve`` runs.

* ``backup`` writes one age file to a target: a tar of a consistent SQLite snapshot (taken with
  the online backup API while the hub keeps selling), the signing keys, the creator asset store
  and a manifest of SHA-256 hashes — encrypted to the hub's backup identity and to every
  recipient given (offline recovery keys). Then it prunes this hub's backups older than the
  target's TTL.
* ``restore`` unpacks into a staging folder next to the new data folder, checks the manifest,
  and only then renames it into place. It never writes into an existing hub.
* Immediate replication of refund and dispute records is not done here: they are ``money``-lane
  outbox events, and the sync lanes ship those first. Backups are the second line.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import sqlite3
import sys
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from microhub.domain.journal import format_time
from microhub.errors import Conflict, MicrohubError, StorageError, ValidationError
from microhub.services.context import Hub
from microhub.vault import archive, keys
from microhub.vault.targets import BackupTarget, S3Target, backup_name, parse_target

__all__ = ["backup", "prune", "restore", "run_backup_scheduler"]

log = logging.getLogger("microhub.vault")
BACKGROUND_NICE = 10
STALE_SECONDS = 3600  # a snapshot or partial file this old belongs to a killed backup


def _recipients(hub: Hub, extra: Sequence[str]) -> list[str]:
    found = [keys.create_backup_identity(hub.settings.key_dir)]
    for value in [*hub.settings.backup_recipients, *extra]:
        if value.strip() not in found:
            found.append(value.strip())
    return found


def prune(
    target: BackupTarget,
    *,
    hub_id: str,
    ttl: timedelta,
    now: datetime,
    keep: str = "",
    dry_run: bool = False,
) -> list[str]:
    """Delete this hub's backups on ``target`` older than ``ttl`` (never ``keep``)."""
    gone = []
    for stored in target.list():
        if stored.hub_id == hub_id and stored.name != keep and stored.created < now - ttl:
            if not dry_run:
                target.delete(stored.name)
            gone.append(stored.name)
    return gone


def _lower_priority() -> None:
    """Run the calling thread (and the threads it starts) at nice 10, so sales keep the CPU.
    On Linux the nice value is per thread; elsewhere this lowers the whole process."""
    try:
        tid = threading.get_native_id() if sys.platform == "linux" else 0
        current = os.getpriority(os.PRIO_PROCESS, tid)
        os.setpriority(os.PRIO_PROCESS, tid, max(current, BACKGROUND_NICE))
    except (OSError, AttributeError):
        pass


def backup(
    hub: Hub, *, to: str, recipients: Sequence[str] = (), low_priority: bool = False
) -> dict[str, Any]:
    """Write one encrypted backup to ``to`` (a folder or ``s3://BUCKET/PREFIX``, optional
    ``?ttl=48h``) and prune the expired ones. Returns what was written.

    ``low_priority``: lower the calling thread's CPU priority first (the CLI and the scheduler
    do, so checkouts keep their latency while a backup runs)."""
    if low_priority:
        _lower_priority()
    spec = parse_target(to, default_ttl=timedelta(hours=hub.settings.backup_ttl_hours))
    public = _recipients(hub, recipients)
    parsed = archive.parse_recipients(public)
    data_dir = hub.settings.data_dir
    tmp = data_dir / "tmp"
    tmp.mkdir(mode=0o700, exist_ok=True)
    for stale in tmp.glob("snapshot-*.sqlite"):  # left by a backup that was killed
        if stale.stat().st_mtime < time.time() - STALE_SECONDS:
            stale.unlink(missing_ok=True)
    snapshot = tmp / f"snapshot-{secrets.token_hex(6)}.sqlite"
    now = hub.clock.now()
    name = _name(hub, now)
    manifests: list[archive.Manifest] = []
    try:
        archive.snapshot_database(hub.settings.database, snapshot)

        def write(out: BinaryIO) -> None:
            manifests.append(
                archive.write_archive(
                    data_dir=data_dir,
                    snapshot=snapshot,
                    out=out,
                    recipients=parsed,
                    hub_id=hub.settings.hub_id,
                    created=format_time(now),
                )
            )

        size = spec.target.put(name, write)
    finally:
        snapshot.unlink(missing_ok=True)
    pruned = (
        prune(spec.target, hub_id=hub.settings.hub_id, ttl=spec.ttl, now=now, keep=name)
        if spec.ttl is not None
        else []
    )
    manifest = manifests[0]
    return {
        "target": spec.target.url,
        "name": name,
        "size": size,
        "members": len(manifest.members),
        "plain_bytes": manifest.total_bytes,
        "recipients": public,
        "ttl_hours": spec.ttl.total_seconds() / 3600 if spec.ttl else None,
        "pruned": pruned,
        "created": format_time(now),
    }


def _name(hub: Hub, now: datetime) -> str:
    return backup_name(hub.settings.hub_id, now)


def _open_source(source: str) -> Any:
    if source.startswith("s3://"):
        bucket, _, rest = source[len("s3://") :].partition("/")
        prefix, _, name = rest.rpartition("/")
        return S3Target(bucket, prefix).open(name)  # endpoint: boto3 reads AWS_ENDPOINT_URL
    path = Path(source).expanduser()
    if not path.is_file():
        raise ValidationError("no such backup file", field="from", value=source, code="no_backup")
    return open(path, "rb")


def _adopt_hub_key(database: Path, key_id: str) -> str:
    """Make the restored database name the hub key given to restore. Returns ``"restored"``
    when it is the key the backup was made under, else ``"newer"``: the key was replaced since
    (a rotation or an erasure), so this backup's personal fields stay sealed for good."""
    conn = sqlite3.connect(database)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = 'vault_hub_key_id'").fetchone()
        if row is not None and row[0] == key_id:
            return "restored"
        with conn:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('vault_hub_key_id', ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key_id,),
            )
        return "restored" if row is None else "newer"
    finally:
        conn.close()


def restore(
    *, source: str, data_dir: Path, identity: Path, hub_key_file: Path | None = None
) -> dict[str, Any]:
    """Restore the backup ``source`` into the new folder ``data_dir``; see the module docstring.

    ``hub_key_file``: the old hub's ``keys/hub.key``, so personal fields stay readable. Without
    it the restored hub has its journal, catalog, consents and assets, and its personal fields
    stay sealed until that file is copied to ``DATA/keys/hub.key``."""
    if data_dir.exists() and (not data_dir.is_dir() or any(data_dir.iterdir())):
        raise Conflict(
            f"{data_dir} exists and is not empty: restore only into a new folder",
            code="hub_exists",
            details={"data_dir": str(data_dir)},
        )
    identities = keys.load_backup_identity(identity)
    key_info = None
    if hub_key_file is not None:
        if hub_key_file.name != keys.HUB_KEY_FILE:
            raise ValidationError(
                "--hub-key must name a hub.key file", field="hub_key", value=str(hub_key_file)
            )
        key_info = keys.read_key_file_info(hub_key_file.parent)
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = data_dir.parent / f".{data_dir.name}.restoring-{secrets.token_hex(4)}"
    staging.mkdir(mode=0o700)
    try:
        with _open_source(source) as handle:
            manifest = archive.read_archive(source=handle, identities=identities, dest=staging)
        key_dir = staging / "keys"
        key_dir.mkdir(mode=0o700, exist_ok=True)
        hub_key_state = "absent"
        if hub_key_file is not None and key_info is not None:
            shutil.copyfile(hub_key_file, key_dir / keys.HUB_KEY_FILE)
            os.chmod(key_dir / keys.HUB_KEY_FILE, 0o600)
            hub_key_state = _adopt_hub_key(staging / "hub.sqlite", str(key_info["key_id"]))
        keys.create_backup_identity(key_dir)
        if data_dir.exists():
            data_dir.rmdir()
        staging.rename(data_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {
        "data_dir": str(data_dir),
        "hub_id": manifest.get("hub_id"),
        "created": manifest.get("created"),
        "members": len(manifest.get("members", [])),
        "plain_bytes": sum(int(m["size"]) for m in manifest.get("members", [])),
        "hub_key": hub_key_state,
    }


async def _backup_process(hub: Hub, target: str, stop: asyncio.Event) -> dict[str, Any] | None:
    """Run one ``microhub backup`` as a child process at nice 10: the server's process (and its
    GIL) stays free for checkouts. Returns its JSON result, or ``None`` when ``stop`` was set
    first (the child is terminated; its partial file is cleaned up by the next backup)."""
    args = [sys.executable, "-m", "microhub", "backup", "--data", str(hub.settings.data_dir)]
    args += ["--to", target, "--json"]
    for recipient in hub.settings.backup_recipients:
        args += ["--recipient", recipient]
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    done = asyncio.ensure_future(proc.communicate())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({done, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not done.done():
        proc.terminate()
        await done
        return None
    stopped.cancel()
    out, err = done.result()
    try:
        body: dict[str, Any] = json.loads(out or b"{}")
    except ValueError:
        body = {}
    if proc.returncode != 0:
        error = body.get("error", {}).get("message") or err.decode(errors="replace")[-500:]
        raise StorageError(f"backup to {target} failed: {error}", retryable=True)
    return body


async def run_backup_scheduler(
    hub: Hub, *, stop: asyncio.Event, interval: float | None = None
) -> None:
    """Back up to every ``backup_targets`` entry now and then every ``backup_interval_minutes``
    until ``stop`` is set, each backup in a low-priority child process. A failing target is
    logged and retried next time; it never stops the server."""
    period = interval if interval is not None else hub.settings.backup_interval_minutes * 60.0
    while not stop.is_set():
        for target in hub.settings.backup_targets:
            if stop.is_set():
                break
            try:
                result = await _backup_process(hub, target, stop)
                if result is not None:
                    log.info("backup %s written to %s", result.get("name"), result.get("target"))
            except (MicrohubError, OSError) as exc:
                log.warning("backup to %s failed: %s", target, exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=period)
        except TimeoutError:
            continue
