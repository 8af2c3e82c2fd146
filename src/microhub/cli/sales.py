"""``sell``, ``refund``, ``void`` and ``close-day``."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import click

from microhub.cli.common import Out, hub_command, open_from
from microhub.cli.render import receipt_printer
from microhub.domain.money import Currency, format_minor, parse_major
from microhub.domain.sale import Discount
from microhub.domain.tax import parse_rate
from microhub.errors import ValidationError
from microhub.services import closing, sales

_ITEM = re.compile(r"^([^:]+)(?::(-?\d+))?$")


def parse_item(text: str, *, field: str) -> tuple[str, int]:
    match = _ITEM.match(text.strip())
    if match is None:
        raise ValidationError(f"an item is SKU or SKU:QTY, got {text!r}", field=field, value=text)
    qty = int(match.group(2)) if match.group(2) is not None else 1
    if qty < 1:
        raise ValidationError(
            f"quantity must be 1 or more, got {qty} in {text!r}",
            field=field,
            value=text,
            code="bad_quantity",
        )
    return match.group(1).strip(), qty


def _discount(text: str | None, *, field: str, cur: Currency) -> Discount:
    if not text:
        return Discount()
    if text.endswith("%"):
        return Discount(percent_bp=parse_rate(text[:-1], field=field))
    return Discount(amount=parse_major(text, cur, field=field))


def _money(minor: int, *, currency: Currency) -> str:
    return format_minor(minor, currency)


@click.command()
@click.option(
    "--item",
    "items",
    multiple=True,
    required=True,
    metavar="SKU[:QTY]",
    help="An item to sell; repeat for more. QTY defaults to 1.",
)
@click.option(
    "--pay",
    "pays",
    multiple=True,
    required=True,
    metavar="METHOD[:AMOUNT]",
    help="tap, invoice or cash (or a plug-in method). Repeat to split a payment: "
    "every part but one gives an AMOUNT in major units, e.g. --pay tap:10 --pay cash.",
)
@click.option("--ref", help="Terminal reference for tap; payment reference for invoice.")
@click.option("--tendered", metavar="AMOUNT", help="Cash handed over, to print the change.")
@click.option("--discount", metavar="AMOUNT|PCT%", help="A basket discount: 2.50 or 10%.")
@click.option(
    "--training", is_flag=True, help="Record a training sale: on the journal, never in the totals."
)
@click.option("--qr", is_flag=True, help="Draw the receipt's QR code in the terminal.")
@hub_command
def sell(
    data: Path,
    as_json: bool,
    items: tuple[str, ...],
    pays: tuple[str, ...],
    ref: str | None,
    tendered: str | None,
    discount: str | None,
    training: bool,
    qr: bool,
) -> None:
    """Record a sale and print its signed receipt.

    \b
    Examples:
      microhub sell --item COFFEE --item CAKE:2 --pay cash --tendered 20
      microhub sell --item TSHIRT --pay tap --ref T-88121
      microhub sell --item PRINT:3 --pay tap:10 --ref T-9 --pay cash
    """
    hub = open_from(data)
    try:
        requests = [
            sales.ItemRequest(*parse_item(text, field=f"items[{i}]"))
            for i, text in enumerate(items)
        ]
        payments = []
        for index, text in enumerate(pays):
            method, _, amount = text.partition(":")
            options = {k: v for k, v in (("ref", ref), ("tendered", tendered)) if v}
            payments.append(
                sales.PaymentRequest(
                    method.strip(),
                    parse_major(amount, hub.currency, field=f"payments[{index}].amount")
                    if amount
                    else None,
                    options,
                )
            )
        result = sales.sell(
            hub,
            items=requests,
            payments=payments,
            training=training,
            discount=_discount(discount, field="discount", cur=hub.currency),
        )
        Out(as_json).emit(result.to_json(), receipt_printer(result.to_json(), hub.currency, qr=qr))
    finally:
        hub.close()


@click.command()
@click.option(
    "--receipt", required=True, metavar="SERIES-SEQ", help="The sale to refund, e.g. HUB-42."
)
@click.option(
    "--item",
    "items",
    multiple=True,
    metavar="SKU:QTY",
    help="What comes back; repeat for more. Without --item, everything left is refunded.",
)
@click.option(
    "--pay",
    "pay",
    metavar="METHOD",
    help="How the money goes back [default: the sale's main payment method].",
)
@click.option("--ref", help="Terminal reference of the refund, for tap.")
@hub_command
def refund(
    data: Path,
    as_json: bool,
    receipt: str,
    items: tuple[str, ...],
    pay: str | None,
    ref: str | None,
) -> None:
    """Refund all or part of a sale. Never more than was sold, across all refunds."""
    hub = open_from(data)
    try:
        wanted: dict[str, int] | None = None
        if items:
            wanted = {}
            for i, text in enumerate(items):
                sku, qty = parse_item(text, field=f"items[{i}]")
                wanted[sku] = wanted.get(sku, 0) + qty
        payment = sales.PaymentRequest(pay, None, {"ref": ref} if ref else {}) if pay else None
        result = sales.refund(hub, receipt=receipt, items=wanted, payment=payment, ref=ref)
        Out(as_json).emit(result.to_json(), receipt_printer(result.to_json(), hub.currency))
    finally:
        hub.close()


@click.command()
@click.option("--receipt", required=True, metavar="SERIES-SEQ", help="The sale to cancel.")
@hub_command
def void(data: Path, as_json: bool, receipt: str) -> None:
    """Cancel a whole sale (a full reversal recorded as a void)."""
    hub = open_from(data)
    try:
        result = sales.void(hub, receipt=receipt)
        Out(as_json).emit(result.to_json(), receipt_printer(result.to_json(), hub.currency))
    finally:
        hub.close()


@click.command("close-day")
@hub_command
def close_day(data: Path, as_json: bool) -> None:
    """Write the daily close (Z report) and print it.

    It covers every register's records since the previous close: first and last receipt,
    totals per tax rate and per payment method, and the perpetual running totals.
    """
    hub = open_from(data)
    try:
        result = closing.close_day(hub)
        report = result.to_json()

        def human(console) -> None:  # type: ignore[no-untyped-def]
            d = report["data"]
            money = functools.partial(_money, currency=hub.currency)
            console.print(f"[bold]Z report {d['day']}[/] ({report['receipt']}, {report['time']})")
            for s in d["series"]:
                span = (
                    f"{s['series']}-{s['first_seq']} .. {s['series']}-{s['last_seq']}"
                    if s["first_seq"]
                    else "no records"
                )
                console.print(f"  {s['series']}: {span}, gross {money(s['gross'])}")
            for t in d["taxes"]:
                console.print(
                    f"  tax {t['rate_bp'] / 100:g} %: net {money(t['net'])} "
                    f"tax {money(t['tax'])} gross {money(t['gross'])}"
                )
            for method, amount in d["payments"].items():
                console.print(f"  {method}: {money(amount)}")
            console.print(
                f"  day gross {money(d['gross'])}; grand total {money(report['totals']['grand'])}"
            )

        Out(as_json).emit(report, human)
    finally:
        hub.close()
