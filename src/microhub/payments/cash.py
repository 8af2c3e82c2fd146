"""Cash: the amount kept, with what was tendered and the change given."""

from __future__ import annotations

from collections.abc import Mapping

from microhub.domain.money import parse_major
from microhub.domain.payments import Payment, PaymentContext
from microhub.errors import ValidationError


class CashMethod:
    name = "cash"
    description = "Cash in the till; optional tendered amount gives the change."

    def prepare(
        self, *, amount: int, options: Mapping[str, str], context: PaymentContext
    ) -> Payment:
        tendered_text = options.get("tendered")
        if tendered_text in (None, ""):
            tendered = amount
        else:
            tendered = parse_major(str(tendered_text), context.currency, field="tendered")
        if tendered < amount:
            raise ValidationError(
                f"tendered {tendered} is less than the {amount} due",
                field="tendered",
                value=tendered_text,
            )
        return Payment("cash", amount, {"tendered": tendered, "change": tendered - amount})

    def refund(
        self, *, amount: int, options: Mapping[str, str], context: PaymentContext
    ) -> Payment:
        return Payment("cash", -amount, {})
