"""Catalog rows: import (all-or-nothing, in the caller's transaction), look-up and listing."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

from microhub.domain.catalog import CatalogItem
from microhub.errors import NotFound

__all__ = ["adjust_stock", "get_item", "get_items", "list_items", "upsert_items"]


def _item(row: tuple[Any, ...]) -> CatalogItem:
    sku, name, price, rate, category, tags, stock, active = row
    return CatalogItem(
        sku=str(sku),
        name=str(name),
        price=int(price),
        tax_rate_bp=int(rate),
        category=str(category),
        tags=tuple(json.loads(str(tags))),
        stock=None if stock is None else int(stock),
        active=bool(active),
    )


def upsert_items(conn: sqlite3.Connection, items: Iterable[CatalogItem], *, updated: str) -> int:
    count = 0
    for item in items:
        conn.execute(
            "INSERT INTO catalog (sku, name, price, tax_rate_bp, category, tags, stock, active, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (sku) DO UPDATE SET name = excluded.name, price = excluded.price, "
            "tax_rate_bp = excluded.tax_rate_bp, category = excluded.category, "
            "tags = excluded.tags, stock = excluded.stock, active = excluded.active, "
            "updated = excluded.updated",
            (
                item.sku,
                item.name,
                item.price,
                item.tax_rate_bp,
                item.category,
                json.dumps(list(item.tags)),
                item.stock,
                int(item.active),
                updated,
            ),
        )
        count += 1
    return count


def get_item(conn: sqlite3.Connection, sku: str, *, field: str = "sku") -> CatalogItem:
    row = conn.execute(
        "SELECT sku, name, price, tax_rate_bp, category, tags, stock, active FROM catalog WHERE sku = ?",
        (sku,),
    ).fetchone()
    if row is None:
        raise NotFound(
            f"unknown sku {sku!r}", code="unknown_sku", details={"field": field, "value": sku}
        )
    return _item(row)


def get_items(conn: sqlite3.Connection, skus: list[str]) -> dict[str, CatalogItem]:
    """The items for ``skus`` that exist, by sku, in one query (missing ones are left out)."""
    unique = sorted(set(skus))
    marks = ",".join("?" * len(unique))
    columns = "sku, name, price, tax_rate_bp, category, tags, stock, active"
    sql = f"SELECT {columns} FROM catalog WHERE sku IN ({marks})"  # noqa: S608 (placeholders only)
    return {row[0]: _item(row) for row in conn.execute(sql, unique)}


def list_items(conn: sqlite3.Connection, *, active_only: bool = False) -> list[CatalogItem]:
    sql = "SELECT sku, name, price, tax_rate_bp, category, tags, stock, active FROM catalog"
    if active_only:
        sql += " WHERE active = 1"
    return [_item(r) for r in conn.execute(sql + " ORDER BY category, name")]


def adjust_stock(conn: sqlite3.Connection, sku: str, delta: int) -> None:
    """Change a tracked stock counter (untracked items are left alone; may go negative)."""
    conn.execute(
        "UPDATE catalog SET stock = stock + ? WHERE sku = ? AND stock IS NOT NULL", (delta, sku)
    )
