"""Vault use cases: the hub key, people's personal data, erasure and consent checks.

Every function takes the open :class:`Hub` and, where the hub key is needed, ``passphrase``
(``None`` for the embedded key-file default). An unlocked hub key is cached per process and
data folder, so a server unlocks it once (Argon2id takes a noticeable fraction of a second).

Rules:

* ``forget`` deletes the person's key, ciphertext and index rows, then replaces the hub key and
  re-wraps every other person's key under the new one. Earlier backups hold that person's key
  wrapped only by the destroyed hub key, so they can never be opened again (crypto-shredding).
* ``require_consent`` refuses (``ValidationError``, code ``consent_required``) unless a signed,
  unwithdrawn grant for that purpose exists; ``record_analytics`` and
  ``authorize_email_receipt`` go through it.
"""

from __future__ import annotations

import hashlib
import hmac
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from microhub.domain.journal import format_time
from microhub.errors import ConfigurationError, NotFound, ValidationError
from microhub.services.context import Hub
from microhub.store import outbox
from microhub.vault import consent as consent_rules
from microhub.vault import keys, people

__all__ = [
    "authorize_email_receipt",
    "ensure_vault_keys",
    "forget",
    "hub_key",
    "key_info",
    "lookup_person",
    "mark_cloud_confirmed",
    "record_analytics",
    "remember_person",
    "replace_hub_key",
    "require_consent",
    "rotate_key",
    "shred",
]

META_KEY_ID = "vault_hub_key_id"
_UNLOCKED: dict[Path, tuple[keys.HubKey, bytes]] = {}


def _proof(key: keys.HubKey, passphrase: str | None) -> bytes:
    """What a cached key was unlocked with (a keyed digest, so a wrong passphrase still fails)."""
    return hmac.new(key.secret, (passphrase or "").encode(), hashlib.sha256).digest()


def ensure_vault_keys(key_dir: Path) -> str:
    """Create the hub key file and the backup identity if missing (called by ``init``).

    Returns the backup recipient (public)."""
    if not (key_dir / keys.HUB_KEY_FILE).exists():
        keys.create_hub_key_file(key_dir)
    return keys.create_backup_identity(key_dir)


def _meta_key_id(conn: sqlite3.Connection) -> str | None:
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY_ID,)).fetchone()
    return str(row[0]) if row else None


def _set_meta_key_id(conn: sqlite3.Connection, key_id: str) -> None:
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (META_KEY_ID, key_id),
    )


def hub_key(hub: Hub, *, passphrase: str | None = None) -> keys.HubKey:
    """The unlocked hub key. Created lazily for a hub made before the vault existed, but never
    when people are already stored (that would mean the key file was lost)."""
    key_dir = hub.settings.key_dir
    expect = _meta_key_id(hub.db.connection)
    cached = _UNLOCKED.get(key_dir)
    if cached is not None and cached[0].key_id == expect:
        wrap = keys.read_key_file_info(key_dir)["wrap"]
        if wrap == "file" or hmac.compare_digest(cached[1], _proof(cached[0], passphrase)):
            return cached[0]
    if not (key_dir / keys.HUB_KEY_FILE).exists():
        count = hub.db.connection.execute("SELECT COUNT(*) FROM person_keys").fetchone()[0]
        if count:
            raise ConfigurationError(
                f"the hub key file {key_dir / keys.HUB_KEY_FILE} is missing: copy the hub's"
                " keys/hub.key there (after a restore: restore --hub-key)",
                code="no_hub_key",
            )
        ensure_vault_keys(key_dir)  # no personal data yet: a new key loses nothing
        expect = None
    key = keys.load_hub_key(key_dir, passphrase=passphrase, expect_id=expect)
    if expect is None or expect != _meta_key_id(hub.db.connection):
        with hub.db.write() as conn:
            _set_meta_key_id(conn, key.key_id)
    _UNLOCKED[key_dir] = (key, _proof(key, passphrase))
    return key


def key_info(hub: Hub) -> dict[str, Any]:
    """What may be shown about the hub key: its id, wrapping and KDF parameters."""
    info = keys.read_key_file_info(hub.settings.key_dir)
    info["backup_recipient"] = keys.backup_recipient(hub.settings.key_dir)
    return info


def replace_hub_key(
    hub: Hub,
    *,
    passphrase: str | None,
    new_passphrase: str | None,
    erase: Sequence[str] = (),
) -> dict[str, Any]:
    """Generate a new hub key and re-wrap every person key under it (data is not re-encrypted).

    ``erase``: person ids to crypto-shred in the same transaction. Crash-safe: see
    :mod:`microhub.vault.keys`."""
    old = hub_key(hub, passphrase=passphrase)
    new = keys.new_hub_key()
    key_dir = hub.settings.key_dir
    keys.write_hub_key_file(key_dir, new, passphrase=new_passphrase, next_=True)
    now = format_time(hub.clock.now())
    with hub.db.write() as conn:
        for person_id in erase:
            people.delete_person_key(conn, person_id=person_id, when=now)
            pseudonym = conn.execute(
                "SELECT pseudonym FROM people WHERE person_id = ?", (person_id,)
            ).fetchone()[0]
            _event(
                hub,
                conn,
                lane="consent",
                event_type="person.erased",
                payload={"piiPrincipalId": pseudonym, "erased": now},
            )
        rewrapped = people.rewrap_all(conn, old, new)
        _set_meta_key_id(conn, new.key_id)
    keys.promote_next(key_dir)
    _UNLOCKED[key_dir] = (new, _proof(new, new_passphrase))
    return {
        "old_key_id": old.key_id,
        "key_id": new.key_id,
        "wrap": "argon2id" if new_passphrase is not None else "file",
        "rewrapped": rewrapped,
    }


def shred(hub: Hub, *, person_ids: Sequence[str], passphrase: str | None) -> dict[str, Any]:
    """Crypto-shred ``person_ids`` and replace the hub key, keeping its kind of wrapping."""
    hub_key(hub, passphrase=passphrase)
    wrap = keys.read_key_file_info(hub.settings.key_dir)["wrap"]
    return replace_hub_key(
        hub,
        passphrase=passphrase,
        new_passphrase=passphrase if wrap == "argon2id" else None,
        erase=person_ids,
    )


def rotate_key(
    hub: Hub, *, passphrase: str | None = None, new_passphrase: str | None = None
) -> dict[str, Any]:
    """``key rotate``: a new hub key, person keys re-wrapped, optionally a new wrapping."""
    return replace_hub_key(hub, passphrase=passphrase, new_passphrase=new_passphrase)


def _event(
    hub: Hub, conn: sqlite3.Connection, *, lane: str, event_type: str, payload: dict[str, Any]
) -> None:
    now = hub.clock.now()
    outbox.append(
        conn,
        event_id=hub.new_event_id(),
        lane=lane,
        event_type=event_type,
        payload=payload,
        now_ms=int(now.timestamp() * 1000),
        created=format_time(now),
    )


def _checked(email: str, name: str | None, phone: str | None) -> dict[str, str]:
    fields = {"email": people.check_field("email", email)}
    if name is not None:
        fields["name"] = people.check_field("name", name)
    if phone is not None:
        fields["phone"] = people.check_field("phone", phone)
    return fields


def upsert_person(
    hub: Hub,
    conn: sqlite3.Connection,
    key: keys.HubKey,
    *,
    email: str,
    name: str | None = None,
    phone: str | None = None,
) -> tuple[str, str]:
    """Find or create the person for ``email`` in the caller's transaction; store the other
    fields given. Returns ``(person_id, pseudonym)``."""
    fields = _checked(email, name, phone)
    person_id = people.find_person(conn, key, email=fields["email"])
    if person_id is None:
        person_id = hub.new_event_id()
        pseudonym = f"urn:microhub:person:{hub.new_event_id()}"
        people.insert_person(
            conn,
            key,
            person_id=person_id,
            pseudonym=pseudonym,
            created=format_time(hub.clock.now()),
            fields=fields,
        )
        return person_id, pseudonym
    person_key = people.person_key(conn, key, person_id)
    if person_key is None:
        raise ConfigurationError("this person's key cannot be unwrapped", code="bad_person_key")
    extra = {k: v for k, v in fields.items() if k != "email"}
    if extra:
        people.update_fields(conn, key, person_id=person_id, key=person_key, fields=extra)
    row = conn.execute("SELECT pseudonym FROM people WHERE person_id = ?", (person_id,)).fetchone()
    return person_id, str(row[0])


def remember_person(
    hub: Hub,
    *,
    email: str,
    name: str | None = None,
    phone: str | None = None,
    passphrase: str | None = None,
) -> str:
    """Store (encrypted) a person's fields; returns their pseudonym."""
    key = hub_key(hub, passphrase=passphrase)
    with hub.db.write() as conn:
        return upsert_person(hub, conn, key, email=email, name=name, phone=phone)[1]


def lookup_person(hub: Hub, *, email: str, passphrase: str | None = None) -> people.Person | None:
    """The person with ``email``, fields decrypted (``None`` if not known)."""
    key = hub_key(hub, passphrase=passphrase)
    conn = hub.db.connection
    person_id = people.find_person(conn, key, email=email)
    return people.read_person(conn, key, person_id) if person_id else None


def forget(hub: Hub, *, email: str, passphrase: str | None = None) -> dict[str, Any]:
    """Erase the person with ``email`` for good (crypto-shredding, hub key replaced).

    Receipts, totals and consent tokens (which carry only the pseudonym) stay intact."""
    key = hub_key(hub, passphrase=passphrase)
    normal = people.normalise_email(email)
    person_id = people.find_person(hub.db.connection, key, email=normal)
    if person_id is None:
        raise NotFound(
            "no person with that email is stored here",
            code="unknown_person",
            details={"field": "email"},
        )
    result = shred(hub, person_ids=[person_id], passphrase=passphrase)
    pseudonym = hub.db.connection.execute(
        "SELECT pseudonym FROM people WHERE person_id = ?", (person_id,)
    ).fetchone()[0]
    return {"erased": pseudonym, "hub_key_id": result["key_id"], "rewrapped": result["rewrapped"]}


def _consent_events(conn: sqlite3.Connection, person_id: str) -> list[consent_rules.ConsentEvent]:
    return [
        consent_rules.ConsentEvent(r[0], r[1], r[2], int(r[3]))
        for r in conn.execute(
            "SELECT receipt_id, purpose, kind, at FROM consents WHERE person_id = ?", (person_id,)
        )
    ]


def consent_in_force(
    conn: sqlite3.Connection, person_id: str, purpose: str
) -> consent_rules.ConsentEvent | None:
    return consent_rules.decide(_consent_events(conn, person_id), purpose=purpose)


def require_consent(hub: Hub, *, email: str, purpose: str, passphrase: str | None = None) -> str:
    """The person's pseudonym if a valid, unwithdrawn consent for ``purpose`` exists; otherwise
    ``ValidationError`` with code ``consent_required``."""
    consent_rules.check_purpose(purpose)
    key = hub_key(hub, passphrase=passphrase)
    conn = hub.db.connection
    person_id = people.find_person(conn, key, email=email)
    grant = consent_in_force(conn, person_id, purpose) if person_id else None
    if person_id is None or grant is None:
        raise ValidationError(
            f"no valid consent for {purpose!r} from this person: ask first"
            " ('microhub consent record')",
            field="purpose",
            value=purpose,
            code="consent_required",
        )
    row = conn.execute("SELECT pseudonym FROM people WHERE person_id = ?", (person_id,)).fetchone()
    return str(row[0])


def authorize_email_receipt(hub: Hub, *, email: str, passphrase: str | None = None) -> str:
    """Check that a receipt may be emailed to ``email``; returns the pseudonym to log."""
    return require_consent(hub, email=email, purpose="email_receipt", passphrase=passphrase)


def record_analytics(
    hub: Hub,
    *,
    email: str,
    event: str,
    properties: dict[str, Any] | None = None,
    passphrase: str | None = None,
) -> dict[str, Any]:
    """Record an analytics event for a person who consented to ``analytics`` (pseudonymous:
    the outbox event carries the pseudonym, never the email)."""
    pseudonym = require_consent(hub, email=email, purpose="analytics", passphrase=passphrase)
    if not event or len(event) > 100:
        raise ValidationError("an event name is 1-100 characters", field="event", value=event)
    payload = {"piiPrincipalId": pseudonym, "event": event, "properties": properties or {}}
    with hub.db.write() as conn:
        _event(hub, conn, lane="telemetry", event_type="analytics.recorded", payload=payload)
    return payload


def mark_cloud_confirmed(hub: Hub, *, pseudonyms: Sequence[str], at: datetime | None = None) -> int:
    """Record that the cloud holds these people's data (sync calls this when acknowledged);
    retention purges their fields from the hub ``retention_personal_hours`` later."""
    when = format_time(at or hub.clock.now())
    with hub.db.write() as conn:
        count = 0
        for pseudonym in pseudonyms:
            count += conn.execute(
                "UPDATE people SET confirmed = ? WHERE pseudonym = ? AND confirmed IS NULL",
                (when, pseudonym),
            ).rowcount
    return count
