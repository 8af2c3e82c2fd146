"""Events: a named period at a venue (a night market, a pop-up), in the venue's time zone.

Sales, walk-ins and KPIs belong to the event whose window contains their time. Times are stored
in UTC; the time zone is kept to show them as the operator typed them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from microhub.errors import ValidationError

__all__ = ["MAX_EVENT", "Event", "check_event", "event_for"]

MAX_EVENT = timedelta(days=14)
MAX_TEXT = 120


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    name: str
    venue: str
    starts: datetime  # UTC
    ends: datetime  # UTC, exclusive
    timezone: str

    def contains(self, moment: datetime) -> bool:
        return self.starts <= moment < self.ends

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "name": self.name,
            "venue": self.venue,
            "start": self.starts.isoformat().replace("+00:00", "Z"),
            "end": self.ends.isoformat().replace("+00:00", "Z"),
            "timezone": self.timezone,
        }


def check_event(*, name: str, venue: str, starts: datetime, ends: datetime) -> None:
    """Refuse empty or overlong names, naive times, and windows that are empty or too long."""
    for field, value in (("name", name), ("venue", venue)):
        if not value.strip() or len(value) > MAX_TEXT:
            raise ValidationError(
                f"{field} must be 1-{MAX_TEXT} characters", field=field, value=value
            )
    for label, moment in (("start", starts), ("end", ends)):
        if moment.tzinfo is None:
            raise ValidationError(f"{label} needs a time zone", field=label, value=str(moment))
    if ends <= starts:
        raise ValidationError("the event must end after it starts", field="end", value=str(ends))
    if ends - starts > MAX_EVENT:
        raise ValidationError("an event lasts at most 14 days", field="end", value=str(ends))


def event_for(events: list[Event], moment: datetime) -> Event | None:
    """The event whose window contains ``moment`` (the latest-starting one if they overlap)."""
    found = [e for e in events if e.contains(moment)]
    return max(found, key=lambda e: e.starts) if found else None
