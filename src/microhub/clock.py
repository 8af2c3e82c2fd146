"""The clock and id sources, passed into services so the domain never reads them itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

import uuid_utils

__all__ = ["Clock", "SystemClock", "new_event_id"]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def new_event_id() -> str:
    """A UUIDv7 (time-ordered) as a string."""
    return str(uuid_utils.uuid7())
