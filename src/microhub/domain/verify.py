"""The journal verifier: finds every kind of tampering an auditor asks about.

Input is one series' stored rows in sequence order (ties by storage order) plus the public keys
pinned for the register. Output is a stream of :class:`Finding`. It holds one record and one
lookahead in memory, plus the set of unsigned sequence numbers still waiting for a recovery
record, so a series of any length verifies in bounded memory.

Kinds of finding and how each is recognised (see ``docs/journal.md`` for worked examples):

``modified``         the record's bytes changed after signing: the signature fails and the
                     stored hash or the next record's ``prev`` no longer match the bytes; or its
                     ``prev`` link is wrong while the previous record is intact
``bad_signature``    the bytes are intact (hash and next link match) but the signature is not
                     valid, or it is signed by a key that is not the series' current key
``deleted``          sequence numbers are missing and the chain is broken across the hole
``gap``              sequence numbers are missing but the chain is unbroken (the register skipped)
``inserted``         a second, different record claims a sequence number that is already taken
``duplicate``        the same record bytes are stored twice
``reordered``        storage order disagrees with sequence order (see :func:`check_order`)
``totals_mismatch``  running totals do not follow from the previous record, or per-rate totals,
                     lines and payments do not add up to the record's gross
``training_counted`` a training record moved the grand or absolute total
``unsigned``         a record was chained unsigned and no signed recovery record covers it
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microhub.domain.journal import GENESIS, MONEY_TYPES, Totals, summary

__all__ = [
    "FINDING_KINDS",
    "BatchSignatureCheck",
    "Finding",
    "PublicKey",
    "SignatureCheck",
    "StoredRecord",
    "add_up_problem",
    "check_order",
    "verify_series",
]

FINDING_KINDS = (
    "modified", "bad_signature", "deleted", "gap", "inserted", "duplicate", "reordered",
    "totals_mismatch", "training_counted", "unsigned", "truncated",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Finding:
    series: str
    seq: int
    kind: str
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"series": self.series, "seq": self.seq, "kind": self.kind, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One row as stored: ``seq`` and ``hash`` are the store's copies, ``raw`` the signed body."""

    seq: int
    raw: bytes
    hash: str
    signature: bytes | None


@dataclass(frozen=True, slots=True)
class PublicKey:
    key_id: str
    alg: str  # "ed25519" or "es256"
    raw: bytes


SignatureCheck = Callable[[PublicKey, bytes, bytes], bool]


@dataclass(slots=True)
class _Row:
    stored: StoredRecord
    body: dict[str, Any] | None
    digest: str

    @property
    def prev(self) -> str | None:
        return None if self.body is None else self.body.get("prev")


def _parse(stored: StoredRecord) -> _Row:
    try:
        body = json.loads(stored.raw)
        if not isinstance(body, dict):
            body = None
    except ValueError:
        body = None
    return _Row(stored, body, hashlib.sha256(stored.raw).hexdigest())


def _groups(rows: Iterable[StoredRecord]) -> Iterator[list[_Row]]:
    group: list[_Row] = []
    for stored in rows:
        if group and stored.seq != group[0].stored.seq:
            yield group
            group = []
        group.append(_parse(stored))
    if group:
        yield group


def add_up_problem(body: Mapping[str, Any]) -> str | None:
    """Why a record's own figures do not add up, or ``None`` when they do."""
    gross = body.get("gross")
    taxes = body.get("taxes", [])
    if sum(t["gross"] for t in taxes) != gross and (taxes or gross):
        return f"per-rate gross {sum(t['gross'] for t in taxes)} != gross {gross}"
    for t in taxes:
        if t["net"] + t["tax"] != t["gross"]:
            return f"rate {t['rate_bp']}: net {t['net']} + tax {t['tax']} != gross {t['gross']}"
    if "lines" in body:
        lines = sum(line["amount"] for line in body["lines"])
        if lines not in (sum(t["gross"] for t in taxes), sum(t["net"] for t in taxes)):
            return f"lines add up to {lines}, which matches neither net nor gross per rate"
    payments = body.get("payments", [])
    if (payments or body.get("type") in MONEY_TYPES) and sum(
        p["amount"] for p in payments
    ) != gross:
        return f"payments {sum(p['amount'] for p in payments)} != gross {gross}"
    return None


@dataclass(frozen=True, slots=True)
class _SigJob:
    """A signature to check; findings after it in the same record depend on its result."""

    key: PublicKey
    message: bytes
    signature: bytes
    intact: bool
    seq: int


BatchSignatureCheck = Callable[[Sequence[tuple[PublicKey, bytes, bytes]]], Sequence[bool]]


def verify_series(
    series: str,
    rows: Iterable[StoredRecord],
    *,
    pinned: Mapping[str, PublicKey],
    check_signature: SignatureCheck,
    check_many: BatchSignatureCheck | None = None,
    batch: int = 1024,
) -> Iterator[Finding]:
    """Verify one series. ``rows`` must come in ``(seq, storage order)`` order.

    Signatures are checked ``batch`` records at a time through ``check_many`` (which may check
    them in parallel) or, without it, one by one with ``check_signature``. Memory holds at most
    one batch.
    """
    many = check_many or (lambda jobs: [check_signature(k, m, s) for k, m, s in jobs])
    pending: list[list[Finding | _SigJob]] = []
    for items in _record_items(series, rows, pinned):
        pending.append(items)
        if len(pending) >= batch:
            yield from _settle(series, pending, many)
            pending = []
    yield from _settle(series, pending, many)


def _settle(
    series: str, pending: list[list[Finding | _SigJob]], many: BatchSignatureCheck
) -> Iterator[Finding]:
    jobs = [item for items in pending for item in items if isinstance(item, _SigJob)]
    results = dict(
        zip(
            (id(j) for j in jobs),
            many([(j.key, j.message, j.signature) for j in jobs]),
            strict=True,
        )
    )
    for items in pending:
        for item in items:
            if isinstance(item, Finding):
                yield item
            elif not results[id(item)]:
                if item.intact:
                    yield Finding(
                        series,
                        item.seq,
                        "bad_signature",
                        "the record is intact but its signature is not valid",
                    )
                else:
                    yield Finding(
                        series,
                        item.seq,
                        "modified",
                        "the record's content no longer matches its signature",
                    )
                    break


def _record_items(
    series: str, rows: Iterable[StoredRecord], pinned: Mapping[str, PublicKey]
) -> Iterator[list[Finding | _SigJob]]:
    """Per record, its findings and signature job in order (before signatures are known)."""
    head_hash = GENESIS
    expected = 1
    totals = Totals()
    known: dict[str, PublicKey] = dict(pinned)
    current_key: str | None = None
    previous_bad = False
    unsigned: dict[int, str] = {}

    groups = _groups(rows)
    group = next(groups, None)
    while group is not None:
        items: list[Finding | _SigJob] = []
        primary = next((r for r in group if r.prev == head_hash), group[0])
        upcoming = next(groups, None)
        for extra in group:
            if extra is primary:
                continue
            kind = "duplicate" if extra.stored.raw == primary.stored.raw else "inserted"
            items.append(
                Finding(
                    series,
                    extra.stored.seq,
                    kind,
                    "stored twice"
                    if kind == "duplicate"
                    else "a second, different record claims this sequence number",
                )
            )
        next_prev = None
        if upcoming is not None:
            next_prev = next(
                (r.prev for r in upcoming if r.prev == primary.digest), upcoming[0].prev
            )
        items.extend(
            _check_record(
                series,
                primary,
                head_hash,
                expected,
                totals,
                known,
                current_key,
                previous_bad,
                next_prev,
                unsigned,
            )
        )
        yield items
        body = primary.body
        bad_now = (
            body is None
            or primary.digest != primary.stored.hash
            or (next_prev is not None and next_prev != primary.digest)
        )
        if body is not None:
            if body.get("type") == "start" and current_key is None:
                current_key = body.get("key")
            elif body.get("type") == "key_change":
                new = body.get("data", {})
                try:
                    known[new["key"]] = PublicKey(
                        new["key"], new["alg"], bytes.fromhex(new["public_key"])
                    )
                    current_key = new["key"]
                except (KeyError, TypeError, ValueError):
                    pass
            elif body.get("type") == "recovery":
                for seq in body.get("data", {}).get("unsigned", []):
                    unsigned.pop(seq, None)
            with contextlib.suppress(KeyError, TypeError, ValueError):
                totals = Totals.from_json(body["totals"])
            if isinstance(body.get("seq"), int):
                expected = body["seq"] + 1
        else:
            expected = primary.stored.seq + 1
        head_hash = primary.digest
        previous_bad = bad_now
        group = upcoming
    if unsigned:
        yield [
            Finding(
                series,
                seq,
                "unsigned",
                "chained without a signature and never covered by a signed recovery record",
            )
            for seq in sorted(unsigned)
        ]


def _check_record(
    series: str,
    row: _Row,
    head_hash: str,
    expected: int,
    totals: Totals,
    known: Mapping[str, PublicKey],
    current_key: str | None,
    previous_bad: bool,
    next_prev: str | None,
    unsigned: dict[int, str],
) -> Iterator[Finding | _SigJob]:
    seq = row.stored.seq
    body = row.body
    if body is None:
        yield Finding(series, seq, "modified", "the stored record is not a JSON object any more")
        return
    try:
        body_seq = body["seq"]
        record_type = body["type"]
        gross = body["gross"]
        claimed = Totals.from_json(body["totals"])
        key_id = body["key"]
    except (KeyError, TypeError, ValueError) as exc:
        yield Finding(series, seq, "modified", f"the record lacks a required field: {exc}")
        return
    intact = row.digest == row.stored.hash and (next_prev is None or next_prev == row.digest)
    if body_seq != seq or body.get("series") != series:
        yield Finding(
            series,
            seq,
            "modified",
            f"stored as {series}-{seq} but the signed body says {body.get('series')}-{body_seq}",
        )
        return
    follows = True  # whether this record's totals must follow from the previous one
    if seq > expected:
        missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
        if body.get("prev") == head_hash:
            yield Finding(
                series,
                expected,
                "gap",
                f"numbers {missing} were never issued but the chain is unbroken",
            )
        else:
            follows = False
            yield Finding(
                series,
                expected,
                "deleted",
                f"records {missing} are missing and the chain is broken there",
            )
    elif body.get("prev") != head_hash and not previous_bad and intact:
        yield Finding(
            series,
            seq,
            "modified",
            "its link to the previous record does not match that record's hash",
        )

    # Signature.
    signature = row.stored.signature
    if record_type == "start":
        key = known.get(key_id)
        if key is None:
            yield Finding(
                series,
                seq,
                "bad_signature",
                f"the series starts with key {key_id!r}, which is not a pinned key",
            )
    else:
        key = known.get(key_id) if key_id == current_key else None
        if key is None:
            yield Finding(
                series,
                seq,
                "bad_signature",
                f"signed with key {key_id!r} but the series' key is {current_key!r}",
            )
    if key is not None:
        if signature is None:
            unsigned[seq] = row.digest
        else:
            yield _SigJob(key, summary(body, row.digest).encode(), signature, intact, seq)

    # Totals.
    expected_totals = totals.after(record_type, gross)
    if follows and claimed != expected_totals:
        as_if_counted = Totals(
            totals.grand + gross, totals.abs + abs(gross), expected_totals.counts
        )
        if record_type == "training" and gross and claimed == as_if_counted:
            yield Finding(
                series, seq, "training_counted", f"training record moved the grand total by {gross}"
            )
        else:
            yield Finding(
                series,
                seq,
                "totals_mismatch",
                f"running totals {claimed.to_json()} should be {expected_totals.to_json()}",
            )
    problem = add_up_problem(body)
    if problem is not None:
        yield Finding(series, seq, "totals_mismatch", problem)


def check_order(series: str, seqs_in_storage_order: Iterable[int]) -> Iterator[Finding]:
    """Report records stored after a record with a higher sequence number."""
    highest = 0
    seen: set[int] = set()
    for seq in seqs_in_storage_order:
        if seq in seen:
            continue
        seen.add(seq)
        if seq < highest:
            yield Finding(
                series,
                seq,
                "reordered",
                f"stored after record {highest}: storage order differs from sequence order",
            )
        highest = max(highest, seq)
