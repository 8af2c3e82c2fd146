"""Appending a record to a series: sign (or chain unsigned and recover later) and queue for sync.

Rules:

* The record and its outbox event are written in the caller's transaction: both or neither.
* A signing failure never blocks the sale. The record is stored without a signature, its seq is
  remembered on the series, and the next time signing works a signed ``recovery`` record listing
  those seqs and their hashes is chained *before* the next record.
"""

from __future__ import annotations

import base64
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microhub.domain.canonical import canonical, sha256_hex
from microhub.domain.journal import Draft, Head, build, qr_payload
from microhub.domain.payments import Payment
from microhub.domain.sale import PricedSale
from microhub.errors import SigningError
from microhub.services.context import Hub
from microhub.store import journal as journal_store
from microhub.store import outbox

__all__ = ["EVENT_TYPES", "Recorded", "append_record", "event_payload", "recover", "store_record"]

EVENT_TYPES = {
    "start": "series.started",
    "sale": "sale.recorded",
    "refund": "refund.recorded",
    "void": "sale.voided",
    "training": "training.recorded",
    "zero": "zero.recorded",
    "close": "day.closed",
    "recovery": "journal.recovered",
    "key_change": "key.changed",
    "series_close": "series.closed",
}


@dataclass(frozen=True, slots=True)
class Recorded:
    """A stored record and what a receipt shows of it."""

    draft: Draft
    signature: bytes | None

    @property
    def number(self) -> str:
        return f"{self.draft.body['series']}-{self.draft.seq}"

    @property
    def qr(self) -> str:
        return qr_payload(self.draft.summary, self.signature)

    def to_json(self) -> dict[str, Any]:
        body = self.draft.body
        out = {
            "receipt": self.number,
            "series": body["series"],
            "seq": body["seq"],
            "type": body["type"],
            "time": body["time"],
            "currency": body["currency"],
            "gross": body["gross"],
            "taxes": body["taxes"],
            "payments": body["payments"],
            "lines": body.get("lines", []),
            "totals": body["totals"],
            "hash": self.draft.hash,
            "signed": self.signature is not None,
            "qr": self.qr,
        }
        if "ref" in body:
            out["ref"] = f"{body['ref']['series']}-{body['ref']['seq']}"
        if "data" in body:
            out["data"] = body["data"]
        return out


def event_payload(draft: Draft, signature: bytes | None) -> bytes:
    """Canonical bytes of ``{hash, record, seq, series, signature}`` for the outbox.

    The record's canonical bytes are spliced in rather than encoded a second time; keys are in
    RFC 8785 order (``hash`` < ``record`` < ``seq`` < ``series`` < ``signature``).
    """
    tail = canonical(
        {
            "series": draft.body["series"],
            "seq": draft.seq,
            "signature": base64.b64encode(signature).decode() if signature else None,
        }
    )
    return canonical({"hash": draft.hash})[:-1] + b',"record":' + draft.raw + b"," + tail[1:]


def store_record(
    hub: Hub, conn: sqlite3.Connection, draft: Draft, signature: bytes | None
) -> Recorded:
    """Store a built (and signed, or not) record and its outbox event in the caller's transaction."""
    journal_store.append(conn, draft, signature)
    now = hub.clock.now()
    outbox.append(
        conn,
        event_id=hub.new_event_id(),
        lane="money",
        event_type=EVENT_TYPES[draft.type],
        payload=event_payload(draft, signature),
        now_ms=int(now.timestamp() * 1000),
        created=draft.body["time"],
    )
    return Recorded(draft, signature)


def _try_sign(hub: Hub, draft: Draft) -> bytes | None:
    try:
        return hub.signer.sign(draft.summary)
    except SigningError:
        return None


def recover(hub: Hub, conn: sqlite3.Connection, series: str) -> Recorded | None:
    """If records of ``series`` were chained unsigned and signing works again, chain a signed
    recovery record naming them. Returns it, or ``None`` when nothing was pending or signing
    still fails."""
    pending = journal_store.unsigned_of(conn, series)
    if not pending:
        return None
    head = journal_store.head(conn, series)
    hashes = {
        str(seq): sha256_hex(journal_store.get_record(conn, series, seq)[1]) for seq in pending
    }
    draft = build(
        head,
        record_type="recovery",
        time=hub.clock.now(),
        currency=hub.settings.currency,
        data={"unsigned": pending, "hashes": hashes},
    )
    signature = _try_sign(hub, draft)
    if signature is None:
        return None
    journal_store.set_unsigned(conn, series, [])
    return store_record(hub, conn, draft, signature)


def append_record(
    hub: Hub,
    conn: sqlite3.Connection,
    *,
    series: str,
    record_type: str,
    priced: PricedSale | None = None,
    payments: Sequence[Payment] = (),
    ref: tuple[str, int] | None = None,
    data: Mapping[str, Any] | None = None,
    key_id: str | None = None,
    head: Head | None = None,
) -> Recorded:
    """Build, sign and store the next record of ``series`` in the caller's transaction.

    ``head`` may be passed when the caller already read it in this transaction.
    """
    head = head or journal_store.head(conn, series)
    draft = build(
        head,
        record_type=record_type,
        time=hub.clock.now(),
        currency=hub.settings.currency,
        priced=priced,
        payments=payments,
        ref=ref,
        data=data,
        key_id=key_id,
    )
    signature = _try_sign(hub, draft)
    if signature is None:
        pending = journal_store.unsigned_of(conn, series)
        journal_store.set_unsigned(conn, series, [*pending, draft.seq])
    return store_record(hub, conn, draft, signature)
