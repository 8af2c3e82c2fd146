"""The live estimator and the load-test summary on synthetic discharges."""

from __future__ import annotations

import pytest

from microhub.errors import ValidationError
from microhub.power.estimator import Estimator
from microhub.power.kit import parse_kit
from microhub.power.loadtest import summarize
from microhub.power.reading import Reading

KIT = parse_kit(
    {
        "kit": {"name": "t"},
        "batteries": [{"capacity_wh": 1000, "chemistry": "lfp"}],
        "loads": [
            {"name": "pa", "watts": 100, "peak_watts": 300, "priority": 1},
            {"name": "laptop", "watts": 50, "priority": 9},
        ],
    }
)


def discharge(true_wh: float, watts: float, *, end_h: float) -> tuple[Estimator, list]:
    est = Estimator.for_kit(KIT, start=0, end=end_h * 3600, start_clock=18 * 60)
    out, t, used = [], 0.0, 0.0
    while used < true_wh * 0.97:
        e = est.update(Reading(source="x", at=t, soc=100 * (1 - used / true_wh), watts=watts))
        out.append((t, (true_wh - used) / watts * 3600, e))
        t += 10
        used += watts * 10 / 3600
    return est, out


def test_learns_a_smaller_real_capacity() -> None:
    """A battery at 80 % of its file's capacity is learned from charge used vs Wh delivered, and
    time to empty is the learned energy above the LFP knee at the measured draw."""
    est, out = discharge(800, 150, end_h=4)
    _, _, last = out[-1]
    assert last.capacity_wh == pytest.approx(800, rel=0.02)
    _, _, mid = out[len(out) // 2]
    assert mid.soc is not None
    expected = 800 * (mid.soc - est.floor()) / 100 / 150 * 3600
    assert mid.time_to_empty_s == pytest.approx(expected, rel=0.03)
    assert 3.5 < est.floor() < 10  # the knee grows with the rate (here about C/5)


def test_p90_is_conservative() -> None:
    """The conservative time to empty never exceeds the true one by more than 5 %."""
    _, out = discharge(800, 150, end_h=4)
    for _, truth, e in out:
        assert e.time_to_empty_p90_s <= truth * 1.05 + 60
        assert e.time_to_empty_p90_s <= e.time_to_empty_s


def test_alert_with_loads_to_shed_an_hour_ahead() -> None:
    """When the battery would run out before the event ends, the alert comes over an hour
    before empty and names the PA (priority 1), never the laptop (priority 9)."""
    _, out = discharge(800, 150, end_h=8)
    first = next((t, truth, e) for t, truth, e in out if e.alert is not None)
    _, truth, e = first
    assert truth >= 3600
    assert e.alert is not None
    assert e.alert.shed == ("pa",)
    assert e.alert.shortfall_s > 0


def test_no_alert_when_it_lasts() -> None:
    """A kit that outlasts the event raises no alert once the capacity is known."""
    _, out = discharge(1000, 150, end_h=4)
    assert all(e.alert is None for _, _, e in out[30:])


def test_device_time_to_go_is_only_a_cross_check() -> None:
    """A device time-to-go far from our estimate is flagged, and does not change the estimate."""
    est = Estimator.for_kit(KIT, start=0, end=4 * 3600)
    a = est.update(Reading(source="x", at=0, soc=100, watts=150))
    b = est.update(Reading(source="x", at=10, soc=100, watts=150, runtime_s=60))
    assert b.device_disagrees
    assert b.time_to_empty_s == pytest.approx(a.time_to_empty_s - 10, abs=15)


def test_loadtest_summary() -> None:
    """A load test compares the measured draw with the kit's peak and projects the runtime."""
    readings = [Reading(source="x", at=t, soc=100 - t / 60, watts=330) for t in range(0, 181, 10)]
    result = summarize(KIT, readings, source="x")
    assert result.expected_w == pytest.approx(350)
    assert result.measured_w == pytest.approx(330)
    assert result.draw_ratio == pytest.approx(330 / 350)
    assert result.capacity_wh == pytest.approx(330 * 3 / 60 / 0.03)
    assert result.projected_runtime_s > 0
    with pytest.raises(ValidationError):
        summarize(KIT, readings[:1], source="x")


def test_reading_from_the_past_does_not_double_count() -> None:
    """A reading whose time steps back is taken at the last time: energy is not counted twice."""
    est = Estimator.for_kit(KIT, start=0, end=4 * 3600)
    est.update(Reading(source="x", at=0, soc=100, watts=100))
    est.update(Reading(source="x", at=3600, soc=90, watts=100))
    est.update(Reading(source="x", at=1800, soc=90, watts=100))
    last = est.update(Reading(source="x", at=3600, soc=90, watts=100))
    assert last.delivered_wh == pytest.approx(100)
