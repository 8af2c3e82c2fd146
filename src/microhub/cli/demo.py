"""``demo``: the main job on the embedded default — a hub, its point of sale, and a cloud.

``microhub demo`` creates (or reuses) a demo hub with a demo catalog, starts an embedded cloud on
SQLite in the same process, joins the hub to it through a local link that can be cut on purpose
(SIGUSR1 toggles it), pairs a manager device and serves the point of sale. Sales made on the
phone or the CLI reach the cloud whenever the link is up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from dataclasses import dataclass
from importlib.resources import as_file, files
from pathlib import Path
from types import FrameType
from typing import Any

import click
from rich.console import Console

from microhub.bootstrap import create_hub
from microhub.cli.common import Out, open_from
from microhub.cli.device import add_device_result, print_pairing
from microhub.cli.serve import DEFAULT_HOST, DEFAULT_PORT, lan_url, run_server
from microhub.cli.setup import _catalog_table
from microhub.cloud.admin import create_org, enroll_hub
from microhub.cloud.server import EmbeddedCloud
from microhub.errors import Conflict
from microhub.services.catalog import import_catalog, list_catalog
from microhub.services.context import Hub
from microhub.services.devices import list_devices
from microhub.services.sync import join
from microhub.settings import SETTINGS_FILE, default_data_dir
from microhub.store import journal as journal_store
from microhub.sync import state as sync_state
from microhub.sync.faultproxy import FaultProxy

__all__ = ["demo"]

DEMO_ORG = "demo"


@dataclass
class DemoCloud:
    """The embedded cloud and the cuttable link in front of it."""

    cloud: EmbeddedCloud
    link: FaultProxy
    db: str
    link_up: bool = True

    def toggle(self, _signum: int = 0, _frame: FrameType | None = None) -> None:
        self.link_up = not self.link_up
        if not self.link_up:
            self.link.down()
            print("demo: link to the cloud is DOWN (sales queue on the hub)", flush=True)
        else:
            self.link.up()
            print("demo: link to the cloud is UP (the queue drains)", flush=True)

    def stop(self) -> None:
        self.link.stop()
        self.cloud.stop()


def start_cloud(folder: Path, hub: Hub, *, port: int) -> DemoCloud:
    """Start the cloud on ``port + 1`` and the link on ``port + 2``; join the hub if it is new."""
    (folder / "cloud").mkdir(exist_ok=True, mode=0o700)
    db = f"sqlite:///{folder / 'cloud' / 'cloud.sqlite'}"
    cloud = EmbeddedCloud(db=db, port=port + 1).start()
    link = FaultProxy(target_port=cloud.port, listen_port=port + 2).start()
    if sync_state.load_peer(hub.db.connection, required=False) is None:
        # If the cloud survived from an earlier demo, the org exists: enroll in it.
        with contextlib.suppress(Conflict):
            create_org(cloud.store, name=DEMO_ORG)
        enrollment = enroll_hub(cloud.store, org=DEMO_ORG, name=hub.settings.hub_name)
        asyncio.run(join(hub, cloud_url=link.url, token=enrollment.token))
    return DemoCloud(cloud, link, db)


def _free_device_name(hub: Hub) -> str:
    """``demo manager``, or ``demo manager N`` when that name is taken."""
    taken = {d.name for d in list_devices(hub.db.connection)}
    return next(
        n for n in (f"demo manager{f' {i}' if i else ''}" for i in range(1000)) if n not in taken
    )


@click.command()
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help=f"Where the demo hub lives [default: {default_data_dir() / 'demo'}].",
)
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
@click.option(
    "--serve/--no-serve",
    default=True,
    show_default=True,
    help="Start the point of sale server with a manager device ready to pair (Ctrl-C stops).",
)
@click.option(
    "--cloud/--no-cloud",
    default=True,
    show_default=True,
    help="With --serve: also run an embedded cloud (SQLite) on PORT+1, joined through a link "
    "on PORT+2 that SIGUSR1 cuts and restores.",
)
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to serve on.")
@click.option("--port", default=DEFAULT_PORT, show_default=True, help="Port to serve on.")
def demo(data: Path | None, as_json: bool, serve: bool, cloud: bool, host: str, port: int) -> None:
    """Set up a demo hub with a demo catalog (or reuse it), then serve its point of sale.

    Prints the URL, a one-time pairing code and a QR code for a manager phone; open the URL
    on this computer or scan the code. Sales sync to an embedded cloud; to simulate an outage,
    send SIGUSR1 (`kill -USR1 PID`, the PID is printed) and watch `microhub sync status` grow,
    then send it again and watch the queue drain. --no-serve only prints what to try from the
    CLI.
    """
    folder = data or default_data_dir() / "demo"
    created = not (folder / SETTINGS_FILE).exists()
    if created:
        hub = create_hub(folder, hub_name="microhub demo")
        with as_file(files("microhub") / "data" / "demo_catalog.csv") as path:
            import_catalog(hub, path)
    else:
        hub = open_from(folder)
    try:
        items = [i.to_json() for i in list_catalog(hub)]
        currency = hub.settings.currency
        series = hub.settings.series
        head = journal_store.head(hub.db.connection, series).seq
    finally:
        hub.close()
    flag = f"--data {folder}"
    steps = [
        f"microhub sell {flag} --item LATTE --item CAKE:2 --pay cash --tendered 20",
        f"microhub sell {flag} --item TSHIRT --pay tap --ref T-1001",
        f"microhub sell {flag} --item PRINT --pay invoice --qr",
        f"microhub refund {flag} --receipt {series}-{head + 1} --item CAKE:1",
        f"microhub close-day {flag}",
        f"microhub verify {flag}",
        f"microhub export {flag} --format jsonl --out ./audit",
    ]
    result: dict[str, Any] = {
        "data_dir": str(folder),
        "created": created,
        "items": items,
        "try": steps,
    }
    demo_cloud: DemoCloud | None = None
    if serve:
        hub = open_from(folder)
        try:
            if cloud:
                demo_cloud = start_cloud(folder, hub, port=port)
                result["cloud"] = {
                    "url": demo_cloud.cloud.url,
                    "db": demo_cloud.db,
                    "pid": os.getpid(),
                    "outage": f"kill -USR1 {os.getpid()}",
                    "status": f"microhub sync status {flag}",
                    "stats": f"microhub cloud stats --hub {hub.settings.hub_id} "
                    f"--db {demo_cloud.db}",
                }
            result["pairing"] = add_device_result(
                hub,
                name=_free_device_name(hub),
                role="manager",
                url=lan_url(host, port),
                ttl_s=3600,
            )
            result["pairing"]["local_url"] = (
                f"http://127.0.0.1:{port}/#pair={result['pairing']['code']}"
            )
        finally:
            hub.close()

    def human(console: Console) -> None:
        console.print(
            f"[bold]microhub demo hub[/] in {folder}" + (" (new)" if created else " (existing)")
        )
        console.print(_catalog_table(items, currency))
        console.print("\nSell, refund, close the day and audit — no network needed:")
        for step in steps:
            console.print(f"  {step}", highlight=False, soft_wrap=True)
        if "cloud" in result:
            c = result["cloud"]
            console.print(
                f"\nCloud (embedded, SQLite) at {c['url']}; sales sync every few seconds.",
                highlight=False,
            )
            console.print(f"  simulate an outage / end it:  {c['outage']}", highlight=False)
            console.print(f"  what is waiting on the hub:   {c['status']}", highlight=False)
            console.print(
                f"  what reached the cloud:       {c['stats']}", highlight=False, soft_wrap=True
            )
        if "pairing" in result:
            console.print("\nSell from a phone or this browser:")
            print_pairing(console, result["pairing"])
            console.print(f"On this computer open {result['pairing']['local_url']}")

    Out(as_json).emit(result, human)
    if serve:
        if demo_cloud is not None:
            signal.signal(signal.SIGUSR1, demo_cloud.toggle)
        try:
            banner = None if as_json else f"serving on {lan_url(host, port)} (Ctrl-C stops)"
            run_server(folder, host=host, port=port, banner=banner)
        finally:
            if demo_cloud is not None:
                demo_cloud.stop()
