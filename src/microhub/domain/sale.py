"""Carts, discounts and refunds: from items and quantities to exact per-line amounts.

Amounts are minor units. A line's amount is ``qty * unit_price - line_discount - its share of the
basket discount``. The basket discount is shared across lines in proportion to their amounts by
the largest-remainder method, so the shares add up to the discount exactly. Per-rate tax then
follows :mod:`microhub.domain.tax`.

Refunds take a quantity of a sold line back. The refunded amount is the cumulative share
``round(line_amount * refunded_qty / sold_qty)`` minus what earlier refunds of that line already
returned; refunding every unit therefore returns the line amount exactly, and the sum over all
refunds can never exceed what was sold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microhub.domain.canonical import canonical, sha256_hex
from microhub.domain.catalog import CatalogItem
from microhub.domain.tax import TaxLine, breakdown, round_div
from microhub.errors import RefundExceedsSale, ValidationError

__all__ = [
    "MAX_QTY",
    "NO_DISCOUNT",
    "CartLine",
    "Discount",
    "PricedLine",
    "PricedSale",
    "price_cart",
    "price_refund",
    "refundable",
]

MAX_QTY = 100_000
MAX_LINES = 500


@dataclass(frozen=True, slots=True)
class Discount:
    """A discount: either ``amount`` minor units or ``percent_bp`` basis points (not both)."""

    amount: int = 0
    percent_bp: int = 0

    def apply_to(self, base: int, *, field: str) -> int:
        if self.amount < 0 or self.percent_bp < 0 or self.percent_bp > 10_000:
            raise ValidationError(
                "a discount must be between 0 and the amount it applies to",
                field=field,
                value=self.amount or self.percent_bp,
            )
        if self.amount and self.percent_bp:
            raise ValidationError(
                "give a discount as an amount or a percentage, not both",
                field=field,
                value=self.amount,
            )
        value = self.amount if self.amount else round_div(base * self.percent_bp, 10_000)
        if value > base:
            raise ValidationError(
                f"discount {value} is more than the {base} it applies to",
                field=field,
                value=value,
            )
        return value


NO_DISCOUNT = Discount()


@dataclass(frozen=True, slots=True)
class CartLine:
    item: CatalogItem
    qty: int
    discount: Discount = NO_DISCOUNT


@dataclass(frozen=True, slots=True)
class PricedLine:
    sku: str
    name: str
    qty: int
    unit: int
    rate_bp: int
    discount: int  # line discount plus its share of the basket discount
    amount: int  # qty * unit - discount (negative on refunds)
    of: int | None = None  # on refunds: index of the sold line this returns

    def to_json(self) -> dict[str, Any]:
        out = {
            "sku": self.sku,
            "name": self.name,
            "qty": self.qty,
            "unit": self.unit,
            "rate_bp": self.rate_bp,
            "discount": self.discount,
            "amount": self.amount,
        }
        if self.of is not None:
            out["of"] = self.of
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PricedLine:
        return cls(
            sku=data["sku"],
            name=data["name"],
            qty=data["qty"],
            unit=data["unit"],
            rate_bp=data["rate_bp"],
            discount=data["discount"],
            amount=data["amount"],
            of=data.get("of"),
        )


@dataclass(frozen=True, slots=True)
class PricedSale:
    lines: tuple[PricedLine, ...]
    taxes: tuple[TaxLine, ...]
    gross: int

    @property
    def lines_json(self) -> list[dict[str, Any]]:
        return [line.to_json() for line in self.lines]

    @property
    def lines_hash(self) -> str:
        return sha256_hex(canonical(self.lines_json))


def _share(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to non-negative ``weights`` (largest remainder, exact)."""
    weight_sum = sum(weights)
    if weight_sum == 0:
        return [0] * len(weights)
    floors = [total * w // weight_sum for w in weights]
    remainders = [(total * w % weight_sum, -i) for i, w in enumerate(weights)]
    short = total - sum(floors)
    for _, neg_index in sorted(remainders, reverse=True)[:short]:
        floors[-neg_index] += 1
    return floors


def _check_qty(qty: int, field: str) -> None:
    if not isinstance(qty, int) or isinstance(qty, bool) or qty < 1 or qty > MAX_QTY:
        raise ValidationError(
            f"quantity must be a whole number from 1 to {MAX_QTY}, got {qty!r}",
            field=field,
            value=qty,
        )


def price_cart(
    lines: Sequence[CartLine],
    *,
    basket_discount: Discount = NO_DISCOUNT,
    prices_include_tax: bool,
) -> PricedSale:
    """Price a cart. Refuses empty carts, bad quantities, inactive items and oversized discounts."""
    if not lines:
        raise ValidationError("a sale needs at least one item", field="items", value=[])
    if len(lines) > MAX_LINES:
        raise ValidationError(
            f"a sale has at most {MAX_LINES} lines", field="items", value=len(lines)
        )
    bases: list[int] = []
    line_discounts: list[int] = []
    for index, line in enumerate(lines):
        _check_qty(line.qty, f"items[{index}].qty")
        if not line.item.active:
            raise ValidationError(
                f"item {line.item.sku!r} is not on sale",
                field=f"items[{index}].sku",
                value=line.item.sku,
                code="inactive_item",
            )
        base = line.qty * line.item.price
        line_discounts.append(line.discount.apply_to(base, field=f"items[{index}].discount"))
        bases.append(base - line_discounts[-1])
    basket = basket_discount.apply_to(sum(bases), field="discount")
    shares = _share(basket, bases)
    priced = tuple(
        PricedLine(
            sku=line.item.sku,
            name=line.item.name,
            qty=line.qty,
            unit=line.item.price,
            rate_bp=line.item.tax_rate_bp,
            discount=line_discounts[i] + shares[i],
            amount=bases[i] - shares[i],
        )
        for i, line in enumerate(lines)
    )
    taxes = tuple(
        breakdown(((p.rate_bp, p.amount) for p in priced), prices_include_tax=prices_include_tax)
    )
    return PricedSale(lines=priced, taxes=taxes, gross=sum(t.gross for t in taxes))


def refundable(
    sold: Sequence[PricedLine], refunds: Sequence[Sequence[PricedLine]]
) -> dict[int, tuple[int, int]]:
    """Per sold line index: ``(qty already refunded, amount already refunded)`` (amount >= 0).

    ``refunds`` are the line lists of earlier refund records; each refund line's ``of`` is the
    index of the sold line it returns (see :func:`price_refund`).
    """
    done: dict[int, tuple[int, int]] = dict.fromkeys(range(len(sold)), (0, 0))
    for refund_lines in refunds:
        for line in refund_lines:
            index = line.of if line.of is not None and 0 <= line.of < len(sold) else None
            if index is None:
                raise ValidationError(
                    f"refund line {line.sku!r} matches no line of the sale",
                    field="items",
                    value=line.sku,
                )
            qty, amount = done[index]
            done[index] = (qty + line.qty, amount - line.amount)
    return done


def price_refund(
    sale: PricedSale,
    earlier: Sequence[PricedSale],
    wanted: Mapping[str, int] | None,
    *,
    prices_include_tax: bool,
) -> PricedSale:
    """Price a refund of ``wanted`` (sku -> qty; ``None``: everything still refundable).

    Line amounts and per-rate tax are both taken as cumulative shares of the sale, so however a
    sale is refunded in parts, the parts add up to at most the sale, and to exactly the sale once
    everything is returned. Raises ``RefundExceedsSale`` when a quantity is more than was sold
    minus earlier refunds, and ``ValidationError`` for skus not on the sale.
    """
    sold = sale.lines
    done = refundable(sold, [r.lines for r in earlier])
    remaining_by_sku: dict[str, int] = {}
    for index, line in enumerate(sold):
        remaining_by_sku[line.sku] = remaining_by_sku.get(line.sku, 0) + line.qty - done[index][0]
    if wanted is None:
        wanted = {sku: qty for sku, qty in remaining_by_sku.items() if qty > 0}
        if not wanted:
            raise RefundExceedsSale(
                "everything on this receipt has already been refunded", field="receipt", value=None
            )
    out: list[PricedLine] = []
    for sku, qty in wanted.items():
        _check_qty(qty, f"items[{sku}].qty")
        if sku not in remaining_by_sku:
            raise ValidationError(
                f"sku {sku!r} is not on this receipt",
                field="items",
                value=sku,
                code="not_on_receipt",
            )
        if qty > remaining_by_sku[sku]:
            raise RefundExceedsSale(
                f"cannot refund {qty} x {sku}: {remaining_by_sku[sku]} left to refund",
                field="items",
                value=f"{sku}:{qty}",
                details={"remaining": remaining_by_sku[sku]},
            )
        left = qty
        for index, line in enumerate(sold):
            if line.sku != sku or left == 0:
                continue
            done_qty, done_amount = done[index]
            take = min(left, line.qty - done_qty)
            if take <= 0:
                continue
            cumulative = round_div(line.amount * (done_qty + take), line.qty)
            amount = cumulative - done_amount
            out.append(
                PricedLine(
                    sku=line.sku,
                    name=line.name,
                    qty=take,
                    unit=line.unit,
                    rate_bp=line.rate_bp,
                    discount=0,
                    amount=-amount,
                    of=index,
                )
            )
            left -= take
    taxes = _refund_taxes(sale, earlier, out, prices_include_tax=prices_include_tax)
    return PricedSale(lines=tuple(out), taxes=taxes, gross=sum(t.gross for t in taxes))


def _refund_taxes(
    sale: PricedSale,
    earlier: Sequence[PricedSale],
    lines: Sequence[PricedLine],
    *,
    prices_include_tax: bool,
) -> tuple[TaxLine, ...]:
    """Per-rate refund totals as the cumulative share of the sale's tax for that rate."""

    def base(t: TaxLine) -> int:
        return t.gross if prices_include_tax else t.net

    sold = {t.rate_bp: t for t in sale.taxes}
    before_base: dict[int, int] = {}
    before_tax: dict[int, int] = {}
    for refund in earlier:
        for t in refund.taxes:
            before_base[t.rate_bp] = before_base.get(t.rate_bp, 0) - base(t)
            before_tax[t.rate_bp] = before_tax.get(t.rate_bp, 0) - t.tax
    now: dict[int, int] = {}
    for line in lines:
        now[line.rate_bp] = now.get(line.rate_bp, 0) - line.amount
    out = []
    for rate_bp in sorted(now, reverse=True):
        sale_line = sold[rate_bp]
        cum_base = before_base.get(rate_bp, 0) + now[rate_bp]
        sale_base = base(sale_line)
        cum_tax = round_div(sale_line.tax * cum_base, sale_base) if sale_base else 0
        tax = cum_tax - before_tax.get(rate_bp, 0)
        amount = now[rate_bp]
        if prices_include_tax:
            out.append(TaxLine(rate_bp, -(amount - tax), -tax, -amount))
        else:
            out.append(TaxLine(rate_bp, -amount, -tax, -(amount + tax)))
    return tuple(out)
