"""Inline SVG charts for the run report, drawn here so the report needs nothing from a network.

Two kinds are enough: a line chart (records confirmed over time against what CSM's limits
allow, and the rate) and a stacked histogram (task durations). Both have axes with "nice"
ticks, gridlines, axis labels, a legend, and an SVG ``<title>`` for screen readers. The
functions are pure: numbers in, markup out (every text escaped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

FONT = "font-family:inherit"
#: Steps for a time axis, in seconds (1 s ... 1 day).
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 86400)


@dataclass(frozen=True)
class Series:
    """One line of a line chart."""

    name: str
    points: Sequence[tuple[float, float]]
    color: str
    dashed: bool = False
    area: bool = False  # fill under the line (the main series)


@dataclass(frozen=True)
class Frame:
    """The plot area inside the SVG, and the data ranges mapped onto it."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x_max: float
    y_max: float

    def x(self, value: float) -> float:
        """Data x to SVG x."""
        span = self.width - self.left - self.right
        return round(self.left + span * (value / self.x_max if self.x_max else 0), 1)

    def y(self, value: float) -> float:
        """Data y to SVG y."""
        span = self.height - self.top - self.bottom
        return round(
            self.height - self.bottom - span * (value / self.y_max if self.y_max else 0), 1
        )


def nice_step(span: float, count: int = 5) -> float:
    """A step of 1, 2 or 5 times a power of ten giving about ``count`` intervals over ``span``."""
    raw = span / max(count, 1) if math.isfinite(span) else 0.0
    if raw <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * power:
            return multiple * power
    return 10 * power  # pragma: no cover - the loop always returns


def _round(value: float, step: float) -> float:
    """``value`` without the float noise of multiplying ``step`` (keeps its significant digits)."""
    return round(value, max(0, 2 - math.floor(math.log10(step))))


def ticks(top: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Ticks from 0 to at least ``top`` (the last tick is the axis' end)."""
    step = nice_step(top, count)
    if integer:
        step = max(1.0, math.ceil(step))
    n = max(1, math.ceil(top / step - 1e-9))
    return [_round(i * step, step) for i in range(n + 1)]


def time_ticks(top: float, count: int = 6) -> list[float]:
    """Ticks for seconds that fall on whole seconds, minutes, hours or days."""
    if top <= 5:
        return ticks(top, count)
    step = next((s for s in TIME_STEPS if top / s <= count), None)
    if step is None:  # more than ``count`` days: whole days, 1, 2 or 5 times a power of ten
        step = nice_step(top / 86400, count) * 86400
    n = max(1, math.ceil(top / step - 1e-9))
    return [float(i * step) for i in range(n + 1)]


def number_label(value: float) -> str:
    """A tick label: 1,200 / 2.5 / 12k / 3.4M."""
    if abs(value) >= 1_000_000:
        return f"{value / 1_000_000:g}M"
    if abs(value) >= 10_000:
        return f"{value / 1000:g}k"
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.3g}"


def time_label(seconds: float) -> str:
    """A time tick label: 45 s, 2:30, 1:05:00."""
    if seconds < 60:
        return f"{seconds:g} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def downsample(
    points: Sequence[tuple[float, float]], limit: int = 600
) -> list[tuple[float, float]]:
    """At most ``limit`` points, evenly taken, always keeping the first and the last."""
    if len(points) <= limit:
        return list(points)
    step = (len(points) - 1) / (limit - 1)
    return [points[round(i * step)] for i in range(limit)]


def _svg_open(width: int, height: int, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}" '
        'class="chart">',
        f"<title>{escape(label)}</title>",
    ]


def _axes(
    frame: Frame,
    *,
    x_ticks: Sequence[float],
    y_ticks: Sequence[float],
    x_label: str,
    y_label: str,
    x_format: Callable[[float], str],
) -> list[str]:
    """Gridlines, tick labels and axis titles."""
    out = ['<g class="grid">']
    for value in y_ticks:
        y = frame.y(value)
        out.append(
            f'<line x1="{frame.left}" y1="{y}" x2="{frame.width - frame.right}" y2="{y}" '
            'stroke="#e5e7eb" stroke-width="1"/>'
        )
        out.append(
            f'<text x="{frame.left - 8}" y="{y + 4}" text-anchor="end" fill="#6b7280" '
            f'font-size="12">{escape(number_label(value))}</text>'
        )
    base = frame.height - frame.bottom
    for value in x_ticks:
        x = frame.x(value)
        out.append(f'<line x1="{x}" y1="{base}" x2="{x}" y2="{base + 5}" stroke="#9ca3af"/>')
        out.append(
            f'<text x="{x}" y="{base + 19}" text-anchor="middle" fill="#6b7280" '
            f'font-size="12">{escape(x_format(value))}</text>'
        )
    out.append(
        f'<line x1="{frame.left}" y1="{base}" x2="{frame.width - frame.right}" y2="{base}" '
        'stroke="#9ca3af" stroke-width="1"/>'
    )
    out.append("</g>")
    middle_x = (frame.left + frame.width - frame.right) / 2
    out.append(
        f'<text x="{middle_x}" y="{frame.height - 6}" text-anchor="middle" fill="#374151" '
        f'font-size="12.5">{escape(x_label)}</text>'
    )
    middle_y = (frame.top + frame.height - frame.bottom) / 2
    out.append(
        f'<text x="14" y="{middle_y}" text-anchor="middle" fill="#374151" font-size="12.5" '
        f'transform="rotate(-90 14 {middle_y})">{escape(y_label)}</text>'
    )
    return out


def _legend(
    frame: Frame, entries: Sequence[tuple[str, str, bool]], *, boxes: bool = False
) -> list[str]:
    """Legend entries (name, colour, dashed) in a row above the plot, from the left."""
    out = ['<g class="legend">']
    x = frame.left
    for name, color, dashed in entries:
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        if boxes:
            out.append(f'<rect x="{x + 6}" y="8" width="12" height="12" rx="2" fill="{color}"/>')
        else:
            out.append(
                f'<line x1="{x}" y1="14" x2="{x + 22}" y2="14" stroke="{color}" '
                f'stroke-width="3"{dash}/>'
            )
        out.append(
            f'<text x="{x + 28}" y="18" fill="#374151" font-size="12.5">{escape(name)}</text>'
        )
        x += 40 + int(len(name) * 7.2)
    out.append("</g>")
    return out


def line_chart(
    series: Sequence[Series],
    *,
    label: str,
    x_label: str,
    y_label: str,
    width: int = 1040,
    height: int = 300,
    time_axis: bool = True,
) -> str:
    """A line chart of ``series`` on shared axes from 0; empty series are left out."""
    drawn = [s for s in series if s.points]
    x_top = max((x for s in drawn for x, _ in s.points), default=0.0) or 1.0
    y_top = max((y for s in drawn for _, y in s.points), default=0.0) or 1.0
    x_ticks = time_ticks(x_top) if time_axis else ticks(x_top)
    y_ticks = ticks(y_top)
    frame = Frame(width, height, 64, 20, 34, 44, x_ticks[-1], y_ticks[-1])
    x_format = time_label if time_axis else number_label
    out = _svg_open(width, height, label)
    out += _axes(
        frame, x_ticks=x_ticks, y_ticks=y_ticks, x_label=x_label, y_label=y_label, x_format=x_format
    )
    for s in drawn:
        points = downsample(s.points)
        path = " ".join(f"{frame.x(x)},{frame.y(y)}" for x, y in points)
        if s.area and len(points) > 1:
            base = frame.y(0)
            area = f"{frame.x(points[0][0])},{base} {path} {frame.x(points[-1][0])},{base}"
            out.append(f'<polygon points="{area}" fill="{s.color}" fill-opacity="0.10"/>')
        dash = ' stroke-dasharray="6 4"' if s.dashed else ""
        out.append(
            f'<polyline points="{path}" fill="none" stroke="{s.color}" stroke-width="2.5" '
            f'stroke-linejoin="round" stroke-linecap="round"{dash}/>'
        )
        if len(points) == 1:  # one sample: a line needs two points, show a dot
            x, y = points[0]
            out.append(f'<circle cx="{frame.x(x)}" cy="{frame.y(y)}" r="4" fill="{s.color}"/>')
    out += _legend(frame, [(s.name, s.color, s.dashed) for s in drawn])
    out.append("</svg>")
    return "\n".join(out)


def bins(values: Sequence[float], count: int = 16) -> tuple[float, int]:
    """Bin width and number of bins covering ``values`` from 0 (nice widths)."""
    top = max(values, default=0.0)
    if top <= 0:
        return 1.0, 1
    width = nice_step(max(top, 0.001), count)  # durations are measured to the millisecond
    return width, max(1, math.floor(top / width) + 1)


def histogram(
    groups: dict[str, Sequence[float]],
    colors: dict[str, str],
    *,
    label: str,
    x_label: str,
    y_label: str,
    width: int = 1040,
    height: int = 280,
) -> str:
    """Stacked histogram of the values of each group (the same bins for all groups)."""
    everything = [v for values in groups.values() for v in values]
    width_of_bin, n_bins = bins(everything)
    counts = {name: [0] * n_bins for name in groups}  # per group, per bin: values in [i*w, (i+1)*w)
    for name, values in groups.items():
        for value in values:
            counts[name][min(n_bins - 1, int(max(value, 0) // width_of_bin))] += 1
    totals = [sum(c[i] for c in counts.values()) for i in range(n_bins)]
    y_ticks = ticks(max(totals, default=0) or 1, integer=True)
    x_end = n_bins * width_of_bin
    frame = Frame(width, height, 64, 20, 34, 44, x_end, y_ticks[-1])
    x_ticks = [t for t in ticks(x_end, 8) if t <= x_end + 1e-9]
    out = _svg_open(width, height, label)
    out += _axes(
        frame,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        x_label=x_label,
        y_label=y_label,
        x_format=number_label,
    )
    for i in range(n_bins):
        stacked = 0
        x0, x1 = frame.x(i * width_of_bin), frame.x((i + 1) * width_of_bin)
        for name in groups:
            n = counts[name][i]
            if not n:
                continue
            top, bottom = frame.y(stacked + n), frame.y(stacked)
            stacked += n
            low, high = i * width_of_bin, (i + 1) * width_of_bin
            out.append(
                f'<rect x="{x0 + 1}" y="{top}" width="{max(x1 - x0 - 2, 1)}" '
                f'height="{round(bottom - top, 1)}" fill="{colors.get(name, "#64748b")}" rx="2">'
                f"<title>{escape(name)}: {n} task(s) of {number_label(low)}-"
                f"{number_label(high)} s</title></rect>"
            )
    legend = [(name, colors.get(name, "#64748b"), False) for name in groups]
    out += _legend(frame, legend, boxes=True)
    out.append("</svg>")
    return "\n".join(out)


def stacked_bar(parts: Sequence[tuple[str, float, str]], *, label: str, width: int = 320) -> str:
    """One horizontal bar split into (name, value, colour) parts: an entity's outcomes."""
    total = sum(v for _, v, _ in parts)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} 14" width="{width}" '
        f'height="14" role="img" aria-label="{escape(label)}" class="bar">',
        f"<title>{escape(label)}</title>",
        f'<rect x="0" y="0" width="{width}" height="14" rx="3" fill="#f1f5f9"/>',
    ]
    x = 0.0
    for name, value, color in parts:
        if value <= 0 or total <= 0:
            continue
        w = width * value / total
        out.append(
            f'<rect x="{round(x, 1)}" y="0" width="{round(w, 1)}" height="14" fill="{color}">'
            f"<title>{escape(name)}: {number_label(value)}</title></rect>"
        )
        x += w
    out.append("</svg>")
    return "".join(out)
