"""``power plan``, ``power watch`` and ``power loadtest``: the battery kit, before and during."""

from __future__ import annotations

import functools
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from microhub.cli.common import EXIT_BAD_INPUT, EXIT_NO_HUB, EXIT_STORAGE, Out
from microhub.errors import ConfigurationError, MicrohubError, StorageError
from microhub.power.chart import soc_chart_svg
from microhub.power.kit import parse_clock
from microhub.power.kitfile import load_kit
from microhub.power.plan import DEFAULT_TRIALS, Plan, plan_event

__all__ = ["power"]

P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True, highlight=False)


def _fail(error: MicrohubError, as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps({"error": error.to_dict()}, default=str) + "\n")
    else:
        field = error.details.get("field")
        detail = f" [field: {field}]" if field else ""
        stderr.print(
            Text.assemble(("error", "bold red"), f" ({error.code}): {error.message}{detail}")
        )
    if isinstance(error, ConfigurationError):
        sys.exit(EXIT_NO_HUB)
    if isinstance(error, StorageError):
        sys.exit(EXIT_STORAGE)
    sys.exit(EXIT_BAD_INPUT)


def plain_command(func: Callable[P, R]) -> Callable[P, R]:
    """Like ``hub_command`` for commands that need no hub: ``--json`` and error rendering."""

    @click.option(
        "--json", "as_json", is_flag=True, help="Print machine-readable JSON (errors too)."
    )
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except MicrohubError as error:
            _fail(error, bool(kwargs.get("as_json")))
            raise  # unreachable: _fail exits

    return wrapper


@click.group()
def power() -> None:
    """Plan the battery kit, load-test it, and watch it live.

    \b
      microhub power plan KIT --start 18:00 --end 23:30 --chart soc.svg
      microhub power loadtest --source nut://127.0.0.1:3493/ups --kit KIT --minutes 10
      microhub power watch --source vedirect:/dev/ttyUSB0 --kit KIT --end 23:30
    """


def _fmt_minutes(value: float) -> str:
    sign = "-" if value < 0 else ""
    value = abs(value)
    return f"{sign}{int(value // 60)} h {round(value % 60):02d} min"


def _plan_human(plan: Plan) -> Callable[[Console], None]:
    data = plan.to_json()

    def human(c: Console) -> None:
        c.print(
            f"[bold]{plan.kit.name}[/]: event {data['start']}–{data['end']} ({_fmt_minutes(plan.minutes)})"
        )
        table = Table(title="expected draw (at the loads)", show_edge=False)
        table.add_column("from")
        table.add_column("to")
        table.add_column("watts", justify="right")
        for row in data["expected_draw"]:
            table.add_row(row["from"], row["to"], f"{row['watts']:.0f}")
        c.print(table)
        c.print(
            f"expected energy: {plan.expected_load_wh:.0f} Wh at the loads, "
            f"{plan.expected_battery_wh:.0f} Wh from the batteries"
        )
        for b in plan.energy.batteries:
            c.print(
                f"  {b.name}: {b.capacity_wh:.0f} Wh × DoD {b.depth_of_discharge:g} × health "
                f"{b.state_of_health:g} × temperature {b.temperature_factor:.2f} × Peukert "
                f"{b.peukert_factor:.2f} = {b.usable_wh:.0f} Wh"
            )
        c.print(
            f"usable energy: {plan.energy.battery_wh:.0f} Wh at the batteries, "
            f"{plan.energy.load_wh:.0f} Wh at the loads (inverter {plan.energy.inverter_efficiency:.0%})"
        )
        c.print(
            f"runtime ({plan.trials} trials): P90 {_fmt_minutes(plan.runtime_p90)} (conservative), "
            f"P50 {_fmt_minutes(plan.runtime_p50)}, P10 {_fmt_minutes(plan.runtime_p10)}"
        )
        colour = {"ok": "green", "tight": "yellow", "short": "red"}[plan.status]
        c.print(
            f"margin at the event's end: P90 {_fmt_minutes(plan.margin_p90)}, "
            f"P50 {_fmt_minutes(plan.margin_p50)} → [{colour}]{plan.status}[/]"
        )
        if plan.shed:
            after = plan.after_shedding
            c.print(f"[bold]shed to make it[/] (lowest priority first): {', '.join(plan.shed)}")
            if after is not None:
                c.print(
                    f"  then: P90 {_fmt_minutes(after.runtime_p90)}, P50 "
                    f"{_fmt_minutes(after.runtime_p50)} → {after.status}"
                )
        elif plan.status != "ok":
            c.print("[red]no load can be shed (all have priority 9); add battery capacity[/]")

    return human


@power.command("plan")
@click.argument("kit_file", metavar="KIT", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--start", required=True, metavar="HH:MM", help="The event's start (local time).")
@click.option(
    "--end", required=True, metavar="HH:MM", help="The event's end (may be after midnight)."
)
@click.option(
    "--temp",
    "temp",
    type=float,
    default=None,
    metavar="C",
    help="Override every battery's temperature (°C).",
)
@click.option(
    "--chart",
    "chart",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    metavar="FILE",
    help="Write an SVG chart of the expected charge over the event.",
)
@click.option(
    "--trials", type=int, default=DEFAULT_TRIALS, show_default=True, help="Monte Carlo trials."
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Random seed (the same seed gives the same plan).",
)
@plain_command
def plan_cmd(
    kit_file: Path,
    start: str,
    end: str,
    temp: float | None,
    chart: Path | None,
    trials: int,
    seed: int,
    as_json: bool,
) -> None:
    """Plan KIT for an event: expected draw, usable energy, runtime P10/P50/P90, margin, shedding.

    Needs no hub. P90 is the conservative runtime: 90 % of the simulated nights last at least
    that long. Exit 0 when P90 covers the event, 1 when it does not (see the shedding advice).
    """
    kit = load_kit(kit_file)
    plan = plan_event(
        kit,
        start=parse_clock(start, field="start"),
        end=parse_clock(end, field="end"),
        rng=random.Random(seed),
        temperature_c=temp,
        trials=trials,
    )
    data: dict[str, Any] = plan.to_json()
    if chart is not None:
        chart.write_text(soc_chart_svg(plan), encoding="utf-8")
        data["chart"] = str(chart)
    Out(as_json).emit(data, _plan_human(plan))
    if plan.status != "ok":
        sys.exit(1)
