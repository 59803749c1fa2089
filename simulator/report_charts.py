"""SVG charts for the backtest report, drawn in Python as strings.

Each chart is one ``<svg>`` element with no script, no external reference and no
namespace declaration (inline SVG in HTML needs none), well-formed as XML so that it can
be parsed on its own. Callers pass plain strings; escaping happens here. Every bar and
point carries a ``<title>`` so that hovering shows the exact figure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Literal

# Okabe–Ito: stays distinguishable under the common colour-vision deficiencies.
BLUE = "#0072B2"
ORANGE = "#E69F00"
GREEN = "#009E73"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
SKY = "#56B4E9"
PALETTE = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY)
INK = "#222222"
MUTED = "#666666"
GRID = "#dddddd"
# Lines differ by dash pattern too, so that they stay apart in greyscale print.
DASHES = ("", "6 3", "2 3", "8 3 2 3")

WIDTH = 720
CHAR_W = 6.6  # average glyph width at 12 px: sizes label margins without measuring text
LABEL_MAX = 44


def esc(text: object) -> str:
    """Escape for HTML and XML alike (text and attribute values)."""
    return escape(str(text), quote=True)


def fmt_value(value: float | None) -> str:
    """A figure for a tooltip or a bar label: counts with separators, ratios to 3 figures."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_tick(value: float) -> str:
    """A compact axis label: 0.25, 40, 12k, 3M."""
    v = float(f"{value:.12g}")  # drop float noise such as 0.30000000000000004
    if abs(v) >= 1e6:
        return f"{v / 1e6:g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:g}k"
    return f"{v:g}"


def _nice_step(span: float, count: int = 5) -> float:
    raw = span / count
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 2.5, 5.0):
        if raw <= m * mag * (1 + 1e-9):
            return m * mag
    return 10 * mag


def _finite(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None and math.isfinite(v)]


@dataclass(frozen=True)
class Scale:
    """Maps data values to [0, 1] along an axis, linear or log10, and lists its ticks."""

    lo: float
    hi: float
    step: float = 1.0  # tick step of a linear scale
    log: bool = False

    @classmethod
    def fit(cls, values: Sequence[float | None], *, zero: bool = True) -> Scale:
        """A linear scale over the values, widened to nice tick multiples."""
        vals = _finite(values) + ([0.0] if zero else [])
        lo, hi = min(vals, default=0.0), max(vals, default=1.0)
        if hi <= lo:
            hi = lo + (abs(lo) or 1.0)
        step = _nice_step(hi - lo)
        return cls(math.floor(lo / step + 1e-9) * step, math.ceil(hi / step - 1e-9) * step, step)

    @classmethod
    def exact(cls, lo: float, hi: float, *, step: float | None = None) -> Scale:
        """A linear scale from lo to hi exactly (an edge-to-edge histogram axis)."""
        if hi <= lo:
            hi = lo + 1.0
        return cls(lo, hi, step or _nice_step(hi - lo))

    @classmethod
    def fit_log(cls, values: Sequence[float | None]) -> Scale:
        """A log10 scale from half the smallest positive decade to the next decade up.

        Starting half a decade low keeps a count of 1 visible. Values of zero or less sit
        on the baseline; with no positive value the scale falls back to linear.
        """
        pos = [v for v in _finite(values) if v > 0]
        if not pos:
            return cls.fit(values)
        lo = 10.0 ** math.floor(math.log10(min(pos))) / 2
        hi = 10.0 ** math.ceil(math.log10(max(pos)))
        return cls(lo, max(hi, lo * 10), log=True)

    def frac(self, value: float) -> float:
        if self.log:
            if value <= 0:
                return 0.0
            f = (math.log10(value) - math.log10(self.lo)) / (
                math.log10(self.hi) - math.log10(self.lo)
            )
        else:
            f = (value - self.lo) / (self.hi - self.lo)
        return min(1.0, max(0.0, f))

    def ticks(self) -> list[float]:
        if self.log:
            first, last = math.ceil(math.log10(self.lo)), math.floor(math.log10(self.hi))
            return [10.0**d for d in range(first, last + 1)]
        first, last = math.ceil(self.lo / self.step - 1e-9), math.floor(self.hi / self.step + 1e-9)
        return [k * self.step for k in range(first, last + 1)]


def wants_log(values: Sequence[float | None], ratio: float = 100.0) -> bool:
    """Whether positive values span so many orders that a linear axis would hide the small."""
    pos = [v for v in _finite(values) if v > 0]
    return len(pos) >= 2 and max(pos) / min(pos) >= ratio


@dataclass(frozen=True)
class Series:
    """One named series; ``colours`` overrides the colour point by point (pass/miss bars)."""

    name: str
    values: Sequence[float | None]
    colour: str
    colours: Sequence[str] | None = None


@dataclass(frozen=True)
class Ref:
    """A reference line across the plot: a target or a chosen setting."""

    value: float
    label: str
    colour: str = INK


@dataclass(frozen=True)
class LegendItem:
    label: str
    colour: str
    kind: Literal["box", "line", "dash"] = "box"
    dash: str = ""


@dataclass(frozen=True)
class _Frame:
    left: float
    top: float
    width: float
    height: float

    def x(self, frac: float) -> float:
        return self.left + frac * self.width

    def y(self, frac: float) -> float:
        return self.top + (1 - frac) * self.height

    @property
    def bottom(self) -> float:
        return self.top + self.height

    @property
    def right(self) -> float:
        return self.left + self.width


def _n(v: float) -> str:
    return f"{v:.1f}"


def _clip(label: str) -> str:
    return label if len(label) <= LABEL_MAX else label[: LABEL_MAX - 1] + "…"


class _Svg:
    """Collects elements; the root tag is written last, once the height is known."""

    def __init__(self, width: float, title: str) -> None:
        self.width = width
        self.title = title
        self.parts: list[str] = []

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str = "") -> None:
        head = f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(max(w, 0.0))}" height="{_n(h)}"'
        if tip:
            self.parts.append(f'{head} fill="{fill}"><title>{esc(tip)}</title></rect>')
        else:
            self.parts.append(f'{head} fill="{fill}"/>')

    def line(
        self,
        x1: float,
        y1: float,
        x2: float,
        y2: float,
        colour: str,
        *,
        width: float = 1.0,
        dash: str = "",
    ) -> None:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(
            f'<line x1="{_n(x1)}" y1="{_n(y1)}" x2="{_n(x2)}" y2="{_n(y2)}" stroke="{colour}"'
            f' stroke-width="{width:g}"{d}/>'
        )

    def text(
        self,
        x: float,
        y: float,
        text: str,
        *,
        anchor: str = "start",
        colour: str = INK,
        tip: str = "",
        rotate: bool = False,
        bold: bool = False,
    ) -> None:
        attrs = f'x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}" fill="{colour}"'
        if rotate:
            attrs += f' transform="rotate(-90 {_n(x)} {_n(y)})"'
        if bold:
            attrs += ' font-weight="bold"'
        title = f"<title>{esc(tip)}</title>" if tip else ""
        self.parts.append(f"<text {attrs}>{title}{esc(text)}</text>")

    def legend(self, items: Sequence[LegendItem], x0: float, y0: float, width: float) -> float:
        """Lay the legend out in rows from (x0, y0); returns the height it takes."""
        x, y = x0, y0
        for item in items:
            w = 22 + len(item.label) * CHAR_W + 16
            if x > x0 and x + w > x0 + width:
                x, y = x0, y + 18
            if item.kind == "box":
                self.rect(x, y - 9, 12, 12, item.colour)
            else:
                dash = item.dash or ("5 3" if item.kind == "dash" else "")
                self.line(x, y - 3, x + 16, y - 3, item.colour, width=2, dash=dash)
            self.text(x + 20, y + 1, item.label)
            x += w
        return y - y0 + 18

    def x_axis(
        self, frame: _Frame, scale: Scale, label: str, fmt: Callable[[float], str] = fmt_tick
    ) -> None:
        for t in scale.ticks():
            x = frame.x(scale.frac(t))
            self.line(x, frame.top, x, frame.bottom, GRID)
            self.line(x, frame.bottom, x, frame.bottom + 4, INK)
            self.text(x, frame.bottom + 16, fmt(t), anchor="middle")
        self.line(frame.left, frame.bottom, frame.right, frame.bottom, INK)
        self.text(frame.left + frame.width / 2, frame.bottom + 34, label, anchor="middle")

    def y_axis(
        self, frame: _Frame, scale: Scale, label: str, fmt: Callable[[float], str] = fmt_tick
    ) -> None:
        for t in scale.ticks():
            y = frame.y(scale.frac(t))
            self.line(frame.left, y, frame.right, y, GRID)
            self.line(frame.left - 4, y, frame.left, y, INK)
            self.text(frame.left - 7, y + 4, fmt(t), anchor="end")
        self.line(frame.left, frame.top, frame.left, frame.bottom, INK)
        self.text(16, frame.top + frame.height / 2, label, anchor="middle", rotate=True)

    def finish(self, height: float) -> str:
        w, h = _n(self.width), _n(height)
        head = (
            f'<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img"'
            f' aria-label="{esc(self.title)}"'
            ' font-family="system-ui, -apple-system, Segoe UI, sans-serif" font-size="12">'
        )
        return "\n".join([head, f"<title>{esc(self.title)}</title>", *self.parts, "</svg>"])


def _ref_items(refs: Sequence[Ref]) -> list[LegendItem]:
    return [LegendItem(r.label, r.colour, "dash") for r in refs]


def hbar_chart(
    *,
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    scale: Scale,
    axis_label: str,
    refs: Sequence[Ref] = (),
    legend: Sequence[LegendItem] | None = None,
    value_fmt: Callable[[float], str] = fmt_value,
) -> str:
    """Horizontal bars, grouped by category, one bar per series; None draws "n/a"."""
    bar = 14.0 if len(series) > 1 else 18.0
    gap = 10.0
    group = len(series) * bar + gap
    labels = [_clip(c) for c in categories]
    left = min(max((len(s) for s in labels), default=4) * CHAR_W + 16, 330)
    right = 100.0
    svg = _Svg(WIDTH, title)
    items = list(legend) if legend is not None else [LegendItem(s.name, s.colour) for s in series]
    legend_h = svg.legend([*items, *_ref_items(refs)], left, 16, WIDTH - left - right)
    frame = _Frame(left, 12 + legend_h, WIDTH - left - right, max(len(categories), 1) * group)
    height = frame.bottom + 44
    svg.x_axis(frame, scale, axis_label)
    for i, (category, label) in enumerate(zip(categories, labels, strict=True)):
        y0 = frame.top + i * group + gap / 2
        svg.text(
            left - 8,
            y0 + len(series) * bar / 2 + 4,
            label,
            anchor="end",
            tip=category if label != category else "",
        )
        for j, s in enumerate(series):
            y = y0 + j * bar
            value = s.values[i]
            if value is None or not math.isfinite(value):
                svg.text(
                    left + 4, y + bar - 3, "n/a", colour=MUTED, tip=f"{category}: {s.name} n/a"
                )
                continue
            colour = s.colours[i] if s.colours is not None else s.colour
            w = scale.frac(value) * frame.width
            svg.rect(left, y + 1, w, bar - 2, colour, f"{category} — {s.name}: {value_fmt(value)}")
            svg.text(left + w + 4, y + bar - 3, value_fmt(value), colour=MUTED)
    for ref in refs:
        x = frame.x(scale.frac(ref.value))
        svg.line(x, frame.top - 4, x, frame.bottom, ref.colour, width=1.5, dash="5 3")
    return svg.finish(height)


def histogram_chart(
    *,
    title: str,
    edges: Sequence[float],
    series: Sequence[Series],
    x_label: str,
    y_label: str,
    log_y: bool,
) -> str:
    """Counts per bin, series side by side within each bin, on a shared x of bin edges."""
    n = min([len(edges) - 1, *(len(s.values) for s in series)])
    if n <= 0:
        return ""
    x_scale = Scale.exact(edges[0], edges[n])
    counts = [v for s in series for v in s.values[:n]]
    y_scale = Scale.fit_log(counts) if log_y else Scale.fit(counts)
    left, right = 70.0, 20.0
    svg = _Svg(WIDTH, title)
    legend_h = svg.legend([LegendItem(s.name, s.colour) for s in series], left, 16, WIDTH - left)
    frame = _Frame(left, 12 + legend_h, WIDTH - left - right, 340 - 12 - legend_h - 48)
    svg.y_axis(frame, y_scale, y_label + (" (log)" if y_scale.log else ""))
    svg.x_axis(frame, x_scale, x_label)
    for k in range(n):
        xa, xb = frame.x(x_scale.frac(edges[k])), frame.x(x_scale.frac(edges[k + 1]))
        inner = (xb - xa) * 0.9
        w = inner / len(series)
        for j, s in enumerate(series):
            value = s.values[k]
            if value is None or value <= 0:
                continue
            top = frame.y(y_scale.frac(value))
            tip = f"{s.name}, {fmt_tick(edges[k])}–{fmt_tick(edges[k + 1])}: {fmt_value(value)}"
            svg.rect(xa + (xb - xa - inner) / 2 + j * w, top, w, frame.bottom - top, s.colour, tip)
    return svg.finish(340)


def line_chart(
    *,
    title: str,
    xs: Sequence[float],
    series: Sequence[Series],
    x_scale: Scale,
    y_scale: Scale,
    x_label: str,
    y_label: str,
    x_refs: Sequence[Ref] = (),
    y_refs: Sequence[Ref] = (),
    x_fmt: Callable[[float], str] = fmt_tick,
    y_fmt: Callable[[float], str] = fmt_tick,
    value_fmt: Callable[[float], str] = fmt_value,
    width: float = WIDTH,
) -> str:
    """Lines through (x, y) points; None breaks a line. Reference lines are dashed."""
    left, right = 70.0, 30.0
    height = 320.0
    svg = _Svg(width, title)
    items = [
        LegendItem(s.name, s.colour, "line", DASHES[i % len(DASHES)]) for i, s in enumerate(series)
    ]
    legend_h = svg.legend([*items, *_ref_items([*x_refs, *y_refs])], left, 16, width - left)
    frame = _Frame(left, 12 + legend_h, width - left - right, height - 12 - legend_h - 48)
    svg.y_axis(frame, y_scale, y_label + (" (log)" if y_scale.log else ""), y_fmt)
    svg.x_axis(frame, x_scale, x_label, x_fmt)
    for ref in x_refs:
        x = frame.x(x_scale.frac(ref.value))
        svg.line(x, frame.top, x, frame.bottom, ref.colour, width=1.5, dash="5 3")
    for ref in y_refs:
        y = frame.y(y_scale.frac(ref.value))
        svg.line(frame.left, y, frame.right, y, ref.colour, width=1.5, dash="5 3")
    radius = 3.0 if len(xs) <= 60 else 2.0
    for i, s in enumerate(series):
        runs: list[list[tuple[float, float]]] = [[]]
        dots: list[str] = []
        for x, value in zip(xs, s.values, strict=False):
            if value is None or not math.isfinite(value):
                runs.append([])
                continue
            px, py = frame.x(x_scale.frac(x)), frame.y(y_scale.frac(value))
            runs[-1].append((px, py))
            tip = f"{s.name} at {x_fmt(x)}: {value_fmt(value)}"
            dots.append(
                f'<circle cx="{_n(px)}" cy="{_n(py)}" r="{radius:g}" fill="{s.colour}">'
                f"<title>{esc(tip)}</title></circle>"
            )
        dash = DASHES[i % len(DASHES)]
        for run in runs:
            if len(run) < 2:
                continue
            pts = " ".join(f"{_n(px)},{_n(py)}" for px, py in run)
            d = f' stroke-dasharray="{dash}"' if dash else ""
            svg.parts.append(
                f'<polyline points="{pts}" fill="none" stroke="{s.colour}" stroke-width="2"{d}/>'
            )
        svg.parts.extend(dots)
    return svg.finish(height)
