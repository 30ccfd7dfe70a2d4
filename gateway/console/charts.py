"""The dashboard's charts, drawn on the server as inline SVG and HTML: no JavaScript, no
chart library, fast on an old office PC, and they print."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from markupsafe import Markup, escape

from gateway.console import translate
from gateway.console.formatting import number

Series = dict[str, dict[dt.date, int]]  # category -> day -> count

# Message statuses are a fixed vocabulary (storage/vocab.py): each keeps its meaning's colour.
STATUS_COLOURS = {
    "delivered": "#1b7f3b",
    "sent": "#6cbf84",
    "queued": "#9aa5b1",
    "sending": "#c9d1d9",
    "failed": "#c0392b",
    "cancelled": "#6b4f2a",
}
# Other categories (USSD journeys) take colours by position, so a new one needs no code.
PALETTE = ("#1f5f99", "#b35c00", "#1b7f3b", "#7a3e9d", "#6b7280", "#0e7c86", "#a8326e", "#8a6d00")
NONE_COLOUR = "#c9d1d9"  # "None": no category (a USSD session left at the main menu)


def colours_by_position(names: list[str]) -> dict[str, str]:
    """The palette's colours in order (again from the start after the last), then "None"."""
    colours = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    colours["None"] = NONE_COLOUR
    return colours


def pivot(counts: dict[tuple[dt.date, str], int]) -> Series:
    series: Series = defaultdict(dict)
    for (day, category), n in counts.items():
        series[category][day] = n
    return series


def bar_chart(days: list[dt.date], series: Series, colours: dict[str, str]) -> Markup:
    """A stacked bar per day, the categories in the order of ``colours``, with a legend (one
    category a row, so its words have room at any text size: on a phone the stylesheet makes
    the chart's text larger, since the drawing shrinks to the screen)."""
    width, height, bar = 560, 160, 28
    totals = [sum(s.get(d, 0) for s in series.values()) for d in days]
    if not any(totals):
        return Markup(f'<p class="muted">{escape(translate("No data yet."))}</p>')
    top = max([*totals, 1])
    shown = [name for name in colours if name in series]
    row = 24  # a legend row, in the drawing's units
    legend_top = height + 30
    parts = [
        f'<svg viewBox="0 0 {width} {legend_top + row * len(shown)}" role="img" class="chart">'
    ]
    for i, day in enumerate(days):
        x, y = 10 + i * (bar + 11), float(height)
        for name in colours:
            n = series.get(name, {}).get(day, 0)
            if not n:
                continue
            h = n / top * (height - 24)  # room above the tallest bar for its total
            y -= h
            parts.append(
                f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                f'fill="{colours[name]}"><title>{day:%d %b} {escape(translate(name))}: '
                f"{number(n)}</title></rect>"
            )
        parts.append(
            f'<text x="{x + bar / 2}" y="{height + 18}" text-anchor="middle">{day:%d}</text>'
        )
        if totals[i]:
            parts.append(
                f'<text x="{x + bar / 2}" y="{y - 3:.1f}" text-anchor="middle" '
                f'class="total">{number(totals[i])}</text>'
            )
    for i, name in enumerate(shown):
        y = legend_top + i * row
        parts.append(
            f'<rect x="10" y="{y}" width="10" height="10" fill="{colours[name]}"/>'
            f'<text x="28" y="{y + 10}" class="legend">{escape(translate(name))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def hbar_chart(values: dict[str, int]) -> Markup:
    """Horizontal bars, longest first: a table, so a screen reader reads it as one."""
    if not values:
        return Markup(f"<p>{escape(translate('No open bookings.'))}</p>")
    top = max(values.values())
    rows = "".join(
        f'<tr><th scope="row">{escape(name)}</th><td><svg class="hbar" aria-hidden="true" '
        f'width="{max(2, round(n / top * 80))}%" height="14"><rect width="100%" height="100%"/>'
        f"</svg> {number(n)}</td></tr>"
        for name, n in sorted(values.items(), key=lambda kv: -kv[1])
    )
    return Markup(f'<table class="hbars">{rows}</table>')


@dataclass(frozen=True)
class FunnelStep:
    step: int  # 1: the first screen after the main menu
    screens: tuple[str, ...]  # the screens at this step (screens.toml names)
    reached: int  # callers who got at least this far
    hung_up: int  # callers whose session ended here without finishing


def funnel_chart(title: str, steps: list[FunnelStep]) -> Markup:
    """One journey's funnel: a bar per step as wide as the callers who reached it, its
    hang-ups at the end in red, the numbers written beside it."""
    if not steps or not steps[0].reached:
        return Markup("")
    width, row, label = 560, 22, 90
    top = steps[0].reached
    height = row * len(steps) + 24
    parts = [
        f'<svg viewBox="0 0 {width} {height}" role="img" class="chart funnel">'
        f"<title>{escape(title)}</title>"
        f'<text x="0" y="14" class="total">{escape(title)}</text>'
    ]
    scale = (width - label - 150) / top
    for i, s in enumerate(steps):
        y = 22 + i * row
        w = max(1.0, s.reached * scale)
        gone = s.hung_up * scale
        step_text = translate("Step {n}", n=s.step)
        said = translate(
            "{reached} reached, {hung_up} hung up", reached=s.reached, hung_up=s.hung_up
        )
        parts.append(
            f'<text x="0" y="{y + 13}">{escape(step_text)}</text>'
            f'<rect x="{label}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[0]}">'
            f"<title>{escape(', '.join(s.screens))}</title></rect>"
            f'<rect x="{label + w - gone:.1f}" y="{y}" width="{gone:.1f}" height="{row - 6}" '
            f'fill="{STATUS_COLOURS["failed"]}"/>'
            f'<text x="{label + w + 6:.1f}" y="{y + 13}">{escape(said)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
