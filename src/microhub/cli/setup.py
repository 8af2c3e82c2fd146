"""``init``, ``catalog`` and ``demo``: getting a hub ready to sell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.table import Table

from microhub.bootstrap import create_hub
from microhub.cli.common import Out, hub_command, open_from
from microhub.domain.money import format_minor
from microhub.services.catalog import import_catalog, list_catalog
from microhub.settings import SETTINGS_FILE


@click.command()
@click.option("--currency", default="EUR", show_default=True, help="ISO 4217 currency code.")
@click.option(
    "--prices-include-tax/--prices-exclude-tax",
    default=True,
    show_default=True,
    help="Whether catalog prices are gross (with tax) or net.",
)
@click.option(
    "--name",
    "hub_name",
    default="microhub",
    show_default=True,
    help="A name for this hub, printed on receipts.",
)
@click.option(
    "--series",
    default="HUB",
    show_default=True,
    help="The series id of the hub's own register (receipts read SERIES-SEQ).",
)
@hub_command
def init(
    data: Path, as_json: bool, currency: str, prices_include_tax: bool, hub_name: str, series: str
) -> None:
    """Create a new hub: signing key, settings file, empty journal.

    The private key is written to DATA/keys with owner-only permissions and is never printed.
    """
    hub = create_hub(
        data,
        currency=currency.upper(),
        prices_include_tax=prices_include_tax,
        hub_name=hub_name,
        series=series.upper(),
    )
    try:
        s = hub.settings
        result = {
            "data_dir": str(s.data_dir),
            "hub_id": s.hub_id,
            "series": s.series,
            "currency": s.currency,
            "prices_include_tax": s.prices_include_tax,
            "key_id": s.signing_key,
            "settings": str(s.data_dir / SETTINGS_FILE),
        }
    finally:
        hub.close()
    Out(as_json).emit(
        result,
        lambda c: c.print(
            f"New hub {result['hub_id']} in {result['data_dir']} (series {result['series']}, "
            f"{result['currency']}, signing key {result['key_id']}).\n"
            f"Next: microhub catalog import FILE --data {result['data_dir']}"
        ),
    )


@click.group()
def catalog() -> None:
    """Manage the items this hub sells."""


def _catalog_table(items: list[dict[str, Any]], currency: str) -> Table:
    from microhub.domain.money import currency as lookup

    cur = lookup(currency)
    table = Table(show_edge=False)
    for column in ("sku", "name", "price", "tax", "category", "stock"):
        table.add_column(column, justify="right" if column in ("price", "tax", "stock") else "left")
    for item in items:
        table.add_row(
            str(item["sku"]),
            str(item["name"]),
            format_minor(int(item["price"]), cur),
            f"{int(item['tax_rate_bp']) / 100:g} %",
            str(item["category"]),
            "" if item["stock"] is None else str(item["stock"]),
        )
    return table


@catalog.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@hub_command
def catalog_import(data: Path, as_json: bool, file: Path) -> None:
    """Import FILE (CSV or JSON), all or nothing.

    \b
    CSV header: sku,name,price,tax_rate[,category,tags,stock,active]
      price     decimal in major units, e.g. 3.50
      tax_rate  percent, e.g. 19 or 7.7
      tags      separated by | or ;
      stock     whole number; empty means not tracked
    JSON: a list of objects with the same keys (or {"items": [...]}).
    Any bad row aborts the import with its line, field and value; nothing is imported.
    """
    hub = open_from(data)
    try:
        items = import_catalog(hub, file)
    finally:
        hub.close()
    result = {"imported": len(items), "items": [i.to_json() for i in items]}
    Out(as_json).emit(result, lambda c: c.print(f"imported {len(items)} items from {file}"))


@catalog.command("list")
@hub_command
def catalog_list(data: Path, as_json: bool) -> None:
    """List the catalog."""
    hub = open_from(data)
    try:
        items = [i.to_json() for i in list_catalog(hub)]
        currency = hub.settings.currency
    finally:
        hub.close()
    Out(as_json).emit({"items": items}, lambda c: c.print(_catalog_table(items, currency)))
