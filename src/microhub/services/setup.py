"""Creating a hub: data folder, signing key, settings, database and the series' start record."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from microhub.clock import Clock, new_event_id
from microhub.crypto.signing import FileSigner, generate_key_file
from microhub.domain.journal import format_time
from microhub.errors import ConfigurationError, Conflict
from microhub.payments.registry import PaymentMethods, discover
from microhub.services.context import Hub
from microhub.services.journaling import append_record
from microhub.services.vault import ensure_vault_keys
from microhub.settings import SETTINGS_FILE, new_settings, write_settings
from microhub.store import journal as journal_store
from microhub.store.sqlite import Database

__all__ = ["init_hub"]


def init_hub(data_dir: Path, *, clock: Clock, values: Mapping[str, Any] | None = None) -> Hub:
    """Create a new hub in ``data_dir`` (which must not already hold one) and return it open."""
    if (data_dir / SETTINGS_FILE).exists():
        raise Conflict(
            f"{data_dir} already holds a hub; use another --data folder",
            code="hub_exists",
            details={"data_dir": str(data_dir)},
        )
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(data_dir, 0o700)
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create {data_dir}: {exc.strerror}",
            code="bad_data_dir",
            details={"data_dir": str(data_dir)},
        ) from None
    key = generate_key_file(data_dir / "keys")
    ensure_vault_keys(data_dir / "keys")  # the vault's hub key and backup identity
    settings = new_settings(
        data_dir, hub_id=new_event_id(), signing_key=key.key_id, **dict(values or {})
    )
    db = Database.open(settings.database, create=True)
    hub = Hub(
        settings=settings,
        db=db,
        signer=FileSigner(settings.key_dir, key.key_id),
        clock=clock,
        payments=PaymentMethods(discover(), settings.payments),
        new_event_id=new_event_id,
    )
    now = format_time(clock.now())
    with db.write() as conn:
        conn.execute("INSERT INTO meta (key, value) VALUES ('hub_id', ?)", (settings.hub_id,))
        journal_store.add_key(conn, key, series=settings.series, created=now)
        journal_store.add_series(
            conn, series=settings.series, register="hub", kind="hub", key_id=key.key_id, created=now
        )
        append_record(
            hub,
            conn,
            series=settings.series,
            record_type="start",
            data={
                "register": "hub",
                "hub_id": settings.hub_id,
                "alg": key.alg,
                "public_key": key.raw.hex(),
            },
        )
    # Settings last: a folder with settings.toml is a complete hub.
    write_settings(settings)
    return hub
