"""Planning: expected draw, Monte Carlo runtime percentiles, shedding and the chart."""

from __future__ import annotations

import random
import xml.etree.ElementTree as ET
from typing import Any

import pytest

from microhub.power.chart import soc_chart_svg
from microhub.power.kit import parse_kit
from microhub.power.plan import expected_profile, plan_event, quantile


def kit(capacity_wh: float = 1000, **extra_loads: Any) -> Any:
    loads = [
        {"name": "laptop", "watts": 40, "priority": 9},
        {"name": "fridge", "watts": 60, "duty_cycle": 0.5, "priority": 3},
        {
            "name": "pa",
            "watts": 200,
            "duty_cycle": 0.3,
            "priority": 1,
            "schedule": [["20:00", "22:00"]],
        },
    ]
    return parse_kit(
        {
            "kit": {"name": "test"},
            "batteries": [
                {"capacity_wh": capacity_wh, "chemistry": "lfp", "inverter_efficiency": 0.9}
            ],
            "loads": loads,
        }
    )


def test_expected_profile_respects_schedules() -> None:
    """Expected draw sums watts × duty for loads whose schedule covers each minute."""
    profile = expected_profile(kit(), start=19 * 60, minutes=4 * 60)
    assert profile[0] == pytest.approx(40 + 30)  # 19:00, no PA yet
    assert profile[90] == pytest.approx(40 + 30 + 60)  # 20:30, PA on 30 %
    assert profile[-1] == pytest.approx(70)  # 22:59


def test_schedule_over_midnight() -> None:
    """A schedule window and an event that cross midnight line up."""
    k = parse_kit(
        {
            "batteries": [{"capacity_wh": 500, "chemistry": "nmc"}],
            "loads": [{"name": "dj", "watts": 100, "schedule": [["23:30", "00:30"]]}],
        }
    )
    profile = expected_profile(k, start=23 * 60, minutes=120)
    assert profile[29] == 0 and profile[30] == 100 and profile[89] == 100 and profile[90] == 0


def test_same_seed_same_plan() -> None:
    """The Monte Carlo is reproducible: the same seed gives the same percentiles."""
    a = plan_event(kit(), start=19 * 60, end=23 * 60, rng=random.Random(7), trials=50)
    b = plan_event(kit(), start=19 * 60, end=23 * 60, rng=random.Random(7), trials=50)
    assert a.to_json() == b.to_json()


def test_percentiles_are_ordered_and_near_the_expected_runtime() -> None:
    """P90 ≤ P50 ≤ P10, and P50 is close to usable energy ÷ mean draw for a steady kit."""
    plan = plan_event(
        kit(capacity_wh=300), start=19 * 60, end=23 * 60, rng=random.Random(1), trials=100
    )
    assert plan.runtime_p90 <= plan.runtime_p50 <= plan.runtime_p10
    assert plan.status == "short"
    assert plan.margin_p50 == pytest.approx(plan.runtime_p50 - 240)


def test_a_big_battery_is_ok_and_sheds_nothing() -> None:
    """When P90 outlasts the event the plan is ok and advises no shedding."""
    plan = plan_event(
        kit(capacity_wh=5000), start=19 * 60, end=23 * 60, rng=random.Random(1), trials=50
    )
    assert plan.status == "ok"
    assert plan.shed == ()
    assert plan.runtime_p90 > 240


def test_shedding_lowest_priority_first_makes_it() -> None:
    """A short kit sheds the PA (priority 1) before the fridge, never the laptop, and then lasts."""
    plan = plan_event(
        kit(capacity_wh=420), start=19 * 60, end=23 * 60, rng=random.Random(3), trials=100
    )
    assert plan.status != "ok"
    assert plan.shed[0] == "pa"
    assert "laptop" not in plan.shed
    assert plan.after_shedding is not None
    assert plan.after_shedding.runtime_p50 > plan.runtime_p50


def test_cold_reduces_runtime() -> None:
    """--temp below 25 °C derates capacity and shortens the runtime."""
    warm = plan_event(kit(), start=19 * 60, end=23 * 60, rng=random.Random(1), trials=50)
    cold = plan_event(
        kit(), start=19 * 60, end=23 * 60, rng=random.Random(1), trials=50, temperature_c=-10
    )
    assert cold.energy.battery_wh < warm.energy.battery_wh
    assert cold.runtime_p50 < warm.runtime_p50


def test_quantile() -> None:
    """Quantiles interpolate between sorted values."""
    assert quantile([3, 1, 2], 0.5) == 2
    assert quantile([0, 10], 0.1) == pytest.approx(1)


def test_chart_is_svg_with_the_curve() -> None:
    """The chart is well-formed SVG with the expected-charge line, the band and the end marker."""
    plan = plan_event(kit(), start=19 * 60, end=23 * 60, rng=random.Random(1), trials=20)
    root = ET.fromstring(soc_chart_svg(plan))
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg"
    classes = {el.get("class") for el in root.iter()}
    assert {"expected", "band", "end"} <= classes
    line = next(el for el in root.iter(f"{ns}polyline") if el.get("class") == "expected")
    assert len(line.get("points", "").split()) == 241
