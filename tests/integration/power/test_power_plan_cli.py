"""``microhub power plan``: no hub needed, JSON output, chart file, clear errors and exit codes."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
KIT = str(ROOT / "examples" / "kit.toml")


def test_plan_json_without_a_hub(cli: Any, tmp_path: Path) -> None:
    """plan runs with no data folder and prints usable energy, P10/P50/P90, margin and status."""
    chart = tmp_path / "soc.svg"
    result = cli(
        "power",
        "plan",
        KIT,
        "--start",
        "18:00",
        "--end",
        "23:30",
        "--json",
        "--chart",
        str(chart),
        env={"MICROHUB_DATA": str(tmp_path / "nowhere")},
    )
    assert result.exit_code == 0, result.stderr
    data = result.json()
    runtime = data["runtime_minutes"]
    assert runtime["p90"] <= runtime["p50"] <= runtime["p10"]
    assert data["status"] == "ok"
    assert data["event_minutes"] == 330
    assert data["usable_energy"]["battery_wh"] > 0
    assert data["chart"] == str(chart)
    assert ET.parse(chart).getroot().tag.endswith("svg")
    assert not (tmp_path / "nowhere").exists()


def test_plan_short_advises_shedding(cli: Any, tmp_path: Path) -> None:
    """A night colder and longer than the kit can carry exits 1 and names loads to shed, PA first."""
    result = cli(
        "power", "plan", KIT, "--start", "16:00", "--end", "04:00", "--temp", "-15", "--json"
    )
    assert result.exit_code == 1
    data = result.json()
    assert data["status"] in ("tight", "short")
    assert data["shed"][0] == "PA speaker"
    assert "hub laptop" not in data["shed"]


def test_plan_human_output(cli: Any) -> None:
    """Without --json the plan is readable text with the runtime line."""
    result = cli("power", "plan", KIT, "--start", "18:00", "--end", "23:30")
    assert result.exit_code == 0
    assert "P90" in result.stdout and "usable energy" in result.stdout


def test_bad_kit_names_the_field(cli: Any, tmp_path: Path) -> None:
    """A kit with a bad value exits 2 with the field's path in the JSON error."""
    bad = tmp_path / "kit.toml"
    bad.write_text(
        '[[batteries]]\ncapacity_wh = 500\nchemistry = "lfp"\ndepth_of_discharge = 90\n'
        '[[loads]]\nname = "x"\nwatts = 10\n'
    )
    result = cli("power", "plan", str(bad), "--start", "18:00", "--end", "22:00", "--json")
    assert result.exit_code == 2
    error = result.json()["error"]
    assert error["field"] == "batteries[0].depth_of_discharge"
    assert error["value"] == 90


def test_bad_time_and_missing_file(cli: Any, tmp_path: Path) -> None:
    """A bad --start and a missing kit file are bad input (exit 2) naming what was wrong."""
    result = cli("power", "plan", KIT, "--start", "6pm", "--end", "22:00")
    assert result.exit_code == 2
    assert "start" in result.stderr
    result = cli(
        "power", "plan", str(tmp_path / "none.toml"), "--start", "18:00", "--end", "22:00", "--json"
    )
    assert result.exit_code == 2
    assert result.json()["error"]["field"] == "kit"


def test_unwritable_chart_is_bad_input(cli: Any, tmp_path: Path) -> None:
    """A chart path in a missing folder is bad input naming --chart, not a traceback."""
    result = cli(
        "power",
        "plan",
        KIT,
        "--start",
        "18:00",
        "--end",
        "23:30",
        "--json",
        "--chart",
        str(tmp_path / "missing" / "soc.svg"),
    )
    assert result.exit_code == 2
    assert result.json()["error"]["field"] == "chart"
