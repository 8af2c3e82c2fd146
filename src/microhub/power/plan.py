"""Planning: expected draw over the event, runtime P10/P50/P90, margin and shedding advice.

How the numbers are made:

* The event is cut into one-minute steps from ``start`` to ``end`` (an end before the start means
  the event runs past midnight). A load counts in a step when the step falls in one of its
  schedule windows (or always, without a schedule).
* **Expected draw** is the sum of ``watts × duty_cycle`` of the loads that count, at the loads;
  the batteries supply that divided by the inverter efficiency at that load.
* **Usable energy** comes from :mod:`microhub.power.energy` at the event's mean expected load.
* **Monte Carlo**: each trial switches every duty-cycled load on and off as a two-state Markov
  chain whose mean on-time is ``duty × cycle_minutes`` and mean off-time
  ``(1 - duty) × cycle_minutes`` (so the long-run on-share is the duty cycle, with realistic
  runs of on and off; see :func:`switch_probabilities`). Runtime is when a trial's cumulative battery energy reaches the usable
  energy; a trial that survives the event is extended at its own mean draw over the last hour.
* **Percentiles** follow the reserves convention: **P90 is the conservative figure** — 90 % of
  trials last at least that long; P50 is the median; P10 is reached by only 10 % of trials.
* **Shedding**: when P90 falls short of the event, loads are switched off lowest ``priority``
  first (larger consumers first within a priority) until the expected energy, widened by the
  spread the Monte Carlo measured, fits; the plan is then re-run without them.

The random source is passed in (``random.Random(seed)`` at the edge), so a seed gives the same
plan every time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from microhub.errors import ValidationError
from microhub.power.energy import Energy, battery_watts, usable_energy
from microhub.power.kit import Kit, Load

__all__ = [
    "DEFAULT_TRIALS",
    "MAX_RUNTIME_MIN",
    "Plan",
    "RandomSource",
    "Segment",
    "active_minutes",
    "choose_shedding",
    "event_minutes",
    "expected_profile",
    "plan_event",
    "quantile",
    "shedding_order",
    "switch_probabilities",
]

DEFAULT_TRIALS = 300
MAX_RUNTIME_MIN = 7 * 24 * 60  # reported as "at least a week"


class RandomSource(Protocol):
    """What the Monte Carlo needs from a random generator (``random.Random`` has it)."""

    def random(self) -> float: ...


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation between sorted values."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("quantile of no values")
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def _in_window(clock: int, window: tuple[int, int]) -> bool:
    start, end = window
    if start < end:
        return start <= clock < end
    return clock >= start or clock < end  # crosses midnight


def active_minutes(load: Load, *, start: int, minutes: int) -> list[bool]:
    """For each minute of the event, whether ``load`` is scheduled."""
    if not load.schedule:
        return [True] * minutes
    return [any(_in_window((start + m) % 1440, w) for w in load.schedule) for m in range(minutes)]


def event_minutes(start: int, end: int) -> int:
    length = (end - start) % 1440
    if length == 0:
        raise ValidationError("the event's end must differ from its start", field="end", value=end)
    return length


def expected_profile(kit: Kit, *, start: int, minutes: int) -> list[float]:
    """Expected load (watts at the loads) for each minute of the event."""
    out = [0.0] * minutes
    for load in kit.loads:
        for m, on in enumerate(active_minutes(load, start=start, minutes=minutes)):
            if on:
                out[m] += load.mean_watts
    return out


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of the event with a constant expected draw (watts at the loads)."""

    start: int  # minutes after the event's start
    end: int
    watts: float


def _segments(profile: Sequence[float]) -> tuple[Segment, ...]:
    out: list[Segment] = []
    for m, watts in enumerate(profile):
        if out and abs(out[-1].watts - watts) < 1e-9:
            out[-1] = Segment(out[-1].start, m + 1, watts)
        else:
            out.append(Segment(m, m + 1, watts))
    return tuple(out)


def switch_probabilities(load: Load) -> tuple[float, float]:
    """Per-minute (on→off, off→on) probabilities of a duty-cycled load's Markov chain.

    Mean on-time ``duty × cycle`` and off-time ``(1 - duty) × cycle`` give rates
    ``1/(duty × cycle)`` and ``1/((1 - duty) × cycle)``; when a run is shorter than the one-minute
    step both are scaled down together, which keeps the long-run on-share equal to the duty.
    """
    duty, cycle = load.duty_cycle, load.cycle_minutes
    off = 1.0 / (duty * cycle)
    on = 1.0 / ((1.0 - duty) * cycle)
    scale = max(1.0, off, on)
    return off / scale, on / scale


def _trial(
    kit: Kit,
    schedule: Sequence[Sequence[bool]],
    *,
    minutes: int,
    usable_wh: float,
    rng: RandomSource,
) -> tuple[float, list[float]]:
    """One Monte Carlo trial: (runtime in minutes, battery Wh used by the end of each minute)."""
    states = [rng.random() < load.duty_cycle for load in kit.loads]
    switches = [
        switch_probabilities(load) if 0.0 < load.duty_cycle < 1.0 else (0.0, 0.0)
        for load in kit.loads
    ]
    used = 0.0
    runtime: float | None = None
    cumulative: list[float] = []
    tail: list[float] = []
    for m in range(minutes):
        ac = 0.0
        for i, load in enumerate(kit.loads):
            duty = load.duty_cycle
            if 0.0 < duty < 1.0:
                if states[i]:
                    if rng.random() < switches[i][0]:
                        states[i] = False
                elif rng.random() < switches[i][1]:
                    states[i] = True
                on = states[i]
            else:
                on = duty >= 1.0
            if on and schedule[i][m]:
                ac += load.watts
        step_wh = battery_watts(kit, ac) / 60.0
        if runtime is None and used + step_wh >= usable_wh:
            runtime = m + (usable_wh - used) / step_wh
        used += step_wh
        cumulative.append(used)
        tail.append(step_wh)
    if runtime is None:
        last = tail[-60:]
        per_minute = sum(last) / len(last)
        if per_minute <= 0:
            runtime = float(MAX_RUNTIME_MIN)
        else:
            runtime = min(float(MAX_RUNTIME_MIN), minutes + (usable_wh - used) / per_minute)
    return runtime, cumulative


@dataclass(frozen=True, slots=True)
class Plan:
    kit: Kit
    start: int  # minutes after midnight
    minutes: int  # event length
    temperature_c: float | None
    expected: tuple[Segment, ...]
    expected_load_wh: float  # over the event, at the loads
    expected_battery_wh: float  # over the event, at the batteries
    energy: Energy
    trials: int
    runtime_p10: float  # minutes from the start; optimistic
    runtime_p50: float
    runtime_p90: float  # conservative: 90 % of trials last at least this long
    soc_expected: tuple[float, ...]  # % of usable energy left at the end of each minute
    soc_p90: tuple[float, ...]  # the conservative band (10th percentile of charge left)
    soc_p10: tuple[float, ...]
    shed: tuple[str, ...] = ()
    after_shedding: Plan | None = field(default=None)

    @property
    def status(self) -> str:
        """``ok`` (P90 lasts the event), ``tight`` (only P50 does) or ``short``."""
        if self.runtime_p90 >= self.minutes:
            return "ok"
        if self.runtime_p50 >= self.minutes:
            return "tight"
        return "short"

    @property
    def margin_p50(self) -> float:
        return self.runtime_p50 - self.minutes

    @property
    def margin_p90(self) -> float:
        return self.runtime_p90 - self.minutes

    def to_json(self) -> dict[str, Any]:
        def clock(offset: int) -> str:
            t = (self.start + offset) % 1440
            return f"{t // 60:02d}:{t % 60:02d}"

        out: dict[str, Any] = {
            "kit": self.kit.name,
            "start": clock(0),
            "end": clock(self.minutes),
            "event_minutes": self.minutes,
            "temperature_c": self.temperature_c,
            "expected_draw": [
                {"from": clock(s.start), "to": clock(s.end), "watts": round(s.watts, 1)}
                for s in self.expected
            ],
            "expected_load_wh": round(self.expected_load_wh, 1),
            "expected_battery_wh": round(self.expected_battery_wh, 1),
            "usable_energy": self.energy.to_json(),
            "trials": self.trials,
            "runtime_minutes": {
                "p10": round(self.runtime_p10, 1),
                "p50": round(self.runtime_p50, 1),
                "p90": round(self.runtime_p90, 1),
            },
            "margin_minutes": {
                "p50": round(self.margin_p50, 1),
                "p90": round(self.margin_p90, 1),
            },
            "status": self.status,
            "shed": list(self.shed),
        }
        if self.after_shedding is not None:
            after = self.after_shedding
            out["after_shedding"] = {
                "runtime_minutes": {
                    "p10": round(after.runtime_p10, 1),
                    "p50": round(after.runtime_p50, 1),
                    "p90": round(after.runtime_p90, 1),
                },
                "margin_minutes": {
                    "p50": round(after.margin_p50, 1),
                    "p90": round(after.margin_p90, 1),
                },
                "status": after.status,
            }
        return out


def _simulate(
    kit: Kit,
    *,
    start: int,
    minutes: int,
    temperature_c: float | None,
    trials: int,
    rng: RandomSource,
) -> tuple[Plan, float]:
    """The plan without shedding, and the Monte Carlo's P90 event energy ÷ the expected one."""
    profile = expected_profile(kit, start=start, minutes=minutes)
    mean_ac = sum(profile) / minutes
    energy = usable_energy(kit, ac_watts=mean_ac, temperature_c=temperature_c)
    usable = energy.battery_wh
    schedule = [active_minutes(load, start=start, minutes=minutes) for load in kit.loads]
    runtimes: list[float] = []
    curves: list[list[float]] = []
    for _ in range(trials):
        runtime, cumulative = _trial(kit, schedule, minutes=minutes, usable_wh=usable, rng=rng)
        runtimes.append(runtime)
        curves.append(cumulative)
    expected_dc = [battery_watts(kit, w) / 60.0 for w in profile]
    soc_expected: list[float] = []
    used = 0.0
    for step in expected_dc:
        used += step
        soc_expected.append(max(0.0, 100.0 * (1.0 - used / usable)))
    soc_low: list[float] = []
    soc_high: list[float] = []
    for m in range(minutes):
        column = [c[m] for c in curves]
        soc_low.append(max(0.0, 100.0 * (1.0 - quantile(column, 0.9) / usable)))
        soc_high.append(max(0.0, 100.0 * (1.0 - quantile(column, 0.1) / usable)))
    expected_battery = sum(expected_dc)
    spread = 1.0
    if expected_battery > 0:
        spread = max(1.0, quantile([c[-1] for c in curves], 0.9) / expected_battery)
    plan = Plan(
        kit=kit,
        start=start,
        minutes=minutes,
        temperature_c=temperature_c,
        expected=_segments(profile),
        expected_load_wh=sum(profile) / 60.0,
        expected_battery_wh=expected_battery,
        energy=energy,
        trials=trials,
        runtime_p10=quantile(runtimes, 0.9),
        runtime_p50=quantile(runtimes, 0.5),
        runtime_p90=quantile(runtimes, 0.1),
        soc_expected=tuple(soc_expected),
        soc_p90=tuple(soc_low),
        soc_p10=tuple(soc_high),
    )
    return plan, spread


def shedding_order(kit: Kit, *, start: int, minutes: int) -> list[Load]:
    """Loads in the order they should be switched off: lowest priority, then largest energy."""

    def energy(load: Load) -> float:
        return load.mean_watts * sum(active_minutes(load, start=start, minutes=minutes))

    return sorted(kit.loads, key=lambda x: (x.priority, -energy(x), x.name))


def choose_shedding(
    kit: Kit,
    *,
    start: int,
    minutes: int,
    usable_wh: float,
    spread: float,
    keep_from: int = 9,
) -> tuple[str, ...]:
    """The fewest loads (in shedding order) whose removal makes the widened expected battery
    energy fit in ``usable_wh``. Loads of priority ``keep_from`` or more are never shed."""
    shed: list[str] = []
    for load in shedding_order(kit, start=start, minutes=minutes):
        remaining = kit.without(shed)
        need = sum(
            battery_watts(kit, w) / 60.0
            for w in expected_profile(remaining, start=start, minutes=minutes)
        )
        if need * spread <= usable_wh:
            break
        if load.priority >= keep_from:
            break
        shed.append(load.name)
    return tuple(shed)


def plan_event(
    kit: Kit,
    *,
    start: int,
    end: int,
    rng: RandomSource,
    temperature_c: float | None = None,
    trials: int = DEFAULT_TRIALS,
) -> Plan:
    """Plan ``kit`` for an event from ``start`` to ``end`` (minutes after midnight)."""
    if trials < 10:
        raise ValidationError("trials must be at least 10", field="trials", value=trials)
    minutes = event_minutes(start, end)
    plan, spread = _simulate(
        kit, start=start, minutes=minutes, temperature_c=temperature_c, trials=trials, rng=rng
    )
    if plan.status == "ok":
        return plan
    shed = choose_shedding(
        kit, start=start, minutes=minutes, usable_wh=plan.energy.battery_wh, spread=spread
    )
    if not shed:
        return plan
    after, _ = _simulate(
        kit.without(shed),
        start=start,
        minutes=minutes,
        temperature_c=temperature_c,
        trials=trials,
        rng=rng,
    )
    return replace(plan, shed=shed, after_shedding=after)
