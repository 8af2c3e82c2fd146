"""SEPA credit-transfer QR payloads (EPC069-12 "EPC QR code", version 002) and IBAN checks.

The payload lets a customer pay an invoice by scanning it with a banking app. Only EUR amounts
are allowed by the standard. The IBAN check (ISO 13616 mod-97) is a few lines of arithmetic and
is written here rather than pulling in a dependency.
"""

from __future__ import annotations

import re

from microhub.errors import ValidationError

__all__ = ["epc_payload", "valid_iban"]

_IBAN = re.compile(r"^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$")
_BIC = re.compile(r"^[A-Z]{6}[A-Z0-9]{2}([A-Z0-9]{3})?$")


def valid_iban(iban: str) -> bool:
    compact = iban.replace(" ", "").upper()
    if not _IBAN.match(compact):
        return False
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(digits) % 97 == 1


def epc_payload(*, name: str, iban: str, amount_minor: int, reference: str, bic: str = "") -> str:
    """The EPC QR text for a EUR credit transfer of ``amount_minor`` cents."""
    compact = iban.replace(" ", "").upper()
    if not valid_iban(compact):
        raise ValidationError(
            "the payee IBAN is not valid", field="payments.invoice.iban", value=iban
        )
    if bic and not _BIC.match(bic.upper()):
        raise ValidationError("the payee BIC is not valid", field="payments.invoice.bic", value=bic)
    if not 1 <= amount_minor <= 99_999_999_999:
        raise ValidationError(
            "an EPC transfer must be between 0.01 and 999999999.99 EUR",
            field="amount",
            value=amount_minor,
        )
    if not name or len(name) > 70:
        raise ValidationError(
            "the payee name must be 1-70 characters", field="payments.invoice.name", value=name
        )
    euros, cents = divmod(amount_minor, 100)
    return "\n".join(
        [
            "BCD",
            "002",
            "1",  # UTF-8
            "SCT",
            bic.upper(),
            name,
            compact,
            f"EUR{euros}.{cents:02d}",
            "",  # purpose
            "",  # structured creditor reference (we use unstructured text)
            reference[:140],
        ]
    )
