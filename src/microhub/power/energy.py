"""Usable energy: what a kit can really deliver to its loads.

``usable = capacity × depth of discharge × state of health × temperature derating × Peukert``
at the battery's terminals, and × inverter efficiency at the loads. The batteries of a kit share
the load in proportion to their capacity (paralleled, or power stations used side by side).

Temperature derating factors are typical datasheet values for the *capacity* available at a
discharge temperature (25 °C = 1.0; no bonus above it), linearly interpolated:

=========  ======  =====  =====  =====  =====  =====
°C          -20    -10     0      10     25
lfp         0.55   0.70   0.82   0.92   1.00
nmc         0.65   0.78   0.88   0.95   1.00
lead_acid   0.50   0.62   0.75   0.88   1.00
=========  ======  =====  =====  =====  =====  =====

Peukert's law (lead-acid only): at a steady power ``P`` the capacity is scaled by
``(P_rated / P) ** (k - 1)``, where ``P_rated = capacity / rated_hours``; the factor is capped at
1.0 (below the rated rate we claim nothing extra).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from microhub.power.kit import Battery, Kit

__all__ = [
    "DERATING",
    "BatteryEnergy",
    "Energy",
    "battery_watts",
    "efficiency_at",
    "kit_efficiency",
    "peukert_factor",
    "temperature_factor",
    "usable_energy",
]

DERATING: dict[str, tuple[tuple[float, float], ...]] = {
    "lfp": ((-20.0, 0.55), (-10.0, 0.70), (0.0, 0.82), (10.0, 0.92), (25.0, 1.0)),
    "nmc": ((-20.0, 0.65), (-10.0, 0.78), (0.0, 0.88), (10.0, 0.95), (25.0, 1.0)),
    "lead_acid": ((-20.0, 0.50), (-10.0, 0.62), (0.0, 0.75), (10.0, 0.88), (25.0, 1.0)),
}


def _interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


def temperature_factor(chemistry: str, temperature_c: float) -> float:
    """The share of capacity available at ``temperature_c`` (1.0 at 25 °C and above)."""
    return _interpolate(DERATING[chemistry], temperature_c)


def efficiency_at(curve: Sequence[tuple[float, float]], watts: float) -> float:
    """The inverter's efficiency at an output of ``watts`` (flat beyond the curve's ends)."""
    return _interpolate(curve, watts)


def kit_efficiency(kit: Kit, ac_watts: float) -> float:
    """The kit's inverter efficiency at a total output of ``ac_watts`` (capacity-weighted)."""
    total = kit.capacity_wh
    return sum(
        b.capacity_wh
        / total
        * efficiency_at(b.inverter_efficiency, ac_watts * b.capacity_wh / total)
        for b in kit.batteries
    )


def battery_watts(kit: Kit, ac_watts: float) -> float:
    """What the batteries supply for a load of ``ac_watts``."""
    if ac_watts <= 0:
        return 0.0
    return ac_watts / kit_efficiency(kit, ac_watts)


def peukert_factor(battery: Battery, watts: float) -> float:
    """Capacity factor at a steady draw of ``watts`` from this battery (≤ 1.0)."""
    if battery.peukert_exponent == 1.0 or watts <= 0:
        return 1.0
    rated = battery.capacity_wh / battery.rated_hours
    factor: float = (rated / watts) ** (battery.peukert_exponent - 1.0)
    return min(1.0, factor)


@dataclass(frozen=True, slots=True)
class BatteryEnergy:
    name: str
    capacity_wh: float
    depth_of_discharge: float
    state_of_health: float
    temperature_factor: float
    peukert_factor: float

    @property
    def usable_wh(self) -> float:
        return (
            self.capacity_wh
            * self.depth_of_discharge
            * self.state_of_health
            * self.temperature_factor
            * self.peukert_factor
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "capacity_wh": round(self.capacity_wh, 1),
            "depth_of_discharge": self.depth_of_discharge,
            "state_of_health": self.state_of_health,
            "temperature_factor": round(self.temperature_factor, 3),
            "peukert_factor": round(self.peukert_factor, 3),
            "usable_wh": round(self.usable_wh, 1),
        }


@dataclass(frozen=True, slots=True)
class Energy:
    """Usable energy of a kit at an expected load: at the batteries and at the loads."""

    batteries: tuple[BatteryEnergy, ...]
    inverter_efficiency: float

    @property
    def battery_wh(self) -> float:
        return sum(b.usable_wh for b in self.batteries)

    @property
    def load_wh(self) -> float:
        return self.battery_wh * self.inverter_efficiency

    def to_json(self) -> dict[str, Any]:
        return {
            "batteries": [b.to_json() for b in self.batteries],
            "battery_wh": round(self.battery_wh, 1),
            "inverter_efficiency": round(self.inverter_efficiency, 3),
            "load_wh": round(self.load_wh, 1),
        }


def usable_energy(kit: Kit, *, ac_watts: float, temperature_c: float | None = None) -> Energy:
    """Usable energy when the loads draw ``ac_watts`` on average (``temperature_c`` overrides
    every battery's own temperature)."""
    dc = battery_watts(kit, ac_watts)
    total = kit.capacity_wh
    parts = []
    for b in kit.batteries:
        temp = b.temperature_c if temperature_c is None else temperature_c
        parts.append(
            BatteryEnergy(
                name=b.name,
                capacity_wh=b.capacity_wh,
                depth_of_discharge=b.depth_of_discharge,
                state_of_health=b.state_of_health,
                temperature_factor=temperature_factor(b.chemistry, temp),
                peukert_factor=peukert_factor(b, dc * b.capacity_wh / total),
            )
        )
    return Energy(tuple(parts), kit_efficiency(kit, ac_watts))
