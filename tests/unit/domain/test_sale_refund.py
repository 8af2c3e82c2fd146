"""Pricing carts with discounts, and refunds that never exceed the sale."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microhub.domain.catalog import CatalogItem
from microhub.domain.sale import CartLine, Discount, PricedSale, price_cart, price_refund
from microhub.errors import RefundExceedsSale, ValidationError


def item(sku: str, price: int, rate: int = 1900) -> CatalogItem:
    return CatalogItem(sku=sku, name=sku.title(), price=price, tax_rate_bp=rate)


items = st.builds(
    item,
    sku=st.sampled_from(["A", "B", "C", "D", "E"]),
    price=st.integers(0, 100_000),
    rate=st.sampled_from([0, 700, 1900, 2000]),
)
carts = st.lists(
    st.tuples(items, st.integers(1, 50), st.integers(0, 10_000)), min_size=1, max_size=12
)


def _cart(spec: list[tuple[CatalogItem, int, int]]) -> list[CartLine]:
    return [CartLine(i, q, Discount(percent_bp=d)) for i, q, d in spec]


@given(carts, st.integers(0, 10_000), st.booleans())
def test_totals_per_rate_sum_to_gross(
    spec: list[tuple[CatalogItem, int, int]], basket_bp: int, inclusive: bool
) -> None:
    """Per-rate gross sums to the sale's gross, and no minor unit is lost or created across lines."""
    sale = price_cart(
        _cart(spec), basket_discount=Discount(percent_bp=basket_bp), prices_include_tax=inclusive
    )
    assert sum(t.gross for t in sale.taxes) == sale.gross
    undiscounted = sum(i.price * q for i, q, _ in spec)
    assert (
        sum(line.amount for line in sale.lines) + sum(line.discount for line in sale.lines)
        == undiscounted
    )
    for line in sale.lines:
        assert 0 <= line.amount <= line.qty * line.unit


@given(st.lists(st.integers(1, 10_000), min_size=1, max_size=20), st.integers(0, 50_000))
def test_basket_discount_is_shared_exactly(prices: list[int], discount: int) -> None:
    """A basket discount is split across lines so the shares add up to it exactly."""
    lines = [CartLine(item(f"S{i}", p), 1) for i, p in enumerate(prices)]
    discount = min(discount, sum(prices))
    sale = price_cart(lines, basket_discount=Discount(amount=discount), prices_include_tax=True)
    assert sum(line.discount for line in sale.lines) == discount
    assert sale.gross == sum(prices) - discount


def test_discount_larger_than_line_is_refused() -> None:
    """A line discount above the line's amount is refused with the line named."""
    with pytest.raises(ValidationError) as info:
        price_cart([CartLine(item("A", 100), 1, Discount(amount=101))], prices_include_tax=True)
    assert info.value.field == "items[0].discount"


def test_bad_quantities_are_refused() -> None:
    """Zero, negative and absurd quantities name the offending line."""
    for qty in (0, -1, 10**9):
        with pytest.raises(ValidationError) as info:
            price_cart([CartLine(item("A", 100), qty)], prices_include_tax=True)
        assert info.value.field == "items[0].qty"


@given(carts, st.booleans(), st.data())
def test_refunds_never_exceed_the_sale(
    spec: list[tuple[CatalogItem, int, int]], inclusive: bool, data: st.DataObject
) -> None:
    """However a sale is refunded in parts, refunds never exceed it, and a full refund equals it."""
    sale = price_cart(_cart(spec), prices_include_tax=inclusive)
    earlier: list[PricedSale] = []
    remaining = {}
    for line in sale.lines:
        remaining[line.sku] = remaining.get(line.sku, 0) + line.qty
    while any(remaining.values()):
        sku = data.draw(st.sampled_from(sorted(s for s, q in remaining.items() if q)))
        qty = data.draw(st.integers(1, remaining[sku]))
        refund = price_refund(sale, earlier, {sku: qty}, prices_include_tax=inclusive)
        earlier.append(refund)
        remaining[sku] -= qty
        refunded = -sum(r.gross for r in earlier)
        assert 0 <= refunded <= sale.gross
        for rate in {t.rate_bp for t in sale.taxes}:
            sold = next(t for t in sale.taxes if t.rate_bp == rate)
            back = -sum(t.gross for r in earlier for t in r.taxes if t.rate_bp == rate)
            back_tax = -sum(t.tax for r in earlier for t in r.taxes if t.rate_bp == rate)
            assert 0 <= back <= sold.gross
            assert min(0, sold.tax) <= back_tax <= max(0, sold.tax)
    assert -sum(r.gross for r in earlier) == sale.gross
    for rate_line in sale.taxes:
        assert (
            -sum(t.tax for r in earlier for t in r.taxes if t.rate_bp == rate_line.rate_bp)
            == rate_line.tax
        )
    with pytest.raises(RefundExceedsSale):
        price_refund(sale, earlier, None, prices_include_tax=inclusive)


def test_refund_more_than_sold_is_refused() -> None:
    """Asking for more units than are left names the item and how many remain."""
    sale = price_cart([CartLine(item("A", 300), 2)], prices_include_tax=True)
    first = price_refund(sale, [], {"A": 1}, prices_include_tax=True)
    with pytest.raises(RefundExceedsSale) as info:
        price_refund(sale, [first], {"A": 2}, prices_include_tax=True)
    assert info.value.details["remaining"] == 1
    with pytest.raises(ValidationError):
        price_refund(sale, [first], {"Z": 1}, prices_include_tax=True)
