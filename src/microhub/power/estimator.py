"""The live estimate: how long the batteries will really last, and a warning in time.

Fed one reading at a time (times in seconds since the epoch, passed in), it:

1. **Integrates measured power** (battery side; load-side watts from a UPS are divided by the
   kit's inverter efficiency, and count as zero while the UPS is on line) into Wh delivered.
2. **Learns the real capacity** from charge used versus Wh delivered: once the state of charge
   has fallen ``Δ`` points, ``delivered ÷ Δ`` is the energy of 100 % charge, blended with the
   kit file's figure worth ``PRIOR_POINTS`` points. Over the last ``MARGINAL_POINTS`` the
   marginal Wh per point is watched too: when it falls (the voltage sags at the end), the rest
   is counted at that rate. Without a state of charge, remaining = usable − delivered.
3. **Empty** is the depth-of-discharge floor or the knee the voltage cut-off leaves at the
   current rate (``KNEE_RESERVE``), whichever is higher.
4. **Projects the load**: the planned profile (duty cycles and schedules, so the PA set at
   21:00 is still expected) scaled by measured ÷ planned energy so far (the plan worth
   ``RATIO_PRIOR_S`` of evidence), plus the live moving average's deviation from the plan,
   fading out over ``LIVE_TAU_S``.
5. **Time to empty** (P50) is when the projected draw uses up the remaining energy. The
   conservative figure (P90) raises the floor by ``KNEE_SPREAD``, shrinks the energy by the
   capacity's remaining uncertainty, runs the load ``LOAD_UNCERTAINTY`` harder (more when the
   live load swings more) and keeps ``P90_Z`` standard deviations of the duty cycles'
   randomness over the horizon in reserve.
6. **Alerts** when the median end falls before the event's end, or the conservative end does
   once ``ALERT_LEARNED_POINTS`` of charge were used, naming the loads to shed (lowest priority
   first, never priority 9) that would make it. A device's own time-to-go is reported next to
   ours and flagged when it disagrees by more than half, but never used alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from microhub.power.energy import battery_watts, kit_efficiency, usable_energy
from microhub.power.kit import Kit
from microhub.power.plan import (
    active_minutes,
    expected_profile,
    shedding_order,
    switch_probabilities,
)
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
EWMA_TAU_S = 600.0  # the live moving average
LIVE_TAU_S = 900.0  # how fast the projection hands over from the live average to the plan
RATIO_PRIOR_S = 10800.0  # the plan's level is worth three hours of measurements
# Charge the voltage cut-off leaves in the battery, in % = base + per_c × C-rate: the voltage
# falls off the "knee" earlier the harder the battery is pushed. LFP's numbers were fitted to
# PyBaMM (SPMe, Prada2013) between C/20 and C/2; NMC's are a cautious guess; lead-acid's
# reserve is its depth of discharge. See docs/power.md.
KNEE_RESERVE: dict[str, tuple[float, float]] = {
    "lfp": (3.5, 16.0),
    "nmc": (2.0, 8.0),
    "lead_acid": (0.0, 0.0),
}
MAX_HORIZON_S = 48 * 3600.0
STEP_S = 60.0
# How much harder the rest of the night may run than projected, for the conservative figure:
# an hour of a fridge's or a PA's duty cycles is easily 10-15 % off its long-run mean.
LOAD_UNCERTAINTY = 0.12
P90_Z = 1.2816  # the one-sided 90 % point of a normal distribution
# The conservative end alone raises an alert only once this much charge was used (the capacity
# is then measured, not taken from the kit file); the median end raises it at any time.
ALERT_LEARNED_POINTS = 8.0
KNEE_SPREAD = 1.3  # points of charge: P90_Z × the knee formula's ~1-point scatter (PyBaMM)
MARGINAL_POINTS = 3.0  # % of charge over which the recent Wh per % is measured


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
    _delivered_all: float = 0.0  # since the first reading, for the measured/planned ratio
    _planned_all: float = 0.0
    _ewma: float | None = None
    _var: float = 0.0
    _ewma_planned: float | None = None
    _soc0: float | None = None
    _trail: list[tuple[float, float]] = field(default_factory=list)  # (soc, delivered Wh)
    _soc: float | None = None
    _profiles: dict[tuple[str, ...], list[float]] = field(default_factory=dict)
    _variance: dict[tuple[str, ...], list[float]] = field(default_factory=dict)

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

    def _variance_rate(self, shed: tuple[str, ...] = ()) -> list[float]:
        """Per minute of the event: how much the variance of the energy used (Wh²) grows per
        minute, from the duty-cycled loads scheduled then. A two-state Markov load with
        correlation time τ has on-time variance ≈ 2·d·(1−d)·τ·H over H minutes."""
        if shed not in self._variance:
            rates = [0.0] * len(self.planned)
            eff = kit_efficiency(self.kit, max(1.0, sum(self.planned) / len(self.planned)))
            for load in self.kit.without(shed).loads:
                if not 0.0 < load.duty_cycle < 1.0:
                    continue
                off, on = switch_probabilities(load)
                tau = 1.0 / (off + on)
                watts = load.watts / eff
                rate = watts * watts * 2.0 * load.duty_cycle * (1.0 - load.duty_cycle) * tau
                rate /= 3600.0  # (W·min)² per minute → Wh² per minute
                active = active_minutes(load, start=self.start_clock, minutes=len(self.planned))
                for m, on_now in enumerate(active):
                    if on_now:
                        rates[m] += rate
            self._variance[shed] = rates
        return self._variance[shed]

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

    def _drop(self) -> float:
        """Points of charge used since the capacity measurement started."""
        if self._soc0 is None or self._soc is None:
            return 0.0
        return max(0.0, self._soc0 - self._soc)

    def _capacity_uncertainty(self) -> float:
        drop = self._drop()
        return 0.04 + 0.25 * 2.0 / (2.0 + drop)

    def _marginal_wh_per_point(self) -> float | None:
        """Wh per % of charge over the last ``MARGINAL_POINTS`` of charge (falls as the voltage
        sags towards the end), or ``None`` before that much charge was used."""
        if len(self._trail) < 2:
            return None
        (soc_a, wh_a), (soc_b, wh_b) = self._trail[0], self._trail[-1]
        drop = soc_a - soc_b
        if drop < MARGINAL_POINTS:
            return None
        return (wh_b - wh_a) / drop

    def floor(self) -> float:
        """The charge (%) at which the kit counts as empty: its depth of discharge, or the
        knee the cut-off leaves at the current rate, whichever is higher."""
        capacity = self.capacity_wh()
        rate = (self._ewma or 0.0) / capacity if capacity > 0 else 0.0
        knee = max(
            KNEE_RESERVE[b.chemistry][0] + KNEE_RESERVE[b.chemistry][1] * rate
            for b in self.kit.batteries
        )
        return max(self.floor_soc, knee)

    def remaining_wh(self, *, extra_floor: float = 0.0) -> float:
        """Usable energy left (at the batteries) above the floor, raised by ``extra_floor``
        points for the conservative figure."""
        floor = self.floor() + extra_floor
        if self._soc is None:
            usable = self.prior_full_wh * (1.0 - floor / 100.0)
            return max(0.0, usable - self._delivered)
        per_point = self.capacity_wh() / 100.0
        marginal = self._marginal_wh_per_point()
        if marginal is not None and 0 < marginal < per_point * 0.97:
            per_point = marginal  # the tail: each % now holds less energy than the average
        return max(0.0, per_point * (self._soc - floor))

    # -- projection -----------------------------------------------------------------------

    def _ratio(self) -> float:
        """Measured ÷ planned energy since the start, shrunk towards 1 by one planned hour."""
        prior = RATIO_PRIOR_S / 3600.0 * (sum(self.planned) / len(self.planned))
        if prior <= 0:
            return 1.0
        return max(0.0, (self._delivered_all + prior) / (self._planned_all + prior))

    def _time_to_empty(
        self,
        now: float,
        remaining: float,
        profile: Sequence[float],
        boost: float,
        variance: Sequence[float] | None = None,
    ) -> float:
        """When the projected draw (× ``boost``) uses up ``remaining``; with ``variance``, when
        it does so with the draw ``P90_Z`` standard deviations above its mean."""
        ratio = self._ratio()
        use_plan = any(w > 0 for w in profile)
        live = self._ewma if self._ewma is not None else self._planned_at(now, profile)
        recent = self._ewma_planned if self._ewma_planned is not None else self._planned_at(now)
        if profile is not self.planned:  # shedding: the loads shed are gone from the live draw too
            recent -= self._planned_at(now) - self._planned_at(now, profile)
        t, left, var = now, remaining, 0.0
        while t - now < MAX_HORIZON_S:
            ahead = t - now + STEP_S / 2.0
            if variance is not None:
                var += self._planned_at(t, variance) * STEP_S / 60.0
            weight = math.exp(-ahead / LIVE_TAU_S)
            if use_plan:
                # the plan (its schedule changes come through at once), shifted by how far the
                # live average is from the plan's average over the same time, fading out
                planned = self._planned_at(t, profile) * ratio
                watts = max(0.0, planned + weight * (live - recent * ratio)) * boost
            else:
                watts = live * boost
            if watts <= 0:
                t += STEP_S
                continue
            step_wh = watts * STEP_S / 3600.0
            margin = P90_Z * math.sqrt(var) if variance is not None else 0.0
            if step_wh + margin >= left:
                return t - now + max(0.0, left - margin) / watts * 3600.0
            left -= step_wh
            t += STEP_S
        return MAX_HORIZON_S

    def update(self, reading: Reading) -> Estimate:
        """Take one reading and return the estimate at its time. A reading older than the last
        one (a source's clock stepping back) counts at the last reading's time."""
        t = reading.at if self._last_t is None else max(reading.at, self._last_t)
        watts = self._battery_watts(reading)
        if self._last_t is not None and t > self._last_t:
            dt = t - self._last_t
            now_w = self._last_w if watts is None else watts
            step_wh = (self._last_w + now_w) / 2.0 * dt / 3600.0
            self._delivered += step_wh
            self._delivered_all += step_wh
            self._planned_all += self._planned_at(self._last_t) * dt / 3600.0
            alpha = 1.0 - math.exp(-dt / EWMA_TAU_S)
            planned_now = self._planned_at(t)
            base_p = self._ewma_planned if self._ewma_planned is not None else planned_now
            self._ewma_planned = base_p + alpha * (planned_now - base_p)
            if watts is not None:
                base = self._ewma if self._ewma is not None else watts
                diff = watts - base
                self._ewma = base + alpha * diff
                self._var = (1 - alpha) * (self._var + alpha * diff * diff)
        elif self._last_t is None:
            self._ewma_planned = self._planned_at(t)
            if watts is not None:
                self._ewma = watts
        if watts is not None:
            self._last_w = watts
        self._last_t = t
        if reading.soc is not None:
            if self._soc0 is None:
                self._soc0 = reading.soc
            elif reading.soc > self._soc0 + 1.0:  # recharged: measure the capacity anew
                self._soc0 = reading.soc
                self._delivered = 0.0
                self._trail.clear()
            self._soc = reading.soc
            self._trail.append((reading.soc, self._delivered))
            while len(self._trail) > 2 and self._trail[1][0] - reading.soc >= MARGINAL_POINTS:
                self._trail.pop(0)

        remaining = self.remaining_wh()
        tte = self._time_to_empty(t, remaining, self.planned, 1.0)
        spread = LOAD_UNCERTAINTY
        if self._ewma:
            variability = math.sqrt(max(0.0, self._var)) / max(self._ewma, 1e-6) * 0.25
            spread = min(0.5, max(spread, variability))
        cautious = self.remaining_wh(extra_floor=KNEE_SPREAD) * (1.0 - self._capacity_uncertainty())
        tte90 = min(
            tte,
            self._time_to_empty(t, cautious, self.planned, 1.0 + spread, self._variance_rate()),
        )
        device = reading.runtime_s
        disagrees = device is not None and tte > 0 and not 0.5 <= device / tte <= 2.0
        alert = None
        learned = self._drop() >= ALERT_LEARNED_POINTS
        if t + tte < self.end or (learned and t + tte90 < self.end):
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
            variance = self._variance_rate(tuple(shed))
            if now + self._time_to_empty(now, cautious_wh, profile, boost, variance) >= self.end:
                makes_it = True
                break
        return Alert(
            projected_end=now + tte90,
            event_end=self.end,
            shed=tuple(shed),
            makes_it_after_shedding=makes_it,
        )
