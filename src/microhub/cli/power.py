"""``power plan``, ``power watch`` and ``power loadtest``: the battery kit, before and during."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import random
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from microhub.cli.common import EXIT_CHECK_FAILED, Out, fail
from microhub.errors import MicrohubError, ValidationError
from microhub.power.chart import soc_chart_svg
from microhub.power.estimator import Estimate, Estimator
from microhub.power.kit import parse_clock
from microhub.power.kitfile import load_kit
from microhub.power.loadtest import summarize
from microhub.power.plan import DEFAULT_TRIALS, Plan, plan_event
from microhub.power.reading import Reading
from microhub.power.sources import (
    Problem,
    SourceOptions,
    TelemetryUnavailable,
    display_url,
    open_source,
)
from microhub.power.watcher import Status, collect, watch
from microhub.settings import SETTINGS_FILE, resolve_data_dir

__all__ = ["power"]

P = ParamSpec("P")
R = TypeVar("R")

stderr = Console(stderr=True, highlight=False)


def _fail(error: MicrohubError, as_json: bool) -> NoReturn:
    """A telemetry source that cannot be read is a failed check (exit 1), not bad input."""
    exit_code = EXIT_CHECK_FAILED if isinstance(error, TelemetryUnavailable) else None
    fail(error, as_json=as_json, exit_code=exit_code)


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
            c.print(
                f"[bold]shed to make it[/] (lowest priority first): {escape(', '.join(plan.shed))}"
            )
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
        try:
            chart.write_text(soc_chart_svg(plan), encoding="utf-8")
        except OSError as exc:
            raise ValidationError(
                f"cannot write the chart to {chart}: {exc.strerror}",
                field="chart",
                value=str(chart),
            ) from exc
        data["chart"] = str(chart)
    Out(as_json).emit(data, _plan_human(plan))
    if plan.status != "ok":
        sys.exit(1)


def _event_window(start: str | None, end: str) -> tuple[float, float, int]:
    """(start, end) as epoch seconds, and the start's clock minutes: the event started at the
    last ``start`` (or now) and ends at the next ``end``."""
    now = datetime.now().astimezone()
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    end_min = parse_clock(end, field="end")
    end_at = midnight + timedelta(minutes=end_min)
    if end_at <= now:
        end_at += timedelta(days=1)
    if start is None:
        start_at = now
    else:
        start_at = midnight + timedelta(minutes=parse_clock(start, field="start"))
        if start_at > now:
            start_at -= timedelta(days=1)
        if end_at - start_at > timedelta(days=1):
            start_at += timedelta(days=1)
    clock = start_at.hour * 60 + start_at.minute
    return start_at.timestamp(), end_at.timestamp(), clock


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%H:%M:%S")


def _reading_line(r: Reading) -> str:
    parts = [_when(r.at)]
    if r.soc is not None:
        parts.append(f"{r.soc:.1f} %")
    if r.watts is not None:
        parts.append(f"{r.watts:.0f} W ({r.side})")
    if r.volts is not None:
        parts.append(f"{r.volts:.2f} V")
    if r.runtime_s is not None:
        parts.append(f"device says {r.runtime_s / 60:.0f} min")
    if r.status:
        parts.append(r.status)
    line = "  ".join(parts)
    if r.rejected:
        line += f"  [rejected: {'; '.join(r.rejected)}]"
    return line


def _estimate_line(e: Estimate) -> str:
    line = (
        f"  → {e.remaining_wh:.0f} Wh left of {e.capacity_wh:.0f} Wh learned, "
        f"load {e.load_w:.0f} W (plan {e.planned_w:.0f} W), empty in "
        f"{_fmt_minutes(e.time_to_empty_s / 60)} (P90 {_fmt_minutes(e.time_to_empty_p90_s / 60)}), "
        f"margin {_fmt_minutes(e.margin_s / 60)}"
    )
    if e.device_disagrees:
        line += " [device time-to-go disagrees]"
    if e.alert is not None:
        a = e.alert
        line += (
            f"\n  [bold red]ALERT[/]: runs out about {_fmt_minutes(a.shortfall_s / 60)} before "
            f"the event ends; shed: {escape(', '.join(a.shed)) or 'nothing sheddable'}"
            + ("" if a.makes_it_after_shedding else " (still short: add capacity)")
        )
    return line


async def _watch(
    source: str,
    *,
    once: bool,
    as_json: bool,
    options: SourceOptions,
    estimator: Estimator | None,
    console: Console,
) -> None:
    if once:
        src = open_source(source, options=options)
        events = src.events()
        try:
            async for event in events:
                if isinstance(event, Problem):
                    if not as_json:
                        stderr.print(f"[yellow]{event.kind}[/]: {escape(event.message)}")
                    continue
                data: dict[str, Any] = {"reading": event.to_json()}
                estimate = estimator.update(event) if estimator else None
                if estimate is not None:
                    data["estimate"] = estimate.to_json()
                if as_json:
                    sys.stdout.write(json.dumps(data) + "\n")
                else:
                    console.print(escape(_reading_line(event)), highlight=False)
                    if estimate is not None:
                        console.print(_estimate_line(estimate), highlight=False)
                return
        finally:
            await events.aclose()  # type: ignore[attr-defined]
        return
    stop = asyncio.Event()
    async for item in watch(source, stop=stop, options=options):
        if isinstance(item, Reading):
            data = {"reading": item.to_json()}
            estimate = estimator.update(item) if estimator else None
            if estimate is not None:
                data["estimate"] = estimate.to_json()
            if as_json:
                sys.stdout.write(json.dumps(data) + "\n")
                sys.stdout.flush()
            else:
                console.print(escape(_reading_line(item)), highlight=False)
                if estimate is not None:
                    console.print(_estimate_line(estimate))
        elif as_json:
            sys.stdout.write(json.dumps(item.to_json()) + "\n")
            sys.stdout.flush()
        elif isinstance(item, Status):
            colour = {"lost": "red", "receiving": "green"}.get(item.kind, "dim")
            extra = f" (retry {item.attempt} in {item.retry_in_s:.1f} s)" if item.retry_in_s else ""
            stderr.print(f"[{colour}]{item.kind}[/]: {escape(item.message)}{extra}")
        else:
            stderr.print(f"[yellow]{item.kind}[/]: {escape(item.message)}")


_SOURCE_HELP = (
    "nut://HOST:PORT/UPS, vedirect:/dev/ttyX, mqtt://HOST:PORT/venus/PORTAL_ID "
    "or mqtt://HOST:PORT/json/TOPIC"
)


@power.command("watch")
@click.option("--source", required=True, metavar="URL", help=_SOURCE_HELP)
@click.option("--once", is_flag=True, help="Print the first reading and exit (exit 1 if none).")
@click.option(
    "--kit",
    "kit_file",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Kit file: adds the live estimate and alerts (needs --end).",
)
@click.option(
    "--start", default=None, metavar="HH:MM", help="When the event started [default: now]."
)
@click.option("--end", default=None, metavar="HH:MM", help="When the event ends.")
@click.option(
    "--temp", type=float, default=None, metavar="C", help="Battery temperature override (°C)."
)
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds of silence before the source counts as lost.",
)
@click.option(
    "--poll", type=float, default=2.0, show_default=True, help="Seconds between polls (NUT)."
)
@plain_command
def watch_cmd(
    source: str,
    once: bool,
    kit_file: Path | None,
    start: str | None,
    end: str | None,
    temp: float | None,
    timeout: float,
    poll: float,
    as_json: bool,
) -> None:
    """Print readings from a telemetry source; with --kit and --end, the live estimate too.

    Reconnects with backoff when the source goes away and says what happened (on stderr, or as
    JSON lines with --json). Sentinel values (runtime 65535, 0 at low load, "---") are shown
    as rejected, never as data. Stop with Ctrl-C. Under ``microhub serve`` the hub records
    readings as telemetry events instead.
    """
    estimator = None
    if kit_file is not None:
        if end is None:
            raise click.UsageError("--kit needs --end (when the event ends)")
        kit = load_kit(kit_file)
        s, e, clock = _event_window(start, end)
        estimator = Estimator.for_kit(kit, start=s, end=e, temperature_c=temp, start_clock=clock)
    options = SourceOptions(poll_s=poll, timeout_s=timeout)
    console = Console(highlight=False, soft_wrap=True)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(
            _watch(
                source,
                once=once,
                as_json=as_json,
                options=options,
                estimator=estimator,
                console=console,
            )
        )


def _store_loadtest(data_dir: Path, result: dict[str, Any]) -> dict[str, Any]:
    if not (data_dir / SETTINGS_FILE).exists():
        return {"stored": False, "reason": f"no hub in {data_dir}"}
    from microhub.bootstrap import open_hub
    from microhub.services.power import record_loadtest

    hub = open_hub(data_dir)
    try:
        event = record_loadtest(hub, result=result)
    finally:
        hub.close()
    return {"stored": True, "event_id": event.event_id, "hub_seq": event.hub_seq}


def _loadtest_human(result: dict[str, Any], stored: dict[str, Any]) -> Callable[[Console], None]:
    def human(c: Console) -> None:
        c.print(
            f"[bold]load test[/] of {escape(result['kit'])} on {escape(result['source'])}: "
            f"{result['samples']} "
            f"readings over {result['duration_s']:.0f} s"
        )
        c.print(
            f"draw: measured {result['measured_w']:.0f} W vs expected {result['expected_w']:.0f} W "
            f"at the batteries (×{result['draw_ratio']:.2f})"
        )
        if result["capacity_wh"] is not None:
            c.print(
                f"capacity learned from the charge used: {result['capacity_wh']:.0f} Wh at 100 %"
            )
        c.print(
            f"runtime at peak: projected {_fmt_minutes(result['projected_runtime_minutes'])} vs "
            f"expected {_fmt_minutes(result['expected_runtime_minutes'])} "
            f"(battery runtime vs expected draw: ×{result['runtime_ratio']:.2f})"
        )
        if stored["stored"]:
            c.print(f"stored as outbox event {stored['hub_seq']} (telemetry lane)")
        else:
            c.print(f"not stored: {stored['reason']}")

    return human


@power.command("loadtest")
@click.option("--source", required=True, metavar="URL", help=_SOURCE_HELP)
@click.option(
    "--kit",
    "kit_file",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="The kit file.",
)
@click.option(
    "--minutes",
    type=click.FloatRange(min=0.05),
    required=True,
    help="How long to record (fractions allowed).",
)
@click.option(
    "--temp", type=float, default=None, metavar="C", help="Battery temperature override (°C)."
)
@click.option(
    "--timeout",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds of silence before the source counts as lost.",
)
@click.option(
    "--poll", type=float, default=2.0, show_default=True, help="Seconds between polls (NUT)."
)
@click.option(
    "--data",
    "data",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    envvar="MICROHUB_DATA",
    help="The hub's data folder: the result is stored there when a hub exists.",
)
@plain_command
def loadtest_cmd(
    source: str,
    kit_file: Path,
    minutes: float,
    temp: float | None,
    timeout: float,
    poll: float,
    data: Path | None,
    as_json: bool,
) -> None:
    """Switch on the full peak load, then run this: measured vs expected draw and runtime.

    Records the discharge for --minutes, reports the measured draw against the kit's peak
    draw and the runtime projected from it (the "battery runtime vs expected draw" KPI), and
    stores the result as a telemetry event when a hub data folder exists. Exit 1 when the
    source gave too few readings.
    """
    kit = load_kit(kit_file)
    if not as_json:
        stderr.print(
            f"recording {minutes:g} min from {display_url(source)}: switch on the full peak load "
            f"({kit.peak_watts:.0f} W) now"
        )
    options = SourceOptions(poll_s=poll, timeout_s=timeout)
    readings, notices = asyncio.run(collect(source, seconds=minutes * 60, options=options))
    lost = [n for n in notices if isinstance(n, Status) and n.kind == "lost"]
    try:
        summary = summarize(kit, readings, source=display_url(source), temperature_c=temp)
    except MicrohubError as error:
        if lost:
            raise TelemetryUnavailable(
                f"load test got too few readings: {lost[-1].message}"
            ) from error
        raise TelemetryUnavailable(error.message) from error
    result = summary.to_json()
    result["problems"] = [
        n.to_json() for n in notices if not (isinstance(n, Status) and n.kind != "lost")
    ]
    stored = _store_loadtest(resolve_data_dir(data), result)
    Out(as_json).emit({**result, **stored}, _loadtest_human(result, stored))
