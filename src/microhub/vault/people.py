"""Personal data at rest: per-person keys, AEAD-sealed fields and a keyed blind index.

Rules:

* Each person has a random 32-byte key. It is stored only wrapped (AES-256-GCM) by a key derived
  from the hub key, in ``person_keys`` — apart from the data, in its own table — with the person
  id as associated data, so a wrapped key cannot be moved to another person.
* Each field (``email``, ``name``, ``phone``) is sealed with AES-256-GCM under the person's key;
  the associated data is ``person_id|field``, so a ciphertext cannot be swapped between people or
  fields. Stored as ``nonce (12 bytes) || ciphertext+tag``.
* Look-ups use a blind index: HMAC-SHA256 of the normalised value under a key derived from the
  hub key. The plaintext never reaches SQL.
* Erasure deletes the key row (``secure_delete`` is on, so its bytes are overwritten). The
  ciphertext can then never be opened again — on the hub or in any backup, since backups carry
  only ciphertext and keys wrapped by a hub key that is replaced at the same time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from microhub.errors import ValidationError
from microhub.vault.keys import HubKey

__all__ = [
    "FIELDS",
    "Person",
    "blind_index",
    "delete_person_key",
    "find_person",
    "insert_person",
    "normalise_email",
    "open_field",
    "person_key",
    "rewrap_all",
    "seal_field",
    "unwrap_person_key",
    "update_fields",
    "wrap_person_key",
]

FIELDS = ("email", "name", "phone")
_EMAIL = re.compile(
    r"^[^@\s]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$"
)
_PHONE = re.compile(r"^\+?[0-9 ()./-]{4,32}$")


@dataclass(frozen=True, slots=True)
class Person:
    """A person as the hub may show them (fields are ``None`` once erased or purged)."""

    person_id: str
    pseudonym: str
    created: str
    email: str | None
    name: str | None
    phone: str | None
    erased: str | None

    def __repr__(self) -> str:
        return f"Person(person_id={self.person_id!r}, erased={self.erased!r})"


def normalise_email(email: str) -> str:
    """The form that is indexed and stored: trimmed, lower-case. Raises ``ValidationError``."""
    value = email.strip().lower() if isinstance(email, str) else ""
    if len(value) > 254 or not _EMAIL.match(value):
        # Never echo the value: it is personal data.
        raise ValidationError(
            "not an email address (expected name@domain.tld)",
            field="email",
            value=None,
            code="bad_email",
        )
    return value


def check_field(field: str, value: str) -> str:
    if field == "email":
        return normalise_email(value)
    value = value.strip()
    if field == "phone" and not _PHONE.match(value):
        raise ValidationError("not a phone number", field="phone", value=None, code="bad_phone")
    if field == "name" and not 0 < len(value) <= 200:
        raise ValidationError("a name is 1-200 characters", field="name", value=None)
    return value


def blind_index(hub_key: HubKey, kind: str, value: str) -> bytes:
    return hmac.new(
        hub_key.derive("blind index v1"), f"{kind}:{value}".encode(), hashlib.sha256
    ).digest()


def wrap_person_key(hub_key: HubKey, person_id: str, key: bytes) -> bytes:
    nonce = secrets.token_bytes(12)
    return nonce + AESGCM(hub_key.derive("person key wrap v1")).encrypt(
        nonce, key, person_id.encode()
    )


def unwrap_person_key(hub_key: HubKey, person_id: str, wrapped: bytes) -> bytes | None:
    """The person's key, or ``None`` when ``wrapped`` was not made by this hub key."""
    try:
        return AESGCM(hub_key.derive("person key wrap v1")).decrypt(
            wrapped[:12], wrapped[12:], person_id.encode()
        )
    except InvalidTag:
        return None


def seal_field(key: bytes, person_id: str, field: str, value: str) -> bytes:
    nonce = secrets.token_bytes(12)
    aad = f"{person_id}|{field}".encode()
    return nonce + AESGCM(key).encrypt(nonce, value.encode("utf-8"), aad)


def open_field(key: bytes, person_id: str, field: str, sealed: bytes) -> str | None:
    try:
        plain = AESGCM(key).decrypt(sealed[:12], sealed[12:], f"{person_id}|{field}".encode())
    except InvalidTag:
        return None
    return plain.decode("utf-8")


def person_key(conn: sqlite3.Connection, hub_key: HubKey, person_id: str) -> bytes | None:
    row = conn.execute(
        "SELECT wrapped FROM person_keys WHERE person_id = ?", (person_id,)
    ).fetchone()
    return unwrap_person_key(hub_key, person_id, bytes(row[0])) if row else None


def find_person(conn: sqlite3.Connection, hub_key: HubKey, *, email: str) -> str | None:
    """The person id for ``email`` (normalised), or ``None``."""
    digest = blind_index(hub_key, "email", normalise_email(email))
    row = conn.execute(
        "SELECT person_id FROM person_index WHERE kind = 'email' AND digest = ?", (digest,)
    ).fetchone()
    return str(row[0]) if row else None


def insert_person(
    conn: sqlite3.Connection,
    hub_key: HubKey,
    *,
    person_id: str,
    pseudonym: str,
    created: str,
    fields: Mapping[str, str],
) -> None:
    """Create a person with a fresh key, sealed ``fields`` and the email's blind index."""
    key = secrets.token_bytes(32)
    conn.execute(
        "INSERT INTO person_keys (person_id, hub_key_id, wrapped, created) VALUES (?, ?, ?, ?)",
        (person_id, hub_key.key_id, wrap_person_key(hub_key, person_id, key), created),
    )
    conn.execute(
        "INSERT INTO people (person_id, pseudonym, created) VALUES (?, ?, ?)",
        (person_id, pseudonym, created),
    )
    update_fields(conn, hub_key, person_id=person_id, key=key, fields=fields)


def update_fields(
    conn: sqlite3.Connection,
    hub_key: HubKey,
    *,
    person_id: str,
    key: bytes,
    fields: Mapping[str, str],
) -> None:
    for field, value in fields.items():
        if field not in FIELDS:
            raise ValidationError(f"unknown personal field {field!r}", field=field)
        conn.execute(
            f"UPDATE people SET {field} = ? WHERE person_id = ?",  # noqa: S608 - field is whitelisted
            (seal_field(key, person_id, field, value), person_id),
        )
        if field == "email":
            conn.execute(
                "DELETE FROM person_index WHERE kind = 'email' AND person_id = ?", (person_id,)
            )
            conn.execute(
                "INSERT INTO person_index (kind, digest, person_id) VALUES ('email', ?, ?)",
                (blind_index(hub_key, "email", value), person_id),
            )


def read_person(conn: sqlite3.Connection, hub_key: HubKey, person_id: str) -> Person | None:
    row = conn.execute(
        "SELECT person_id, pseudonym, created, email, name, phone, erased FROM people"
        " WHERE person_id = ?",
        (person_id,),
    ).fetchone()
    if row is None:
        return None
    key = person_key(conn, hub_key, person_id)
    values: list[str | None] = []
    for field, sealed in zip(FIELDS, row[3:6], strict=True):
        values.append(
            open_field(key, person_id, field, bytes(sealed)) if key and sealed is not None else None
        )
    return Person(row[0], row[1], row[2], values[0], values[1], values[2], row[6])


def delete_person_key(conn: sqlite3.Connection, *, person_id: str, when: str) -> None:
    """Crypto-shred one person: delete the key, the ciphertext and the index rows."""
    conn.execute("DELETE FROM person_keys WHERE person_id = ?", (person_id,))
    conn.execute("DELETE FROM person_index WHERE person_id = ?", (person_id,))
    conn.execute(
        "UPDATE people SET email = NULL, name = NULL, phone = NULL, erased = ? WHERE person_id = ?",
        (when, person_id),
    )


def rewrap_all(conn: sqlite3.Connection, old: HubKey, new: HubKey) -> int:
    """Re-wrap every person key under ``new`` and rebuild the blind index with ``new``'s index
    key. Personal fields are not re-encrypted. Returns the number of keys re-wrapped."""
    rows = list(conn.execute("SELECT person_id, wrapped FROM person_keys"))
    for person_id, wrapped in rows:
        key = unwrap_person_key(old, person_id, bytes(wrapped))
        if key is None:
            continue  # already under the new key (an interrupted rotation) — leave it
        conn.execute(
            "UPDATE person_keys SET wrapped = ?, hub_key_id = ? WHERE person_id = ?",
            (wrap_person_key(new, person_id, key), new.key_id, person_id),
        )
        email = conn.execute(
            "SELECT email FROM people WHERE person_id = ?", (person_id,)
        ).fetchone()
        if email and email[0] is not None:
            plain = open_field(key, person_id, "email", bytes(email[0]))
            if plain is not None:
                conn.execute(
                    "UPDATE person_index SET digest = ? WHERE kind = 'email' AND person_id = ?",
                    (blind_index(new, "email", plain), person_id),
                )
    return len(rows)


def iter_people(conn: sqlite3.Connection) -> Iterator[tuple[str, str | None, str | None]]:
    """``(person_id, confirmed, erased)`` for every person."""
    for row in conn.execute("SELECT person_id, confirmed, erased FROM people ORDER BY created"):
        yield row[0], row[1], row[2]
