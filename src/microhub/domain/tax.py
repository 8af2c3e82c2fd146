"""Tax rates and the one rounding rule microhub uses.

Rates are integers in basis points (hundredths of a percent): 19 % is ``1900``, 7.7 % is ``770``.

**Rounding rule** (documented in ``docs/money-and-tax.md``): tax is computed once per rate on the
sum of that rate's line amounts, never per line, and rounded half away from zero to the currency's
minor unit ("commercial rounding", as DSFinV-K and most EU schemes expect). Consequences:

* prices include tax: ``gross`` per rate is the exact sum of line amounts; ``tax = round(gross *
  r / (1 + r))``; ``net = gross - tax``;
* prices exclude tax: ``net`` per rate is the exact sum of line amounts; ``tax = round(net * r)``;
  ``gross = net + tax``.

Either way ``net + tax == gross`` for every rate and the sale's total is the sum of the per-rate
gross amounts, so totals per rate always add up to the total with no minor unit lost or created.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from microhub.errors import ValidationError

__all__ = ["TaxLine", "breakdown", "parse_rate", "round_div", "tax_from_gross", "tax_from_net"]

_PERCENT = re.compile(r"^\d{1,2}(\.\d{1,2})?$|^100(\.0{1,2})?$")


def parse_rate(text: str, *, field: str = "tax_rate") -> int:
    """Parse a percentage ("19", "7.7", "5.5") into basis points. At most two decimals, 0–100."""
    raw = text.strip() if isinstance(text, str) else str(text)
    if not _PERCENT.match(raw):
        raise ValidationError(
            f"{field} must be a percentage between 0 and 100 with at most two decimals, "
            f"got {text!r}",
            field=field,
            value=text,
        )
    whole, _, frac = raw.partition(".")
    return int(whole) * 100 + int((frac + "00")[:2])


def round_div(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero, in exact integer arithmetic."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return quotient if numerator >= 0 else -quotient


def tax_from_gross(gross: int, rate_bp: int) -> int:
    """The tax contained in a tax-inclusive amount."""
    return round_div(gross * rate_bp, 10_000 + rate_bp)


def tax_from_net(net: int, rate_bp: int) -> int:
    """The tax to add to a tax-exclusive amount."""
    return round_div(net * rate_bp, 10_000)


@dataclass(frozen=True, slots=True)
class TaxLine:
    """The totals of one tax rate in a sale, refund or report."""

    rate_bp: int
    net: int
    tax: int
    gross: int

    def to_json(self) -> dict[str, int]:
        return {"rate_bp": self.rate_bp, "net": self.net, "tax": self.tax, "gross": self.gross}


def breakdown(amounts: Iterable[tuple[int, int]], *, prices_include_tax: bool) -> list[TaxLine]:
    """Per-rate totals for ``(rate_bp, line_amount)`` pairs, sorted by rate (descending).

    Line amounts are gross when ``prices_include_tax`` and net otherwise. See the module docstring
    for the rounding rule.
    """
    sums: dict[int, int] = {}
    for rate_bp, amount in amounts:
        sums[rate_bp] = sums.get(rate_bp, 0) + amount
    lines = []
    for rate_bp in sorted(sums, reverse=True):
        amount = sums[rate_bp]
        if prices_include_tax:
            tax = tax_from_gross(amount, rate_bp)
            lines.append(TaxLine(rate_bp, amount - tax, tax, amount))
        else:
            tax = tax_from_net(amount, rate_bp)
            lines.append(TaxLine(rate_bp, amount, tax, amount + tax))
    return lines
