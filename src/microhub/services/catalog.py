"""Importing a catalog file (CSV or JSON): validate every row first, then store all or nothing."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from microhub.domain.catalog import REQUIRED_COLUMNS, CatalogItem, parse_rows
from microhub.domain.journal import format_time
from microhub.errors import ValidationError
from microhub.services.context import Hub
from microhub.store import catalog as catalog_store

__all__ = ["MAX_FILE_BYTES", "import_catalog", "list_catalog", "read_catalog_file"]

MAX_FILE_BYTES = 20 * 1024 * 1024


def _csv_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise ValidationError(
            f"line 1: the CSV header lacks column {missing[0]!r} (needs {','.join(REQUIRED_COLUMNS)})",
            field=missing[0],
            value=",".join(header),
            code="invalid_catalog_header",
            details={"line": 1},
        )
    reader.fieldnames = header
    for row in reader:
        if None in row:
            raise ValidationError(
                f"line {reader.line_num}: more fields than header columns",
                field="row",
                value=row[None],
                code="invalid_catalog_row",
                details={"line": reader.line_num},
            )
        yield reader.line_num, row


def _json_rows(text: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"line {exc.lineno}: not valid JSON ({exc.msg})",
            field="file",
            value=None,
            code="invalid_json",
            details={"line": exc.lineno},
        ) from None
    items = data.get("items") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ValidationError(
            'a JSON catalog is a list of items or {"items": [...]}',
            field="items",
            value=type(items).__name__,
            code="invalid_json",
        )
    for index, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise ValidationError(
                f"item {index} is not an object",
                field=f"items[{index}]",
                value=item,
                code="invalid_catalog_row",
                details={"line": index},
            )
        yield (
            index,
            {
                k: (str(v) if isinstance(v, (int, float)) and k in ("price", "tax_rate") else v)
                for k, v in item.items()
            },
        )


def read_catalog_file(path: Path, hub: Hub) -> list[CatalogItem]:
    """Parse and validate a whole file; raises on the first bad row with its line number."""
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            raise ValidationError(
                f"{path} is larger than {MAX_FILE_BYTES} bytes",
                field="file",
                value=str(path),
                code="file_too_large",
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError(
            f"cannot read {path}: {exc.strerror}",
            field="file",
            value=str(path),
            code="unreadable_file",
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{path} is not UTF-8 text (byte {exc.start})",
            field="file",
            value=str(path),
            code="not_utf8",
        ) from None
    is_json = path.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{"))
    rows = _json_rows(text) if is_json else _csv_rows(text)
    return parse_rows(rows, hub.currency)


def import_catalog(hub: Hub, path: Path) -> list[CatalogItem]:
    """Validate ``path`` completely, then upsert every item in one transaction."""
    items = read_catalog_file(path, hub)
    with hub.db.write() as conn:
        catalog_store.upsert_items(conn, items, updated=format_time(hub.clock.now()))
    return items


def list_catalog(hub: Hub, *, active_only: bool = False) -> list[CatalogItem]:
    return catalog_store.list_items(hub.db.connection, active_only=active_only)
