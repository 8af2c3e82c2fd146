"""The PWA's JavaScript (in Chromium) prices carts and builds records byte for byte like Python."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hubserver import CHROMIUM, CHROMIUM_ARGS, HubServer

from microhub.domain.canonical import canonical
from microhub.domain.catalog import CatalogItem
from microhub.domain.journal import Head, Totals, build
from microhub.domain.payments import Payment
from microhub.domain.sale import CartLine, Discount, price_cart

playwright_sync = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium")

RATES = [0, 500, 700, 770, 1000, 1900, 2000, 2100]
WORDS = [
    "Oat latte",
    "Crème brûlée",
    "Ünïcödé",
    "漢字",
    "emoji 🎉",
    'quote " \\ back',
    "tab\there",
    "",
]


def _cart(rng: random.Random) -> tuple[list[dict[str, Any]], int]:
    lines = []
    for i in range(rng.randint(1, 6)):
        price = rng.choice([0, 1, 99, 350, 1999, rng.randint(0, 100_000)])
        qty = rng.randint(1, 40)
        kind = rng.choice(["none", "amount", "percent"])
        discount = {}
        if kind == "amount":
            discount = {"amount": rng.randint(0, qty * price)}
        elif kind == "percent":
            discount = {"percent_bp": rng.randint(0, 10_000)}
        item = {"sku": f"SKU{i}", "name": rng.choice(WORDS) or "x", "price": price,
                "tax_rate_bp": rng.choice(RATES)}  # fmt: skip
        lines.append({"item": item, "qty": qty, "discount": discount or None})
    return lines, rng.choice([0, 0, 250, 1000, 3333, 10_000])


def _python(cart: list[dict[str, Any]], basket_bp: int, include: bool) -> dict[str, Any]:
    priced = price_cart(
        [
            CartLine(
                CatalogItem(**line["item"]),
                line["qty"],
                Discount(**(line["discount"] or {})),
            )
            for line in cart
        ],
        basket_discount=Discount(percent_bp=basket_bp),
        prices_include_tax=include,
    )
    return {
        "lines": priced.lines_json,
        "taxes": [t.to_json() for t in priced.taxes],
        "gross": priced.gross,
    }


JS = """async ({ carts, values, record }) => {
  const pricing = await import("/static/pricing.js");
  const journal = await import("/static/journal.js");
  const priced = carts.map(([cart, basket, include]) => pricing.priceCart(cart,
    { basketDiscount: basket ? { percent_bp: basket } : null, pricesIncludeTax: include }));
  const canon = values.map((v) => journal.canonical(v));
  const built = await journal.build(record.head, record.opts);
  return { priced, canon, built };
}"""


@pytest.fixture
def served(hub_dir: Path) -> Iterator[HubServer]:
    server = HubServer(hub_dir).start()
    yield server
    server.stop()


def test_javascript_pricing_canonical_json_and_records_match_python(served: HubServer) -> None:
    """300 random carts, unicode-heavy JSON values and a whole sale record come out identical."""
    rng = random.Random(20261204)
    carts = []
    for _ in range(300):
        cart, basket = _cart(rng)
        carts.append((cart, basket, rng.choice([True, False])))
    values = [
        {"b": [1, -2, True, None, {"é": "ü", "a": WORDS}], "a": "\u2028\u0001/", "\U0001f389": 0},
        {w: i for i, w in enumerate(WORDS)},
        [2**53 - 1, -(2**53 - 1), "", [], {}],
    ]
    head = Head("D7K2", 41, "ab" * 32, Totals(1000, 1500, {"sale": 40, "start": 1}), "k1")
    priced_py = price_cart(
        [CartLine(CatalogItem("LATTE", "Oat latte", 450, 1900), 3)], prices_include_tax=True
    )
    payment = Payment("cash", priced_py.gross, {"tendered": 2000, "change": 2000 - priced_py.gross})
    when = datetime(2026, 5, 1, 18, 30, 0, 123000, tzinfo=UTC)
    draft = build(head, record_type="sale", time=when, currency="EUR", priced=priced_py,
                  payments=[payment])  # fmt: skip
    record = {
        "head": {"series": "D7K2", "seq": 41, "hash": "ab" * 32, "key": "k1",
                 "totals": {"grand": 1000, "abs": 1500, "counts": {"sale": 40, "start": 1}}},
        "opts": {"type": "sale", "time": "2026-05-01T18:30:00.123Z", "currency": "EUR",
                 "priced": {"lines": priced_py.lines_json,
                            "taxes": [t.to_json() for t in priced_py.taxes],
                            "gross": priced_py.gross},
                 "payments": [payment.to_json()]},
    }  # fmt: skip
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(served.url)
            out = page.evaluate(JS, {"carts": carts, "values": values, "record": record})
        finally:
            browser.close()
    for index, (cart, basket, include) in enumerate(carts):
        assert out["priced"][index] == _python(cart, basket, include), index
    assert [c.encode() for c in out["canon"]] == [canonical(v) for v in values]
    assert out["built"]["hash"] == draft.hash
    assert out["built"]["summary"].encode() == draft.summary
