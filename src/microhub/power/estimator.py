"""The live estimate: how long the batteries will really last, and a warning in time.

Fed one reading at a time (times in seconds since the epoch, passed in), it:

1. **Integrates measured power** (battery side; load-side watts from a UPS are divided by the
   kit's inverter efficiency, and count as zero while the UPS is on line) into Wh delivered.
2. **Learns the real capacity** from charge used versus Wh delivered: once the state of charge
   has fallen ``Δ`` points, ``delivered ÷ Δ`` is the energy of 100 % charge; it is blended with
   the kit's prior (capacity × health × temperature × Peukert) weighted ``PRIOR_POINTS`` to
   ``Δ``, so a few noisy points cannot swing it and a long discharge overrides the kit file.
   Without a state of charge, remaining = usable − delivered.
3. **Projects the load**: the planned profile (the kit's duty cycles and schedules) scaled by the
   ratio of the live moving average to the planned moving average over the same time — so the
   PA set at 21:00 is still expected, at the level the night is really running at.
4. **Time to empty** (P50) is when the projected draw uses up the remaining energy; the
   conservative figure (P90) shrinks the remaining energy by the capacity's remaining
   uncertainty and raises the draw by the live load's variability.
5. **Alerts** when the conservative end falls before the event's end, naming the loads to shed
   (lowest priority first) that would make it. A device's own time-to-go is reported next to
   ours and flagged when it disagrees by more than half, but never used alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from microhub.power.energy import battery_watts, usable_energy
from microhub.power.kit import Kit
from microhub.power.plan import expected_profile, shedding_order
from microhub.power.reading import Reading

__all__ = [
    "ALERT_LEAD_S",
    "PRIOR_POINTS",
    "Alert",
    "Estimate",
    "Estimator",
]

PRIOR_POINTS = 1.0  # how many % of charge the kit file's capacity is worth as evidence
ALERT_LEAD_S = 3600.0
EWMA_TAU_S = 900.0
MAX_HORIZON_S = 48 * 3600.0
STEP_S = 60.0


@dataclass(frozen=True, slots=True)
class Alert:
    projected_end: float  # epoch seconds (conservative)
    event_end: float
    shed: tuple[str, ...]
    makes_it_after_shedding: bool

    @property
    def shortfall_s(self) -> float:
        return self.event_end - self.projected_end

    def to_json(self) -> dict[str, Any]:
        return {
            "projected_end": round(self.projected_end, 1),
            "event_end": round(self.event_end, 1),
            "shortfall_minutes": round(self.shortfall_s / 60, 1),
            "shed": list(self.shed),
            "makes_it_after_shedding": self.makes_it_after_shedding,
        }


@dataclass(frozen=True, slots=True)
class Estimate:
    at: float
    soc: float | None
    delivered_wh: float
    capacity_wh: float  # learned energy of 100 % charge, at the batteries
    remaining_wh: float  # usable energy left, at the batteries
    load_w: float  # moving average of the live draw, at the batteries
    planned_w: float  # the plan's draw now, at the batteries
    time_to_empty_s: float  # P50
    time_to_empty_p90_s: float  # conservative
    event_end: float
    device_runtime_s: float | None = None
    device_disagrees: bool = False
    alert: Alert | None = None

    @property
    def projected_end(self) -> float:
        return self.at + self.time_to_empty_s

    @property
    def margin_s(self) -> float:
        """Projected (P50) end minus the event's end: negative means short."""
        return self.projected_end - self.event_end

    def to_json(self) -> dict[str, Any]:
        return {
            "at": round(self.at, 1),
            "soc": None if self.soc is None else round(self.soc, 1),
            "delivered_wh": round(self.delivered_wh, 1),
            "capacity_wh": round(self.capacity_wh, 1),
            "remaining_wh": round(self.remaining_wh, 1),
            "load_w": round(self.load_w, 1),
            "planned_w": round(self.planned_w, 1),
            "time_to_empty_minutes": round(self.time_to_empty_s / 60, 1),
            "time_to_empty_p90_minutes": round(self.time_to_empty_p90_s / 60, 1),
            "margin_minutes": round(self.margin_s / 60, 1),
            "device_runtime_minutes": (
                None if self.device_runtime_s is None else round(self.device_runtime_s / 60, 1)
            ),
            "device_disagrees": self.device_disagrees,
            "alert": None if self.alert is None else self.alert.to_json(),
        }


@dataclass
class Estimator:
    """Create with :meth:`for_kit`; call :meth:`update` with each reading in time order."""

    kit: Kit
    start: float  # event start, epoch seconds
    end: float  # event end, epoch seconds
    prior_full_wh: float  # kit's energy of 100 % charge at the batteries
    floor_soc: float  # charge (%) at which the kit counts as empty (1 − depth of discharge)
    planned: Sequence[float]  # planned battery-side watts per minute of the event
    start_clock: int = 0  # the event's start, minutes after midnight (for schedules)
    _last_t: float | None = None
    _last_w: float = 0.0
    _delivered: float = 0.0
    _ewma: float | None = None
    _ewma_planned: float | None = None
    _var: float = 0.0
    _soc0: float | None = None
    _soc: float | None = None
    _profiles: dict[tuple[str, ...], list[float]] = field(default_factory=dict)

    @classmethod
    def for_kit(
        cls,
        kit: Kit,
        *,
        start: float,
        end: float,
        temperature_c: float | None = None,
        start_clock: int | None = None,
    ) -> Estimator:
        """An estimator for ``kit`` over an event from ``start`` to ``end`` (epoch seconds);
        ``start_clock`` (minutes after midnight) lines the kit's schedules up with ``start``."""
        minutes = max(1, math.ceil((end - start) / 60))
        clock = 0 if start_clock is None else start_clock
        profile = expected_profile(kit, start=clock, minutes=minutes)
        mean_ac = sum(profile) / len(profile)
        energy = usable_energy(kit, ac_watts=mean_ac, temperature_c=temperature_c)
        full = sum(b.usable_wh / b.depth_of_discharge for b in energy.batteries)
        floor = 100.0 * (1.0 - energy.battery_wh / full) if full > 0 else 0.0
        est = cls(
            kit=kit,
            start=start,
            end=end,
            prior_full_wh=full,
            floor_soc=floor,
            planned=[battery_watts(kit, w) for w in profile],
            start_clock=clock,
        )
        est._profiles[()] = list(est.planned)
        return est

    # -- the plan -------------------------------------------------------------------------

    def _planned_at(self, t: float, profile: Sequence[float] | None = None) -> float:
        values = self.planned if profile is None else profile
        index = int((t - self.start) // 60)
        return values[min(max(index, 0), len(values) - 1)]

    def _profile_without(self, shed: tuple[str, ...]) -> list[float]:
        if shed not in self._profiles:
            ac = expected_profile(
                self.kit.without(shed), start=self.start_clock, minutes=len(self.planned)
            )
            self._profiles[shed] = [battery_watts(self.kit, w) for w in ac]
        return self._profiles[shed]

    # -- learning -------------------------------------------------------------------------

    def _battery_watts(self, reading: Reading) -> float | None:
        if reading.watts is None:
            return None
        if reading.side == "load":
            if reading.on_battery is False:
                return 0.0
            return battery_watts(self.kit, reading.watts)
        return reading.watts

    def capacity_wh(self) -> float:
        """The energy of 100 % charge: the kit's prior blended with what was measured."""
        if self._soc0 is None or self._soc is None:
            return self.prior_full_wh
        drop = self._soc0 - self._soc
        if drop <= 0.5 or self._delivered <= 0:
            return self.prior_full_wh
        measured = self._delivered / (drop / 100.0)
        return (self.prior_full_wh * PRIOR_POINTS + measured * drop) / (PRIOR_POINTS + drop)

    def _capacity_uncertainty(self) -> float:
        drop = 0.0 if self._soc0 is None or self._soc is None else max(0.0, self._soc0 - self._soc)
        return 0.02 + 0.25 * 2.0 / (2.0 + drop)

    def remaining_wh(self) -> float:
        if self._soc is None:
            usable = self.prior_full_wh * (1.0 - self.floor_soc / 100.0)
            return max(0.0, usable - self._delivered)
        return max(0.0, self.capacity_wh() * (self._soc - self.floor_soc) / 100.0)

    # -- projection -----------------------------------------------------------------------

    def _ratio(self) -> float:
        if self._ewma is None:
            return 1.0
        if not self._ewma_planned or self._ewma_planned <= 0:
            return 1.0
        return max(0.0, self._ewma / self._ewma_planned)

    def _time_to_empty(
        self, now: float, remaining: float, profile: Sequence[float], boost: float
    ) -> float:
        ratio = self._ratio()
        use_plan = any(w > 0 for w in profile)
        live = self._ewma if self._ewma is not None else self._planned_at(now, profile)
        t, left = now, remaining
        while t - now < MAX_HORIZON_S:
            watts = (self._planned_at(t, profile) * ratio if use_plan else live) * boost
            if watts <= 0:
                t += STEP_S
                continue
            step_wh = watts * STEP_S / 3600.0
            if step_wh >= left:
                return t - now + left / watts * 3600.0
            left -= step_wh
            t += STEP_S
        return MAX_HORIZON_S

    def update(self, reading: Reading) -> Estimate:
        t = reading.at
        watts = self._battery_watts(reading)
        if self._last_t is not None and t > self._last_t:
            dt = t - self._last_t
            now_w = self._last_w if watts is None else watts
            self._delivered += (self._last_w + now_w) / 2.0 * dt / 3600.0
            alpha = 1.0 - math.exp(-dt / EWMA_TAU_S)
            if watts is not None:
                base = self._ewma if self._ewma is not None else watts
                diff = watts - base
                self._ewma = base + alpha * diff
                self._var = (1 - alpha) * (self._var + alpha * diff * diff)
            planned = self._planned_at(t)
            base_p = self._ewma_planned if self._ewma_planned is not None else planned
            self._ewma_planned = base_p + alpha * (planned - base_p)
        elif self._last_t is None:
            if watts is not None:
                self._ewma = watts
            self._ewma_planned = self._planned_at(t)
        if watts is not None:
            self._last_w = watts
        self._last_t = t
        if reading.soc is not None:
            if self._soc0 is None:
                self._soc0 = reading.soc
            elif reading.soc > self._soc0 + 1.0:  # recharged: measure the capacity anew
                self._soc0 = reading.soc
                self._delivered = 0.0
            self._soc = reading.soc

        remaining = self.remaining_wh()
        tte = self._time_to_empty(t, remaining, self.planned, 1.0)
        spread = 0.0
        if self._ewma:
            spread = min(0.5, math.sqrt(max(0.0, self._var)) / max(self._ewma, 1e-6) * 0.25)
        cautious = remaining * (1.0 - self._capacity_uncertainty())
        tte90 = min(tte, self._time_to_empty(t, cautious, self.planned, 1.0 + spread))
        device = reading.runtime_s
        disagrees = device is not None and tte > 0 and not 0.5 <= device / tte <= 2.0
        alert = None
        if t + tte90 < self.end:
            alert = self._alert(t, cautious, tte90, 1.0 + spread)
        return Estimate(
            at=t,
            soc=self._soc,
            delivered_wh=self._delivered,
            capacity_wh=self.capacity_wh(),
            remaining_wh=remaining,
            load_w=self._ewma or 0.0,
            planned_w=self._planned_at(t),
            time_to_empty_s=tte,
            time_to_empty_p90_s=tte90,
            event_end=self.end,
            device_runtime_s=device,
            device_disagrees=disagrees,
            alert=alert,
        )

    def _alert(self, now: float, cautious_wh: float, tte90: float, boost: float) -> Alert:
        shed: list[str] = []
        makes_it = False
        for load in shedding_order(self.kit, start=self.start_clock, minutes=len(self.planned)):
            if load.priority >= 9:
                break
            shed.append(load.name)
            profile = self._profile_without(tuple(shed))
            if now + self._time_to_empty(now, cautious_wh, profile, boost) >= self.end:
                makes_it = True
                break
        return Alert(
            projected_end=now + tte90,
            event_end=self.end,
            shed=tuple(shed),
            makes_it_after_shedding=makes_it,
        )
