"""``event create`` and ``event list``: the named periods KPIs are reported for."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from microhub.cli.common import Out, hub_command, open_from
from microhub.services.events import create_event, list_events

__all__ = ["event"]


@click.group()
def event() -> None:
    """Events: a named period at a venue. Sales and KPIs belong to the event they fall in."""


@event.command("create")
@click.option("--name", required=True, help="What the event is called, e.g. 'Night market'.")
@click.option("--venue", required=True, help="Where it happens.")
@click.option("--start", required=True, metavar="YYYY-MM-DDTHH:MM", help="Local start time.")
@click.option("--end", required=True, metavar="YYYY-MM-DDTHH:MM", help="Local end time.")
@click.option(
    "--tz",
    "timezone",
    default=None,
    metavar="ZONE",
    help="IANA time zone of --start/--end [default: the hub's `timezone` setting].",
)
@hub_command
def create(
    data: Path, as_json: bool, name: str, venue: str, start: str, end: str, timezone: str | None
) -> None:
    """Record an event; it syncs to the cloud, which reports the offline sync KPI per event."""
    hub = open_from(data)
    try:
        created = create_event(hub, name=name, venue=venue, start=start, end=end, timezone=timezone)
    finally:
        hub.close()
    Out(as_json).emit(
        created.to_json(),
        lambda c: c.print(
            f"event {created.name} at {created.venue}: {created.starts:%Y-%m-%d %H:%M} - "
            f"{created.ends:%Y-%m-%d %H:%M} UTC ({created.event_id})"
        ),
    )


@event.command("list")
@hub_command
def list_cmd(data: Path, as_json: bool) -> None:
    """List this hub's events."""
    hub = open_from(data)
    try:
        events = [e.to_json() for e in list_events(hub)]
    finally:
        hub.close()

    def human(console: Console) -> None:
        for e in events:
            console.print(
                f"{e['start']} - {e['end']}  {e['name']} at {e['venue']}", highlight=False
            )

    Out(as_json).emit({"events": events}, human)
