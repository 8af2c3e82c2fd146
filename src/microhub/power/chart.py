"""The expected state-of-charge chart, as SVG text written by hand (no plotting dependency).

The chart shows the expected charge left (% of usable energy) over the event, the conservative
(P90) and optimistic (P10) band from the Monte Carlo, the event's end, and the usable floor.
"""

from __future__ import annotations

from collections.abc import Sequence
from xml.sax.saxutils import escape

from microhub.power.plan import Plan

__all__ = ["soc_chart_svg"]

WIDTH, HEIGHT = 720, 360
LEFT, RIGHT, TOP, BOTTOM = 56, 24, 40, 48


def _x(minute: float, minutes: int) -> float:
    return LEFT + (WIDTH - LEFT - RIGHT) * minute / minutes


def _y(percent: float) -> float:
    return TOP + (HEIGHT - TOP - BOTTOM) * (1.0 - max(0.0, min(100.0, percent)) / 100.0)


def _points(values: Sequence[float], minutes: int) -> list[tuple[float, float]]:
    return [(_x(0, minutes), _y(100.0))] + [
        (_x(m + 1, minutes), _y(v)) for m, v in enumerate(values)
    ]


def _path(points: Sequence[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def soc_chart_svg(plan: Plan) -> str:
    """An SVG document of ``plan``'s expected state of charge over the event."""
    minutes = plan.minutes
    expected = _points(plan.soc_expected, minutes)
    high = _points(plan.soc_p10, minutes)
    low = _points(plan.soc_p90, minutes)
    band = _path(high + list(reversed(low)))

    def clock(offset: int) -> str:
        t = (plan.start + offset) % 1440
        return f"{t // 60:02d}:{t % 60:02d}"

    title = (
        f"{plan.kit.name}: expected charge {clock(0)}–{clock(minutes)} · runtime P90 "
        f"{plan.runtime_p90 / 60:.1f} h, P50 {plan.runtime_p50 / 60:.1f} h · {plan.status}"
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14">{escape(title)}</text>',
    ]
    for percent in (0, 25, 50, 75, 100):
        y = _y(percent)
        parts.append(
            f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{percent} %</text>')
    step = 60 if minutes <= 12 * 60 else 120
    for offset in range(0, minutes + 1, step):
        x = _x(offset, minutes)
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
            f"{clock(offset)}</text>"
        )
    parts += [
        f'<polygon class="band" points="{band}" fill="#9ecae1" fill-opacity="0.5" stroke="none">'
        "<title>P10–P90 band</title></polygon>",
        f'<polyline class="expected" points="{_path(expected)}" fill="none" stroke="#08519c" '
        'stroke-width="2"><title>expected charge</title></polyline>',
        f'<line class="end" x1="{_x(minutes, minutes):.1f}" y1="{TOP}" '
        f'x2="{_x(minutes, minutes):.1f}" y2="{HEIGHT - BOTTOM}" stroke="#cb181d" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{_x(minutes, minutes) - 4:.1f}" y="{TOP + 12}" text-anchor="end" '
        'fill="#cb181d">event end</text>',
        f'<text x="{LEFT}" y="{HEIGHT - 8}">charge left, % of usable energy '
        f"({plan.energy.battery_wh:.0f} Wh at the batteries)</text>",
        "</svg>",
    ]
    return "\n".join(parts) + "\n"
