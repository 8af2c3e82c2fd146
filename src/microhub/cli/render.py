"""Human-readable rendering of receipts and reports (``--json`` bypasses all of this)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import segno
from rich.console import Console
from rich.table import Table

from microhub.domain.money import Currency, format_minor


def _money(minor: int, *, currency: Currency) -> str:
    return format_minor(minor, currency)


__all__ = ["print_qr", "receipt_printer"]


def _rate(rate_bp: int) -> str:
    return f"{rate_bp / 100:g} %"


def receipt_printer(
    receipt: dict[str, Any], cur: Currency, *, qr: bool = False
) -> Callable[[Console], None]:
    """A function that prints ``receipt`` (a ``Recorded.to_json()``) as a table."""

    def render(console: Console) -> None:
        money = functools.partial(_money, currency=cur)
        title = {
            "sale": "Receipt",
            "training": "TRAINING — not a sale",
            "refund": "Refund",
            "void": "Void",
        }.get(receipt["type"], receipt["type"])
        table = Table(
            title=f"{title} {receipt['receipt']}", caption=receipt["time"], show_edge=False
        )
        table.add_column("item")
        table.add_column("qty", justify="right")
        table.add_column(cur.code, justify="right")
        for line in receipt["lines"]:
            table.add_row(
                f"{line['name']} ({line['sku']})", str(line["qty"]), money(line["amount"])
            )
        table.add_section()
        for tax in receipt["taxes"]:
            table.add_row(
                f"  incl. tax {_rate(tax['rate_bp'])} on {money(tax['net'])}", "", money(tax["tax"])
            )
        table.add_row("[bold]total[/]", "", f"[bold]{money(receipt['gross'])}[/]")
        for payment in receipt["payments"]:
            extra = ", ".join(
                f"{k} {money(v) if k in ('tendered', 'change') else v}"
                for k, v in payment.items()
                if k not in ("method", "amount", "epc_qr")
            )
            table.add_row(
                f"  paid by {payment['method']}" + (f" ({extra})" if extra else ""),
                "",
                money(payment["amount"]),
            )
        console.print(table)
        if "ref" in receipt:
            console.print(f"returns items of receipt {receipt['ref']}")
        if not receipt["signed"]:
            console.print(
                "[yellow]not signed (signing failed); a signed recovery record will follow[/]"
            )
        console.print(f"verify: microhub verify-receipt '{receipt['qr']}'")
        if qr:
            print_qr(console, receipt["qr"])
        for payment in receipt["payments"]:
            if "epc_qr" in payment and qr:
                console.print(f"bank transfer QR (due {payment['due']}):")
                print_qr(console, str(payment["epc_qr"]))

    return render


def print_qr(console: Console, payload: str) -> None:
    code = segno.make(payload, error="m")
    lines = []
    matrix = [list(row) for row in code.matrix_iter(border=2)]
    for top, bottom in zip(matrix[0::2], [*matrix[1::2], [0] * len(matrix[0])], strict=False):
        lines.append(
            "".join(
                "█" if t and b else "▀" if t else "▄" if b else " "
                for t, b in zip(top, bottom, strict=True)
            )
        )
    console.print("\n".join(lines), style="black on white", highlight=False)
