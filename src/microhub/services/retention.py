"""The retention policy: what the hub keeps, for how long, and the job that purges the rest.

Defaults (settings, see ``docs/settings.md``):

* personal fields — purged ``retention_personal_hours`` (72) after the cloud confirmed it holds
  them (``services.vault.mark_cloud_confirmed``, called by sync). Purging crypto-shreds: the
  person keys are deleted and the hub key is replaced, so the ciphertext left in the database's
  history and in earlier backups can never be opened again.
* local media cache (``DATA/cache/media``) — files older than ``retention_media_days`` (7).
* receipts — kept until the cloud anchored them; the journal is append-only, so the hub never
  deletes records: this job only reports them.
* backups — each target's backups older than its TTL are pruned.

``run_retention_policy(dry_run=True)`` lists what would go and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from microhub.domain.journal import format_time
from microhub.errors import MicrohubError
from microhub.services import vault as vault_service
from microhub.services.backup import prune
from microhub.services.context import Hub
from microhub.vault.people import delete_person_key
from microhub.vault.targets import parse_target

__all__ = ["media_cache_dir", "run_retention", "run_retention_policy"]

log = logging.getLogger("microhub.vault")


def media_cache_dir(hub: Hub) -> Path:
    return hub.settings.data_dir / "cache" / "media"


def _due_people(hub: Hub, now: datetime) -> list[tuple[str, str]]:
    cutoff = format_time(now - timedelta(hours=hub.settings.retention_personal_hours))
    rows = hub.db.connection.execute(
        "SELECT person_id, pseudonym FROM people"
        " WHERE erased IS NULL AND confirmed IS NOT NULL AND confirmed <= ? ORDER BY confirmed",
        (cutoff,),
    )
    return [(r[0], r[1]) for r in rows]


def _due_media(hub: Hub, now: datetime) -> list[Path]:
    folder = media_cache_dir(hub)
    if not folder.is_dir():
        return []
    cutoff = (now - timedelta(days=hub.settings.retention_media_days)).timestamp()
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.stat().st_mtime < cutoff)


def run_retention_policy(
    hub: Hub, *, dry_run: bool = False, passphrase: str | None = None
) -> dict[str, Any]:
    """Apply (or with ``dry_run`` only list) the retention policy. Returns what was done."""
    now = hub.clock.now()
    people_due = _due_people(hub, now)
    media_due = _due_media(hub, now)
    rotated = False
    if people_due and not dry_run:
        ids = [person_id for person_id, _ in people_due]
        try:
            vault_service.shred(hub, person_ids=ids, passphrase=passphrase)
            rotated = True
        except MicrohubError as exc:
            if exc.code not in ("passphrase_required", "wrong_passphrase"):
                raise
            # Locked hub key: shred the key rows now; the hub key is replaced on next unlock.
            with hub.db.write() as conn:
                for person_id in ids:
                    delete_person_key(conn, person_id=person_id, when=format_time(now))
    if not dry_run:
        for path in media_due:
            path.unlink(missing_ok=True)
    backups: list[dict[str, Any]] = []
    for url in hub.settings.backup_targets:
        try:
            spec = parse_target(url, default_ttl=timedelta(hours=hub.settings.backup_ttl_hours))
            if spec.ttl is None:
                continue
            gone = prune(
                spec.target, hub_id=hub.settings.hub_id, ttl=spec.ttl, now=now, dry_run=dry_run
            )
            backups.append({"target": spec.target.url, "pruned": gone})
        except (MicrohubError, OSError) as exc:
            backups.append({"target": url, "error": str(exc)})
    records = hub.db.connection.execute("SELECT COUNT(*) FROM journal").fetchone()[0]
    return {
        "dry_run": dry_run,
        "time": format_time(now),
        "personal": {
            "purged" if not dry_run else "due": [pseudonym for _, pseudonym in people_due],
            "after_hours": hub.settings.retention_personal_hours,
            "hub_key_replaced": rotated,
        },
        "media": {
            "deleted" if not dry_run else "due": [
                p.relative_to(hub.settings.data_dir).as_posix() for p in media_due
            ],
            "after_days": hub.settings.retention_media_days,
        },
        "receipts": {
            "kept": records,
            "policy": "kept until the cloud anchors them; the journal is append-only",
        },
        "backups": backups,
    }


async def run_retention(
    hub: Hub, *, stop: asyncio.Event, interval: float | None = None, passphrase: str | None = None
) -> None:
    """Run the retention policy now and every ``retention_interval_minutes`` until ``stop``."""
    period = interval if interval is not None else hub.settings.retention_interval_minutes * 60.0
    while not stop.is_set():
        try:
            await asyncio.to_thread(run_retention_policy, hub, passphrase=passphrase)
        except (MicrohubError, OSError) as exc:
            log.warning("retention run failed: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), timeout=period)
        except TimeoutError:
            continue
