"""The site's charts, as inline SVG drawn by ``svg.Chart`` at two sizes.

    trend_chart(entries, fit, anchors)        compute against date for one benchmark
    compute_to_target_chart(data, anchors)    a study's compute to target per recipe, with CIs
    accuracy_chart(data)                      a study's metric against training compute, every run
    sensitivity_chart(rows)                   a study's doubling time against the target threshold

Each returns a ``Drawn``: the wide and narrow SVG (the page shows the one that
fits its width) and the boxes of the number labels (the tests check they never
overlap). Points are labelled with numbers that key into the table below the
chart, so names of any length never crowd the plot.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math

from markupsafe import Markup

from algoeff.units import FLOPS_PER_TFS_DAY

from .svg import PALETTE, Chart, date_domain, log_domain

__all__ = ["Drawn", "accuracy_chart", "compute_to_target_chart", "sensitivity_chart", "trend_chart"]

VARIANTS = ("wide", "narrow")
DAYS_PER_MONTH = 365.25 / 12


@dataclasses.dataclass(frozen=True)
class Drawn:
    svg: dict  # variant -> SVG text
    boxes: dict  # variant -> [(x, y, width, height)] of the number labels

    def html(self) -> Markup:
        # the SVG text is built from escaped pieces only (svg.py)
        return Markup("".join(f'<div class="chart-{v}">{self.svg[v]}</div>' for v in VARIANTS))


def _ord(d: dt.date) -> float:
    return float(d.toordinal())


def _after(base: dt.date, months: float) -> float:
    return _ord(base) + months * DAYS_PER_MONTH


def trend_lines(fit, steps: int = 40) -> dict:
    """The fitted trend, Moore's law and (when finite) the slope's 95% band, as (ordinal day, FLOPs)."""
    base = fit.baseline
    b = base.compute_flops
    months = [fit.span_months * i / steps for i in range(steps + 1)]
    lines = {
        "fit": [(_after(base.date, m), b / 2 ** (fit.intercept + fit.slope * m)) for m in months],
        "moore": [(_after(base.date, m), b / 2 ** (m / 24.0)) for m in months],
    }
    ci = fit.doubling_time_ci95_months
    if ci is not None and all(math.isfinite(c) and c > 0 for c in ci):
        # lines through the frontier's centroid at the slope's 95% bounds (the CI the page states)
        xs = [(e.date - base.date).days / DAYS_PER_MONTH for e in fit.frontier]
        ys = [math.log2(b / e.compute_flops) for e in fit.frontier]
        mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
        lo_s, hi_s = 1 / ci[1], 1 / ci[0]
        upper, lower = [], []
        for m in months:
            a, c = b / 2 ** (my + lo_s * (m - mx)), b / 2 ** (my + hi_s * (m - mx))
            upper.append((_after(base.date, m), max(a, c)))
            lower.append((_after(base.date, m), min(a, c)))
        lines["band"] = (upper, lower)
    return lines


def trend_chart(entries, fit, anchors: dict, *, label: str) -> Drawn:
    """``entries`` in date order; ``anchors``: id(entry) -> (number, fragment); ``fit`` None if no trend."""
    on = {id(e) for e in fit.frontier} if fit else set()
    lines = trend_lines(fit) if fit else {}
    ys = [e.compute_flops for e in entries]
    for key, pts in lines.items():
        for seq in (pts if key == "band" else [pts]):
            ys += [y for _, y in seq]
    y_dom = tuple(v / FLOPS_PER_TFS_DAY for v in log_domain(ys))
    x_dom = date_domain([e.date for e in entries])
    svg, boxes = {}, {}
    for variant in VARIANTS:
        marks = [(_ord(e.date), str(anchors[id(e)][0])) for e in entries]
        chart = Chart(variant, x=x_dom, y=y_dom, x_kind="date", y_kind="log", labels=marks,
                      x_label="publication date", y_label="training compute (tfs-days, log)")
        chart.axes()
        tf = FLOPS_PER_TFS_DAY
        if "band" in lines:
            up, low = lines["band"]
            chart.band([(x, y / tf) for x, y in up], [(x, y / tf) for x, y in low], cls="ci-band")
        if fit:
            chart.line([(x, y / tf) for x, y in lines["moore"]], cls="moore", title="Moore's law: 2× every 24 months")
            chart.line([(x, y / tf) for x, y in lines["fit"]], cls="fit",
                       title=f"OLS fit: doubling every {fit.doubling_time_months:.1f} months")
            chart.line([(_ord(e.date), e.compute_flops / tf) for e in fit.frontier], cls="frontier", title="frontier")
        items = []
        for e in entries:
            n, frag = anchors[id(e)]
            title = f"{n}. {e.publication} ({e.date.isoformat()}): {e.compute_flops / tf:.3g} tfs-days"
            chart.point(_ord(e.date), e.compute_flops / tf, cls="front" if id(e) in on else "all", title=title)
            items.append((_ord(e.date), e.compute_flops / tf, str(n), f"#{frag}", title))
        chart.number_labels(items)
        svg[variant], boxes[variant] = chart.render(label=label), chart.labels
    return Drawn(svg, boxes)


def study_fit(data: dict):
    """The study's trend refitted from its reached recipes (same rule as the study), or None.

    Drawn only when it agrees with the doubling time results.json states: the
    chart never shows a line the study did not report.
    """
    from algoeff.errors import LedgerError
    from algoeff.ledger import Entry
    from algoeff.trend import fit_trend

    reached = [e for e in data["entries"] if e.get("compute_to_target_flops")]
    front = set(data.get("frontier") or [])
    if front:  # the study fits its frontier (controls and floors may sit outside its ledger)
        reached = [e for e in reached if e["recipe"] in front]
    stated = data.get("doubling_time_months")
    if stated is None or len(reached) < 2:
        return None
    entries = sorted((Entry(benchmark=data["workload"], publication=e["recipe"], publication_link="",
                            date=dt.date.fromisoformat(e["date"]), compute_flops=e["compute_to_target_flops"])
                      for e in reached), key=lambda e: e.date)
    try:
        fit = fit_trend(entries)
    except LedgerError:
        return None
    return fit if math.isclose(fit.doubling_time_months, stated, rel_tol=1e-6) else None


def compute_to_target_chart(data: dict, anchors: dict, *, label: str) -> Drawn | None:
    """Median compute to target per recipe against date, 95% CI bars, frontier, fit, Moore's law."""
    reached = sorted((e for e in data["entries"] if e.get("compute_to_target_flops")), key=lambda e: e["date"])
    if not reached:
        return None
    front = set(data.get("frontier") or [])
    fit = study_fit(data)
    lines = trend_lines(fit) if fit else {}
    ys = []
    for e in reached:
        ys.append(e["compute_to_target_flops"])
        ys += [v for v in (e.get("ci95_flops") or []) if v]
    for key, pts in lines.items():
        for seq in (pts if key == "band" else [pts]):
            ys += [y for _, y in seq]
    y_dom = log_domain(ys)
    dates = {e["recipe"]: dt.date.fromisoformat(e["date"]) for e in reached}
    x_dom = date_domain(list(dates.values()))
    svg, boxes = {}, {}
    for variant in VARIANTS:
        marks = [(_ord(dates[e["recipe"]]), str(anchors[e["recipe"]][0])) for e in reached]
        chart = Chart(variant, x=x_dom, y=y_dom, x_kind="date", y_kind="log", labels=marks,
                      x_label="recipe publication date", y_label="compute to target (FLOPs, log)")
        chart.axes()
        if "band" in lines:
            chart.band(*lines["band"], cls="ci-band")
        if fit:
            chart.line(lines["moore"], cls="moore", title="Moore's law: 2× every 24 months")
            chart.line(lines["fit"], cls="fit", title=f"OLS fit: doubling every {fit.doubling_time_months:.1f} months")
        line = [e for e in reached if e["recipe"] in front]
        if len(line) >= 2:
            chart.line([(_ord(dates[e["recipe"]]), e["compute_to_target_flops"]) for e in line], cls="frontier",
                       title="frontier")
        items = []
        for e in reached:
            x, y = _ord(dates[e["recipe"]]), e["compute_to_target_flops"]
            ci = e.get("ci95_flops")
            on = e["recipe"] in front
            if ci:
                lo = ci[0] if ci[0] is not None and ci[0] > 0 else None
                chart.error_bar(x, lo, ci[1], cls="err" if on else "err-off")
            n, frag = anchors[e["recipe"]]
            title = f"{n}. {e.get('title') or e['recipe']} ({e['date']}): {y:.3g} FLOPs"
            chart.point(x, y, cls="front" if on else "all", title=title)
            items.append((x, y, str(n), f"#{frag}", title))
        chart.number_labels(items)
        svg[variant], boxes[variant] = chart.render(label=label), chart.labels
    return Drawn(svg, boxes)


def accuracy_chart(data: dict, *, label: str) -> Drawn | None:
    """The metric against training compute for every run; best configurations bold, the target dashed."""
    metric = data["target"]["metric"]
    order = [e["recipe"] for e in data["entries"]]
    curves = []
    for curve in data.get("curves", []):
        pts = [(p["flops"], p.get(metric)) for p in curve["points"] if p.get(metric) is not None and p["flops"] > 0]
        if pts:
            curves.append((curve, pts))
    if not curves:
        return None
    xs = [x for _, pts in curves for x, _ in pts]
    yv = [y for _, pts in curves for _, y in pts] + [data["target"]["threshold"]]
    lo, hi = min(yv), max(yv)
    pad = (hi - lo) * 0.05 or 0.05
    svg = {}
    for variant in VARIANTS:
        chart = Chart(variant, x=log_domain(xs), y=(lo - pad, hi + pad), x_kind="log", y_kind="linear",
                      x_label="training compute (FLOPs, log)", y_label=metric.replace("_", " "))
        chart.axes()
        # faint runs first, best configurations on top
        for curve, pts in sorted(curves, key=lambda c: bool(c[0].get("best"))):
            i = order.index(curve["recipe"]) % len(PALETTE) if curve["recipe"] in order else len(PALETTE) - 2
            best = " best" if curve.get("best") else ""
            chart.line(pts, cls=f"curve c{i}{best}", title=f"{curve['recipe']} seed {curve.get('seed')}"
                       + (" (best configuration)" if best else ""))
        sign = ">=" if data["target"].get("higher_is_better", True) else "<="
        chart.hline(data["target"]["threshold"], cls="target", text=f"target {sign} {data['target']['threshold']:g}")
        svg[variant] = chart.render(label=label)
    return Drawn(svg, {v: [] for v in VARIANTS})


def sensitivity_chart(rows: list[dict], *, label: str) -> Drawn | None:
    """Doubling time (with its 95% CI) at each target threshold the study tried."""
    pts = [r for r in rows if r.get("doubling_time_months") is not None]
    if not pts:
        return None
    xs = [r["threshold"] for r in rows]
    ys = [r["doubling_time_months"] for r in pts]
    for r in pts:
        ys += [v for v in (r.get("ci95_months") or []) if v is not None and math.isfinite(v)]
    x_lo, x_hi = min(xs), max(xs)
    xpad = (x_hi - x_lo) * 0.08 or 0.01
    y_hi = max(ys) * 1.1
    svg = {}
    for variant in VARIANTS:
        chart = Chart(variant, x=(x_lo - xpad, x_hi + xpad), y=(0.0, y_hi), x_kind="linear", y_kind="linear",
                      height=220 if variant == "narrow" else 260, x_label="target threshold",
                      y_label="doubling time (months)")
        chart.axes()
        for r in pts:
            ci = r.get("ci95_months")
            if ci:
                hi = ci[1] if ci[1] is not None and math.isfinite(ci[1]) and ci[1] <= y_hi else None
                chart.error_bar(r["threshold"], ci[0], hi, cls="err")
            chart.point(r["threshold"], r["doubling_time_months"], cls="front",
                        title=f"threshold {r['threshold']:.4g}: {r['doubling_time_months']:.1f} months")
        svg[variant] = chart.render(label=label)
    return Drawn(svg, {v: [] for v in VARIANTS})
