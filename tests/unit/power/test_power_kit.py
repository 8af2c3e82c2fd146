"""The kit model: validation names the field, energy maths, example kit."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from microhub.errors import ValidationError
from microhub.power.energy import (
    battery_watts,
    efficiency_at,
    peukert_factor,
    temperature_factor,
    usable_energy,
)
from microhub.power.kit import parse_clock, parse_kit

ROOT = Path(__file__).resolve().parents[3]


def minimal(**battery: Any) -> dict[str, Any]:
    return {
        "batteries": [{"capacity_wh": 1000, "chemistry": "lfp", **battery}],
        "loads": [{"name": "laptop", "watts": 50}],
    }


def test_example_kit_is_valid() -> None:
    """The documented example kit in examples/kit.toml parses and has its batteries and loads."""
    kit = parse_kit(tomllib.loads((ROOT / "examples" / "kit.toml").read_text()))
    assert kit.name == "Night market stall"
    assert len(kit.batteries) == 2
    assert {x.name for x in kit.loads} >= {"PA speaker", "drinks fridge"}


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (minimal(chemistry="lithium"), "batteries[0].chemistry"),
        (minimal(depth_of_discharge=1.2), "batteries[0].depth_of_discharge"),
        (minimal(state_of_health=0), "batteries[0].state_of_health"),
        (minimal(capacity_wh="lots"), "batteries[0].capacity_wh"),
        (
            minimal(inverter_efficiency=[[100, 0.9], [50, 0.8]]),
            "batteries[0].inverter_efficiency[1]",
        ),
        (minimal(inverter_efficiency=[[100, 1.5]]), "batteries[0].inverter_efficiency[0]"),
        (minimal(peukert_exponent=1.2), "batteries[0].peukert_exponent"),
        (minimal(colour="red"), "batteries[0].colour"),
        ({"batteries": [], "loads": [{"name": "x", "watts": 1}]}, "batteries"),
        ({"batteries": [{"capacity_wh": 1, "chemistry": "lfp"}]}, "loads"),
        (
            {**minimal(), "loads": [{"name": "pa", "watts": 100, "peak_watts": 50}]},
            "loads[0].peak_watts",
        ),
        (
            {**minimal(), "loads": [{"name": "pa", "watts": 100, "duty_cycle": 2}]},
            "loads[0].duty_cycle",
        ),
        ({**minimal(), "loads": [{"name": "pa", "watts": 10, "priority": 0}]}, "loads[0].priority"),
        (
            {**minimal(), "loads": [{"name": "pa", "watts": 10, "schedule": [["19:00", "25:00"]]}]},
            "loads[0].schedule[0]",
        ),
        (
            {**minimal(), "loads": [{"name": "a", "watts": 1}, {"name": "a", "watts": 2}]},
            "loads[1].name",
        ),
        ({**minimal(), "loads": [{"watts": 1}]}, "loads[0].name"),
    ],
)
def test_validation_names_the_field(raw: dict[str, Any], field: str) -> None:
    """Each kind of bad kit value raises ValidationError naming the exact field path."""
    with pytest.raises(ValidationError) as info:
        parse_kit(raw)
    assert info.value.field == field
    assert field.split("[")[0] in info.value.message


def test_lead_acid_gets_default_peukert() -> None:
    """A lead-acid battery without an exponent gets Peukert 1.25; lithium gets 1.0."""
    kit = parse_kit(
        {
            "batteries": [
                {"capacity_wh": 600, "chemistry": "lead_acid"},
                {"capacity_wh": 600, "chemistry": "nmc"},
            ],
            "loads": [{"name": "x", "watts": 1}],
        }
    )
    assert kit.batteries[0].peukert_exponent == 1.25
    assert kit.batteries[1].peukert_exponent == 1.0


def test_clock_parsing() -> None:
    """HH:MM becomes minutes after midnight; anything else names the field."""
    assert parse_clock("18:30", field="start") == 18 * 60 + 30
    with pytest.raises(ValidationError) as info:
        parse_clock("6pm", field="start")
    assert info.value.field == "start"


def test_temperature_derating_interpolates_and_caps() -> None:
    """Derating is 1.0 at and above 25 °C, interpolated between table points, lowest below."""
    assert temperature_factor("lfp", 25) == 1.0
    assert temperature_factor("lfp", 40) == 1.0
    assert temperature_factor("lfp", 5) == pytest.approx((0.82 + 0.92) / 2)
    assert temperature_factor("lead_acid", -30) == 0.50


def test_inverter_curve_interpolates() -> None:
    """An efficiency curve is interpolated between points and flat beyond its ends."""
    curve = ((100.0, 0.8), (300.0, 0.9))
    assert efficiency_at(curve, 200) == pytest.approx(0.85)
    assert efficiency_at(curve, 10) == 0.8
    assert efficiency_at(curve, 1000) == 0.9


def test_peukert_reduces_capacity_above_rated_rate() -> None:
    """Lead-acid loses capacity at high draw (Peukert) and gains nothing below the rated rate."""
    kit = parse_kit(
        {
            "batteries": [{"capacity_wh": 1200, "chemistry": "lead_acid", "peukert_exponent": 1.2}],
            "loads": [{"name": "x", "watts": 1}],
        }
    )
    battery = kit.batteries[0]
    assert peukert_factor(battery, 60) == 1.0  # C/20
    assert peukert_factor(battery, 600) == pytest.approx((60 / 600) ** 0.2)
    assert peukert_factor(battery, 10) == 1.0


def test_usable_energy_multiplies_the_factors() -> None:
    """Usable energy = capacity × DoD × health × temperature (× Peukert), and × inverter at the loads."""
    kit = parse_kit(
        minimal(
            depth_of_discharge=0.9, state_of_health=0.8, temperature_c=0, inverter_efficiency=0.9
        )
    )
    energy = usable_energy(kit, ac_watts=100)
    assert energy.battery_wh == pytest.approx(1000 * 0.9 * 0.8 * 0.82)
    assert energy.load_wh == pytest.approx(energy.battery_wh * 0.9)
    assert battery_watts(kit, 90) == pytest.approx(100)
    cold = usable_energy(kit, ac_watts=100, temperature_c=-10)
    assert cold.battery_wh < energy.battery_wh
