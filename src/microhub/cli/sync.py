"""``microhub join`` and ``microhub sync``: connect a hub to its cloud and sync."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import click
from rich.console import Console

from microhub.cli.common import Out, hub_command, open_from
from microhub.services.sync import join as join_cloud
from microhub.services.sync import run_sync_loop, sync_once, sync_status
from microhub.sync.backoff import Backoff

__all__ = ["join", "sync"]


@click.command()
@click.argument("cloud_url")
@click.argument("token")
@hub_command
def join(cloud_url: str, token: str, data: Path, as_json: bool) -> None:
    """Join the cloud at CLOUD_URL with a one-time enrollment TOKEN."""
    hub = open_from(data)
    try:
        result = asyncio.run(join_cloud(hub, cloud_url=cloud_url, token=token))
    finally:
        hub.close()
    Out(as_json).emit(
        result,
        lambda c: c.print(
            f"joined {result['cloud_url']} as [bold]{result['name']}[/] (org {result['org_id']})"
        ),
    )


@click.group(invoke_without_command=True)
@click.option("--once", is_flag=True, help="Sync once and exit (exit 4 if the cloud failed).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
@click.option("--max-backoff", default=60.0, show_default=True, help="Longest wait on failure.")
@hub_command
@click.pass_context
def sync(
    ctx: click.Context, once: bool, interval: float, max_backoff: float, data: Path, as_json: bool
) -> None:
    """Push the outbox to the cloud and pull configuration (runs until Ctrl-C without --once)."""
    if ctx.invoked_subcommand is not None:
        return
    hub = open_from(data)
    try:
        if once:
            report = asyncio.run(sync_once(hub))
            Out(as_json).emit(
                report.to_json(),
                lambda c: c.print(
                    f"synced: {sum(report.pushed.values())} events in {report.batches} batches, "
                    f"{report.bytes_sent} bytes; cursors {report.acked}"
                ),
            )
            return

        async def forever() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            await run_sync_loop(hub, stop=stop, interval=interval, backoff=Backoff(cap=max_backoff))

        asyncio.run(forever())
    finally:
        hub.close()


@sync.command("status")
@hub_command
def status(data: Path, as_json: bool) -> None:
    """Pending events per lane, oldest unsynced age, last success, failures, clock skew."""
    hub = open_from(data)
    try:
        info = sync_status(hub)
    finally:
        hub.close()

    def human(c: Console) -> None:
        if not info["joined"]:
            c.print("not joined to a cloud (microhub join CLOUD_URL TOKEN)")
            return
        c.print(f"cloud {info['cloud_url']}  last success {info['last_success']}")
        for lane, lane_info in info["lanes"].items():
            c.print(
                f"  {lane:<10} pending {lane_info['pending']:>7}  oldest "
                f"{lane_info['oldest_unsynced_age_s']} s"
            )
        c.print(
            f"attempts {info['attempts']}, failures {info['failures']}, "
            f"clock skew {info['clock_skew_s']} s, last error {info['last_error']}"
        )

    Out(as_json).emit(info, human)
