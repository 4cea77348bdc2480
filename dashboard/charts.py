"""Bar and line charts as inline SVG, drawn on the server: no JavaScript, no CDN.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and ``<desc>``
(``aria-labelledby``), with axis labels, a legend, and every bar or point carrying its
value in a ``<title>`` (the tooltip, and what a screen reader reads). The page shows the
same figures in a table beside it. Colours are the Okabe-Ito blue and orange, which
stay distinct for the common colour-vision deficiencies; they are set as attributes,
so a chart prints the same without the stylesheet.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

PALETTE: tuple[str, ...] = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9")
Formatter = Callable[[float], str]


class ChartError(ValueError):
    """The data cannot be drawn as given."""


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float]


@dataclass(frozen=True)
class Frame:
    width: int = 720
    height: int = 280
    left: int = 56
    right: int = 16
    top: int = 36
    bottom: int = 48

    @property
    def plot_w(self) -> float:
        return float(self.width - self.left - self.right)

    @property
    def plot_h(self) -> float:
        return float(self.height - self.top - self.bottom)


def nice_ticks(maximum: float, count: int = 5) -> list[float]:
    """Round tick values from 0 to at least ``maximum``: steps of 1, 2 or 5 x 10^k
    (whole numbers for counts)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(f * magnitude for f in (1, 2, 5, 10) if f * magnitude >= raw)
    step = max(step, 1.0)
    top = math.ceil(maximum / step) * step
    return [i * step for i in range(round(top / step) + 1)]


def _plain(value: float) -> str:
    return f"{value:g}"


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(chart_id: str, title: str, desc: str, frame: Frame) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}"'
        f' viewBox="0 0 {frame.width} {frame.height}" role="img"'
        f' aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc"'
        ' font-family="sans-serif" font-size="11">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(desc)}</desc>',
    ]


def _axes(
    frame: Frame,
    ticks: Sequence[float],
    categories: Sequence[str],
    label_every: int,
    y_label: str,
    fmt: Formatter,
) -> list[str]:
    parts = ['<g class="axes" aria-hidden="true">']
    top = ticks[-1]
    for tick in ticks:
        y = frame.top + frame.plot_h * (1 - tick / top)
        parts.append(
            f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{_num(y)}"'
            f' y2="{_num(y)}" stroke="#ddd"/>'
            f'<text x="{frame.left - 6}" y="{_num(y + 4)}" text-anchor="end">'
            f"{escape(fmt(tick))}</text>"
        )
    slot = frame.plot_w / max(len(categories), 1)
    for i, category in enumerate(categories):
        if i % label_every:
            continue
        x = frame.left + slot * (i + 0.5)
        parts.append(
            f'<text x="{_num(x)}" y="{frame.height - frame.bottom + 16}"'
            f' text-anchor="middle">{escape(category)}</text>'
        )
    base = frame.top + frame.plot_h
    parts.append(
        f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{_num(base)}"'
        f' y2="{_num(base)}" stroke="#333"/>'
    )
    if y_label:
        parts.append(
            f'<text x="12" y="{_num(frame.top + frame.plot_h / 2)}" text-anchor="middle"'
            f' transform="rotate(-90 12 {_num(frame.top + frame.plot_h / 2)})">'
            f"{escape(y_label)}</text>"
        )
    parts.append("</g>")
    return parts


def _legend(frame: Frame, series: Sequence[Series]) -> list[str]:
    parts = ['<g class="legend">']
    x = float(frame.left)
    for i, s in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{_num(x)}" y="10" width="12" height="12" fill="{colour}"/>'
            f'<text x="{_num(x + 16)}" y="20">{escape(s.name)}</text>'
        )
        x += 28 + 7 * len(s.name)
    parts.append("</g>")
    return parts


@dataclass(frozen=True)
class Chart:
    """What a chart shows: named by ``title`` and ``desc``, one value per category in
    each series; the y axis labelled ``y_label``, values written by ``fmt``, one category
    label in ``label_every``. A series of the wrong length is refused when it is made."""

    chart_id: str
    title: str
    desc: str
    categories: Sequence[str]
    series: Sequence[Series]
    y_label: str = ""
    fmt: Formatter = _plain
    label_every: int = 1
    frame: Frame = Frame()

    def __post_init__(self) -> None:
        if not self.series:
            raise ChartError("a chart needs at least one series")
        for s in self.series:
            if len(s.values) != len(self.categories):
                raise ChartError(
                    f"series {s.name!r} has {len(s.values)} values"
                    f" for {len(self.categories)} categories"
                )

    @property
    def slot(self) -> float:
        """The width each category takes."""
        return self.frame.plot_w / max(len(self.categories), 1)

    def start(self, maximum: float) -> tuple[list[str], float]:
        """The opening of the SVG and its axes for values up to ``maximum``, and the top
        of the y axis."""
        ticks = nice_ticks(maximum)
        parts = _open(self.chart_id, self.title, self.desc, self.frame)
        parts += _axes(self.frame, ticks, self.categories, self.label_every, self.y_label, self.fmt)
        return parts, ticks[-1]

    def end(self, parts: list[str]) -> Markup:
        return Markup("".join([*parts, *_legend(self.frame, self.series), "</svg>"]))

    def mark_title(self, category: str, s: Series, value: float) -> str:
        """The ``<title>`` of one bar segment or point: "<category> — <series> : <value>"."""
        return f"<title>{escape(category)} — {escape(s.name)} : {escape(self.fmt(value))}</title>"


def bar_chart(chart: Chart) -> Markup:
    """Stacked bars, one per category; each segment's ``<title>`` says
    "<category> — <series> : <value>"."""
    frame, series = chart.frame, chart.series
    totals = [sum(s.values[i] for s in series) for i in range(len(chart.categories))]
    parts, top = chart.start(max(totals, default=0))
    bar_w = chart.slot * 0.7
    parts.append('<g class="bars">')
    for i, category in enumerate(chart.categories):
        x = frame.left + chart.slot * i + (chart.slot - bar_w) / 2
        y_base = frame.top + frame.plot_h
        for j, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = frame.plot_h * value / top
            y_base -= h
            parts.append(
                f'<rect x="{_num(x)}" y="{_num(y_base)}" width="{_num(bar_w)}"'
                f' height="{_num(h)}" fill="{PALETTE[j % len(PALETTE)]}">'
                f"{chart.mark_title(category, s, value)}</rect>"
            )
    parts.append("</g>")
    return chart.end(parts)


def line_chart(chart: Chart) -> Markup:
    """One polyline per series, with a marked point (and its ``<title>``) per category."""
    frame = chart.frame
    parts, top = chart.start(max((v for s in chart.series for v in s.values), default=0))
    for j, s in enumerate(chart.series):
        colour = PALETTE[j % len(PALETTE)]
        points = [
            (frame.left + chart.slot * (i + 0.5), frame.top + frame.plot_h * (1 - v / top))
            for i, v in enumerate(s.values)
        ]
        path = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
        parts.append(f'<g class="series"><polyline points="{path}" fill="none"')
        parts.append(f' stroke="{colour}" stroke-width="2"/>')
        for (x, y), category, value in zip(points, chart.categories, s.values, strict=True):
            parts.append(
                f'<circle cx="{_num(x)}" cy="{_num(y)}" r="3.5" fill="{colour}">'
                f"{chart.mark_title(category, s, value)}</circle>"
            )
        parts.append("</g>")
    return chart.end(parts)
