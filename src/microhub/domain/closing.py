"""The daily close (Z report): what one series did between two closes.

:class:`DayTotals` is fed record bodies one at a time, so a day of any length is summed in
constant memory. Training records are counted but never summed into money.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from microhub.domain.journal import MONEY_TYPES

__all__ = ["DayTotals"]


@dataclass(slots=True)
class DayTotals:
    series: str
    first_seq: int | None = None
    last_seq: int | None = None
    gross: int = 0
    training_gross: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    taxes: dict[int, list[int]] = field(default_factory=dict)  # rate -> [net, tax, gross]
    payments: dict[str, int] = field(default_factory=dict)

    def add(self, body: Mapping[str, Any]) -> None:
        seq = int(body["seq"])
        if self.first_seq is None:
            self.first_seq = seq
        self.last_seq = seq
        record_type = body["type"]
        self.counts[record_type] = self.counts.get(record_type, 0) + 1
        if record_type == "training":
            self.training_gross += body["gross"]
            return
        if record_type not in MONEY_TYPES:
            return
        self.gross += body["gross"]
        for tax in body["taxes"]:
            acc = self.taxes.setdefault(tax["rate_bp"], [0, 0, 0])
            acc[0] += tax["net"]
            acc[1] += tax["tax"]
            acc[2] += tax["gross"]
        for payment in body["payments"]:
            method = payment["method"]
            self.payments[method] = self.payments.get(method, 0) + payment["amount"]

    def merge(self, other: DayTotals) -> None:
        self.gross += other.gross
        self.training_gross += other.training_gross
        for key, n in other.counts.items():
            self.counts[key] = self.counts.get(key, 0) + n
        for rate, (net, tax, gross) in other.taxes.items():
            acc = self.taxes.setdefault(rate, [0, 0, 0])
            acc[0] += net
            acc[1] += tax
            acc[2] += gross
        for method, amount in other.payments.items():
            self.payments[method] = self.payments.get(method, 0) + amount

    def to_json(self) -> dict[str, Any]:
        return {
            "series": self.series,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "gross": self.gross,
            "training_gross": self.training_gross,
            "counts": dict(sorted(self.counts.items())),
            "taxes": [
                {"rate_bp": rate, "net": v[0], "tax": v[1], "gross": v[2]}
                for rate, v in sorted(self.taxes.items(), reverse=True)
            ],
            "payments": dict(sorted(self.payments.items())),
        }
