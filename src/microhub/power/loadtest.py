"""The load test: measured versus expected draw at full peak load, and the projected runtime.

The operator switches every load on at its peak; the readings taken meanwhile are summarised
here. Expected draw is the sum of the loads' ``peak_watts`` (at the loads), divided by the
inverter efficiency (at the batteries). Measured draw is the time-weighted mean of the readings
(load-side readings converted the same way). The projected runtime at that draw uses the
capacity learned from the test when the charge fell (Wh delivered ÷ charge used), else the
kit's usable energy. The KPI "battery runtime vs expected draw" is ``runtime_ratio``:
projected ÷ expected runtime at peak (below 1.0: the kit does worse than its file says).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from microhub.errors import ValidationError
from microhub.power.energy import battery_watts, usable_energy
from microhub.power.kit import Kit
from microhub.power.reading import Reading

__all__ = ["LoadTest", "summarize"]


@dataclass(frozen=True, slots=True)
class LoadTest:
    kit: str
    source: str
    samples: int
    duration_s: float
    expected_w: float  # at the batteries
    measured_w: float  # at the batteries
    delivered_wh: float
    soc_start: float | None
    soc_end: float | None
    capacity_wh: float | None  # learned energy of 100 % charge, when the charge fell
    expected_runtime_s: float
    projected_runtime_s: float

    @property
    def draw_ratio(self) -> float:
        return self.measured_w / self.expected_w if self.expected_w > 0 else 0.0

    @property
    def runtime_ratio(self) -> float:
        if self.expected_runtime_s <= 0:
            return 0.0
        return self.projected_runtime_s / self.expected_runtime_s

    def to_json(self) -> dict[str, Any]:
        return {
            "kit": self.kit,
            "source": self.source,
            "samples": self.samples,
            "duration_s": round(self.duration_s, 1),
            "expected_w": round(self.expected_w, 1),
            "measured_w": round(self.measured_w, 1),
            "draw_ratio": round(self.draw_ratio, 3),
            "delivered_wh": round(self.delivered_wh, 2),
            "soc_start": self.soc_start,
            "soc_end": self.soc_end,
            "capacity_wh": None if self.capacity_wh is None else round(self.capacity_wh, 1),
            "expected_runtime_minutes": round(self.expected_runtime_s / 60, 1),
            "projected_runtime_minutes": round(self.projected_runtime_s / 60, 1),
            "runtime_ratio": round(self.runtime_ratio, 3),
        }


def _battery_side(kit: Kit, reading: Reading) -> float | None:
    if reading.watts is None:
        return None
    if reading.side == "load":
        return 0.0 if reading.on_battery is False else battery_watts(kit, reading.watts)
    return reading.watts


def summarize(
    kit: Kit, readings: Sequence[Reading], *, source: str, temperature_c: float | None = None
) -> LoadTest:
    """Summarise a load test's readings (in time order). Needs two readings with power."""
    powered = [(r, w) for r in readings if (w := _battery_side(kit, r)) is not None]
    if len(powered) < 2:
        raise ValidationError(
            f"the load test got {len(powered)} reading(s) with power from {source}: "
            "need at least 2 (is the source sending power, and was the test long enough?)",
            field="source",
            value=source,
        )
    delivered = 0.0
    for (a, wa), (b, wb) in itertools.pairwise(powered):
        delivered += (wa + wb) / 2.0 * max(0.0, b.at - a.at) / 3600.0
    duration = powered[-1][0].at - powered[0][0].at
    measured = delivered * 3600.0 / duration if duration > 0 else powered[-1][1]
    expected = battery_watts(kit, kit.peak_watts)
    energy = usable_energy(kit, ac_watts=kit.peak_watts, temperature_c=temperature_c)
    usable = energy.battery_wh
    full = sum(b.usable_wh / b.depth_of_discharge for b in energy.batteries)
    floor = 100.0 * (1.0 - usable / full) if full > 0 else 0.0
    socs = [r.soc for r in readings if r.soc is not None]
    soc_start = socs[0] if socs else None
    soc_end = socs[-1] if socs else None
    capacity = None
    remaining = max(0.0, usable - delivered)
    if soc_start is not None and soc_end is not None and soc_start - soc_end >= 1.0:
        capacity = delivered / ((soc_start - soc_end) / 100.0)
        remaining = max(0.0, capacity * (soc_end - floor) / 100.0)
    elif soc_end is not None:
        remaining = max(0.0, full * (soc_end - floor) / 100.0)
    expected_runtime = usable / expected * 3600.0 if expected > 0 else 0.0
    projected = remaining / measured * 3600.0 if measured > 0 else 0.0
    return LoadTest(
        kit=kit.name,
        source=source,
        samples=len(readings),
        duration_s=duration,
        expected_w=expected,
        measured_w=measured,
        delivered_wh=delivered,
        soc_start=soc_start,
        soc_end=soc_end,
        capacity_wh=capacity,
        expected_runtime_s=expected_runtime,
        projected_runtime_s=projected,
    )
