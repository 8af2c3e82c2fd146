"""Devices: adding, pairing, authenticating and revoking phones, and the manager PIN.

Rules:

* ``add_device`` creates a device with a role and its own journal series id (``D`` + 4 letters or
  digits) and returns a one-time pairing code. Only a SHA-256 hash of the code is stored; it works
  once and expires after ``PAIRING_TTL_S`` seconds.
* ``pair_device`` exchanges the code for a bearer credential (returned once, stored as a SHA-256
  hash) and pins the device's public signing key (Ed25519 or ECDSA P-256, made by WebCrypto on the
  phone) for its series. The series is registered with no records; the device's first record is
  its own signed ``start`` record.
* ``authenticate`` turns a bearer credential into a :class:`Device`; a revoked device is refused
  (and the refusal counted), but its earlier records stay valid: its key stays pinned.
* A manager sets a PIN; a manager can then approve a refund on a cashier's phone with it. Wrong
  PINs are rate-limited per requesting device: ``PIN_MAX_FAILURES`` in ``PIN_WINDOW_S`` lock that
  device out of PIN approvals for ``PIN_LOCK_S``.

Credential errors carry the codes ``missing_credential``, ``bad_credential``,
``device_revoked`` and ``forbidden_role``; the web layer maps them to 401 and 403.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from microhub.crypto.signing import key_id_for, load_public_key
from microhub.domain.journal import format_time
from microhub.domain.verify import PublicKey
from microhub.errors import Conflict, MicrohubError, NotFound, SigningError, ValidationError
from microhub.services.context import Hub
from microhub.store import journal as journal_store
from microhub.store import outbox

__all__ = [
    "PAIRING_TTL_S",
    "PIN_LOCK_S",
    "PIN_MAX_FAILURES",
    "PIN_WINDOW_S",
    "ROLES",
    "Device",
    "NewDevice",
    "Paired",
    "add_device",
    "authenticate",
    "check_manager_pin",
    "get_device",
    "list_devices",
    "pair_device",
    "record_approval",
    "require_role",
    "revoke_device",
    "set_manager_pin",
]

ROLES = ("cashier", "manager", "creator")
PAIRING_TTL_S = 600
PIN_MAX_FAILURES = 5
PIN_WINDOW_S = 300
PIN_LOCK_S = 300
_NAME = re.compile(r"^[\w .@'-]{1,40}$")
_PIN = re.compile(r"^\d{4,8}$")
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
_SERIES_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_COLUMNS = (
    "device_id, name, role, series, key_id, created, paired, revoked, last_seen, last_upload,"
    " device_head, skew_ms, refused_after_revoke"
)


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    name: str
    role: str
    series: str
    key_id: str | None
    created: str
    paired: str | None
    revoked: str | None
    last_seen: str | None
    last_upload: str | None
    device_head: int  # the newest seq the device says it has
    skew_ms: int | None  # device clock minus hub clock, last seen
    refused_after_revoke: int

    def to_json(self) -> dict[str, Any]:
        return {
            "device_id": self.device_id,
            "name": self.name,
            "role": self.role,
            "series": self.series,
            "key_id": self.key_id,
            "created": self.created,
            "paired": self.paired,
            "revoked": self.revoked,
            "last_seen": self.last_seen,
            "last_upload": self.last_upload,
            "device_head": self.device_head,
            "skew_ms": self.skew_ms,
            "refused_after_revoke": self.refused_after_revoke,
        }


@dataclass(frozen=True, slots=True)
class NewDevice:
    device: Device
    code: str  # shown once; only its hash is stored
    expires: str


@dataclass(frozen=True, slots=True)
class Paired:
    device: Device
    token: str  # shown once; only its hash is stored


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _row(row: tuple[Any, ...]) -> Device:
    return Device(*row)


def _by(conn: sqlite3.Connection, column: str, value: str) -> Device | None:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM devices WHERE {column} = ?",  # noqa: S608 - column is ours
        (value,),
    ).fetchone()
    return _row(row) if row else None


def get_device(conn: sqlite3.Connection, *, name: str) -> Device:
    device = _by(conn, "name", name)
    if device is None:
        raise NotFound(
            f"no device named {name!r}",
            code="no_device",
            details={"field": "name", "value": name},
        )
    return device


def list_devices(conn: sqlite3.Connection) -> list[Device]:
    sql = f"SELECT {_COLUMNS} FROM devices ORDER BY created"  # noqa: S608 - constant columns
    return [_row(r) for r in conn.execute(sql)]


def _new_series(conn: sqlite3.Connection) -> str:
    while True:
        series = "D" + "".join(secrets.choice(_SERIES_ALPHABET) for _ in range(4))
        taken = conn.execute("SELECT 1 FROM series WHERE series = ?", (series,)).fetchone()
        if (
            not taken
            and not conn.execute("SELECT 1 FROM devices WHERE series = ?", (series,)).fetchone()
        ):
            return series


def _new_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(8))
    return f"{raw[:4]}-{raw[4:]}"


def _normal_code(code: str) -> str:
    compact = re.sub(r"[\s-]", "", code.upper()) if isinstance(code, str) else ""
    return f"{compact[:4]}-{compact[4:]}"


def add_device(
    hub: Hub, *, name: str, role: str, ttl_s: int = PAIRING_TTL_S, now: datetime | None = None
) -> NewDevice:
    """Create a device and a one-time pairing code for it."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            "a device name is 1-40 letters, digits, spaces or .@'-", field="name", value=name
        )
    if role not in ROLES:
        raise ValidationError(
            f"role must be one of {', '.join(ROLES)}", field="role", value=role, code="bad_role"
        )
    moment = now or hub.clock.now()
    created = format_time(moment)
    expires = format_time(moment + timedelta(seconds=ttl_s))
    code = _new_code()
    with hub.db.write() as conn:
        if _by(conn, "name", name) is not None:
            raise Conflict(
                f"a device named {name!r} exists already",
                code="device_exists",
                details={"field": "name", "value": name},
            )
        device_id = hub.new_event_id()
        conn.execute(
            "INSERT INTO devices (device_id, name, role, series, created) VALUES (?, ?, ?, ?, ?)",
            (device_id, name, role, _new_series(conn), created),
        )
        conn.execute(
            "INSERT INTO pairing_codes (code_hash, device_id, created, expires)"
            " VALUES (?, ?, ?, ?)",
            (_hash(code), device_id, created, expires),
        )
        device = _by(conn, "device_id", device_id)
    assert device is not None
    return NewDevice(device=device, code=code, expires=expires)


def pair_device(hub: Hub, *, code: str, alg: str, public_key: str) -> Paired:
    """Exchange a pairing code for a credential and pin the device's public key."""
    if alg not in ("ed25519", "es256"):
        raise ValidationError(
            "alg must be ed25519 or es256", field="alg", value=alg, code="bad_key_alg"
        )
    try:
        raw = bytes.fromhex(public_key)
        key = PublicKey(key_id_for(raw), alg, raw)
        load_public_key(key)
    except (ValueError, TypeError, SigningError):
        raise ValidationError(
            f"public_key is not a valid raw {alg} public key in hex",
            field="public_key",
            value=str(public_key)[:140],
            code="bad_public_key",
        ) from None
    now = format_time(hub.clock.now())
    token = secrets.token_urlsafe(32)
    with hub.db.write() as conn:
        code_hash = _hash(_normal_code(code))
        row = conn.execute(
            "SELECT device_id, expires, used FROM pairing_codes WHERE code_hash = ?",
            (code_hash,),
        ).fetchone()
        if row is None or row[2] is not None or row[1] < now:
            why = "unknown" if row is None else "already used" if row[2] else "expired"
            raise ValidationError(
                f"this pairing code is {why}: ask for a new one (microhub device add)",
                field="code",
                value=None,
                code="bad_pairing_code",
            )
        device = _by(conn, "device_id", row[0])
        assert device is not None
        if device.revoked or device.paired:
            raise ValidationError(
                "this device is revoked or paired already",
                field="code",
                value=None,
                code="bad_pairing_code",
            )
        if conn.execute("SELECT 1 FROM keys WHERE key_id = ?", (key.key_id,)).fetchone():
            raise Conflict(
                "this signing key is registered already: make a new key",
                code="key_exists",
                details={"field": "public_key", "value": key.key_id},
            )
        conn.execute(
            "UPDATE pairing_codes SET used = ? WHERE device_id = ? AND used IS NULL",
            (now, device.device_id),
        )
        conn.execute(
            "UPDATE devices SET token_hash = ?, key_id = ?, paired = ?, last_seen = ?"
            " WHERE device_id = ?",
            (_hash(token), key.key_id, now, now, device.device_id),
        )
        journal_store.add_key(conn, key, series=device.series, created=now)
        journal_store.add_series(
            conn,
            series=device.series,
            register=device.name,
            kind="device",
            key_id=key.key_id,
            created=now,
        )
        paired = _by(conn, "device_id", device.device_id)
    assert paired is not None
    return Paired(device=paired, token=token)


def authenticate(hub: Hub, conn: sqlite3.Connection, token: str | None) -> Device:
    """The device holding ``token``. Refuses missing, unknown and revoked credentials."""
    if not token:
        raise ValidationError(
            "this needs a device credential (Authorization: Bearer ...): pair the device first",
            field="authorization",
            value=None,
            code="missing_credential",
        )
    device = _by(conn, "token_hash", _hash(token))
    if device is None:
        raise ValidationError(
            "this device credential is not valid",
            field="authorization",
            value=None,
            code="bad_credential",
        )
    if device.revoked:
        with hub.db.write() as wconn:
            wconn.execute(
                "UPDATE devices SET refused_after_revoke = refused_after_revoke + 1"
                " WHERE device_id = ?",
                (device.device_id,),
            )
        raise ValidationError(
            f"device {device.name!r} was revoked on {device.revoked}",
            field="authorization",
            value=None,
            code="device_revoked",
        )
    return device


def require_role(device: Device, *roles: str) -> None:
    if device.role not in roles:
        raise ValidationError(
            f"this needs the {' or '.join(roles)} role; device {device.name!r} is a {device.role}",
            field="authorization",
            value=device.role,
            code="forbidden_role",
        )


def revoke_device(hub: Hub, *, name: str) -> Device:
    """Refuse the device's credential from now on. Its records stay in the journal, valid."""
    now = format_time(hub.clock.now())
    with hub.db.write() as conn:
        device = get_device(conn, name=name)
        if device.revoked:
            return device
        conn.execute("UPDATE devices SET revoked = ? WHERE device_id = ?", (now, device.device_id))
        conn.execute(
            "UPDATE pairing_codes SET used = ? WHERE device_id = ? AND used IS NULL",
            (now, device.device_id),
        )
        if device.key_id:
            conn.execute(
                "UPDATE keys SET retired = ? WHERE key_id = ? AND retired IS NULL",
                (now, device.key_id),
            )
        return get_device(conn, name=name)


def _pin_hash(pin: str, salt: bytes) -> str:
    digest = hashlib.scrypt(pin.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def set_manager_pin(hub: Hub, *, device: Device, pin: str) -> None:
    """A manager sets the PIN that approves refunds on other devices."""
    require_role(device, "manager")
    if not isinstance(pin, str) or not _PIN.match(pin):
        raise ValidationError("a PIN is 4-8 digits", field="pin", value=None, code="bad_pin_format")
    with hub.db.write() as conn:
        conn.execute(
            "UPDATE devices SET pin_hash = ? WHERE device_id = ?",
            (_pin_hash(pin, secrets.token_bytes(16)), device.device_id),
        )


def check_manager_pin(hub: Hub, *, requester: Device, manager: str, pin: str) -> Device:
    """The approving manager, if ``pin`` is theirs; rate-limited per ``requester``."""
    now = hub.clock.now()
    stamp = format_time(now)
    conn = hub.db.connection
    row = conn.execute(
        "SELECT failures, window_start, locked_until FROM pin_failures WHERE device_id = ?",
        (requester.device_id,),
    ).fetchone()
    if row and row[2] and row[2] > stamp:
        raise ValidationError(
            f"too many wrong PINs from this device: try again after {row[2]}",
            field="approval.pin",
            value=None,
            code="pin_locked",
            details={"locked_until": row[2]},
        )
    approver = _by(conn, "name", manager) if isinstance(manager, str) else None
    ok = False
    if (
        approver is not None
        and approver.role == "manager"
        and not approver.revoked
        and isinstance(pin, str)
    ):
        stored = conn.execute(
            "SELECT pin_hash FROM devices WHERE device_id = ?", (approver.device_id,)
        ).fetchone()[0]
        if stored:
            _, salt, _digest = stored.split("$")
            ok = hmac.compare_digest(_pin_hash(pin, bytes.fromhex(salt)), stored)
    with hub.db.write() as wconn:
        if ok:
            wconn.execute("DELETE FROM pin_failures WHERE device_id = ?", (requester.device_id,))
            assert approver is not None
            return approver
        window_start = format_time(now - timedelta(seconds=PIN_WINDOW_S))
        failures = 1 if row is None or row[1] < window_start else row[0] + 1
        start = stamp if row is None or row[1] < window_start else row[1]
        locked = (
            format_time(now + timedelta(seconds=PIN_LOCK_S))
            if failures >= PIN_MAX_FAILURES
            else None
        )
        wconn.execute(
            "INSERT INTO pin_failures (device_id, failures, window_start, locked_until)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET"
            " failures = excluded.failures, window_start = excluded.window_start,"
            " locked_until = excluded.locked_until",
            (requester.device_id, failures, start, locked),
        )
    error: MicrohubError = ValidationError(
        "wrong manager name or PIN",
        field="approval.pin",
        value=None,
        code="bad_pin",
        details={"attempts_left": max(0, PIN_MAX_FAILURES - failures)},
    )
    raise error


def record_approval(
    hub: Hub, *, record: str, receipt: str, kind: str, requester: Device, approver: Device
) -> None:
    """Keep who asked for and who approved a refund or void (outbox event ``refund.approved``).

    Written right after the refund's own transaction: the refund record itself is the fact; this
    is the audit note of the approval beside it.
    """
    now = hub.clock.now()
    with hub.db.write() as conn:
        outbox.append(
            conn,
            event_id=hub.new_event_id(),
            lane="money",
            event_type="refund.approved",
            payload={
                "record": record,
                "receipt": receipt,
                "kind": kind,
                "requested_by": requester.name,
                "requested_series": requester.series,
                "approved_by": approver.name,
                "with_pin": approver.device_id != requester.device_id,
            },
            now_ms=int(now.timestamp() * 1000),
            created=format_time(now),
        )
