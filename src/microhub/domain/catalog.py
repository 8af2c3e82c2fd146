"""Catalog items and the validation of imported rows.

An import is all-or-nothing: :func:`parse_rows` validates every row before anything is returned,
and the first bad row raises a ``ValidationError`` naming its line, field and value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from microhub.domain.money import Currency, parse_major
from microhub.domain.tax import parse_rate
from microhub.errors import ValidationError

__all__ = ["REQUIRED_COLUMNS", "CatalogItem", "parse_rows"]

REQUIRED_COLUMNS = ("sku", "name", "price", "tax_rate")
OPTIONAL_COLUMNS = ("category", "tags", "stock", "active")
_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class CatalogItem:
    sku: str
    name: str
    price: int  # minor units; gross or net as the hub's ``prices_include_tax`` says
    tax_rate_bp: int
    category: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    stock: int | None = None  # None: not tracked
    active: bool = True

    def to_json(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "name": self.name,
            "price": self.price,
            "tax_rate_bp": self.tax_rate_bp,
            "category": self.category,
            "tags": list(self.tags),
            "stock": self.stock,
            "active": self.active,
        }


def _fail(line: int, column: str, value: Any, problem: str) -> ValidationError:
    return ValidationError(
        f"line {line}: {column} {problem} (got {value!r})",
        field=column,
        value=value,
        code="invalid_catalog_row",
        details={"line": line},
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _parse_bool(line: int, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = _text(value).lower()
    if text in ("", "1", "true", "yes", "y"):
        return True
    if text in ("0", "false", "no", "n"):
        return False
    raise _fail(line, "active", value, "must be true or false")


def parse_row(line: int, row: Mapping[str, Any], cur: Currency) -> CatalogItem:
    """Validate one row (keys are column names) and build the item."""
    sku = _text(row.get("sku"))
    if not _SKU.match(sku):
        raise _fail(line, "sku", row.get("sku"), "must be 1-64 letters, digits, '.', '_' or '-'")
    name = _text(row.get("name"))
    if not name or len(name) > MAX_NAME:
        raise _fail(line, "name", row.get("name"), f"must be 1-{MAX_NAME} characters")
    raw_price = row.get("price")
    try:
        price = parse_major(_text(raw_price), cur, field="price")
    except ValidationError as exc:
        raise _fail(line, "price", raw_price, exc.message.removeprefix("price ")) from None
    raw_rate = row.get("tax_rate")
    try:
        rate = parse_rate(_text(raw_rate))
    except ValidationError:
        raise _fail(line, "tax_rate", raw_rate, "must be a percentage from 0 to 100") from None
    stock_text = _text(row.get("stock"))
    stock: int | None = None
    if stock_text:
        if not re.fullmatch(r"\d{1,9}", stock_text):
            raise _fail(line, "stock", row.get("stock"), "must be a whole number of 0 or more")
        stock = int(stock_text)
    raw_tags = row.get("tags")
    if isinstance(raw_tags, list):
        tags = tuple(_text(t) for t in raw_tags if _text(t))
    else:
        tags = tuple(t.strip() for t in re.split(r"[|;,]", _text(raw_tags)) if t.strip())
    return CatalogItem(
        sku=sku,
        name=name,
        price=price,
        tax_rate_bp=rate,
        category=_text(row.get("category")),
        tags=tags,
        stock=stock,
        active=_parse_bool(line, row.get("active")),
    )


def parse_rows(rows: Iterable[tuple[int, Mapping[str, Any]]], cur: Currency) -> list[CatalogItem]:
    """Validate all ``(line_number, row)`` pairs; return the items only if every row is valid.

    Duplicate skus within the file are refused too: the second one names its line.
    """
    items: list[CatalogItem] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        item = parse_row(line, row, cur)
        if item.sku in seen:
            raise _fail(line, "sku", item.sku, f"repeats the sku of line {seen[item.sku]}")
        seen[item.sku] = line
        items.append(item)
    if not items:
        raise ValidationError(
            "the catalog file has no items", field="file", value=None, code="empty_catalog"
        )
    return items
