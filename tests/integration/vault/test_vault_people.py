"""Personal data at rest: encrypted fields, blind-index look-ups, no plaintext anywhere on disk,
and erasure that reaches earlier backups."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from microhub.bootstrap import open_hub
from microhub.errors import NotFound, ValidationError
from microhub.services import audit, sales
from microhub.services import backup as backup_service
from microhub.services import consent as consent_service
from microhub.services import vault as vault_service
from microhub.services.context import Hub

EMAILS = ["alice.unique7@example.org", "bob.unique8@example.net", "carol.unique9@example.com"]
NAMES = ["Alice Zyxwvuts", "Bob Qponmlkj", "Carol Ihgfedcb"]
PHONES = ["+49 170 5550001", "+49 170 5550002", "+49 170 5550003"]


def _sell(hub: Hub) -> None:
    sales.sell(hub, items=[sales.ItemRequest("COFFEE", 1)], payments=[sales.PaymentRequest("cash")])


def _needles() -> list[bytes]:
    out = []
    for text in [*EMAILS, *NAMES, *PHONES]:
        for variant in {text, text.lower(), text.upper()}:
            out.append(variant.encode("utf-8"))
            out.append(variant.encode("utf-16-le"))
    for email in EMAILS:  # the distinctive local part alone, too
        out.append(email.split("@")[0].encode())
    return out


def _scan(folder: Path) -> list[tuple[str, bytes]]:
    hits = []
    needles = _needles()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            data = path.read_bytes()
            hits.extend((str(path), n) for n in needles if n in data)
    return hits


def test_fields_round_trip_through_the_blind_index(hub: Hub) -> None:
    """A stored person is found by email (any case) and their fields decrypt; others are not."""
    vault_service.remember_person(hub, email=EMAILS[0], name=NAMES[0], phone=PHONES[0])
    person = vault_service.lookup_person(hub, email=EMAILS[0].upper())
    assert person is not None
    assert (person.email, person.name, person.phone) == (EMAILS[0], NAMES[0], PHONES[0])
    assert vault_service.lookup_person(hub, email="nobody@example.org") is None
    row = hub.db.connection.execute("SELECT email, name, phone FROM people").fetchone()
    assert all(EMAILS[0].encode() not in bytes(v) for v in row)


def test_no_plaintext_personal_data_anywhere_in_the_data_folder(hub: Hub, tmp_path: Path) -> None:
    """After writes through every public entry point, no byte of the data folder (database,
    WAL, keys, tmp) or of a backup holds an email, name or phone in plaintext."""
    for email, name, phone in zip(EMAILS, NAMES, PHONES, strict=True):
        consent_service.record_consent(
            hub, email=email, purpose="analytics", name=name, phone=phone
        )
        consent_service.record_consent(hub, email=email, purpose="email_receipt")
        vault_service.record_analytics(hub, email=email, event="visit", properties={"n": 1})
        vault_service.authorize_email_receipt(hub, email=email)
        _sell(hub)
    consent_service.withdraw_consent(hub, email=EMAILS[1], purpose="analytics")
    vault_service.rotate_key(hub)
    vault_service.forget(hub, email=EMAILS[2])
    backups = hub.settings.data_dir / "backups"
    backup_service.backup(hub, to=str(backups))
    wal = Path(str(hub.settings.database) + "-wal")
    assert wal.exists() and wal.stat().st_size > 0, "the WAL is part of what is searched"
    assert _scan(hub.settings.data_dir) == []
    hub.db.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert _scan(hub.settings.data_dir) == []


def test_forget_erases_the_person_and_keeps_receipts(hub: Hub) -> None:
    """forget: the person cannot be found or decrypted, their key row is gone, the others
    are still readable, and the journal still verifies."""
    for email, name in zip(EMAILS[:2], NAMES[:2], strict=True):
        consent_service.record_consent(hub, email=email, purpose="email_receipt", name=name)
        _sell(hub)
    result = vault_service.forget(hub, email=EMAILS[0])
    assert result["erased"].startswith("urn:microhub:person:")
    assert vault_service.lookup_person(hub, email=EMAILS[0]) is None
    other = vault_service.lookup_person(hub, email=EMAILS[1])
    assert other is not None and other.name == NAMES[1]
    conn = hub.db.connection
    assert conn.execute("SELECT COUNT(*) FROM person_keys").fetchone()[0] == 1
    erased = conn.execute(
        "SELECT email, name, erased FROM people WHERE erased IS NOT NULL"
    ).fetchall()
    assert len(erased) == 1 and erased[0][0] is None and erased[0][1] is None
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert audit.verify_journal(hub).ok
    with pytest.raises(NotFound):
        vault_service.forget(hub, email=EMAILS[0])
    with pytest.raises(ValidationError) as refused:
        vault_service.authorize_email_receipt(hub, email=EMAILS[0])
    assert refused.value.code == "consent_required"
    events = [r[0] for r in conn.execute("SELECT type FROM outbox WHERE lane = 'consent'")]
    assert "person.erased" in events


def _people_in(data_dir: Path) -> dict[str, Any]:
    hub = open_hub(data_dir)
    try:
        conn = hub.db.connection
        ids = [r[0] for r in conn.execute("SELECT person_id FROM people ORDER BY created")]
        key = vault_service.hub_key(hub)
        from microhub.vault import people

        return {pid: people.read_person(conn, key, pid) for pid in ids}
    finally:
        hub.close()


def test_forget_reaches_backups_taken_before(hub: Hub, tmp_path: Path) -> None:
    """A backup taken before forget, restored with the hub's key, no longer opens the erased
    person's fields (while the same restore before forget did)."""
    for email, name in zip(EMAILS[:2], NAMES[:2], strict=True):
        vault_service.remember_person(hub, email=email, name=name)
    result = backup_service.backup(hub, to=str(tmp_path / "bk"))
    archive = tmp_path / "bk" / result["name"]
    identity = hub.settings.key_dir / "backup-identity.txt"
    hub_key_file = hub.settings.key_dir / "hub.key"

    backup_service.restore(
        source=str(archive), data_dir=tmp_path / "before", identity=identity,
        hub_key_file=hub_key_file,
    )  # fmt: skip
    before = _people_in(tmp_path / "before")
    assert sorted(p.name for p in before.values() if p) == sorted(NAMES[:2])

    vault_service.forget(hub, email=EMAILS[0])
    backup_service.restore(
        source=str(archive), data_dir=tmp_path / "after", identity=identity,
        hub_key_file=hub_key_file,
    )  # fmt: skip
    after = _people_in(tmp_path / "after")
    assert all(p is not None and p.email is None and p.name is None for p in after.values())
    # The live hub still reads the person who was not erased.
    assert vault_service.lookup_person(hub, email=EMAILS[1]).name == NAMES[1]  # type: ignore[union-attr]
    # And the raw old backup's wrapped key cannot be unwrapped with the current hub key.
    snap = sqlite3.connect(tmp_path / "after" / "hub.sqlite")
    wrapped = snap.execute("SELECT person_id, wrapped FROM person_keys").fetchall()
    snap.close()
    from microhub.vault import people

    key = vault_service.hub_key(hub)
    assert wrapped and all(
        people.unwrap_person_key(key, pid, bytes(w)) is None for pid, w in wrapped
    )
