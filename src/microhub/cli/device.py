"""``device add|list|revoke``: pair phones and tablets with the hub, and cut them off."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from microhub.cli.common import Out, hub_command, open_from
from microhub.cli.render import print_qr
from microhub.cli.serve import DEFAULT_PORT, lan_url
from microhub.services import devices as device_service
from microhub.services.context import Hub
from microhub.store import journal as journal_store

__all__ = ["add_device_result", "device", "print_pairing"]


@click.group()
def device() -> None:
    """Pair, list and revoke point-of-sale devices (phones, tablets)."""


def add_device_result(
    hub: Hub, *, name: str, role: str, url: str, ttl_s: int = device_service.PAIRING_TTL_S
) -> dict[str, Any]:
    """Create a device and return what to show: code, pairing URL, expiry (used by demo too)."""
    new = device_service.add_device(hub, name=name, role=role, ttl_s=ttl_s)
    return {
        "device": new.device.to_json(),
        "code": new.code,
        "expires": new.expires,
        "url": f"{url.rstrip('/')}/#pair={new.code}",
        "hub_url": url,
    }


def print_pairing(console: Console, result: dict[str, Any]) -> None:
    d = result["device"]
    console.print(
        f"Device [bold]{d['name']}[/] ({d['role']}, series {d['series']}) is ready to pair.\n"
        f"On the phone, scan the QR code or open {result['url']}\n"
        f"  or open {result['hub_url']} and type the code [bold]{result['code']}[/]"
        f" (single use, expires {result['expires']})."
    )
    print_qr(console, result["url"])


@device.command("add")
@click.option("--name", required=True, help="A name for the device, e.g. 'till 1' or 'Ana'.")
@click.option(
    "--role",
    type=click.Choice(device_service.ROLES),
    default="cashier",
    show_default=True,
    help="cashier sells; manager also refunds, voids and approves with a PIN; creator uploads.",
)
@click.option(
    "--url",
    default=None,
    envvar="MICROHUB_URL",
    help=f"The hub's URL as phones see it [default: this machine's LAN address, port {DEFAULT_PORT}].",
)
@hub_command
def add(data: Path, as_json: bool, name: str, role: str, url: str | None) -> None:
    """Add a device and print its one-time pairing code, pairing URL and QR code."""
    hub = open_from(data)
    try:
        result = add_device_result(hub, name=name, role=role, url=url or lan_url())
    finally:
        hub.close()
    Out(as_json).emit(result, lambda c: print_pairing(c, result))


@device.command("list")
@hub_command
def list_(data: Path, as_json: bool) -> None:
    """List devices with their series, uploads, records not yet uploaded and clock skew."""
    hub = open_from(data)
    try:
        conn = hub.db.connection
        rows = []
        for d in device_service.list_devices(conn):
            head = journal_store.head(conn, d.series).seq if d.paired else 0
            rows.append({**d.to_json(), "head_seq": head, "missing": max(0, d.device_head - head)})
    finally:
        hub.close()

    def human(console: Console) -> None:
        table = Table(show_edge=False)
        for column in (
            "name",
            "role",
            "series",
            "state",
            "records",
            "missing",
            "skew s",
            "last upload",
        ):
            table.add_column(column)
        for r in rows:
            state = "revoked" if r["revoked"] else "paired" if r["paired"] else "waiting to pair"
            skew = "" if r["skew_ms"] is None else f"{r['skew_ms'] / 1000:+.1f}"
            table.add_row(
                r["name"], r["role"], r["series"], state, str(r["head_seq"]), str(r["missing"]),
                skew, r["last_upload"] or "",
            )  # fmt: skip
        console.print(table)

    Out(as_json).emit({"devices": rows}, human)


@device.command("revoke")
@click.argument("name")
@hub_command
def revoke(data: Path, as_json: bool, name: str) -> None:
    """Refuse NAME's credential from now on (its earlier records stay valid)."""
    hub = open_from(data)
    try:
        revoked = device_service.revoke_device(hub, name=name)
    finally:
        hub.close()
    Out(as_json).emit(
        {"device": revoked.to_json()},
        lambda c: c.print(
            f"Device {name!r} revoked at {revoked.revoked}; its uploads are refused."
        ),
    )
