"""Charts of the site, as PNG files written beside the pages (matplotlib, Agg).

The efficiency-over-time chart of a benchmark is ``algoeff.trend.plot_trend``
(one drawing of it for the CLI and the site). Text from ledgers and studies has
its ``$`` escaped, so a dollar sign in a publication name is drawn as one and not
read as a formula matplotlib would try (and maybe fail) to typeset.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

__all__ = ["accuracy_chart", "compute_to_target_chart", "entries_chart", "plain", "trend_chart"]


def plain(text: str) -> str:
    """Text matplotlib draws as written: an escaped ``$`` never starts mathtext."""
    return str(text).replace("$", r"\$")


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return matplotlib, plt


def _save(fig, path: Path) -> Path:
    _, plt = _pyplot()
    try:
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def trend_chart(entries, path, *, title: str) -> Path:
    """Compute against date: every entry, the frontier, the fitted trend and Moore's law."""
    from algoeff.trend import fit_trend, plot_trend

    _pyplot()
    # plot_trend labels points with publication names: refit on escaped copies (same numbers)
    entries = [dataclasses.replace(e, publication=plain(e.publication)) for e in entries]
    fit = fit_trend(entries)
    return Path(plot_trend(fit, path, entries=entries, unit="tfs-days", title=plain(title)))


def entries_chart(entries, path, *, title: str) -> Path:
    """Compute against date for a benchmark without a trend (fewer than 2 frontier dates)."""
    from algoeff.units import from_flops

    _, plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    ax.scatter([e.date for e in entries], [from_flops(e.compute_flops) for e in entries], color="C0", s=30)
    for e in entries:
        label = ax.annotate(plain(e.publication), (e.date, from_flops(e.compute_flops)),
                            textcoords="offset points", xytext=(5, 5), fontsize=8)
        label.set_in_layout(False)
    ax.set_yscale("log")
    ax.set_xlabel("publication date")
    ax.set_ylabel("training compute to reach the benchmark (tfs-days, log scale)")
    ax.set_title(plain(title))
    ax.grid(True, which="both", alpha=0.3)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save(fig, Path(path))


def accuracy_chart(data: dict, path) -> Path:
    """Metric against training compute for every recipe's runs; best configs bold; the target dashed."""
    _, plt = _pyplot()
    target = data["target"]
    metric = target["metric"]
    order = [e["recipe"] for e in data["entries"]]
    fig, ax = plt.subplots(figsize=(9, 5), dpi=120)
    labelled = set()
    for curve in data.get("curves", []):
        recipe = curve["recipe"]
        points = [(p["flops"], p.get(metric)) for p in curve["points"]
                  if p.get(metric) is not None and p["flops"] > 0]
        if not points:
            continue
        colour = f"C{order.index(recipe) % 10}" if recipe in order else "0.5"
        best = bool(curve.get("best"))
        label = None
        if best and recipe not in labelled:
            # recipe keys, not titles: the page's table pairs each key with its title
            label = plain(recipe)
            labelled.add(recipe)
        ax.plot([x for x, _ in points], [y for _, y in points], "-", color=colour,
                lw=1.8 if best else 0.8, alpha=0.95 if best else 0.35, label=label)
    if any(not c.get("best") for c in data.get("curves", [])):
        ax.plot([], [], "-", color="0.5", lw=0.8, alpha=0.5, label="other configs and seeds")
    ax.axhline(target["threshold"], ls="--", color="k", lw=1,
               label=plain(f"target: {metric} {'>=' if target.get('higher_is_better', True) else '<='} "
                     f"{target['threshold']:g}"))
    ax.set_xscale("log")
    ax.set_xlabel("training compute (FLOPs, log scale)")
    ax.set_ylabel(plain(metric.replace("_", " ")))
    ax.set_title(plain(f"{data['workload']}: {metric.replace('_', ' ')} against training compute"))
    ax.grid(True, which="both", alpha=0.3)
    # outside the axes: inside, a legend of eight recipes hides the curves it names
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    return _save(fig, Path(path))


def compute_to_target_chart(data: dict, path) -> Path:
    """Median compute to reach the target per recipe against its date, with 95% CIs; the frontier joined."""
    _, plt = _pyplot()
    frontier = set(data.get("frontier", []))
    reached = [e for e in data["entries"] if e.get("compute_to_target_flops")]
    missed = [e for e in data["entries"] if not e.get("compute_to_target_flops")]
    fig, ax = plt.subplots(figsize=(9, 5), dpi=120)
    dates = {e["recipe"]: dt.date.fromisoformat(e["date"]) for e in reached}
    last_date = max(dates.values(), default=None)
    for e in reached:
        date = dates[e["recipe"]]
        y = e["compute_to_target_flops"]
        ci = e.get("ci95_flops") or [None, None]
        lo = y - ci[0] if ci[0] is not None and ci[0] <= y else 0.0
        hi = ci[1] - y if ci[1] is not None and ci[1] >= y else 0.0
        on = e["recipe"] in frontier
        ax.errorbar([date], [y], yerr=[[lo], [hi]], fmt="o", color="C0" if on else "0.55",
                    ecolor="C0" if on else "0.7", capsize=4, ms=6, zorder=3)
        left = date == last_date  # the latest recipe's name goes left of its point, inside the figure
        label = ax.annotate(plain(e["recipe"]), (date, y), textcoords="offset points",
                            xytext=(-6 if left else 6, 6), ha="right" if left else "left", fontsize=8)
        label.set_in_layout(False)  # a label past the axes must not shrink them
    line = sorted((e for e in reached if e["recipe"] in frontier), key=lambda e: e["date"])
    if len(line) >= 2:
        ax.plot([dates[e["recipe"]] for e in line],
                [e["compute_to_target_flops"] for e in line], "-", color="C0", lw=1.2, label="frontier")
    ax.errorbar([], [], yerr=[], fmt="o", color="0.55", capsize=4, label="median over seeds, 95% CI")
    if reached:
        ax.set_yscale("log")
    if missed:
        names = ", ".join(e["recipe"] for e in missed)
        ax.text(0.01, 0.01, plain(f"target not reached: {names}"), transform=ax.transAxes, fontsize=8,
                color="C3", va="bottom")
    doubling = data.get("doubling_time_months")
    title = f"{data['workload']}: compute to reach the target"
    if doubling is not None and math.isfinite(doubling):
        title += f" (doubling every {doubling:.1f} months)"
    ax.set_title(plain(title))
    ax.set_xlabel("recipe publication date")
    ax.set_ylabel("training compute to target (FLOPs, log scale)")
    ax.grid(True, which="both", alpha=0.3)
    if reached:
        first = min(dates.values())
        pad = max((last_date - first) * 0.05, dt.timedelta(days=120))
        ax.set_xlim(first - pad, last_date + pad)
    ax.legend(fontsize=8, loc="upper right")
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save(fig, Path(path))
