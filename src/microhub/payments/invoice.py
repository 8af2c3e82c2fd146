"""Invoice: pay later by bank transfer. Records a due date and a payment reference, and for EUR
an EPC QR (SEPA credit transfer) payload the customer can scan with a banking app."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from microhub.domain.epc import epc_payload
from microhub.domain.payments import Detail, Payment, PaymentContext
from microhub.errors import ValidationError


class InvoiceMethod:
    name = "invoice"
    description = "Offline invoice paid later by bank transfer (EPC QR for EUR)."

    def prepare(
        self, *, amount: int, options: Mapping[str, str], context: PaymentContext
    ) -> Payment:
        settings = context.settings
        due_days = int(settings.get("due_days", 14))
        if not 0 <= due_days <= 365:
            raise ValidationError(
                "due_days must be 0-365", field="payments.invoice.due_days", value=due_days
            )
        due = (context.now + timedelta(days=due_days)).date().isoformat()
        reference = (options.get("ref") or f"INV {context.receipt}").strip()[:140]
        details: dict[str, Detail] = {"due": due, "reference": reference}
        name, iban = str(settings.get("name", "")), str(settings.get("iban", ""))
        if context.currency.code == "EUR" and name and iban:
            details["epc_qr"] = epc_payload(
                name=name,
                iban=iban,
                amount_minor=amount,
                reference=reference,
                bic=str(settings.get("bic", "")),
            )
        return Payment("invoice", amount, details)

    def refund(
        self, *, amount: int, options: Mapping[str, str], context: PaymentContext
    ) -> Payment:
        return Payment("invoice", -amount, {"reference": f"CREDIT {context.receipt}"})
