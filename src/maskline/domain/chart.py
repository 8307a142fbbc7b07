"""An inline SVG line chart of time series (a pool's live sessions and Δ, say), for a page to
put as it is: accessible (``role="img"``, labelled by its ``<title>`` and ``<desc>``), its text
escaped, with a fixed ``viewBox`` that scales to the width it is given (a phone's, too).

Pure: text in, text out. Lines differ by dash as well as by colour, so that they can be told
apart without colour; the legend names them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

WIDTH, HEIGHT = 640, 300
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 56  # margins: tick labels left, time labels and legend below
STYLES = (("#1f6feb", ""), ("#d1242f", "6 4"), ("#1a7f37", "2 3"), ("#8250df", "10 3 2 3"))
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    points: Sequence[tuple[int, float]]  # (epoch seconds, value)


def _text(value: str) -> str:
    """``value`` as XML character data or an attribute value: characters XML cannot hold
    dropped, the rest escaped."""
    return escape(_NOT_XML.sub("", value), quote=True)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _tick_step(top: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) giving at most ``ticks`` steps up to ``top``."""
    raw = top / ticks
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power  # not reached: 10 × power ≥ raw by the choice of power


def _time_label(epoch: int, span: int) -> str:
    try:
        moment = datetime.fromtimestamp(epoch, UTC)
    except (OverflowError, OSError, ValueError):
        return str(epoch)
    return moment.strftime("%d %b %H:%M" if span < 5 * 86400 else "%d %b")


def line_chart(chart_id: str, title: str, description: str, lines: Sequence[Line]) -> str:
    """The chart of ``lines`` as an ``<svg>`` element. ``chart_id`` makes the ids of its title
    and description (keep it unique on the page); values that are not finite, or negative,
    are left out; with no point at all, the axes say so."""
    prefix = _NOT_ID.sub("", chart_id) or "chart"
    if not prefix[0].isalpha():
        prefix = "c" + prefix
    kept = [
        (line.label, sorted((int(t), float(v)) for t, v in line.points if math.isfinite(v) and v >= 0))
        for line in lines
    ]
    times = [t for _, points in kept for t, _ in points]
    values = [v for _, points in kept for _, v in points]
    left_t, right_t = (min(times), max(times)) if times else (0, 0)
    top = max(values, default=0.0) or 1.0  # all zeros: an axis up to 1
    step = _tick_step(top)
    if not (math.isfinite(step) and step > 0):  # a top so small or large that no round step serves
        step = top
    rounded = step * math.ceil(top / step)
    top = rounded if math.isfinite(rounded) and rounded >= top else top
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = right_t - left_t

    def x(t: int) -> float:
        return LEFT + (plot_w * (t - left_t) / span if span else plot_w / 2)

    def y(v: float) -> float:
        return TOP + plot_h - plot_h * min(v / top, 1.0)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%"'
        f' preserveAspectRatio="xMidYMid meet" role="img" aria-labelledby="{prefix}-title {prefix}-desc"'
        ' font-family="sans-serif" font-size="12">',
        f'<title id="{prefix}-title">{_text(title)}</title>',
        f'<desc id="{prefix}-desc">{_text(description)}</desc>',
        f'<g stroke="#888" stroke-width="1"><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}"/>'
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{LEFT + plot_w}" y2="{TOP + plot_h}"/></g>',
    ]
    out.append('<g fill="#444" text-anchor="end">')
    count = min(round(top / step), 10)
    for i in range(count + 1):
        value = step * i
        at = y(value)
        out.append(
            f'<line x1="{LEFT}" y1="{at:.1f}" x2="{LEFT + plot_w}" y2="{at:.1f}" stroke="#ddd"/>'
            f'<text x="{LEFT - 6}" y="{at + 4:.1f}">{_text(_number(value))}</text>'
        )
    out.append("</g>")
    out.append('<g fill="#444" text-anchor="middle">')
    if times:
        marks = sorted({left_t + span * i // 3 for i in range(4)}) if span else [left_t]
        for t in marks:
            out.append(f'<text x="{x(t):.1f}" y="{TOP + plot_h + 18}">{_text(_time_label(t, span))}</text>')
    else:
        out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{TOP + plot_h / 2:.0f}">No data</text>')
    out.append("</g>")
    for index, (label, points) in enumerate(kept):
        colour, dash = STYLES[index % len(STYLES)]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        if points:
            path = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2"{dashes} points="{path}"/>')
        legend_x = LEFT + index * (plot_w // max(len(kept), 1))
        legend_y = HEIGHT - 12
        out.append(
            f'<line x1="{legend_x}" y1="{legend_y - 4}" x2="{legend_x + 24}" y2="{legend_y - 4}"'
            f' stroke="{colour}" stroke-width="2"{dashes}/>'
            f'<text x="{legend_x + 30}" y="{legend_y}" fill="#222">{_text(label)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
