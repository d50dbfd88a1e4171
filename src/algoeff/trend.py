"""Doubling time of algorithmic efficiency, Moore's law, and their product.

Rule (Hernandez & Brown 2020): over a benchmark's frontier, baseline included,
fit log2(baseline compute / entry compute) against months since the baseline by
ordinary least squares; the doubling time is 1 / slope. Its 95% confidence
interval comes from the t-distribution on the slope (n - 2 degrees of freedom),
inverted: [1 / (slope + t*se), 1 / (slope - t*se)]. With only two frontier points
the fit passes through both exactly and has no residual degrees of freedom, so
the interval is undefined and reported as None, with the reason in ``ci_note``.
Moore's law doubles compute per dollar every 24 months over the same span.
"""

from __future__ import annotations

import dataclasses
import math

from algoeff.errors import LedgerError
from algoeff.ledger import Entry, frontier, reduction_factor

__all__ = ["DAYS_PER_MONTH", "TrendFit", "fit_trend", "months_between", "moores_law_factor", "plot_trend"]

DAYS_PER_MONTH = 365.25 / 12  # a mean Gregorian month, 30.44 days
MOORE_DOUBLING_MONTHS = 24.0
CI_METHOD = "95% CI: t-distribution on the OLS slope (n - 2 degrees of freedom), inverted to months"


def months_between(start, end) -> float:
    return (end - start).days / DAYS_PER_MONTH


def moores_law_factor(months: float, doubling_months: float = MOORE_DOUBLING_MONTHS) -> float:
    """Moore's-law growth over ``months``: 2 ** (months / doubling_months); 84 months -> 11.3."""
    if not doubling_months > 0:
        raise ValueError(f"doubling_months == {doubling_months!r}, must be > 0.")
    return 2.0 ** (months / doubling_months)


@dataclasses.dataclass(frozen=True)
class TrendFit:
    benchmark: str
    baseline: Entry
    frontier: list[Entry]  # baseline first, in date order
    reduction_factor: float  # baseline compute / best (last) frontier compute
    span_months: float  # baseline date -> last frontier date
    span_years: float
    slope: float  # doublings of efficiency per month
    intercept: float  # log2 reduction at the baseline date, as fitted
    doubling_time_months: float  # 1 / slope
    doubling_time_ci95_months: tuple[float, float] | None  # None when undefined (see ci_note)
    ci_method: str
    ci_note: str  # why the interval is undefined or open-ended; "" otherwise
    r_squared: float | None
    moores_law_factor: float  # 2 ** (span_months / 24)
    combined_factor: float  # reduction_factor x moores_law_factor: hardware x algorithms

    @property
    def n_points(self) -> int:
        return len(self.frontier)

    def to_dict(self) -> dict:
        def point(e: Entry) -> dict:
            return {"publication": e.publication, "date": e.date.isoformat(), "compute_flops": e.compute_flops}

        ci = self.doubling_time_ci95_months
        return {
            "benchmark": self.benchmark,
            "baseline": point(self.baseline),
            "frontier": [{**point(e), "reduction_factor": reduction_factor(e, self.baseline)} for e in self.frontier],
            "reduction_factor": self.reduction_factor,
            "span_months": self.span_months,
            "span_years": self.span_years,
            "doubling_time_months": self.doubling_time_months,
            # JSON has no infinity: an open-ended bound is null, ci_note says why
            "doubling_time_ci95_months": None if ci is None else [_finite(ci[0]), _finite(ci[1])],
            "ci_method": self.ci_method,
            "ci_note": self.ci_note,
            "n_points": self.n_points,
            "slope_doublings_per_month": self.slope,
            "r_squared": self.r_squared,
            "moores_law_factor": self.moores_law_factor,
            "combined_factor": self.combined_factor,
        }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def fit_trend(entries) -> TrendFit:
    """Fit the efficiency trend of one benchmark's entries (see the module docstring)."""
    points = frontier(entries)
    base = points[0]
    key = base.benchmark
    if len(points) < 2:
        raise LedgerError(f"benchmark {key!r} has 1 frontier entry ({base.publication!r}); "
                          "a trend needs at least 2.")
    xs = [months_between(base.date, e.date) for e in points]
    ys = [math.log2(reduction_factor(e, base)) for e in points]
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        raise LedgerError(f"benchmark {key!r}: every frontier entry has the same date "
                          f"({base.date.isoformat()}); a trend needs entries at different dates.")
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    slope = sxy / sxx
    intercept = my - slope * mx
    residuals = [y - (intercept + slope * x) for x, y in zip(xs, ys)]
    sse = sum(r * r for r in residuals)
    syy = sum((y - my) ** 2 for y in ys)
    r_squared = 1.0 - sse / syy if syy > 0 else None

    ci, note = None, ""
    if n == 2:
        note = "undefined: 2 frontier points fit a line exactly (0 residual degrees of freedom)"
    else:
        # scipy.special rather than scipy.stats: the same t quantile (stats.t.ppf
        # calls it) at a fraction of the import time; only fits of >= 3 points need it
        from scipy.special import stdtrit

        se = math.sqrt(sse / (n - 2) / sxx)
        t = float(stdtrit(n - 2, 0.975))
        lo_slope, hi_slope = slope - t * se, slope + t * se
        # a slope interval reaching 0 or below means "no improvement" is not
        # excluded: the doubling time has no finite upper bound
        upper = 1.0 / lo_slope if lo_slope > 0 else math.inf
        ci = (1.0 / hi_slope, upper)
        if not math.isfinite(upper):
            note = "upper bound unbounded: the slope's 95% interval reaches 0"
    span = xs[-1]
    best = reduction_factor(points[-1], base)
    moore = moores_law_factor(span)
    return TrendFit(
        benchmark=key,
        baseline=base,
        frontier=points,
        reduction_factor=best,
        span_months=span,
        span_years=span / 12.0,
        slope=slope,
        intercept=intercept,
        doubling_time_months=1.0 / slope,
        doubling_time_ci95_months=ci,
        ci_method=CI_METHOD,
        ci_note=note,
        r_squared=r_squared,
        moores_law_factor=moore,
        combined_factor=best * moore,
    )


PLOT_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".svg": "svg", ".pdf": "pdf"}


def plot_trend(fit: TrendFit, path, *, entries=None, unit: str = "tfs-days", title: str | None = None):
    """Save a figure: compute (log) against date for every entry, the frontier, the
    fitted trend and a Moore's-law reference, both starting at the baseline.

    The format follows the file name: .png, .jpg/.jpeg, .svg or .pdf.
    """
    import datetime as dt
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    from algoeff.files import atomic_write
    from algoeff.units import from_flops

    path = Path(path)
    fmt = PLOT_FORMATS.get(path.suffix.lower())
    if path.is_dir():
        raise LedgerError(f"{path}: is a folder, expected an image file such as trend.png.")
    if fmt is None:
        raise LedgerError(f"{path}: unknown image type {path.suffix or '(none)'!r}. Possible values are: "
                          f"{', '.join(PLOT_FORMATS)}.")
    if not path.parent.is_dir():
        raise LedgerError(f"{path}: folder {str(path.parent)!r} does not exist; create it first.")
    entries = list(entries) if entries is not None else list(fit.frontier)
    base = fit.baseline
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    ax.scatter([e.date for e in entries], [from_flops(e.compute_flops, unit) for e in entries],
               color="0.6", s=25, label="all entries", zorder=2)
    fx = [e.date for e in fit.frontier]
    fy = [from_flops(e.compute_flops, unit) for e in fit.frontier]
    ax.plot(fx, fy, "o-", color="C0", label="frontier", zorder=3)
    all_dates = [e.date for e in entries] + fx
    first, last = min(all_dates), max(all_dates)
    for e, y in zip(fit.frontier, fy):
        # the latest entry's name goes to the left of its point, so it stays inside the figure
        left = e.date == last
        # parse_math=False: a publication name with "$" is text, not mathtext
        label = ax.annotate(e.publication, (e.date, y), textcoords="offset points", xytext=(-5 if left else 5, 5),
                            ha="right" if left else "left", fontsize=8, parse_math=False)
        label.set_in_layout(False)  # a long name past the axes must not shrink them
    steps = 50
    months = [fit.span_months * i / steps for i in range(steps + 1)]
    dates = [base.date + dt.timedelta(days=m * DAYS_PER_MONTH) for m in months]
    b = from_flops(base.compute_flops, unit)
    ax.plot(dates, [b / 2 ** (fit.intercept + fit.slope * m) for m in months], "--", color="C1",
            label=f"OLS fit: doubling every {fit.doubling_time_months:.1f} months")
    ax.plot(dates, [b / moores_law_factor(m) for m in months], ":", color="C2",
            label="Moore's-law rate: 2x every 24 months")
    ax.set_yscale("log")
    pad = max((last - first) * 0.04, dt.timedelta(days=60))
    ax.set_xlim(first - pad, last + pad)
    ax.set_xlabel("publication date")
    ax.set_ylabel(f"training compute to reach the benchmark ({unit}, log scale)")
    ax.set_title(title or f"{fit.benchmark}: {fit.reduction_factor:.1f}x less compute over {fit.span_years:.1f} years",
                 parse_math=False)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt))
    finally:
        plt.close(fig)
    return path
