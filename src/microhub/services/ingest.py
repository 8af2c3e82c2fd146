"""Ingesting device-signed records: exactly once per ``(series, seq)``, verified, journaled.

A paired device numbers, signs and keeps every record in its own series, online or offline, and
uploads them in order. For each uploaded record the hub, in this order:

1. checks its shape (types, no floats, quantities 1..100000, the hub's currency, the device's own
   series and key, a time not in the future) — refused with ``ValidationError`` naming the field;
2. hashes the RFC 8785 body and checks the device's signature over the summary line — a forged or
   transplanted signature is refused (``bad_signature``);
3. in ONE write transaction: if ``seq`` is already journaled, the same hash is a ``duplicate``
   (success, nothing written: replays are idempotent) and a different hash is a
   ``Conflict`` (``conflicting_record``: an alarm, never an overwrite); a seq past the head is a
   ``gap``; otherwise the chain (``prev`` == head hash), the running totals
   (:meth:`Totals.after`), the add-up rules of :mod:`microhub.domain.verify` and the hub's own
   re-computation of line amounts and per-rate tax must all hold — else refused; then the record
   is journaled with its outbox event (``services.journaling``) and stock is moved.
4. business disagreements — an sku the hub does not know or sells at another price, a disabled
   payment method, stock sold below zero — do NOT refuse the record: the signed sale happened and
   the customer holds its receipt, so dropping it would lose money and break the device's chain.
   The record is journaled and each issue is kept in ``device_rejects`` for the manager. Later
   records are never blocked by it.

Refusals change nothing stored, except the device clock reading: every upload carries the
device's ``sent_at``; the skew is recorded, and a clock more than ``MAX_SKEW_S`` off is refused
(``clock_skew``) — record times are never trusted for ordering.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from microhub.crypto.signing import check_signature
from microhub.domain.canonical import canonical, sha256_hex
from microhub.domain.journal import GENESIS, VERSION, Draft, Totals, format_time, summary
from microhub.domain.sale import MAX_QTY
from microhub.domain.tax import breakdown
from microhub.domain.verify import PublicKey
from microhub.domain.verify import add_up_problem as add_up  # the verifier's own add-up rules
from microhub.errors import Conflict, ValidationError
from microhub.services.context import Hub
from microhub.services.devices import Device
from microhub.services.journaling import store_record
from microhub.store import catalog as catalog_store
from microhub.store import journal as journal_store
from microhub.store.sqlite import Database

__all__ = [
    "DEVICE_TYPES",
    "MAX_BATCH",
    "MAX_SKEW_S",
    "GroupCommit",
    "IngestReport",
    "Issue",
    "Outcome",
    "Upload",
    "committer",
    "ingest",
    "list_rejects",
]

MAX_SKEW_S = 300
SKEW_HISTORY_STEP_MS = 1000  # a new device_skew row when the skew moved by more than this
MAX_BATCH = 100
DEVICE_TYPES = ("start", "sale", "training")  # refunds and voids go through the hub (manager)
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_MAX_INT = 2**53 - 1


@dataclass(frozen=True, slots=True)
class Upload:
    """One record as a device sends it: the body, its signature and (optionally) its hash."""

    body: Any
    signature: bytes | None
    hash: str | None = None


@dataclass(frozen=True, slots=True)
class Issue:
    code: str
    field: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class Outcome:
    series: str
    seq: int
    status: str  # "accepted" or "duplicate"
    hash: str
    issues: tuple[Issue, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "seq": self.seq,
            "status": self.status,
            "hash": self.hash,
            "issues": [i.to_json() for i in self.issues],
        }


@dataclass(frozen=True, slots=True)
class IngestReport:
    results: list[Outcome]
    head_seq: int  # the hub's head of the device's series after this upload
    missing: int  # records the device says it has that the hub has not received
    skew_ms: int | None
    server_time: str
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "results": [r.to_json() for r in self.results],
            "head_seq": self.head_seq,
            "missing": self.missing,
            "skew_ms": self.skew_ms,
            "server_time": self.server_time,
        }


def _bad(
    message: str, field: str, value: Any = None, code: str = "invalid_record"
) -> ValidationError:
    if isinstance(value, (dict, list)):
        value = None
    elif isinstance(value, str):
        value = value[:80]
    return ValidationError(message, field=field, value=value, code=code)


def _int(value: Any, where: str, *, low: int = -_MAX_INT, high: int = _MAX_INT) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _bad(f"{where} must be a whole number from {low} to {high}", where, value)
    return value


def _str(value: Any, where: str, *, max_len: int = 200) -> str:
    if not isinstance(value, str) or len(value) > max_len:
        raise _bad(f"{where} must be text of at most {max_len} characters", where, value)
    return value


def _no_floats(value: Any, where: str, depth: int = 0) -> None:
    if depth > 8:
        raise _bad("the record is nested too deeply", where)
    if isinstance(value, float):
        raise _bad("amounts are whole minor units: no decimal numbers", where, value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _MAX_INT:
        raise _bad("number out of range", where, value)
    if isinstance(value, dict):
        for key, item in value.items():
            _no_floats(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_floats(item, f"{where}[{index}]", depth + 1)


def _check_shape(hub: Hub, device: Device, body: Any, where: str, now: datetime) -> None:
    """Refuse anything a correct device never sends, naming the field."""
    if not isinstance(body, dict):
        raise _bad("a record body is a JSON object", where)
    # Every known field's type is checked below; free-form parts are checked for floats here.
    _no_floats(body.get("payments", []), f"{where}.payments")
    _no_floats(body.get("data", {}), f"{where}.data")
    for name in ("v", "series", "seq", "type", "time", "currency", "key", "prev", "gross"):
        if name not in body:
            raise _bad(f"the record lacks {name!r}", f"{where}.{name}", code="missing_field")
    if body["v"] != VERSION or not isinstance(body["v"], int):
        raise _bad(f"record version must be {VERSION}", f"{where}.v", body["v"])
    if body["series"] != device.series:
        raise _bad(
            f"device {device.name!r} signs in series {device.series}, not {body['series']!r}",
            f"{where}.series",
            body["series"],
            code="wrong_series",
        )
    _int(body["seq"], f"{where}.seq", low=1)
    if body["type"] not in DEVICE_TYPES:
        raise _bad(
            f"devices upload {', '.join(DEVICE_TYPES)} records; refunds and voids are made"
            " on the hub with a manager's approval",
            f"{where}.type",
            body["type"],
            code="unsupported_record_type",
        )
    if (body["type"] == "start") != (body["seq"] == 1):
        raise _bad(
            "a device series begins with one start record at seq 1",
            f"{where}.type",
            body["type"],
        )
    time = _str(body["time"], f"{where}.time", max_len=24)
    try:
        when = datetime.strptime(time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError:
        when = None
    if not _TIME.match(time) or when is None:
        raise _bad("time must be UTC like 2026-05-01T18:30:00.000Z", f"{where}.time", time)
    if when > now + timedelta(seconds=MAX_SKEW_S):
        raise _bad(
            "the record's time is in the future: the device clock is wrong",
            f"{where}.time",
            time,
            code="future_time",
        )
    if body["currency"] != hub.settings.currency:
        raise _bad(
            f"this hub sells in {hub.settings.currency}, not {body['currency']!r}",
            f"{where}.currency",
            body["currency"],
            code="wrong_currency",
        )
    if body["key"] != device.key_id:
        raise _bad(
            "the record names a key that is not this device's",
            f"{where}.key",
            body["key"],
            code="wrong_key",
        )
    prev = _str(body["prev"], f"{where}.prev", max_len=64)
    if not re.fullmatch(r"[0-9a-f]{64}", prev):
        raise _bad("prev must be 64 hex digits", f"{where}.prev", prev)
    _int(body["gross"], f"{where}.gross")
    if not isinstance(body.get("totals"), dict):
        raise _bad("the record lacks its running totals", f"{where}.totals", code="missing_field")
    totals = body["totals"]
    _int(totals.get("grand"), f"{where}.totals.grand")
    _int(totals.get("abs"), f"{where}.totals.abs", low=0)
    if not isinstance(totals.get("counts"), dict) or set(totals) != {"grand", "abs", "counts"}:
        raise _bad("totals are {grand, abs, counts}", f"{where}.totals")
    for key, count in totals["counts"].items():
        _int(count, f"{where}.totals.counts.{key}", low=0)
    for name in ("taxes", "payments"):
        if not isinstance(body.get(name, []), list):
            raise _bad(f"{name} is a list", f"{where}.{name}")
    for i, tax in enumerate(body.get("taxes", [])):
        if not isinstance(tax, dict) or set(tax) != {"rate_bp", "net", "tax", "gross"}:
            raise _bad("a tax line is {rate_bp, net, tax, gross}", f"{where}.taxes[{i}]")
        _int(tax["rate_bp"], f"{where}.taxes[{i}].rate_bp", low=0, high=10_000)
        for part in ("net", "tax", "gross"):
            _int(tax[part], f"{where}.taxes[{i}].{part}")
    for i, payment in enumerate(body.get("payments", [])):
        if not isinstance(payment, dict):
            raise _bad("a payment is an object", f"{where}.payments[{i}]")
        _str(payment.get("method"), f"{where}.payments[{i}].method", max_len=40)
        _int(payment.get("amount"), f"{where}.payments[{i}].amount", low=0)
    if body["type"] in ("sale", "training"):
        lines = body.get("lines")
        if not isinstance(lines, list) or not lines or len(lines) > 500:
            raise _bad("a sale has 1-500 lines", f"{where}.lines", code="missing_field")
        for i, line in enumerate(lines):
            at = f"{where}.lines[{i}]"
            keys = {"sku", "name", "qty", "unit", "rate_bp", "discount", "amount"}
            if not isinstance(line, dict) or set(line) != keys:
                raise _bad("a line is {sku, name, qty, unit, rate_bp, discount, amount}", at)
            _str(line["sku"], f"{at}.sku", max_len=64)
            _str(line["name"], f"{at}.name", max_len=200)
            _int(line["qty"], f"{at}.qty", low=1, high=MAX_QTY)
            _int(line["unit"], f"{at}.unit", low=0)
            _int(line["rate_bp"], f"{at}.rate_bp", low=0, high=10_000)
            _int(line["discount"], f"{at}.discount", low=0)
            _int(line["amount"], f"{at}.amount", low=0)
        _str(body.get("lines_hash"), f"{where}.lines_hash", max_len=64)
    if "data" in body and not isinstance(body["data"], dict):
        raise _bad("data is an object", f"{where}.data")
    allowed = {
        "v", "series", "seq", "type", "time", "currency", "key", "prev", "gross", "taxes",
        "payments", "totals", "lines", "lines_hash", "data",
    }  # fmt: skip
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise _bad(f"unknown record field {unknown[0]!r}", f"{where}.{unknown[0]}")


def _check_figures(hub: Hub, body: Mapping[str, Any], where: str) -> None:
    """The hub re-computes what the device computed; any difference is refused."""
    if body["type"] in ("sale", "training"):
        for i, line in enumerate(body["lines"]):
            if line["discount"] > line["qty"] * line["unit"] or line["amount"] != (
                line["qty"] * line["unit"] - line["discount"]
            ):
                raise _bad(
                    "line amount must be qty x unit - discount",
                    f"{where}.lines[{i}].amount",
                    line["amount"],
                    code="totals_mismatch",
                )
        if sha256_hex(canonical(body["lines"])) != body["lines_hash"]:
            raise _bad(
                "lines_hash is not the hash of the lines",
                f"{where}.lines_hash",
                code="totals_mismatch",
            )
        expected = [
            t.to_json()
            for t in breakdown(
                ((line["rate_bp"], line["amount"]) for line in body["lines"]),
                prices_include_tax=hub.settings.prices_include_tax,
            )
        ]
        if body["taxes"] != expected:
            raise _bad(
                f"per-rate tax should be {expected}",
                f"{where}.taxes",
                code="totals_mismatch",
            )
    problem = add_up(body)
    if problem is not None:
        raise _bad(problem, f"{where}.gross", body["gross"], code="totals_mismatch")


def _business_issues(
    hub: Hub, conn: sqlite3.Connection, body: Mapping[str, Any], where: str
) -> list[Issue]:
    """What the hub disagrees with but must not refuse: the sale happened."""
    issues: list[Issue] = []
    if body["type"] not in ("sale", "training"):
        return issues
    enabled = set(hub.payments.names())
    for i, payment in enumerate(body.get("payments", [])):
        if payment["method"] not in enabled:
            issues.append(
                Issue(
                    "unknown_payment_method",
                    f"{where}.payments[{i}].method",
                    f"payment method {payment['method']!r} is not enabled on this hub",
                )
            )
        if payment["method"] == "tap" and not payment.get("terminal_ref"):
            issues.append(
                Issue(
                    "missing_terminal_ref",
                    f"{where}.payments[{i}].terminal_ref",
                    "tap payment without the terminal's reference",
                )
            )
    for i, line in enumerate(body["lines"]):
        at = f"{where}.lines[{i}]"
        row = conn.execute(
            "SELECT price, tax_rate_bp, active, stock FROM catalog WHERE sku = ?", (line["sku"],)
        ).fetchone()
        if row is None:
            issues.append(
                Issue("unknown_sku", f"{at}.sku", f"sku {line['sku']!r} is not sold here")
            )
            continue
        price, rate, active, stock = row
        if not active:
            issues.append(Issue("inactive_item", f"{at}.sku", f"{line['sku']} is not on sale"))
        if line["unit"] != price:
            issues.append(
                Issue(
                    "price_mismatch", f"{at}.unit", f"sold at {line['unit']}, catalog says {price}"
                )
            )
        if line["rate_bp"] != rate:
            issues.append(
                Issue(
                    "tax_rate_mismatch", f"{at}.rate_bp", f"rate {line['rate_bp']}, catalog {rate}"
                )
            )
        if body["type"] == "sale" and stock is not None and stock - line["qty"] < 0:
            issues.append(Issue("oversold", f"{at}.qty", f"stock was {stock}"))
    return issues


T = TypeVar("T")


@dataclass(slots=True)
class _Slot(Generic[T]):
    job: Callable[[sqlite3.Connection], T]
    result: T | None = None
    error: Exception | None = None
    done: bool = False


class GroupCommit:
    """Runs write jobs from many threads in shared transactions: one commit (one fsync) for all
    the uploads that arrived while the previous commit was being written.

    Each job runs inside its own ``SAVEPOINT``: a job that raises is rolled back alone and its
    error goes to its caller; the others commit. If the COMMIT itself fails, every job of the
    batch gets that error (nothing of the batch is stored). A caller returns only after its job
    is durable, so an acknowledged record is on disk exactly as with a transaction of its own.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cond = threading.Condition()
        self._pending: list[_Slot[Any]] = []
        self._busy = False

    def run(self, job: Callable[[sqlite3.Connection], T]) -> T:
        slot: _Slot[T] = _Slot(job)
        with self._cond:
            self._pending.append(slot)
            while not slot.done and self._busy:
                self._cond.wait()
            if slot.done:
                return self._outcome(slot)
            self._busy = True
            batch, self._pending = self._pending, []
        try:
            self._commit(batch)
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()
        return self._outcome(slot)

    @staticmethod
    def _outcome(slot: _Slot[T]) -> T:
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _commit(self, batch: list[_Slot[Any]]) -> None:
        try:
            with self._db.write() as conn:
                for slot in batch:
                    conn.execute("SAVEPOINT ingest_job")
                    try:
                        slot.result = slot.job(conn)
                    except Exception as error:
                        conn.execute("ROLLBACK TO ingest_job")
                        slot.error = error
                    conn.execute("RELEASE ingest_job")
        except Exception as error:
            for slot in batch:
                if slot.error is None:
                    slot.error, slot.result = error, None
        finally:
            for slot in batch:
                slot.done = True


_COMMITTERS: weakref.WeakKeyDictionary[Database, GroupCommit] = weakref.WeakKeyDictionary()
_COMMITTERS_LOCK = threading.Lock()


def committer(hub: Hub) -> GroupCommit:
    """The hub database's group committer (one per open database)."""
    with _COMMITTERS_LOCK:
        found = _COMMITTERS.get(hub.db)
        if found is None:
            found = _COMMITTERS[hub.db] = GroupCommit(hub.db)
        return found


@dataclass(frozen=True, slots=True)
class _Seen:
    """What every write of this upload also records about the device (no extra transaction)."""

    device: Device
    skew_ms: int
    device_head: int
    now: str

    def store(self, conn: sqlite3.Connection, *, uploaded: int | None = None) -> None:
        d = self.device
        conn.execute(
            "UPDATE devices SET skew_ms = ?, last_seen = ?, device_head = MAX(device_head, ?),"
            " last_upload = COALESCE(?, last_upload) WHERE device_id = ?",
            (
                self.skew_ms,
                self.now,
                max(self.device_head, uploaded or 0),
                self.now if uploaded is not None else None,
                d.device_id,
            ),
        )
        if d.skew_ms is None or abs(self.skew_ms - d.skew_ms) > SKEW_HISTORY_STEP_MS:
            conn.execute(
                "INSERT INTO device_skew (device_id, observed, skew_ms) VALUES (?, ?, ?)",
                (d.device_id, self.now, self.skew_ms),
            )


@dataclass(frozen=True, slots=True)
class _Checked:
    """A record whose shape, hash and signature were checked outside the transaction."""

    draft: Draft
    signature: bytes
    where: str


def _check_record(
    hub: Hub, device: Device, key: PublicKey, upload: Upload, where: str, now: datetime
) -> _Checked:
    body = upload.body
    _check_shape(hub, device, body, f"{where}.body", now)
    raw = canonical(body)
    digest = sha256_hex(raw)
    if upload.hash is not None and upload.hash != digest:
        raise _bad(
            "the hash does not match the canonical body (RFC 8785)",
            f"{where}.hash",
            upload.hash,
            code="hash_mismatch",
        )
    line = summary(body, digest).encode()
    if upload.signature is None or not check_signature(key, line, upload.signature):
        raise _bad(
            "the signature is not this device's signature of this record",
            f"{where}.signature",
            code="bad_signature",
        )
    return _Checked(Draft(body=body, raw=raw, hash=digest, summary=line), upload.signature, where)


def _apply(
    hub: Hub,
    conn: sqlite3.Connection,
    device: Device,
    key: PublicKey,
    record: _Checked,
    now: datetime,
) -> Outcome:
    """Journal one checked record in the caller's transaction (or say it is a duplicate)."""
    body, digest, where = record.draft.body, record.draft.hash, record.where
    series, seq = body["series"], body["seq"]
    head = journal_store.head(conn, series)
    if seq <= head.seq:
        stored = journal_store.get_record(conn, series, seq)[1]
        if sha256_hex(stored) == digest:
            return Outcome(series, seq, "duplicate", digest)
        raise Conflict(
            f"{series}-{seq} is stored already with different content",
            code="conflicting_record",
            details={"field": f"{where}.body.seq", "value": seq},
        )
    if seq > head.seq + 1:
        raise Conflict(
            f"{series}-{seq} arrived before {series}-{head.seq + 1}: upload in order",
            code="gap",
            details={"field": f"{where}.body.seq", "value": seq, "expected": head.seq + 1},
        )
    if body["prev"] != (head.hash if head.seq else GENESIS):
        raise _bad(
            f"prev must be the hash of {series}-{head.seq}",
            f"{where}.body.prev",
            body["prev"],
            code="broken_chain",
        )
    expected = head.totals.after(body["type"], body["gross"])
    if Totals.from_json(body["totals"]) != expected:
        raise _bad(
            f"running totals should be {expected.to_json()}",
            f"{where}.body.totals",
            code="totals_mismatch",
        )
    _check_figures(hub, body, f"{where}.body")
    if body["type"] == "start":
        data = body.get("data", {})
        if data.get("public_key") != key.raw.hex() or data.get("alg") != key.alg:
            raise _bad(
                "the start record must name the device's paired key",
                f"{where}.body.data.public_key",
                code="wrong_key",
            )
    issues = _business_issues(hub, conn, body, f"{where}.body")
    store_record(hub, conn, record.draft, record.signature)
    if body["type"] == "sale":
        for item in body["lines"]:
            catalog_store.adjust_stock(conn, item["sku"], -item["qty"])
    stamp = format_time(now)
    for issue in issues:
        conn.execute(
            "INSERT INTO device_rejects (device_id, series, seq, code, field, message,"
            " received) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (device.device_id, series, seq, issue.code, issue.field, issue.message, stamp),
        )
    return Outcome(series, seq, "accepted", digest, tuple(issues))


def ingest(
    hub: Hub,
    *,
    device: Device,
    uploads: Sequence[Upload],
    sent_at: datetime,
    device_head: int | None = None,
    reader: sqlite3.Connection | None = None,
) -> IngestReport:
    """Ingest ``uploads`` in order; stop at the first refusal.

    Shapes, hashes and signatures are checked first, outside any transaction. The records that
    passed are then applied in ONE transaction (each in its own savepoint) together with the
    device's clock skew, last contact and reported head; concurrent uploads share that commit
    (:class:`GroupCommit`). Records before a refused one are stored (a retry acknowledges them
    as duplicates); the refusal is raised with ``accepted_through``. ``reader``: a connection for
    reads (default: the writer's).
    """
    now = hub.clock.now()
    conn = reader or hub.db.connection
    if len(uploads) > MAX_BATCH:
        raise _bad(f"upload at most {MAX_BATCH} records at once", "records", len(uploads))
    skew_ms = int((sent_at - now).total_seconds() * 1000)
    seen = _Seen(device, skew_ms, max(0, min(device_head or 0, _MAX_INT)), format_time(now))
    if abs(skew_ms) > MAX_SKEW_S * 1000:
        with hub.db.write() as wconn:
            seen.store(wconn)  # recorded, not trusted
        raise ValidationError(
            f"the device clock is {skew_ms / 1000:.0f} s off the hub's: set it from the hub"
            " (the app does this from server_time)",
            field="sent_at",
            value=format_time(sent_at),
            code="clock_skew",
            details={"skew_ms": skew_ms, "server_time": format_time(now)},
        )
    key = journal_store.keys_for(conn, device.series).get(device.key_id or "")
    if key is None:
        raise _bad("this device has no paired key", "authorization", code="not_paired")
    checked: list[_Checked] = []
    refusal: ValidationError | Conflict | None = None
    for index, upload in enumerate(uploads):
        try:
            checked.append(_check_record(hub, device, key, upload, f"records[{index}]", now))
        except (ValidationError, Conflict) as error:
            refusal = error
            break

    def transaction(
        wconn: sqlite3.Connection,
    ) -> tuple[list[Outcome], ValidationError | Conflict | None]:
        done: list[Outcome] = []
        for record in checked:
            wconn.execute("SAVEPOINT ingest_record")
            try:
                done.append(_apply(hub, wconn, device, key, record, now))
            except (ValidationError, Conflict) as error:
                wconn.execute("ROLLBACK TO ingest_record")
                wconn.execute("RELEASE ingest_record")
                return done, error
            wconn.execute("RELEASE ingest_record")
        accepted = [r.seq for r in done if r.status == "accepted"]
        seen.store(wconn, uploaded=max(accepted) if accepted else None)
        return done, None

    results, late = committer(hub).run(transaction) if checked else ([], None)
    if late is not None or (refusal is not None and not checked):
        with hub.db.write() as wconn:
            accepted = [r.seq for r in results if r.status == "accepted"]
            seen.store(wconn, uploaded=max(accepted) if accepted else None)
    problem = late or refusal
    if problem is not None:
        problem.details["accepted_through"] = results[-1].seq if results else None
        raise problem
    accepted = [r.seq for r in results if r.status == "accepted"]
    if accepted:
        head_seq = max(accepted)  # uploads are in order: the last accepted one is the head now
        reported = max(device.device_head, seen.device_head, head_seq)
    else:
        head_seq = journal_store.head(conn, device.series).seq
        reported = conn.execute(
            "SELECT device_head FROM devices WHERE device_id = ?", (device.device_id,)
        ).fetchone()[0]
    return IngestReport(
        results=results,
        head_seq=head_seq,
        missing=max(0, reported - head_seq),
        skew_ms=skew_ms,
        server_time=format_time(now),
    )


def list_rejects(conn: sqlite3.Connection, *, open_only: bool = True) -> list[dict[str, Any]]:
    """Business issues found in device records, newest first, for the manager."""
    sql = (
        "SELECT r.id, d.name, r.series, r.seq, r.code, r.field, r.message, r.received, r.resolved"
        " FROM device_rejects r JOIN devices d ON d.device_id = r.device_id"
    )
    if open_only:
        sql += " WHERE r.resolved IS NULL"
    rows = conn.execute(sql + " ORDER BY r.id DESC LIMIT 500")
    keys = ("id", "device", "series", "seq", "code", "field", "message", "received", "resolved")
    return [dict(zip(keys, row, strict=True)) for row in rows]
