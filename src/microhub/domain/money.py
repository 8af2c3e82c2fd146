"""Money as integer minor units of an ISO 4217 currency. Never a float.

Amounts are plain ``int`` minor units (cents for EUR); the currency travels beside them. This
module knows each supported currency's exponent and converts decimal strings in major units
("12.50") to minor units exactly, refusing anything that would need rounding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from microhub.errors import ValidationError

__all__ = ["CURRENCIES", "Currency", "currency", "format_minor", "parse_major"]


@dataclass(frozen=True, slots=True)
class Currency:
    code: str
    exponent: int

    @property
    def factor(self) -> int:
        return int(10**self.exponent)


# ISO 4217 codes and minor-unit exponents for the currencies microhub is used with. Adding one is
# a one-line change; an unknown code is refused rather than guessed.
_EXPONENTS: dict[str, int] = {
    "AUD": 2, "BGN": 2, "BHD": 3, "BRL": 2, "CAD": 2, "CHF": 2, "CLP": 0, "CNY": 2, "CZK": 2,
    "DKK": 2, "EUR": 2, "GBP": 2, "HKD": 2, "HUF": 2, "IDR": 2, "ILS": 2, "INR": 2, "ISK": 0,
    "JOD": 3, "JPY": 0, "KES": 2, "KRW": 0, "KWD": 3, "MXN": 2, "MYR": 2, "NOK": 2, "NZD": 2,
    "OMR": 3, "PHP": 2, "PLN": 2, "RON": 2, "SEK": 2, "SGD": 2, "THB": 2, "TND": 3, "TRY": 2,
    "TWD": 2, "UAH": 2, "USD": 2, "VND": 0, "ZAR": 2,
}  # fmt: skip

CURRENCIES: dict[str, Currency] = {c: Currency(c, e) for c, e in _EXPONENTS.items()}

_DECIMAL = re.compile(r"^-?\d+(\.\d+)?$")


def currency(code: str, *, field: str = "currency") -> Currency:
    """The currency for an ISO 4217 code, or a ``ValidationError`` naming ``field``."""
    found = CURRENCIES.get(code.upper() if isinstance(code, str) else code)
    if found is None:
        raise ValidationError(
            f"unknown currency {code!r}: use an ISO 4217 code such as EUR",
            field=field,
            value=code,
            code="unknown_currency",
        )
    return found


def parse_major(
    text: str, cur: Currency, *, field: str = "price", allow_negative: bool = False
) -> int:
    """Parse a decimal string in major units ("12.5") to minor units (1250), exactly.

    More decimal places than the currency has, a comma, an exponent or a sign where none is
    allowed are refused: silently rounding a price is a wrong price.
    """
    raw = text.strip() if isinstance(text, str) else text
    if not isinstance(raw, str) or not _DECIMAL.match(raw):
        raise ValidationError(
            f"{field} must be a decimal number in major units like 12.50, got {text!r}",
            field=field,
            value=text,
        )
    try:
        value = Decimal(raw)
    except InvalidOperation as exc:  # pragma: no cover - the regex already guards this
        raise ValidationError(
            f"{field} is not a number: {text!r}", field=field, value=text
        ) from exc
    if value < 0 and not allow_negative:
        raise ValidationError(
            f"{field} must not be negative, got {text!r}", field=field, value=text
        )
    minor = value * cur.factor
    if minor != minor.to_integral_value():
        raise ValidationError(
            f"{field} {text!r} has more than {cur.exponent} decimal places for {cur.code}",
            field=field,
            value=text,
        )
    return int(minor)


def format_minor(amount: int, cur: Currency) -> str:
    """Format minor units as a plain decimal string in major units: 1250 EUR -> "12.50"."""
    sign = "-" if amount < 0 else ""
    whole, frac = divmod(abs(amount), cur.factor)
    if cur.exponent == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{cur.exponent}d}"
