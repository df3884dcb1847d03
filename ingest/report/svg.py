"""Small inline-SVG chart helpers for the HTML report: no JavaScript, no network, no dependencies.

Every chart is an ``<svg data-plot="ID">`` element with a ``<title>`` (read by screen readers)
and native hover tooltips (``<title>`` inside marks), so the report is one self-contained file
that any browser opens offline and a test can check plot by plot.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

__all__ = [
    "PALETTE",
    "BoxStats",
    "bar_chart",
    "box_chart",
    "grouped_bar_chart",
    "heatmap",
    "line_chart",
    "nice_ticks",
    "rate_color",
    "stacked_share_chart",
]

# Colour-blind-safe categorical palette (Okabe-Ito, without the yellow that vanishes on white).
PALETTE = ("#0072B2", "#009E73", "#E69F00", "#D55E00", "#CC79A7", "#56B4E9", "#000000")
_AXIS = "#444"
_GRID = "#e3e3e3"
_FONT = 'font-family="system-ui, -apple-system, Segoe UI, DejaVu Sans, sans-serif"'

Formatter = Callable[[float], str]


def _pct(value: float) -> str:
    return f"{value:.0%}" if value in (0, 1) else f"{value:.1%}"


def _num(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def _attr(text: str) -> str:
    return escape(text, quote=True)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (1-2-5 steps), so axes read naturally."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / max(count, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(lo / step) * step
    ticks: list[float] = []
    value = start
    while value <= hi + step * 1e-9:
        if value >= lo - step * 1e-9:
            ticks.append(round(value, 10))
        value += step
    return ticks


# Latency ticks in units people read: seconds, minutes, hours, days.
_TIME_TICKS_S = (
    0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 43200,
    86400, 172800,
)  # fmt: skip


def _time_ticks_s(lo: float, hi: float) -> list[float]:
    """Latency ticks between lo and hi, thinned so neighbours stay at least ~2x apart."""
    ticks: list[float] = []
    for value in _TIME_TICKS_S:
        if lo <= value <= hi and (not ticks or value >= ticks[-1] * 1.9):
            ticks.append(value)
    return ticks


def rate_color(value: float | None, lo: float, hi: float) -> str:
    """Red (lo) → amber → green (hi) for a delivery or conversion rate; grey when empty."""
    if value is None or math.isnan(value):
        return "#f0f0f0"
    t = 0.0 if hi <= lo else min(max((value - lo) / (hi - lo), 0.0), 1.0)
    stops = ((0.0, (200, 54, 54)), (0.5, (240, 190, 70)), (1.0, (40, 150, 90)))
    for (t0, c0), (t1, c1) in itertools.pairwise(stops):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            r, g, b = (round(a + (b_ - a) * f) for a, b_ in zip(c0, c1, strict=True))
            return f"#{r:02x}{g:02x}{b:02x}"
    return "#28965a"


def _ink_on(fill: str) -> str:
    """Black or white text, whichever reads better on ``fill``."""
    r, g, b = (int(fill[i : i + 2], 16) for i in (1, 3, 5))
    return "#111" if 0.299 * r + 0.587 * g + 0.114 * b > 150 else "#fff"


def _open(plot_id: str, title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg data-plot="{_attr(plot_id)}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" {_FONT} '
        f'font-size="12" aria-label="{_attr(title)}">',
        f"<title>{escape(title)}</title>",
    ]


def _empty(parts: list[str], x: float, y: float, message: str) -> str:
    """The opened chart ``parts`` closed with ``message`` at (x, y) in place of a plot."""
    return "".join([*parts, f'<text x="{x}" y="{y}">{message}</text></svg>'])


def _legend(items: Sequence[tuple[str, str]], x: float, y: float) -> list[str]:
    """A horizontal legend of coloured squares, starting at (x, y)."""
    parts = []
    for label, colour in items:
        parts.append(f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16:.1f}" y="{y + 1:.1f}">{escape(label)}</text>')
        x += 28 + 7 * len(label)
    return parts


def _time_ticks(start: datetime, end: datetime) -> tuple[list[datetime], str]:
    """Tick instants and their strftime format: days for long spans, hours for short ones."""
    span = end - start
    if span > timedelta(days=2):
        step_days = max(1, math.ceil(span.days / 10))
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
        if first < start:
            first += timedelta(days=1)
        ticks = []
        while first <= end:
            ticks.append(first)
            first += timedelta(days=step_days)
        return ticks, "%a %d %b"
    step_h = next(h for h in (1, 2, 3, 6, 12, 24) if span / timedelta(hours=h) <= 12)
    first = start.replace(minute=0, second=0, microsecond=0)
    while first < start or first.hour % step_h:
        first += timedelta(hours=1)
    ticks = []
    while first <= end:
        ticks.append(first)
        first += timedelta(hours=step_h)
    return ticks, "%d %b %H:%M"


def line_chart(
    plot_id: str,
    title: str,
    series: Mapping[str, Sequence[tuple[datetime, float]]],
    *,
    y_label: str,
    y_format: Formatter = _pct,
    y_min: float | None = None,
    y_max: float | None = None,
    width: int = 1100,
    height: int = 340,
) -> str:
    """Lines over time, one per series, with a time x-axis and a legend."""
    left, right, top, bottom = 64, 20, 34, 44
    points = [p for values in series.values() for p in values]
    parts = _open(plot_id, title, width, height)
    if not points:
        return _empty(parts, left, height / 2, "No data in this period.")
    t0 = min(p[0] for p in points)
    t1 = max(p[0] for p in points)
    if t1 == t0:
        t1 = t0 + timedelta(hours=1)
    lo = min(p[1] for p in points) if y_min is None else y_min
    hi = max(p[1] for p in points) if y_max is None else y_max
    ticks = nice_ticks(lo, hi)
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(t: datetime) -> float:
        return left + (t - t0) / (t1 - t0) * plot_w

    def sy(v: float) -> float:
        return top + plot_h - (v - lo) / (hi - lo or 1) * plot_h

    for tick in ticks:
        y = sy(tick)
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(y_format(tick))}</text>"
        )
    time_ticks, fmt = _time_ticks(t0, t1)
    for instant in time_ticks:
        x = sx(instant)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{top + plot_h}" stroke="{_GRID}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="middle">'
            f"{escape(instant.strftime(fmt))}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'stroke="{_AXIS}"/>'
    )
    parts.append(
        f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 6}" text-anchor="middle">time (UTC)</text>'
    )
    legend = []
    for index, (name, values) in enumerate(series.items()):
        colour = PALETTE[index % len(PALETTE)]
        legend.append((name, colour))
        ordered = sorted(values)
        path = " ".join(f"{sx(t):.1f},{sy(v):.1f}" for t, v in ordered)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{path}">'
            f"<title>{escape(name)}</title></polyline>"
        )
        if len(ordered) <= 60:
            # Visible points only when sparse; dense hourly lines stay readable without them.
            parts.extend(
                f'<circle cx="{sx(t):.1f}" cy="{sy(v):.1f}" r="2.5" fill="{colour}">'
                f"<title>{escape(name)} · {t:%Y-%m-%d %H:%M} · {escape(y_format(v))}</title>"
                "</circle>"
                for t, v in ordered
            )
    parts.extend(_legend(legend, left, 18))
    parts.append("</svg>")
    return "".join(parts)


def heatmap(
    plot_id: str,
    title: str,
    rows: Sequence[str],
    columns: Sequence[str],
    values: Mapping[tuple[str, str], float | None],
    *,
    notes: Mapping[tuple[str, str], str] | None = None,
    value_format: Formatter = _pct,
    domain: tuple[float, float] = (0.5, 1.0),
    legend_label: str = "delivery rate",
    row_header: str = "",
    cell_w: int = 120,
    cell_h: int = 24,
    label_w: int = 300,
) -> str:
    """A rows-by-columns grid coloured by value (red low, green high), each cell labelled."""
    top = 58
    width = label_w + cell_w * len(columns) + 20
    height = top + cell_h * len(rows) + 16
    parts = _open(plot_id, title, max(width, 560), height)
    lo, hi = domain
    # Legend: a 10-step swatch strip of the colour scale with its end values.
    for step in range(10):
        v = lo + (hi - lo) * step / 9
        parts.append(
            f'<rect x="{label_w + step * 18}" y="6" width="18" height="10" '
            f'fill="{rate_color(v, lo, hi)}"/>'
        )
    parts.append(
        f'<text x="{label_w - 6}" y="15" text-anchor="end">{escape(legend_label)} '
        f"{escape(value_format(lo))}</text>"
    )
    parts.append(f'<text x="{label_w + 186}" y="15">{escape(value_format(hi))}</text>')
    parts.append(f'<text x="{label_w + 236}" y="15" fill="#777">grey: no traffic</text>')
    if row_header:
        parts.append(f'<text x="8" y="{top - 8}" font-weight="600">{escape(row_header)}</text>')
    for j, column in enumerate(columns):
        parts.append(
            f'<text x="{label_w + j * cell_w + cell_w / 2}" y="{top - 8}" text-anchor="middle" '
            f'font-weight="600">{escape(column)}</text>'
        )
    for i, row in enumerate(rows):
        y = top + i * cell_h
        parts.append(f'<text x="8" y="{y + cell_h / 2 + 4}">{escape(row)}</text>')
        for j, column in enumerate(columns):
            value = values.get((row, column))
            fill = rate_color(value, lo, hi)
            x = label_w + j * cell_w
            note = (notes or {}).get((row, column), "")
            shown = "\u2013" if value is None else value_format(value)
            tip = f"{row} · {column}: {shown}" + (f" ({note})" if note else "")
            parts.append(
                f'<rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" '
                f'fill="{fill}"><title>{escape(tip)}</title></rect>'
            )
            parts.append(
                f'<text x="{x + cell_w / 2}" y="{y + cell_h / 2 + 4}" text-anchor="middle" '
                f'fill="{_ink_on(fill)}" pointer-events="none">{escape(shown)}</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    plot_id: str,
    title: str,
    bars: Sequence[tuple[str, float]],
    *,
    x_label: str,
    value_format: Formatter = _num,
    colours: Sequence[str] | None = None,
    notes: Sequence[str] | None = None,
    width: int = 1100,
    label_w: int = 380,
    bar_h: int = 22,
) -> str:
    """Horizontal bars, largest first as given, each labelled with its value."""
    top, bottom, right = 12, 40, 90
    height = top + bar_h * len(bars) + bottom
    parts = _open(plot_id, title, width, height)
    if not bars:
        return _empty(parts, 8, top + 16, "No data in this period.")
    hi = max(v for _, v in bars) or 1.0
    ticks = nice_ticks(0, hi)
    hi = max(hi, ticks[-1])
    plot_w = width - label_w - right
    plot_bottom = top + bar_h * len(bars)
    for tick in ticks:
        x = label_w + tick / hi * plot_w
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{plot_bottom}" stroke="{_GRID}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{plot_bottom + 14}" text-anchor="middle">'
            f"{escape(value_format(tick))}</text>"
        )
    for i, (label, value) in enumerate(bars):
        y = top + i * bar_h
        colour = colours[i] if colours else PALETTE[0]
        w = value / hi * plot_w
        tip = f"{label}: {value_format(value)}" + (f" — {notes[i]}" if notes else "")
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h / 2 + 4}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{bar_h - 6}" '
            f'fill="{colour}"><title>{escape(tip)}</title></rect>'
        )
        parts.append(
            f'<text x="{label_w + w + 5:.1f}" y="{y + bar_h / 2 + 4}">'
            f"{escape(value_format(value))}</text>"
        )
    parts.append(
        f'<line x1="{label_w}" x2="{label_w}" y1="{top}" y2="{plot_bottom}" stroke="{_AXIS}"/>'
    )
    parts.append(
        f'<text x="{label_w + plot_w / 2}" y="{height - 6}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def stacked_share_chart(
    plot_id: str,
    title: str,
    rows: Sequence[tuple[str, Mapping[str, int]]],
    colours: Mapping[str, str],
    *,
    notes: Sequence[str],
    width: int = 1100,
    label_w: int = 110,
    note_w: int = 230,
    bar_h: int = 26,
) -> str:
    """One 100% bar per row, split by category in the order of ``colours`` (a legend on top),
    each segment labelled with its share when wide enough; ``notes`` right of the bars."""
    top, bottom = 40, 10
    height = top + bar_h * len(rows) + bottom
    parts = _open(plot_id, title, width, height)
    if not rows:
        return _empty(parts, 8, top + 16, "No failed messages in this period.")
    present = [c for c in colours if any(counts.get(c) for _, counts in rows)]
    parts.extend(_legend([(c, colours[c]) for c in present], label_w, 16))
    plot_w = width - label_w - note_w
    for i, ((label, counts), note) in enumerate(zip(rows, notes, strict=True)):
        y = top + i * bar_h
        total = sum(counts.values()) or 1
        parts.append(
            f'<text x="{label_w - 8}" y="{y + bar_h / 2 + 4}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
        x = float(label_w)
        for category in present:
            n = counts.get(category, 0)
            if not n:
                continue
            w = n / total * plot_w
            tip = f"{label} · {category}: {n / total:.1%} ({n:,} messages)"
            parts.append(
                f'<rect x="{x:.1f}" y="{y + 3}" width="{w:.1f}" height="{bar_h - 6}" '
                f'fill="{colours[category]}"><title>{escape(tip)}</title></rect>'
            )
            if w >= 34:
                parts.append(
                    f'<text x="{x + w / 2:.1f}" y="{y + bar_h / 2 + 4}" text-anchor="middle" '
                    f'fill="{_ink_on(colours[category])}" pointer-events="none">'
                    f"{n / total:.0%}</text>"
                )
            x += w
        parts.append(
            f'<text x="{label_w + plot_w + 10}" y="{y + bar_h / 2 + 4}">{escape(note)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def grouped_bar_chart(
    plot_id: str,
    title: str,
    categories: Sequence[str],
    groups: Sequence[str],
    values: Mapping[tuple[str, str], float],
    *,
    y_label: str,
    value_format: Formatter = _pct,
    width: int = 1100,
    height: int = 320,
) -> str:
    """Vertical bars per category, one coloured bar per group, with a legend."""
    left, right, top, bottom = 64, 16, 34, 48
    parts = _open(plot_id, title, width, height)
    if not categories or not values:
        return _empty(parts, left, height / 2, "No data in this period.")
    hi = max(values.values()) or 1.0
    ticks = nice_ticks(0, hi)
    hi = max(hi, ticks[-1])
    plot_w, plot_h = width - left - right, height - top - bottom
    base = top + plot_h
    for tick in ticks:
        y = base - tick / hi * plot_h
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{_GRID}"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(value_format(tick))}'
            "</text>"
        )
    slot = plot_w / len(categories)
    bar_w = max(2.0, (slot - 6) / max(len(groups), 1))
    for i, category in enumerate(categories):
        x0 = left + i * slot + 3
        for j, group in enumerate(groups):
            value = values.get((category, group))
            if value is None:
                continue
            h = value / hi * plot_h
            parts.append(
                f'<rect x="{x0 + j * bar_w:.1f}" y="{base - h:.1f}" width="{bar_w - 1:.1f}" '
                f'height="{h:.1f}" fill="{PALETTE[j % len(PALETTE)]}">'
                f"<title>{escape(category)} · {escape(group)}: {escape(value_format(value))}"
                "</title></rect>"
            )
        parts.append(
            f'<text x="{left + i * slot + slot / 2:.1f}" y="{base + 15}" text-anchor="middle">'
            f"{escape(category)}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{base}" y2="{base}" stroke="{_AXIS}"/>'
    )
    parts.append(
        f'<text transform="translate(14 {top + plot_h / 2}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label)}</text>"
    )
    parts.extend(_legend([(g, PALETTE[j % len(PALETTE)]) for j, g in enumerate(groups)], left, 16))
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True, slots=True)
class BoxStats:
    """Distribution summary of one group: percentiles 5, 25, 50, 75, 95 and the count."""

    label: str
    p05: float
    p25: float
    p50: float
    p75: float
    p95: float
    count: int


def _seconds(value: float) -> str:
    if value >= 86400:
        return f"{value / 86400:g} d"
    if value >= 3600:
        return f"{value / 3600:g} h"
    if value >= 60:
        return f"{value / 60:g} min"
    return f"{value:g} s"


def box_chart(
    plot_id: str,
    title: str,
    boxes: Sequence[BoxStats],
    *,
    x_label: str,
    width: int = 1100,
    label_w: int = 200,
    box_h: int = 26,
) -> str:
    """Horizontal box plots, log axis: whiskers p5 to p95, box p25 to p75, a bar at the median."""
    top, bottom, right = 30, 40, 150
    height = top + box_h * len(boxes) + bottom
    parts = _open(plot_id, title, width, height)
    values = [v for b in boxes for v in (b.p05, b.p95) if v > 0]
    if not values:
        return _empty(parts, 8, top + 16, "No delivered messages in this period.")
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    plot_w = width - label_w - right
    plot_bottom = top + box_h * len(boxes)

    def sx(v: float) -> float:
        v = max(v, lo)
        return label_w + (math.log10(v) - math.log10(lo)) / (math.log10(hi / lo) or 1) * plot_w

    for tick in _time_ticks_s(lo, hi):
        x = sx(tick)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top}" y2="{plot_bottom}" stroke="{_GRID}"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{plot_bottom + 14}" text-anchor="middle">{_seconds(tick)}</text>'
        )
    # Key: what the marks mean, once, above the plot.
    parts.append(
        f'<text x="{label_w}" y="16" fill="#555">whiskers p5\u2013p95 · box p25\u2013p75 · '
        "bar median (p50) · label: p50 / p95</text>"
    )
    for i, box in enumerate(boxes):
        y = top + i * box_h
        mid = y + box_h / 2
        colour = PALETTE[i % len(PALETTE)]
        tip = (
            f"{box.label}: p5 {box.p05:.1f}s, p25 {box.p25:.1f}s, median {box.p50:.1f}s, "
            f"p75 {box.p75:.1f}s, p95 {box.p95:.1f}s ({box.count:,} delivered)"
        )
        parts.append(
            f'<text x="{label_w - 8}" y="{mid + 4}" text-anchor="end">{escape(box.label)}</text>'
        )
        parts.append(
            f'<line x1="{sx(box.p05):.1f}" x2="{sx(box.p95):.1f}" y1="{mid}" y2="{mid}" '
            f'stroke="{colour}" stroke-width="1.5"/>'
        )
        for edge in (box.p05, box.p95):
            parts.append(
                f'<line x1="{sx(edge):.1f}" x2="{sx(edge):.1f}" y1="{mid - 6}" y2="{mid + 6}" '
                f'stroke="{colour}" stroke-width="1.5"/>'
            )
        parts.append(
            f'<rect x="{sx(box.p25):.1f}" y="{y + 6}" width="{sx(box.p75) - sx(box.p25):.1f}" '
            f'height="{box_h - 12}" fill="{colour}" fill-opacity="0.35" stroke="{colour}">'
            f"<title>{escape(tip)}</title></rect>"
        )
        parts.append(
            f'<line x1="{sx(box.p50):.1f}" x2="{sx(box.p50):.1f}" y1="{y + 4}" '
            f'y2="{y + box_h - 4}" stroke="#111" stroke-width="2.5"/>'
        )
        parts.append(
            f'<text x="{width - right + 8}" y="{mid + 4}">{box.p50:.1f} s / {box.p95:.1f} s</text>'
        )
    parts.append(
        f'<line x1="{label_w}" x2="{label_w + plot_w}" y1="{plot_bottom}" y2="{plot_bottom}" '
        f'stroke="{_AXIS}"/>'
    )
    parts.append(
        f'<text x="{label_w + plot_w / 2}" y="{height - 6}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
    )
    parts.append("</svg>")
    return "".join(parts)
