"""Selling, refunding and voiding on the hub's own register (CLI and API)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from microhub.domain.payments import Payment, PaymentContext, check_balanced
from microhub.domain.sale import (
    NO_DISCOUNT,
    CartLine,
    Discount,
    PricedLine,
    PricedSale,
    price_cart,
    price_refund,
)
from microhub.domain.tax import TaxLine
from microhub.errors import Conflict, NotFound, ValidationError
from microhub.services.context import Hub
from microhub.services.journaling import Recorded, append_record, recover
from microhub.store import catalog as catalog_store
from microhub.store import journal as journal_store

__all__ = ["ItemRequest", "PaymentRequest", "parse_receipt_number", "refund", "sell", "void"]

_RECEIPT = re.compile(r"^([A-Z0-9]{1,12})-(\d{1,12})$")


@dataclass(frozen=True, slots=True)
class ItemRequest:
    sku: str
    qty: int = 1
    discount: Discount = NO_DISCOUNT


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    """``amount`` in minor units, or ``None`` for "whatever is left"."""

    method: str
    amount: int | None = None
    options: Mapping[str, str] = field(default_factory=dict)


def parse_receipt_number(text: str, *, field: str = "receipt") -> tuple[str, int]:
    match = _RECEIPT.match(text.strip().upper()) if isinstance(text, str) else None
    if match is None:
        raise ValidationError(
            f"a receipt number looks like HUB-42, got {text!r}",
            field=field,
            value=text,
            code="bad_receipt_number",
        )
    return match.group(1), int(match.group(2))


def _payments(
    hub: Hub, requests: Sequence[PaymentRequest], total: int, receipt: str, *, refund: bool
) -> list[Payment]:
    if not requests:
        raise ValidationError(
            "say how the customer pays (--pay tap|invoice|cash)",
            field="payments",
            value=None,
            code="missing_payment",
        )
    open_ended = [i for i, r in enumerate(requests) if r.amount is None]
    if len(open_ended) > 1:
        raise ValidationError(
            "only one payment may leave its amount open",
            field=f"payments[{open_ended[1]}].amount",
            value=None,
        )
    fixed = sum(r.amount or 0 for r in requests)
    payments = []
    for index, request in enumerate(requests):
        method = hub.payments.get(request.method, field=f"payments[{index}].method")
        amount = request.amount if request.amount is not None else abs(total) - fixed
        if amount <= 0:
            raise ValidationError(
                f"payment {index + 1} ({request.method}) would be {amount}: the other payments "
                f"already cover the total of {abs(total)}",
                field=f"payments[{index}].amount",
                value=amount,
            )
        context = PaymentContext(
            currency=hub.currency,
            now=hub.clock.now(),
            receipt=receipt,
            settings=hub.payments.settings_for(request.method),
        )
        if refund:
            payments.append(method.refund(amount=amount, options=request.options, context=context))
        else:
            payments.append(method.prepare(amount=amount, options=request.options, context=context))
    return payments


def sell(
    hub: Hub,
    *,
    items: Sequence[ItemRequest],
    payments: Sequence[PaymentRequest],
    discount: Discount = NO_DISCOUNT,
    training: bool = False,
) -> Recorded:
    """Record a sale (or a training sale) on the hub's register and return its receipt."""
    series = hub.settings.series
    with hub.db.write() as conn:
        recover(hub, conn, series)
        found = catalog_store.get_items(conn, [r.sku for r in items]) if items else {}
        lines = []
        for index, request in enumerate(items):
            if request.sku not in found:
                raise NotFound(
                    f"unknown sku {request.sku!r}",
                    code="unknown_sku",
                    details={"field": f"items[{index}].sku", "value": request.sku},
                )
            lines.append(CartLine(found[request.sku], request.qty, request.discount))
        priced = price_cart(
            lines, basket_discount=discount, prices_include_tax=hub.settings.prices_include_tax
        )
        head = journal_store.head(conn, series)
        paid = _payments(hub, payments, priced.gross, f"{series}-{head.seq + 1}", refund=False)
        check_balanced(paid, total=priced.gross, currency=hub.currency)
        if not training:
            for line, cart_line in zip(priced.lines, lines, strict=True):
                if cart_line.item.stock is not None:
                    catalog_store.adjust_stock(conn, line.sku, -line.qty)
        return append_record(
            hub,
            conn,
            series=series,
            record_type="training" if training else "sale",
            priced=priced,
            payments=paid,
            head=head,
        )


def _priced(body: Mapping[str, Any]) -> PricedSale:
    return PricedSale(
        lines=tuple(PricedLine.from_json(line) for line in body.get("lines", [])),
        taxes=tuple(TaxLine(t["rate_bp"], t["net"], t["tax"], t["gross"]) for t in body["taxes"]),
        gross=body["gross"],
    )


def _load_sale(
    conn: sqlite3.Connection, receipt: str
) -> tuple[tuple[str, int], dict[str, Any], list[PricedSale]]:
    ref = parse_receipt_number(receipt)
    try:
        body = journal_store.get_record(conn, *ref)[0]
    except NotFound:
        raise NotFound(
            f"no receipt {receipt}",
            code="no_receipt",
            details={"field": "receipt", "value": receipt},
        ) from None
    if body["type"] != "sale":
        raise ValidationError(
            f"{receipt} is a {body['type']} record, not a sale",
            field="receipt",
            value=receipt,
            code="not_a_sale",
        )
    earlier = [
        _priced(b) for b in journal_store.refunds_of(conn, *ref) if b["type"] in ("refund", "void")
    ]
    return ref, body, earlier


def _refund_method(body: Mapping[str, Any], ref: str | None) -> PaymentRequest:
    largest = max(body["payments"], key=lambda p: p["amount"])
    if ref is None and "terminal_ref" in largest:
        ref = str(largest["terminal_ref"])
    return PaymentRequest(largest["method"], None, {"ref": ref} if ref else {})


def refund(
    hub: Hub,
    *,
    receipt: str,
    items: Mapping[str, int] | None = None,
    payment: PaymentRequest | None = None,
    ref: str | None = None,
    record_type: str = "refund",
) -> Recorded:
    """Refund ``items`` (sku -> qty; ``None``: all that is left) of a sale.

    The money goes back by ``payment`` or, by default, by the sale's largest payment method
    (``ref``: the terminal reference of the refund, for tap).
    """
    series = hub.settings.series
    with hub.db.write() as conn:
        recover(hub, conn, series)
        sale_ref, body, earlier = _load_sale(conn, receipt)
        if record_type == "void" and earlier:
            raise Conflict(
                f"{receipt} has refunds already: refund the rest instead of voiding",
                code="already_refunded",
                details={"receipt": receipt},
            )
        priced = price_refund(
            _priced(body), earlier, items, prices_include_tax=hub.settings.prices_include_tax
        )
        number = f"{series}-{journal_store.head(conn, series).seq + 1}"
        request = payment or _refund_method(body, ref)
        paid = _payments(
            hub,
            [PaymentRequest(request.method, None, request.options)],
            priced.gross,
            number,
            refund=True,
        )
        check_balanced(paid, total=priced.gross, currency=hub.currency)
        for line in priced.lines:
            catalog_store.adjust_stock(conn, line.sku, line.qty)
        return append_record(
            hub,
            conn,
            series=series,
            record_type=record_type,
            priced=priced,
            payments=paid,
            ref=sale_ref,
        )


def void(hub: Hub, *, receipt: str) -> Recorded:
    """Cancel a whole sale straight after it was made (a full reversal, recorded as ``void``)."""
    return refund(hub, receipt=receipt, items=None, record_type="void")
