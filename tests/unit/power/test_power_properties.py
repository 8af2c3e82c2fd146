"""Property tests: planning and energy invariants hold for any valid kit."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from microhub.power.energy import temperature_factor, usable_energy
from microhub.power.kit import CHEMISTRIES, parse_kit
from microhub.power.plan import expected_profile, plan_event, switch_probabilities

loads = st.lists(
    st.fixed_dictionaries(
        {
            "watts": st.floats(1, 400),
            "duty_cycle": st.floats(0.05, 1.0),
            "priority": st.integers(1, 9),
            "cycle_minutes": st.floats(1, 60),
        }
    ),
    min_size=1,
    max_size=5,
)


def kit_from(capacity: float, chemistry: str, raw_loads: list[dict[str, Any]]) -> Any:
    return parse_kit(
        {
            "batteries": [{"capacity_wh": capacity, "chemistry": chemistry}],
            "loads": [{"name": f"load{i}", **x} for i, x in enumerate(raw_loads)],
        }
    )


@settings(max_examples=40, deadline=None)
@given(st.floats(50, 3000), st.sampled_from(CHEMISTRIES), loads, st.integers(0, 1439))
def test_plan_invariants(
    capacity: float, chemistry: str, raw: list[dict[str, Any]], start: int
) -> None:
    """P90 ≤ P50 ≤ P10; priority-9 loads are never shed; shedding never shortens the runtime."""
    kit = kit_from(capacity, chemistry, raw)
    plan = plan_event(kit, start=start, end=(start + 240) % 1440, rng=random.Random(0), trials=20)
    assert plan.runtime_p90 <= plan.runtime_p50 <= plan.runtime_p10
    keep = {x.name for x in kit.loads if x.priority >= 9}
    assert not keep & set(plan.shed)
    if plan.after_shedding is not None:
        assert plan.after_shedding.expected_battery_wh <= plan.expected_battery_wh


@given(loads, st.integers(0, 1439))
def test_expected_draw_is_the_sum_of_means(raw: list[dict[str, Any]], start: int) -> None:
    """Without schedules, the expected draw every minute is Σ watts × duty."""
    kit = kit_from(1000, "lfp", raw)
    profile = expected_profile(kit, start=start, minutes=30)
    total = sum(x.watts * x.duty_cycle for x in kit.loads)
    assert all(abs(w - total) < 1e-6 for w in profile)


@given(st.floats(0.01, 0.99), st.floats(1, 240))
def test_markov_chain_keeps_the_duty_cycle(duty: float, cycle: float) -> None:
    """The switching probabilities are valid and their stationary on-share is the duty cycle."""
    kit = kit_from(1000, "lfp", [{"watts": 10, "duty_cycle": duty, "cycle_minutes": cycle}])
    off, on = switch_probabilities(kit.loads[0])
    assert 0 < off <= 1 and 0 < on <= 1
    assert abs(on / (on + off) - duty) < 1e-9


@given(st.sampled_from(CHEMISTRIES), st.floats(-40, 70), st.floats(-40, 70))
def test_colder_never_gives_more_energy(chemistry: str, a: float, b: float) -> None:
    """Temperature derating is monotone: a colder battery never has more usable energy."""
    cold, warm = min(a, b), max(a, b)
    assert temperature_factor(chemistry, cold) <= temperature_factor(chemistry, warm) <= 1.0
    kit = kit_from(1000, chemistry, [{"watts": 100}])
    assert (
        usable_energy(kit, ac_watts=100, temperature_c=cold).battery_wh
        <= usable_energy(kit, ac_watts=100, temperature_c=warm).battery_wh
    )
