"""Checking the journal and single receipts, for operators and auditors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from microhub.crypto.signing import check_signature, check_signatures
from microhub.domain.journal import Receipt, parse_receipt
from microhub.domain.verify import Finding, PublicKey, check_order, verify_series
from microhub.errors import NotFound, ValidationError
from microhub.services.context import Hub
from microhub.store import journal as journal_store
from microhub.sync.anchors import truncation_findings

__all__ = ["SeriesReport", "VerifyReport", "verify_journal", "verify_receipt"]


@dataclass(slots=True)
class SeriesReport:
    series: str
    records: int = 0
    head_seq: int = 0
    findings: list[Finding] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "records": self.records,
            "head_seq": self.head_seq,
            "ok": not self.findings,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(slots=True)
class VerifyReport:
    series: list[SeriesReport]

    @property
    def ok(self) -> bool:
        return all(not s.findings for s in self.series)

    @property
    def findings(self) -> list[Finding]:
        return [f for s in self.series for f in s.findings]

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": sum(s.records for s in self.series),
            "series": [s.to_json() for s in self.series],
            "findings": [f.to_json() for f in self.findings],
        }


def _counting(rows: Iterator[Any], report: SeriesReport) -> Iterator[Any]:
    for row in rows:
        report.records += 1
        report.head_seq = max(report.head_seq, row.seq)
        yield row


def verify_journal(hub: Hub, *, max_findings: int = 10_000) -> VerifyReport:
    """Verify every series, streaming from a read-only snapshot (sales can go on meanwhile)."""
    reports = []
    with hub.db.read() as conn:
        series_ids = [
            r[0]
            for r in conn.execute(
                "SELECT series FROM series UNION SELECT DISTINCT series FROM journal ORDER BY 1"
            )
        ]
        for series in series_ids:
            report = SeriesReport(series)
            pinned = journal_store.keys_for(conn, series)
            rows = _counting(journal_store.iter_rows(conn, series), report)
            for finding in verify_series(
                series,
                rows,
                pinned=pinned,
                check_signature=check_signature,
                check_many=check_signatures,
            ):
                if len(report.findings) < max_findings:
                    report.findings.append(finding)
            for finding in check_order(series, journal_store.iter_storage_order(conn, series)):
                if len(report.findings) < max_findings:
                    report.findings.append(finding)
            report.findings.sort(key=lambda f: (f.seq, f.kind))
            reports.append(report)
        # Cloud anchors (issue 4): a tail cut off after the cloud saw it is "truncated".
        for finding in truncation_findings(conn, hub_id=hub.settings.hub_id):
            found = next((r for r in reports if r.series == finding.series), None)
            if found is None:
                found = SeriesReport(finding.series)
                reports.append(found)
            found.findings.append(finding)
    return VerifyReport(reports)


def verify_receipt(payload: str, keys: Mapping[str, PublicKey]) -> Receipt:
    """Check a receipt's QR payload offline. Returns the parsed receipt or raises.

    ``ValidationError`` (code ``bad_receipt_signature``) when the signature does not match,
    ``NotFound`` when the payload names a key that is not in ``keys``.
    """
    receipt = parse_receipt(payload)
    key = keys.get(receipt.key_id)
    if key is None:
        raise NotFound(
            f"receipt {receipt.number} is signed by key {receipt.key_id!r}, "
            "which this hub does not know",
            code="unknown_key",
            details={"field": "key", "value": receipt.key_id},
        )
    if receipt.signature is None:
        raise ValidationError(
            f"receipt {receipt.number} carries no signature (it was issued "
            "while signing failed; check the journal's recovery record)",
            field="signature",
            value=None,
            code="unsigned_receipt",
        )
    if not check_signature(key, receipt.summary, receipt.signature):
        raise ValidationError(
            f"receipt {receipt.number} does NOT match its signature: "
            "it was altered or not issued by this hub",
            field="signature",
            value=None,
            code="bad_receipt_signature",
        )
    return receipt
