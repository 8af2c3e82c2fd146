"""One telemetry sample, and the device sentinels that must never be passed on as data.

Sign convention: ``watts`` is the power **drawn** (positive while discharging, negative while
charging). ``side`` says where it was measured: ``"battery"`` (DC, at the battery: VE.Direct,
Venus OS) or ``"load"`` (AC, at the loads: a UPS's output power); the estimator converts load-side
watts to battery-side with the kit's inverter efficiency.

Rejected sentinels (the field becomes ``None`` and the reason is kept in ``rejected``):

* a runtime / time-to-go of 65535 (or more): "unknown" on many UPS firmwares and monitors;
* a runtime of 0 while the draw is low (below :data:`LOW_LOAD_WATTS` or 5 % UPS load): UPS
  firmwares report 0 when they cannot estimate, not when the battery is empty;
* ``"---"``, ``""``, ``"nan"`` and the like: VE.Direct monitors send ``---`` before they are
  synchronised;
* values out of physical range: charge outside 0–100 %, negative voltages, runtimes below 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "LOW_LOAD_WATTS",
    "RUNTIME_SENTINEL",
    "Reading",
    "number",
    "sanitize",
]

RUNTIME_SENTINEL = 65535
LOW_LOAD_WATTS = 20.0
_BLANKS = {"", "---", "--", "-", "nan", "none", "null", "n/a", "unknown"}


@dataclass(frozen=True, slots=True)
class Reading:
    """A sample from a telemetry source at ``at`` (seconds since the Unix epoch, UTC)."""

    source: str
    at: float
    soc: float | None = None  # % (0..100)
    watts: float | None = None  # drawn; positive = discharging
    side: str = "battery"  # "battery" (DC) or "load" (AC output)
    volts: float | None = None
    amps: float | None = None  # positive = discharging
    consumed_ah: float | None = None  # charge taken out since full (positive)
    runtime_s: float | None = None  # the device's own time-to-go; never trusted alone
    load_percent: float | None = None  # a UPS's load, % of its rating
    status: str | None = None  # e.g. NUT "OB DISCHRG LB"
    rejected: tuple[str, ...] = field(default=())

    @property
    def on_battery(self) -> bool | None:
        if self.status is not None:
            flags = self.status.split()
            if "OB" in flags:
                return True
            if "OL" in flags:
                return False
        if self.watts is not None:
            return self.watts > 0
        return None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"source": self.source, "at": round(self.at, 3)}
        for name in (
            "soc",
            "watts",
            "volts",
            "amps",
            "consumed_ah",
            "runtime_s",
            "load_percent",
        ):
            value = getattr(self, name)
            if value is not None:
                out[name] = round(value, 3)
        out["side"] = self.side
        if self.status is not None:
            out["status"] = self.status
        if self.rejected:
            out["rejected"] = list(self.rejected)
        return out


def number(value: object) -> float | None:
    """A device value as a float, or ``None`` for blanks and sentinel text like ``---``."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        result = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if text.lower() in _BLANKS:
            return None
        try:
            result = float(text)
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


def sanitize(reading: Reading) -> Reading:
    """Drop sentinel and out-of-range values, recording why in ``rejected``."""
    changes: dict[str, Any] = {}
    why: list[str] = list(reading.rejected)
    if reading.runtime_s is not None:
        low_load = (reading.watts is not None and reading.watts < LOW_LOAD_WATTS) or (
            reading.load_percent is not None and reading.load_percent < 5
        )
        if reading.runtime_s >= RUNTIME_SENTINEL:
            why.append(f"runtime_s: {reading.runtime_s:g} is the 'unknown' sentinel")
            changes["runtime_s"] = None
        elif reading.runtime_s < 0:
            why.append(f"runtime_s: {reading.runtime_s:g} is negative")
            changes["runtime_s"] = None
        elif reading.runtime_s == 0 and low_load:
            why.append("runtime_s: 0 at low load means 'cannot estimate'")
            changes["runtime_s"] = None
    if reading.soc is not None and not 0 <= reading.soc <= 100:
        why.append(f"soc: {reading.soc:g} is outside 0..100 %")
        changes["soc"] = None
    if reading.volts is not None and reading.volts < 0:
        why.append(f"volts: {reading.volts:g} is negative")
        changes["volts"] = None
    if reading.load_percent is not None and not 0 <= reading.load_percent <= 250:
        why.append(f"load_percent: {reading.load_percent:g} is out of range")
        changes["load_percent"] = None
    if reading.consumed_ah is not None and reading.consumed_ah < 0:
        why.append(f"consumed_ah: {reading.consumed_ah:g} is negative")
        changes["consumed_ah"] = None
    if not changes:
        return reading
    return replace(reading, rejected=tuple(why), **changes)
