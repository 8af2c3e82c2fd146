"""``power watch --once``, ``power loadtest`` and the hub's watcher against a real upsd."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from microhub.bootstrap import open_hub
from microhub.power.sources import SourceOptions
from microhub.services.power import run_watcher
from microhub.store import outbox

ROOT = Path(__file__).resolve().parents[3]
KIT = str(ROOT / "examples" / "kit.toml")

PEAK_DISCHARGE = "".join(
    f"ups.status: OB DISCHRG\nbattery.charge: {charge}\nbattery.runtime: 0\nups.realpower: 520\n"
    "battery.voltage: 25.4\nTIMER 1\n"
    for charge in range(100, 80, -1)
)


def test_watch_once_prints_one_reading(nut: Any, cli: Any) -> None:
    """watch --once --json prints exactly one reading from the UPS and exits 0."""
    server = nut(PEAK_DISCHARGE)
    result = cli("power", "watch", "--source", server.url, "--once", "--json", "--poll", "0.2")
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(x) for x in result.stdout.splitlines() if x.strip()]
    assert len(lines) == 1
    reading = lines[0]["reading"]
    assert reading["watts"] == 520 and reading["status"] == "OB DISCHRG"
    assert reading["runtime_s"] == 0  # 0 is a sentinel only at low load; 520 W is not low
    assert reading["soc"] <= 100


def test_watch_once_with_kit_gives_an_estimate(nut: Any, cli: Any) -> None:
    """With --kit and --end the reading comes with a live estimate of time to empty."""
    server = nut(PEAK_DISCHARGE)
    result = cli(
        "power",
        "watch",
        "--source",
        server.url,
        "--once",
        "--json",
        "--kit",
        KIT,
        "--end",
        "23:59",
    )
    assert result.exit_code == 0, result.stderr
    estimate = json.loads(result.stdout)["estimate"]
    assert estimate["time_to_empty_minutes"] > 0
    assert estimate["time_to_empty_p90_minutes"] <= estimate["time_to_empty_minutes"]


def test_watch_once_unreachable_source(cli: Any) -> None:
    """watch --once on a port where nothing listens exits 1 with a telemetry_unavailable error."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = cli("power", "watch", "--source", f"nut://127.0.0.1:{port}/ups", "--once", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout)["error"]["code"] == "telemetry_unavailable"


def test_loadtest_stores_an_event(nut: Any, cli: Any, hub_dir: Path) -> None:
    """A load test measures the draw against the kit's peak, projects runtime and is stored as a
    power.loadtest.recorded event on the telemetry lane."""
    server = nut(PEAK_DISCHARGE)
    result = cli(
        "power",
        "loadtest",
        "--source",
        server.url,
        "--kit",
        KIT,
        "--minutes",
        "0.1",
        "--poll",
        "0.3",
        "--json",
        "--data",
        str(hub_dir),
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    assert data["stored"] is True
    assert data["samples"] >= 2
    assert data["expected_w"] > 0 and data["measured_w"] > 0
    assert 0 < data["draw_ratio"] < 2
    assert data["projected_runtime_minutes"] > 0
    hub = open_hub(hub_dir)
    try:
        events = list(outbox.iter_events(hub.db.connection, lane="telemetry"))
    finally:
        hub.close()
    assert [e.type for e in events] == ["power.loadtest.recorded"]
    assert json.loads(events[0].payload)["measured_w"] == data["measured_w"]


def test_loadtest_without_hub_is_not_stored(nut: Any, cli: Any, tmp_path: Path) -> None:
    """Without a hub data folder the load test still reports, and says it stored nothing."""
    server = nut(PEAK_DISCHARGE)
    result = cli(
        "power",
        "loadtest",
        "--source",
        server.url,
        "--kit",
        KIT,
        "--minutes",
        "0.05",
        "--poll",
        "0.3",
        "--json",
        "--data",
        str(tmp_path / "none"),
    )
    assert result.exit_code == 0, result.stderr
    assert result.json()["stored"] is False


def test_hub_watcher_records_telemetry_events(nut: Any, hub_dir: Path) -> None:
    """run_watcher stores readings (thinned) and source changes as telemetry-lane events."""
    server = nut(PEAK_DISCHARGE)
    hub = open_hub(hub_dir)

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.ensure_future(
            run_watcher(
                hub,
                source_url=server.url,
                stop=stop,
                min_interval_s=0.5,
                options=SourceOptions(poll_s=0.2, timeout_s=2),
            )
        )
        for _ in range(200):
            await asyncio.sleep(0.1)
            types = [e.type for e in outbox.iter_events(hub.db.connection, lane="telemetry")]
            if types.count("power.reading.recorded") >= 2:
                break
        stop.set()
        await asyncio.wait_for(task, 10)

    try:
        asyncio.run(main())
        events = list(outbox.iter_events(hub.db.connection, lane="telemetry"))
    finally:
        hub.close()
    types = [e.type for e in events]
    assert types[0] == "power.source.changed"
    assert types.count("power.reading.recorded") >= 2
    payload = json.loads(next(e.payload for e in events if e.type == "power.reading.recorded"))
    assert payload["watts"] == 520 and payload["side"] == "load"


def test_watch_human_output_shows_rejected_sentinels(nut: Any, cli: Any) -> None:
    """Without --json, watch --once prints the reading and the rejected sentinel in brackets."""
    server = nut(
        "ups.status: OB DISCHRG\nbattery.charge: 97\nbattery.runtime: 65535\nups.realpower: 300\n"
        "TIMER 1\n"
    )
    result = cli("power", "watch", "--source", server.url, "--once", "--kit", KIT, "--end", "23:59")
    assert result.exit_code == 0, result.stderr
    assert "97.0 %" in result.stdout and "300 W (load)" in result.stdout
    assert "[rejected: runtime_s: 65535 is the 'unknown' sentinel]" in result.stdout
    assert "empty in" in result.stdout
