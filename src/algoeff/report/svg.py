"""Hand-built SVG for the site's charts: scales, ticks, a label layout, and the drawing.

Why not matplotlib: its text is drawn at one pixel size, so a chart scaled down to
a phone is unreadable, and its labels placed beside points overlap once points
crowd. Here every chart is drawn twice, at a wide and a narrow size (the page shows
the one that fits, through CSS), text is real SVG ``<text>`` (searchable, crisp),
and point labels are short numbers laid out in lanes above the plot, never on top
of each other: ``place_labels`` guarantees it and the tests check its boxes.

Every string that reaches the SVG passes through ``esc``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from .html import esc

__all__ = ["Chart", "Scale", "date_ticks", "log_ticks", "place_labels", "Placed"]

FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
SIZES = {  # variant -> (width, font size, most date ticks)
    "wide": (960, 13, 12),
    "narrow": (380, 12, 5),
}


# -- scales and ticks -----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Scale:
    lo: float
    hi: float
    px_lo: float
    px_hi: float
    log: bool = False

    def _t(self, v: float) -> float:
        return math.log10(v) if self.log else v

    def __call__(self, v: float) -> float:
        a, b = self._t(self.lo), self._t(self.hi)
        return self.px_lo + (self._t(v) - a) / (b - a) * (self.px_hi - self.px_lo)


def log_domain(values) -> tuple[float, float]:
    """Whole decades around ``values`` (> 0): a tick at every decade, one at each end."""
    values = [v for v in values if v > 0 and math.isfinite(v)]
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    if hi == lo:
        hi += 1
    return 10.0 ** lo, 10.0 ** hi


def log_ticks(lo: float, hi: float) -> list[float]:
    return [10.0 ** k for k in range(round(math.log10(lo)), round(math.log10(hi)) + 1)]


def decade_label(v: float) -> tuple[str, str]:
    """(mantissa, exponent) of a decade tick: 10 and "-3" for 1e-3."""
    return "10", str(round(math.log10(v))).replace("-", "−")


def date_domain(dates) -> tuple[float, float]:
    """Ordinal days from 1 January of the first year to 1 January after the last: whole years."""
    first, last = min(dates), max(dates)
    return (float(dt.date(first.year, 1, 1).toordinal()), float(dt.date(last.year + 1, 1, 1).toordinal()))


def date_ticks(lo: float, hi: float, most: int) -> list[tuple[float, str]]:
    """1 January ticks every 1, 2, 5, 10... years (the smallest step giving at most ``most``)."""
    first, last = dt.date.fromordinal(int(lo)).year, dt.date.fromordinal(int(hi)).year
    for step in (1, 2, 5, 10, 20, 50, 100):
        years = [y for y in range(first, last + 1) if y % step == 0]
        if len(years) <= most:
            break
    return [(float(dt.date(y, 1, 1).toordinal()), str(y)) for y in years]


def linear_ticks(lo: float, hi: float, most: int = 6) -> list[float]:
    span = hi - lo
    if span <= 0:
        return [lo]
    raw = span / most
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.ceil(lo / step - 1e-9) * step
    out, v = [], start
    while v <= hi + 1e-9 * span:
        out.append(round(v, 12))
        v += step
    return out


def fmt_tick(v: float) -> str:
    return f"{v:g}"


# -- label layout -----------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Placed:
    index: int  # position in the input
    x: float  # left edge of the label box
    lane: int  # 0 = nearest the plot
    width: float


def place_labels(anchors: list[float], widths: list[float], *, left: float, right: float,
                 gap: float = 3.0) -> list[Placed]:
    """Boxes of the given widths in horizontal lanes, each near its anchor x, none overlapping.

    A label may drift from its anchor by up to 36 px; where points crowd so much that
    this stacks lanes well past the fewest the labels could fill, the allowed drift
    doubles, and at last the lanes are simply filled left to right in anchor order:
    slanted leader lines for a shorter stack.
    """
    room = right - left
    fewest = math.ceil(sum(w + gap for w in widths) / room) if room > 0 else 1
    for shift in (36.0, 72.0, 144.0, 288.0, math.inf):
        placed = _lanes(anchors, widths, left=left, right=right, gap=gap, max_shift=shift)
        if max((p.lane for p in placed), default=0) + 1 <= fewest + 2:
            break
    return placed


def _lanes(anchors, widths, *, left: float, right: float, gap: float, max_shift: float) -> list[Placed]:
    """Labels in anchor order, each into the first lane where it fits within ``max_shift`` of its anchor
    (boxes in a lane only move right of the last one); a new lane when none does, so a layout always exists.
    Boxes in one lane are disjoint by construction; lanes are disjoint rows."""
    order = sorted(range(len(anchors)), key=lambda i: anchors[i])
    ends: list[float] = []  # right edge of the last box per lane
    out: list[Placed] = []
    for i in order:
        w = widths[i]
        # no drift limit: pack each lane from the left, in anchor order (the fewest lanes)
        want = left if max_shift == math.inf else min(max(anchors[i] - w / 2, left), right - w)
        for lane in range(len(ends) + 1):
            if lane == len(ends):
                ends.append(-math.inf)
            x = max(want, ends[lane] + gap)
            if x + w <= right and (x - want <= max_shift or ends[lane] == -math.inf):
                ends[lane] = x + w
                out.append(Placed(i, x, lane, w))
                break
    return sorted(out, key=lambda p: p.index)


def overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    """Whether two (x, y, width, height) boxes share any area."""
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


# -- the drawing --------------------------------------------------------------------

def _f(v: float) -> str:
    return f"{v:.1f}"


class Chart:
    """One SVG drawing: a plot area with two scales, axes, and marks added in order."""

    def __init__(self, variant: str, *, x: tuple, y: tuple, x_kind: str, y_kind: str, labels=(),
                 height: int | None = None, x_label: str = "", y_label: str = ""):
        """``labels``: (x, text) of the numbered point labels, laid out here so the plot sits below them."""
        self.variant = variant
        self.width, self.font, self.most_dates = SIZES[variant]
        narrow = variant == "narrow"
        self.lane_h = self.font + 8
        self.left = 54 if narrow else 72
        self.right = self.width - (12 if narrow else 24)
        self.x_kind, self.y_kind = x_kind, y_kind
        self.xs = Scale(x[0], x[1], self.left, self.right, log=x_kind == "log")
        texts = [t for _, t in labels]
        widths = [len(t) * self.font * 0.62 + 8 for t in texts]
        self.placed = place_labels([self.xs(v) for v, _ in labels], widths, left=self.left, right=self.right)
        lanes = max((p.lane for p in self.placed), default=-1) + 1
        self.top = 10 + lanes * self.lane_h + (8 if lanes else 0)
        plot_h = height or (300 if narrow else 400)
        self.bottom = self.top + plot_h
        self.height = self.bottom + 44
        self.ys = Scale(y[0], y[1], self.bottom, self.top, log=y_kind == "log")
        self.x_label, self.y_label = x_label, y_label
        self.axes_parts: list[str] = []
        self.parts: list[str] = []
        self.under: list[str] = []  # leader lines: above the axes, below the marks
        self.over: list[str] = []  # label boxes: above everything
        self.labels: list[tuple[float, float, float, float]] = []  # label boxes, for the tests

    # axes
    def axes(self) -> None:
        p, f = self.axes_parts, self.font
        if self.y_kind == "log":
            yt = [(v, None) for v in log_ticks(self.ys.lo, self.ys.hi)]
        else:
            yt = [(v, fmt_tick(v)) for v in linear_ticks(self.ys.lo, self.ys.hi)]
        # a label per decade where they fit, else every other one (a tick stays at every decade)
        every = 1 if len(yt) < 2 or abs(self.ys(yt[0][0]) - self.ys(yt[1][0])) >= f + 4 else 2
        for k, (v, text) in enumerate(yt):
            py = self.ys(v)
            p.append(f'<line class="grid" x1="{_f(self.left)}" x2="{_f(self.right)}" y1="{_f(py)}" y2="{_f(py)}"/>')
            if k % every:
                continue
            if text is None:
                m, e = decade_label(v)
                p.append(f'<text class="tick" x="{_f(self.left - 6)}" y="{_f(py + f * 0.35)}" text-anchor="end">'
                         f'{m}<tspan dy="{-f * 0.4:.1f}" font-size="{f * 0.75:.1f}">{esc(e)}</tspan></text>')
            else:
                p.append(f'<text class="tick" x="{_f(self.left - 6)}" y="{_f(py + f * 0.35)}" '
                         f'text-anchor="end">{esc(text)}</text>')
        if self.x_kind == "date":
            xt = date_ticks(self.xs.lo, self.xs.hi, self.most_dates)
        elif self.x_kind == "log":
            xt = [(v, None) for v in log_ticks(self.xs.lo, self.xs.hi)]
        else:
            xt = [(v, fmt_tick(v)) for v in linear_ticks(self.xs.lo, self.xs.hi, 5 if self.variant == "narrow" else 8)]
        every = 1
        if self.x_kind == "log" and len(xt) > 1:
            room = (self.right - self.left) / (len(xt) - 1)
            every = max(1, math.ceil((f * 2.6) / room))
        for k, (v, text) in enumerate(xt):
            px = self.xs(v)
            p.append(f'<line class="grid" x1="{_f(px)}" x2="{_f(px)}" y1="{_f(self.top)}" y2="{_f(self.bottom)}"/>')
            p.append(f'<line class="axis" x1="{_f(px)}" x2="{_f(px)}" y1="{_f(self.bottom)}" '
                     f'y2="{_f(self.bottom + 4)}"/>')
            if k % every:
                continue
            y = self.bottom + f + 6
            half = len(text if text is not None else "10-0") * f * 0.31
            # a label at either edge is aligned to it, so it neither leaves the figure nor meets a y label
            anchor = "start" if px - half < self.left else "end" if px + half > self.right else "middle"
            if text is None:
                m, e = decade_label(v)
                p.append(f'<text class="tick" x="{_f(px)}" y="{_f(y)}" text-anchor="{anchor}">{m}'
                         f'<tspan dy="{-f * 0.4:.1f}" font-size="{f * 0.75:.1f}">{esc(e)}</tspan></text>')
            else:
                p.append(f'<text class="tick" x="{_f(px)}" y="{_f(y)}" text-anchor="{anchor}">{esc(text)}</text>')
        p.append(f'<rect class="frame" x="{_f(self.left)}" y="{_f(self.top)}" width="{_f(self.right - self.left)}" '
                 f'height="{_f(self.bottom - self.top)}"/>')
        if self.x_label:
            p.append(f'<text class="axis-label" x="{_f((self.left + self.right) / 2)}" y="{_f(self.height - 6)}" '
                     f'text-anchor="middle">{esc(self.x_label)}</text>')
        if self.y_label:
            cy = (self.top + self.bottom) / 2
            p.append(f'<text class="axis-label" x="{_f(f + 2)}" y="{_f(cy)}" text-anchor="middle" '
                     f'transform="rotate(-90 {_f(f + 2)} {_f(cy)})">{esc(self.y_label)}</text>')

    # marks
    def line(self, points, *, cls: str, title: str = "") -> None:
        pts = " ".join(f"{_f(self.xs(x))},{_f(self.ys(y))}" for x, y in points)
        tip = f"<title>{esc(title)}</title>" if title else ""
        self.parts.append(f'<polyline class="{cls}" points="{pts}">{tip}</polyline>')

    def band(self, upper, lower, *, cls: str) -> None:
        pts = [*upper, *reversed(lower)]
        d = " ".join(f"{_f(self.xs(x))},{_f(self.ys(y))}" for x, y in pts)
        self.parts.append(f'<polygon class="{cls}" points="{d}"/>')

    def hline(self, y: float, *, cls: str, text: str = "") -> None:
        py = self.ys(y)
        self.parts.append(f'<line class="{cls}" x1="{_f(self.left)}" x2="{_f(self.right)}" '
                          f'y1="{_f(py)}" y2="{_f(py)}"/>')
        if text:
            self.parts.append(f'<text class="note-text" x="{_f(self.left + 6)}" y="{_f(py - 5)}">{esc(text)}</text>')

    def point(self, x: float, y: float, *, cls: str, title: str, r: float = 4.5) -> None:
        self.parts.append(f'<circle class="{cls}" cx="{_f(self.xs(x))}" cy="{_f(self.ys(y))}" r="{r}">'
                          f"<title>{esc(title)}</title></circle>")

    def error_bar(self, x: float, lo: float | None, hi: float | None, *, cls: str) -> None:
        """A vertical 95% CI; an unbounded upper end runs to the top with an arrowhead."""
        px = self.xs(x)
        y_lo = self.ys(lo) if lo is not None else self.bottom
        y_hi = self.ys(hi) if hi is not None else self.top
        self.parts.append(f'<line class="{cls}" x1="{_f(px)}" x2="{_f(px)}" y1="{_f(y_lo)}" y2="{_f(y_hi)}"/>')
        for yy, bounded in ((y_lo, lo is not None), (y_hi, hi is not None)):
            if bounded:
                self.parts.append(f'<line class="{cls}" x1="{_f(px - 4)}" x2="{_f(px + 4)}" '
                                  f'y1="{_f(yy)}" y2="{_f(yy)}"/>')
        if hi is None:
            self.parts.append(f'<path class="{cls}" d="M{_f(px - 4)},{_f(y_hi + 6)} L{_f(px)},{_f(y_hi)} '
                              f'L{_f(px + 4)},{_f(y_hi + 6)}"/>')

    def number_labels(self, items) -> None:
        """``items``: (x, y, text, href, title) per point, in the order of the constructor's ``labels``."""
        h = self.lane_h - 4
        for p, (x, y, text, href, title) in zip(self.placed, items):
            bx = p.x
            by = self.top - 8 - (p.lane + 1) * self.lane_h + 4
            px, py = self.xs(x), self.ys(y)
            self.under.append(f'<line class="leader" x1="{_f(bx + p.width / 2)}" y1="{_f(by + h)}" '
                              f'x2="{_f(px)}" y2="{_f(py)}"/>')
            box = (f'<g class="lbl"><rect x="{_f(bx)}" y="{_f(by)}" width="{_f(p.width)}" height="{_f(h)}" rx="3"/>'
                   f'<text x="{_f(bx + p.width / 2)}" y="{_f(by + h - 4)}" text-anchor="middle">{esc(text)}</text>'
                   f"<title>{esc(title)}</title></g>")
            self.over.append(f'<a href="{esc(href)}">{box}</a>' if href else box)
            self.labels.append((bx, by, p.width, h))

    def render(self, *, label: str, cls: str = "") -> str:
        css = (f"text{{font-family:{FONT};font-size:{self.font}px;fill:#1d2430}}"
               ".tick{fill:#5b6472}.grid{stroke:#e3e7ec;stroke-width:1}.axis{stroke:#5b6472}"
               ".frame{fill:none;stroke:#9aa3ae}.leader{stroke:#b8c0ca;stroke-width:1;stroke-dasharray:2 3}"
               ".lbl rect{fill:#fff;stroke:#1f6feb;stroke-width:1}.lbl text{fill:#1f4fa8;font-weight:600}"
               ".all{fill:#9aa3ae}.front{fill:#1f6feb}.frontier{fill:none;stroke:#1f6feb;stroke-width:2}"
               ".fit{fill:none;stroke:#d1661f;stroke-width:2;stroke-dasharray:7 4}"
               ".moore{fill:none;stroke:#2f8f4e;stroke-width:2;stroke-dasharray:2 4}"
               ".ci-band{fill:#d1661f;opacity:.12}.err{stroke:#1f6feb;stroke-width:1.5;fill:none}"
               ".err-off{stroke:#9aa3ae;stroke-width:1.5;fill:none}"
               ".target{stroke:#1d2430;stroke-width:1.2;stroke-dasharray:6 4}.note-text{fill:#5b6472}")
        curves = "".join(f".c{i}{{stroke:{c}}}.d{i}{{fill:{c}}}" for i, c in enumerate(PALETTE))
        css += curves + ".curve{fill:none;stroke-width:1;opacity:.35}.curve.best{stroke-width:2.4;opacity:1}"
        return (f'<svg class="chart {cls}" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {self.width} '
                f'{_f(self.height)}" width="{self.width}" height="{_f(self.height)}" role="img" '
                f'aria-label="{esc(label)}"><title>{esc(label)}</title><style>{css}</style>'
                f'<rect width="100%" height="100%" fill="#fff"/>{"".join(self.axes_parts)}{"".join(self.under)}'
                f'{"".join(self.parts)}{"".join(self.over)}</svg>')


# distinguishable for common colour-vision deficiencies (Okabe & Ito 2008), then greys
PALETTE = ("#0072b2", "#e69f00", "#009e73", "#cc79a7", "#56b4e9", "#d55e00", "#f0e442", "#000000",
           "#7f7f7f", "#8c564b")
