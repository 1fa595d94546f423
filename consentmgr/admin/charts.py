"""Server-rendered SVG charts that need no JavaScript and read well to everyone.

Each chart is an ``<svg role="img">`` labelled by its own ``<title>`` and a
``<desc>`` that states the main facts in words, so a screen reader announces
one meaningful image instead of hundreds of rectangles. The page puts a data
table with every value next to each chart, and an HTML legend; series differ
in shape or dash as well as colour, and every colour has at least 3:1 contrast
with the white background (WCAG 1.4.1, 1.4.11).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 12, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
MAX_X_LABELS = 8
DASHES = ("", "6 3", "2 3", "8 3 2 3")
MARKERS = ("circle", "square", "diamond", "triangle")


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | None]
    colour: str


def nice_max(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten at or above ``value`` (1 for nothing)."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def count_ticks(value: float, steps: int = 4) -> list[int]:
    """Gridline values for counts up to ``value``: whole numbers, at most ``steps`` + 1 lines.

    The step is 1, 2, 2.5 or 5 times a power of ten, never a fraction (there
    are no half decisions), and the top is the first multiple of it at or above
    ``value``: 0, 1, 2, 3 for 3; 0, 20, 40, 60 for 50; 0, 250, ... 1000 for 990.
    """
    if value <= 0:
        return [0, 1]
    raw = value / steps
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(
        int(m * power) for m in (1, 2, 2.5, 5, 10) if m * power >= raw and m * power % 1 == 0
    )
    top = step * math.ceil(value / step)
    return list(range(0, top + 1, step))


RATE_TICKS = [0, 25, 50, 75, 100]  # percent


def _frame(chart_id: str, title: str, desc: str, body: list[str]) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}"'
        f' role="img" aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 (every value escaped above)


def _y_axis(ticks: list[int], label: str) -> list[str]:
    """Horizontal grid lines with their values, from 0 at the bottom to the last tick at the top."""
    out = []
    top = ticks[-1]
    for i, value in enumerate(ticks):
        y = TOP + PLOT_H - PLOT_H * value / top
        out.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"'
            f' class="grid{" axis" if i == 0 else ""}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="tick">'
            f"{escape(str(value) + label)}</text>"
        )
    return out


def _x_labels(labels: list[str]) -> list[str]:
    if not labels:
        return []
    step = max(1, math.ceil(len(labels) / MAX_X_LABELS))
    slot = PLOT_W / len(labels)
    return [
        f'<text x="{LEFT + slot * (i + 0.5):.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
        f"{escape(text[5:] if len(text) == 10 else text)}</text>"
        for i, text in enumerate(labels)
        if i % step == 0
    ]


def stacked_bars(
    chart_id: str, title: str, desc: str, labels: list[str], series: list[Series]
) -> Markup:
    """One bar per label, stacked by series, with a white gap between segments."""
    totals = [sum(s.values[i] or 0 for s in series) for i in range(len(labels))]
    ticks = count_ticks(max(totals, default=0))
    top = ticks[-1]
    slot = PLOT_W / max(len(labels), 1)
    bar = max(slot * 0.75, 1)
    body = _y_axis(ticks, "")
    for i in range(len(labels)):
        base = TOP + PLOT_H
        x = LEFT + slot * i + (slot - bar) / 2
        for s in series:
            h = PLOT_H * (s.values[i] or 0) / top
            if h <= 0:
                continue
            base -= h
            body.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" height="{h:.1f}"'
                f' fill="{escape(s.colour)}" class="segment"/>'
            )
    return _frame(chart_id, title, desc, body + _x_labels(labels))


def _polygon(points: list[tuple[float, float]], colour: str) -> str:
    text = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polygon points="{text}" fill="{escape(colour)}"/>'


def _marker(kind: str, x: float, y: float, colour: str) -> str:
    c = escape(colour)
    if kind == "circle":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{c}"/>'
    if kind == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{c}"/>'
    if kind == "diamond":
        return _polygon([(x, y - 4.5), (x + 4.5, y), (x, y + 4.5), (x - 4.5, y)], colour)
    return _polygon([(x, y - 4.5), (x + 4.5, y + 3.5), (x - 4.5, y + 3.5)], colour)


def rate_lines(
    chart_id: str, title: str, desc: str, labels: list[str], series: list[Series]
) -> Markup:
    """Lines of rates between 0 and 1 (shown as percent); a None value breaks the line."""
    slot = PLOT_W / max(len(labels), 1)
    body = _y_axis(RATE_TICKS, " %")
    for n, s in enumerate(series):
        dash = DASHES[n % len(DASHES)]
        runs: list[list[tuple[float, float]]] = [[]]
        for i, value in enumerate(s.values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append((LEFT + slot * (i + 0.5), TOP + PLOT_H * (1 - value)))
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        for run in runs:
            if len(run) > 1:
                points = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                body.append(
                    f'<polyline points="{points}" fill="none" stroke="{escape(s.colour)}"'
                    f' stroke-width="2"{dash_attr}/>'
                )
        if len(labels) <= 45:
            body += [
                _marker(MARKERS[n % len(MARKERS)], x, y, s.colour) for run in runs for x, y in run
            ]
    return _frame(chart_id, title, desc, body + _x_labels(labels))


def legend(series: list[Series], *, lines: bool = False) -> Markup:
    """An HTML legend whose swatches repeat each series' colour and shape or dash."""
    items = []
    for n, s in enumerate(series):
        if lines:
            dash = DASHES[n % len(DASHES)]
            dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
            swatch = (
                f'<line x1="1" x2="27" y1="8" y2="8" stroke="{escape(s.colour)}"'
                f' stroke-width="2"{dash_attr}/>'
                + _marker(MARKERS[n % len(MARKERS)], 14, 8, s.colour)
            )
        else:
            swatch = f'<rect x="6" y="1" width="14" height="14" fill="{escape(s.colour)}"/>'
        items.append(
            f'<li><svg width="28" height="16" aria-hidden="true" focusable="false">{swatch}</svg>'
            f"{escape(s.label)}</li>"
        )
    return Markup('<ul class="legend">' + "".join(items) + "</ul>")  # noqa: S704
