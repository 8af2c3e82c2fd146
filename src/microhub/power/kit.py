"""The kit: batteries and loads, built from a plain mapping (a parsed kit file) and validated.

Rules:

* Every problem raises :class:`~microhub.errors.ValidationError` whose ``field`` is the path of
  the offending value in the file (``batteries[0].depth_of_discharge``, ``loads[2].schedule``)
  and whose message says what is wrong and what is allowed. Unknown keys are errors too, so a
  typo (``dutycycle``) never silently falls back to a default.
* Fractions are written as fractions (``depth_of_discharge = 0.9``), power in watts, energy in
  watt-hours, temperature in degrees Celsius, times of day as ``"HH:MM"``.
* ``priority`` orders shedding: lower numbers are shed first; equal priorities shed the larger
  consumer first.

This module is pure: it never reads files (see :mod:`microhub.power.kitfile`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from microhub.errors import ValidationError

__all__ = [
    "CHEMISTRIES",
    "DEFAULT_CYCLE_MINUTES",
    "DEFAULT_PEUKERT",
    "DEFAULT_RATED_HOURS",
    "DEFAULT_TEMPERATURE_C",
    "Battery",
    "Kit",
    "Load",
    "parse_clock",
    "parse_kit",
]

CHEMISTRIES = ("lfp", "nmc", "lead_acid")
DEFAULT_TEMPERATURE_C = 25.0
DEFAULT_PEUKERT = 1.25  # typical flooded/AGM lead-acid
DEFAULT_RATED_HOURS = 20.0  # lead-acid capacity is usually rated at C/20
DEFAULT_CYCLE_MINUTES = 10.0  # mean on+off period of a duty-cycled load


@dataclass(frozen=True, slots=True)
class Battery:
    """One battery (or power station). ``inverter_efficiency`` is ``((watts, fraction), ...)``;
    a single number is stored as one point, which means the same efficiency at every load."""

    name: str
    capacity_wh: float
    chemistry: str
    depth_of_discharge: float = 1.0
    state_of_health: float = 1.0
    inverter_efficiency: tuple[tuple[float, float], ...] = ((0.0, 1.0),)
    temperature_c: float = DEFAULT_TEMPERATURE_C
    peukert_exponent: float = 1.0
    rated_hours: float = DEFAULT_RATED_HOURS

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "capacity_wh": self.capacity_wh,
            "chemistry": self.chemistry,
            "depth_of_discharge": self.depth_of_discharge,
            "state_of_health": self.state_of_health,
            "inverter_efficiency": [list(p) for p in self.inverter_efficiency],
            "temperature_c": self.temperature_c,
            "peukert_exponent": self.peukert_exponent,
            "rated_hours": self.rated_hours,
        }


@dataclass(frozen=True, slots=True)
class Load:
    """One load. While on it draws ``watts``; it is on ``duty_cycle`` of the time, in on/off
    cycles of ``cycle_minutes`` on average; ``peak_watts`` is its surge (load tests, sizing).
    ``schedule`` holds ``(start, end)`` minutes after midnight; empty means the whole event."""

    name: str
    watts: float
    peak_watts: float
    duty_cycle: float = 1.0
    priority: int = 3
    schedule: tuple[tuple[int, int], ...] = ()
    cycle_minutes: float = DEFAULT_CYCLE_MINUTES

    @property
    def mean_watts(self) -> float:
        return self.watts * self.duty_cycle

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "watts": self.watts,
            "peak_watts": self.peak_watts,
            "duty_cycle": self.duty_cycle,
            "priority": self.priority,
            "schedule": [[_clock(a), _clock(b)] for a, b in self.schedule],
            "cycle_minutes": self.cycle_minutes,
        }


@dataclass(frozen=True, slots=True)
class Kit:
    name: str
    batteries: tuple[Battery, ...]
    loads: tuple[Load, ...]

    @property
    def capacity_wh(self) -> float:
        return sum(b.capacity_wh for b in self.batteries)

    @property
    def peak_watts(self) -> float:
        return sum(load.peak_watts for load in self.loads)

    def without(self, names: Sequence[str]) -> Kit:
        """The same kit with the named loads switched off."""
        drop = set(names)
        return Kit(self.name, self.batteries, tuple(x for x in self.loads if x.name not in drop))

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "batteries": [b.to_json() for b in self.batteries],
            "loads": [x.to_json() for x in self.loads],
        }


def _clock(minutes: int) -> str:
    return f"{minutes // 60 % 24:02d}:{minutes % 60:02d}"


def parse_clock(text: object, *, field: str) -> int:
    """``"HH:MM"`` → minutes after midnight."""
    if isinstance(text, str):
        parts = text.strip().split(":")
        if len(parts) == 2 and all(p.isdigit() and len(p) == 2 for p in parts):
            hours, minutes = int(parts[0]), int(parts[1])
            if hours < 24 and minutes < 60:
                return hours * 60 + minutes
    raise ValidationError(
        f"{field} must be a time of day as HH:MM (00:00 to 23:59), got {text!r}",
        field=field,
        value=text,
    )


def _number(
    raw: Mapping[str, Any],
    key: str,
    path: str,
    *,
    default: float | None = None,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> float:
    field = f"{path}.{key}"
    if key not in raw:
        if default is None:
            raise ValidationError(f"{field} is required", field=field)
        return default
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(f"{field} must be a number, got {value!r}", field=field, value=value)
    number = float(value)
    if low is not None and (number < low or (low_open and number == low)):
        bound = f"more than {low:g}" if low_open else f"at least {low:g}"
        raise ValidationError(f"{field} must be {bound}, got {value!r}", field=field, value=value)
    if high is not None and number > high:
        raise ValidationError(
            f"{field} must be at most {high:g}, got {value!r}", field=field, value=value
        )
    return number


def _text(raw: Mapping[str, Any], key: str, path: str, *, default: str | None = None) -> str:
    field = f"{path}.{key}"
    value = raw.get(key, default)
    if value is None:
        raise ValidationError(f"{field} is required", field=field)
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty text", field=field, value=value)
    return value.strip()


def _only(raw: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
    for key in raw:
        if key not in allowed:
            field = f"{path}.{key}" if path else str(key)
            raise ValidationError(
                f"unknown key {field} (allowed: {', '.join(allowed)})", field=field, value=key
            )


def _table(value: object, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValidationError(f"{field} must be a table", field=field, value=value)
    return value


def _efficiency(raw: Mapping[str, Any], path: str) -> tuple[tuple[float, float], ...]:
    field = f"{path}.inverter_efficiency"
    value = raw.get("inverter_efficiency", 1.0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        eff = _number(
            raw, "inverter_efficiency", path, default=1.0, low=0.0, high=1.0, low_open=True
        )
        return ((0.0, eff),)
    if not isinstance(value, list) or not value:
        raise ValidationError(
            f"{field} must be a fraction (0.9) or a curve [[watts, fraction], ...]",
            field=field,
            value=value,
        )
    points: list[tuple[float, float]] = []
    for i, point in enumerate(value):
        where = f"{field}[{i}]"
        if (
            not isinstance(point, list)
            or len(point) != 2
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in point)
        ):
            raise ValidationError(f"{where} must be [watts, fraction]", field=where, value=point)
        watts, eff = float(point[0]), float(point[1])
        if watts < 0 or not 0 < eff <= 1:
            raise ValidationError(
                f"{where} needs watts >= 0 and 0 < fraction <= 1, got {point!r}",
                field=where,
                value=point,
            )
        if points and watts <= points[-1][0]:
            raise ValidationError(
                f"{where}: the curve's watts must increase, got {watts:g} after {points[-1][0]:g}",
                field=where,
                value=point,
            )
        points.append((watts, eff))
    return tuple(points)


_BATTERY_KEYS = (
    "name",
    "capacity_wh",
    "chemistry",
    "depth_of_discharge",
    "state_of_health",
    "inverter_efficiency",
    "temperature_c",
    "peukert_exponent",
    "rated_hours",
)
_LOAD_KEYS = (
    "name",
    "watts",
    "peak_watts",
    "duty_cycle",
    "priority",
    "schedule",
    "cycle_minutes",
)


def _battery(value: object, index: int) -> Battery:
    path = f"batteries[{index}]"
    raw = _table(value, path)
    _only(raw, _BATTERY_KEYS, path)
    chemistry = _text(raw, "chemistry", path)
    if chemistry not in CHEMISTRIES:
        raise ValidationError(
            f"{path}.chemistry must be one of {', '.join(CHEMISTRIES)}, got {chemistry!r}",
            field=f"{path}.chemistry",
            value=chemistry,
        )
    if "peukert_exponent" in raw and chemistry != "lead_acid":
        raise ValidationError(
            f"{path}.peukert_exponent applies to lead_acid only (this battery is {chemistry})",
            field=f"{path}.peukert_exponent",
            value=raw["peukert_exponent"],
        )
    default_peukert = DEFAULT_PEUKERT if chemistry == "lead_acid" else 1.0
    return Battery(
        name=_text(raw, "name", path, default=f"battery {index + 1}"),
        capacity_wh=_number(raw, "capacity_wh", path, low=0.0, low_open=True),
        chemistry=chemistry,
        depth_of_discharge=_number(
            raw, "depth_of_discharge", path, default=1.0, low=0.0, high=1.0, low_open=True
        ),
        state_of_health=_number(
            raw, "state_of_health", path, default=1.0, low=0.0, high=1.0, low_open=True
        ),
        inverter_efficiency=_efficiency(raw, path),
        temperature_c=_number(
            raw, "temperature_c", path, default=DEFAULT_TEMPERATURE_C, low=-40.0, high=70.0
        ),
        peukert_exponent=_number(
            raw, "peukert_exponent", path, default=default_peukert, low=1.0, high=1.6
        ),
        rated_hours=_number(
            raw, "rated_hours", path, default=DEFAULT_RATED_HOURS, low=0.0, low_open=True
        ),
    )


def _schedule(raw: Mapping[str, Any], path: str) -> tuple[tuple[int, int], ...]:
    field = f"{path}.schedule"
    value = raw.get("schedule", [])
    if not isinstance(value, list):
        raise ValidationError(
            f'{field} must be a list of ["HH:MM", "HH:MM"] windows', field=field, value=value
        )
    windows: list[tuple[int, int]] = []
    for i, window in enumerate(value):
        where = f"{field}[{i}]"
        if not isinstance(window, list) or len(window) != 2:
            raise ValidationError(
                f'{where} must be ["HH:MM", "HH:MM"], got {window!r}', field=where, value=window
            )
        start = parse_clock(window[0], field=where)
        end = parse_clock(window[1], field=where)
        if start == end:
            raise ValidationError(f"{where} is empty (start = end)", field=where, value=window)
        windows.append((start, end))
    return tuple(windows)


def _load(value: object, index: int) -> Load:
    path = f"loads[{index}]"
    raw = _table(value, path)
    _only(raw, _LOAD_KEYS, path)
    watts = _number(raw, "watts", path, low=0.0)
    peak = _number(raw, "peak_watts", path, default=watts, low=0.0)
    if peak < watts:
        raise ValidationError(
            f"{path}.peak_watts ({peak:g}) must be at least watts ({watts:g})",
            field=f"{path}.peak_watts",
            value=raw.get("peak_watts"),
        )
    priority = raw.get("priority", 3)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 1 <= priority <= 9:
        raise ValidationError(
            f"{path}.priority must be a whole number from 1 (shed first) to 9 (keep), "
            f"got {priority!r}",
            field=f"{path}.priority",
            value=priority,
        )
    return Load(
        name=_text(raw, "name", path),
        watts=watts,
        peak_watts=peak,
        duty_cycle=_number(raw, "duty_cycle", path, default=1.0, low=0.0, high=1.0),
        priority=priority,
        schedule=_schedule(raw, path),
        cycle_minutes=_number(
            raw, "cycle_minutes", path, default=DEFAULT_CYCLE_MINUTES, low=1.0, high=240.0
        ),
    )


def parse_kit(raw: Mapping[str, Any]) -> Kit:
    """Validate a parsed kit file and build the :class:`Kit`."""
    _only(raw, ("kit", "batteries", "loads"), "")
    meta = _table(raw.get("kit", {}), "kit")
    _only(meta, ("name",), "kit")
    name = _text(meta, "name", "kit", default="kit")
    batteries = raw.get("batteries")
    if not isinstance(batteries, list) or not batteries:
        raise ValidationError(
            "batteries must list at least one battery ([[batteries]] tables)",
            field="batteries",
            value=batteries,
        )
    loads = raw.get("loads")
    if not isinstance(loads, list) or not loads:
        raise ValidationError(
            "loads must list at least one load ([[loads]] tables)", field="loads", value=loads
        )
    built_loads = tuple(_load(x, i) for i, x in enumerate(loads))
    seen: set[str] = set()
    for i, load in enumerate(built_loads):
        if load.name in seen:
            raise ValidationError(
                f"loads[{i}].name {load.name!r} is used twice: load names must be unique",
                field=f"loads[{i}].name",
                value=load.name,
            )
        seen.add(load.name)
    return Kit(
        name=name,
        batteries=tuple(_battery(b, i) for i, b in enumerate(batteries)),
        loads=built_loads,
    )
