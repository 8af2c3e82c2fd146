"""The journal: signed, hash-chained records, one gap-free series per register.

A record's *body* is a JSON object serialised with RFC 8785. Its ``hash`` is SHA-256 over those
bytes and its signature is over the *summary* line (:func:`summary`), which repeats the fields a
customer sees on the receipt and ends with the body hash. The summary plus the signature is the
receipt's QR payload, so anyone holding the register's public key can check a paper receipt
offline, and an auditor checking the journal checks exactly the same signature.

Body fields (version 1)::

    v         1
    series    register's series id ("HUB", "D7K2")
    seq       1, 2, 3 ... with no gaps and no reuse
    type      start | sale | refund | void | training | zero | close | recovery | key_change |
              series_close
    time      UTC, ISO 8601 with milliseconds and "Z"
    currency  ISO 4217 code
    key       id of the key that signs this record
    prev      hash of the previous record in the series ("0"*64 for the first)
    gross     signed minor units (negative on refunds and voids; 0 for non-money records)
    taxes     [{rate_bp, net, tax, gross}] per tax rate
    payments  [{method, amount, ...details}]
    lines     [{sku, name, qty, unit, rate_bp, discount, amount}];  lines_hash: hash of ``lines``
    ref       {"series", "seq"} of the sale a refund or void returns
    data      type-specific content (close report, new key, unsigned seqs, register info)
    totals    {"grand", "abs", "counts"} *after* this record: perpetual grand total (sales minus
              returns), perpetual absolute total (sum of |gross|), count of records per type

Training records carry amounts but never move ``grand`` or ``abs``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from microhub.domain.canonical import canonical, sha256_hex
from microhub.domain.payments import Payment
from microhub.domain.sale import PricedSale
from microhub.errors import ValidationError

__all__ = [
    "GENESIS",
    "MONEY_TYPES",
    "RECORD_TYPES",
    "VERSION",
    "Draft",
    "Head",
    "Receipt",
    "Totals",
    "build",
    "format_time",
    "parse_receipt",
    "qr_payload",
    "summary",
]

VERSION = 1
GENESIS = "0" * 64
RECORD_TYPES = (
    "start", "sale", "refund", "void", "training", "zero", "close", "recovery", "key_change",
    "series_close",
)  # fmt: skip
MONEY_TYPES = frozenset({"sale", "refund", "void"})  # the only types that move grand and abs
SUMMARY_PREFIX = "MH1"


@dataclass(frozen=True, slots=True)
class Totals:
    grand: int = 0
    abs: int = 0
    counts: Mapping[str, int] = field(default_factory=dict)

    def after(self, record_type: str, gross: int) -> Totals:
        """The running totals after a record of ``record_type`` with ``gross``."""
        counts = dict(self.counts)
        counts[record_type] = counts.get(record_type, 0) + 1
        if record_type in MONEY_TYPES:
            return Totals(self.grand + gross, self.abs + abs(gross), counts)
        return Totals(self.grand, self.abs, counts)

    def to_json(self) -> dict[str, Any]:
        return {"grand": self.grand, "abs": self.abs, "counts": dict(sorted(self.counts.items()))}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Totals:
        return cls(int(data["grand"]), int(data["abs"]), dict(data["counts"]))


@dataclass(frozen=True, slots=True)
class Head:
    """The newest record of a series: what the next record chains to."""

    series: str
    seq: int
    hash: str
    totals: Totals
    key_id: str

    @classmethod
    def empty(cls, series: str, key_id: str) -> Head:
        return cls(series=series, seq=0, hash=GENESIS, totals=Totals(), key_id=key_id)


@dataclass(frozen=True, slots=True)
class Draft:
    """A record ready to be signed and stored."""

    body: dict[str, Any]
    raw: bytes  # canonical body
    hash: str
    summary: bytes  # what gets signed

    @property
    def seq(self) -> int:
        return int(self.body["seq"])

    @property
    def type(self) -> str:
        return str(self.body["type"])

    def head(self) -> Head:
        return Head(
            series=self.body["series"],
            seq=self.seq,
            hash=self.hash,
            totals=Totals.from_json(self.body["totals"]),
            key_id=self.body["key"],
        )


def format_time(moment: datetime) -> str:
    """UTC, millisecond precision, ``Z`` suffix. Naive datetimes are refused."""
    if moment.tzinfo is None:
        raise ValueError("journal times must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def build(
    head: Head,
    *,
    record_type: str,
    time: datetime,
    currency: str,
    priced: PricedSale | None = None,
    payments: Sequence[Payment] = (),
    ref: tuple[str, int] | None = None,
    data: Mapping[str, Any] | None = None,
    key_id: str | None = None,
) -> Draft:
    """The next record after ``head``. ``key_id`` defaults to the head's key."""
    if record_type not in RECORD_TYPES:
        raise ValidationError(
            f"unknown record type {record_type!r}", field="type", value=record_type
        )
    gross = priced.gross if priced is not None else 0
    body: dict[str, Any] = {
        "v": VERSION,
        "series": head.series,
        "seq": head.seq + 1,
        "type": record_type,
        "time": format_time(time),
        "currency": currency,
        "key": key_id or head.key_id,
        "prev": head.hash,
        "gross": gross,
        "taxes": [t.to_json() for t in priced.taxes] if priced else [],
        "payments": [p.to_json() for p in payments],
        "totals": head.totals.after(record_type, gross).to_json(),
    }
    if priced is not None:
        body["lines"] = priced.lines_json
        body["lines_hash"] = priced.lines_hash
    if ref is not None:
        body["ref"] = {"series": ref[0], "seq": ref[1]}
    if data:
        body["data"] = dict(data)
    raw = canonical(body)
    digest = sha256_hex(raw)
    return Draft(body=body, raw=raw, hash=digest, summary=summary(body, digest).encode())


def summary(body: Mapping[str, Any], digest: str) -> str:
    """The signed line: ``MH1|series|seq|type|time|currency|rate:gross,...|gross|key|hash``."""
    taxes = ",".join(f"{t['rate_bp']}:{t['gross']}" for t in body.get("taxes", []))
    return "|".join(
        (
            SUMMARY_PREFIX,
            str(body["series"]),
            str(body["seq"]),
            str(body["type"]),
            str(body["time"]),
            str(body["currency"]),
            taxes,
            str(body["gross"]),
            str(body["key"]),
            digest,
        )
    )


def qr_payload(summary_line: bytes, signature: bytes | None) -> str:
    """The receipt QR: the summary line, then ``|`` and the signature in base64url (or ``-``)."""
    sig = base64.urlsafe_b64encode(signature).rstrip(b"=").decode() if signature else "-"
    return f"{summary_line.decode()}|{sig}"


@dataclass(frozen=True, slots=True)
class Receipt:
    """A parsed receipt QR payload."""

    series: str
    seq: int
    type: str
    time: str
    currency: str
    taxes: tuple[tuple[int, int], ...]
    gross: int
    key_id: str
    hash: str
    summary: bytes
    signature: bytes | None

    @property
    def number(self) -> str:
        return f"{self.series}-{self.seq}"


def parse_receipt(payload: str) -> Receipt:
    """Parse a QR payload, refusing anything malformed with the part that is wrong."""
    parts = payload.strip().split("|")
    if len(parts) != 11 or parts[0] != SUMMARY_PREFIX:
        raise ValidationError(
            "not a microhub receipt payload: expected 11 '|'-separated fields starting with MH1",
            field="payload",
            value=payload[:80],
            code="bad_receipt_payload",
        )
    _, series, seq, rtype, time, cur, taxes, gross, key_id, digest, sig = parts
    try:
        tax_pairs = tuple(
            (int(rate), int(amount))
            for rate, amount in (item.split(":") for item in taxes.split(",") if item)
        )
        seq_no, gross_no = int(seq), int(gross)
        signature = None if sig == "-" else base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except ValueError as exc:
        raise ValidationError(
            f"receipt payload has a malformed number or signature: {exc}",
            field="payload",
            value=payload[:80],
            code="bad_receipt_payload",
        ) from None
    if len(digest) != 64:
        raise ValidationError(
            "receipt payload hash must be 64 hex characters",
            field="hash",
            value=digest,
            code="bad_receipt_payload",
        )
    return Receipt(
        series=series,
        seq=seq_no,
        type=rtype,
        time=time,
        currency=cur,
        taxes=tax_pairs,
        gross=gross_no,
        key_id=key_id,
        hash=digest,
        summary="|".join(parts[:10]).encode(),
        signature=signature,
    )
