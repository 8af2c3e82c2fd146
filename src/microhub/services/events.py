"""Creating and listing events on the hub; each new event is also an outbox event for the cloud."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from microhub.domain.event import Event, check_event
from microhub.domain.journal import format_time
from microhub.errors import ValidationError
from microhub.services.context import Hub
from microhub.store import outbox

__all__ = ["create_event", "list_events", "parse_local"]


def parse_local(text: str, *, timezone: str, field: str) -> datetime:
    """``2026-12-04T18:00`` (or with an offset) in ``timezone`` -> an aware UTC datetime."""
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(
            f"unknown time zone {timezone!r}", field="timezone", value=timezone
        ) from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(
            f"{field} must look like 2026-12-04T18:00", field=field, value=text
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def create_event(
    hub: Hub, *, name: str, venue: str, start: str, end: str, timezone: str | None = None
) -> Event:
    """Record an event (local times in ``timezone``, default the hub's) and queue it for sync."""
    zone = timezone or hub.settings.timezone
    event = Event(
        event_id=hub.new_event_id(),
        name=name.strip(),
        venue=venue.strip(),
        starts=parse_local(start, timezone=zone, field="start"),
        ends=parse_local(end, timezone=zone, field="end"),
        timezone=zone,
    )
    check_event(name=event.name, venue=event.venue, starts=event.starts, ends=event.ends)
    now = hub.clock.now()
    with hub.db.write() as conn:
        conn.execute(
            "INSERT INTO events (event_id, name, venue, starts, ends, timezone, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                event.event_id,
                event.name,
                event.venue,
                format_time(event.starts),
                format_time(event.ends),
                event.timezone,
                format_time(now),
            ),
        )
        outbox.append(
            conn,
            event_id=hub.new_event_id(),
            lane="money",
            event_type="event.created",
            payload=event.to_json(),
            now_ms=int(now.timestamp() * 1000),
            created=format_time(now),
        )
    return event


def list_events(hub: Hub) -> list[Event]:
    rows = hub.db.connection.execute(
        "SELECT event_id, name, venue, starts, ends, timezone FROM events ORDER BY starts"
    )
    return [
        Event(
            r[0],
            r[1],
            r[2],
            datetime.fromisoformat(r[3].replace("Z", "+00:00")),
            datetime.fromisoformat(r[4].replace("Z", "+00:00")),
            r[5],
        )
        for r in rows
    ]
