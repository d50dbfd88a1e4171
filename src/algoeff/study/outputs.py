"""A study's files under ``--out DIR``: table.md, the plots, ledger.csv + benchmarks.toml, results.json.

Every file is written atomically (temp file + os.replace); results.json last,
so a folder with a results.json holds a complete, consistent study.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from algoeff.files import atomic_write, atomic_write_text
from algoeff.ledger import write_ledger

__all__ = ["PLOTS", "render_table", "write_outputs"]

PLOTS = {"accuracy_vs_compute": "accuracy_vs_compute.png", "compute_vs_date": "compute_vs_date.png"}
TABLE, RESULTS, LEDGER, BENCHMARKS = "table.md", "results.json", "ledger.csv", "benchmarks.toml"


def flops_text(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def ci_text(ci) -> str:
    if ci is None:
        return "-"
    return f"{flops_text(ci[0])} to {'unbounded' if ci[1] is None else flops_text(ci[1])}"


def factor_text(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def doubling_text(data: dict) -> str:
    months = data.get("doubling_time_months")
    if months is None:
        return f"doubling time: undefined ({data.get('doubling_time_note') or 'fewer than 2 frontier points'})"
    ci = data.get("doubling_time_ci95_months")
    if ci is None:
        ci_part = f"95% CI {data.get('doubling_time_note') or 'undefined'}"
    else:
        ci_part = f"95% CI {ci[0]:.1f} to {'unbounded' if ci[1] is None else f'{ci[1]:.1f}'} months"
    return f"doubling time: {months:.1f} months ({ci_part})"


def render_table(data: dict) -> str:
    """The study's table in Markdown: one row per recipe, then the doubling time and the rules."""
    target = data["target"]
    sign = ">=" if target.get("higher_is_better", True) else "<="
    lines = [
        f"# {data['title']}: compute to reach the {data['baseline']} baseline" + (" (quick)" if data["quick"] else ""),
        "",
        f"Target: {target['metric']} {sign} {target['threshold']:g}. Compute in training FLOPs "
        "(a multiply-add counts 2).",
        "",
        "| recipe | date | median compute-to-target | 95% CI | seeds reached | reduction factor "
        "| configs x seeds | compute incl. tuning |",
        "|---|---|---:|---|---:|---:|---:|---:|",
    ]
    for e in data["entries"]:
        name = e["recipe"] + (" (baseline)" if e["is_baseline"] else "")
        lines.append(
            f"| {name} | {e['date']} | {flops_text(e['compute_to_target_flops'])} | {ci_text(e['ci95_flops'])} "
            f"| {e['seeds_reached']}/{e['seeds']} | {factor_text(e['reduction_factor'])} "
            f"| {e['configs']} x {e['seeds']} | {flops_text(e['tuning_compute_flops'])} |")
    lines += [
        "",
        f"Frontier: {', '.join(data['frontier']) or '-'}.",
        "",
        doubling_text(data) + ".",
        "",
        f"Total training compute, tuning included: {flops_text(data['total_compute_flops'])} FLOPs "
        f"({flops_text(data['best_configs_compute_flops'])} in the best configurations' trials).",
        "",
        "Rules:",
        "",
    ]
    rules = data["rules"]
    lines += [f"- {rules['baseline']}.", f"- compute-to-target: {rules['compute_to_target']}.",
              f"- {rules['selection']}.", f"- {rules['ci']}.", f"- doubling time: {data['doubling_time_rule']}."]
    return "\n".join(lines) + "\n"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    plt = _pyplot()
    try:
        return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png"))
    finally:
        plt.close(fig)


def plot_accuracy_vs_compute(data: dict, path: Path) -> Path:
    """Test metric against cumulative training FLOPs: each seed of each recipe's best configuration."""
    plt = _pyplot()
    metric = data["target"]["metric"]
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    colors = {e["recipe"]: f"C{i % 10}" for i, e in enumerate(data["entries"])}
    labelled = set()
    for curve in data["curves"]:
        if not curve["best"]:
            continue
        points = [p for p in curve["points"] if p["flops"] > 0 and p.get(metric) is not None]
        if not points:
            continue
        recipe = curve["recipe"]
        ax.plot([p["flops"] for p in points], [p[metric] for p in points], color=colors[recipe],
                alpha=0.8, linewidth=1.2, label=None if recipe in labelled else recipe)
        labelled.add(recipe)
    ax.axhline(data["target"]["threshold"], color="k", linestyle="--", linewidth=1,
               label=f"target {data['target']['threshold']:g}")
    ax.set_xscale("log")
    ax.set_xlabel("cumulative training FLOPs (log scale)")
    ax.set_ylabel(metric.replace("_", " "))
    ax.set_title(f"{data['workload']}: {metric.replace('_', ' ')} against training compute "
                 "(best configuration, every seed)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return _save(fig, path)


def plot_compute_vs_date(data: dict, path: Path) -> Path:
    """Median compute-to-target against recipe date, with 95% CI bars and the frontier."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    reached = [e for e in data["entries"] if e["compute_to_target_flops"] is not None]
    for e in reached:
        date = dt.date.fromisoformat(e["date"])
        y = e["compute_to_target_flops"]
        ci = e["ci95_flops"]
        if ci is not None and ci[0] is not None:
            upper = 0.0 if ci[1] is None else max(ci[1] - y, 0.0)
            ax.errorbar([date], [y], yerr=[[max(y - ci[0], 0.0)], [upper]], fmt="o", color="C0",
                        capsize=4, uplims=ci[1] is None)
        else:
            ax.plot([date], [y], "o", color="C0")
        ax.annotate(e["recipe"], (date, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    by_name = {e["recipe"]: e for e in reached}
    front = [by_name[name] for name in data["frontier"] if name in by_name]
    if len(front) > 1:
        ax.plot([dt.date.fromisoformat(e["date"]) for e in front],
                [e["compute_to_target_flops"] for e in front], "-", color="C1", label="frontier")
    missing = [e["recipe"] for e in data["entries"] if e["compute_to_target_flops"] is None]
    title = f"{data['workload']}: compute to reach the {data['baseline']} target (median, 95% CI)"
    if data.get("doubling_time_months") is not None:
        title += f"\ndoubling time {data['doubling_time_months']:.1f} months"
    ax.set_title(title, fontsize=10)
    if missing:
        ax.text(0.01, 0.01, "never reached: " + ", ".join(missing), transform=ax.transAxes, fontsize=8, va="bottom")
    ax.set_yscale("log")
    ax.set_xlabel("recipe date")
    ax.set_ylabel("training FLOPs to reach the target (log scale)")
    ax.grid(True, which="both", alpha=0.3)
    if len(front) > 1:
        ax.legend(fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    return _save(fig, path)


def write_outputs(data: dict, out, *, ledger_entries, benchmark) -> dict:
    """Write the study's files under ``out``; return results.json's content (with the file names)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / TABLE, render_table(data))
    plot_accuracy_vs_compute(data, out / PLOTS["accuracy_vs_compute"])
    plot_compute_vs_date(data, out / PLOTS["compute_vs_date"])
    write_ledger(ledger_entries, out / LEDGER, benchmarks=[benchmark])
    results = {**data, "plots": dict(PLOTS), "table": TABLE, "ledger": LEDGER, "benchmarks": BENCHMARKS}
    atomic_write_text(out / RESULTS, json.dumps(results, indent=2, allow_nan=False) + "\n")
    return results
