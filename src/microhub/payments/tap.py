"""Tap: a card payment taken on an external terminal; we record the amount and its reference.

No card data ever reaches microhub: only the terminal's transaction reference.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from microhub.domain.payments import Payment, PaymentContext
from microhub.errors import ValidationError

_REF = re.compile(r"^[\w./:#-]{1,64}$")


class TapMethod:
    name = "tap"
    description = "Card tapped on an external terminal; record the terminal's reference."

    def _ref(self, options: Mapping[str, str]) -> str:
        ref = (options.get("ref") or "").strip()
        if not _REF.match(ref):
            raise ValidationError(
                "tap payments need the terminal's transaction reference (--ref), 1-64 letters,"
                " digits or ./:#-",
                field="ref",
                value=options.get("ref"),
                code="missing_terminal_ref",
            )
        return ref

    def prepare(
        self, *, amount: int, options: Mapping[str, str], context: PaymentContext
    ) -> Payment:
        return Payment("tap", amount, {"terminal_ref": self._ref(options)})

    def refund(
        self, *, amount: int, options: Mapping[str, str], context: PaymentContext
    ) -> Payment:
        return Payment("tap", -amount, {"terminal_ref": self._ref(options)})
