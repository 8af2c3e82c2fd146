"""The offline-sync KPI measures how long after connectivity returned each offline record arrived."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from microhub.cloud.sqlbase import OFFLINE_AFTER_S, catch_up_seconds

T0 = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)


def test_each_wave_is_measured_from_its_own_first_arrival() -> None:
    """Two outages give two waves; delays restart at zero when arrivals pause longer than the
    offline threshold."""
    first = [T0, T0 + timedelta(seconds=5), T0 + timedelta(seconds=12)]
    later = T0 + timedelta(seconds=12 + OFFLINE_AFTER_S + 300)
    second = [later, later + timedelta(seconds=3)]
    assert catch_up_seconds(second + first) == [0.0, 5.0, 12.0, 0.0, 3.0]


def test_no_offline_records_no_delays() -> None:
    """With nothing created offline there is nothing to measure."""
    assert catch_up_seconds([]) == []
