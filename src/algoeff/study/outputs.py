"""A study's files under ``--out DIR``: table.md, the plots, ledger.csv + benchmarks.toml, results.json.

The whole set is written into a temporary folder beside ``--out`` and swapped in
at once, as ``algoeff report`` does with its site: a reader sees the old study or
the new one, never a results.json of one beside a table.md of another. What else
lives in ``--out`` (the run store, a lock file) is hard-linked into the new
folder, so it stays reachable under the same path through the swap; the swap is
one atomic exchange of the two folders (Linux renameat2) where the system has it,
else two renames. Where hard links are impossible (some network or FAT file
systems) the files are replaced one by one, results.json last.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path

from algoeff.files import atomic_write, atomic_write_text, swap_in_folder
from algoeff.ledger import write_ledger

__all__ = ["PLOTS", "render_table", "write_outputs"]

PLOTS = {"accuracy_vs_compute": "accuracy_vs_compute.png", "compute_vs_date": "compute_vs_date.png",
         "sensitivity": "sensitivity.png"}
TABLE, RESULTS, LEDGER, BENCHMARKS = "table.md", "results.json", "ledger.csv", "benchmarks.toml"


def flops_text(value) -> str:
    return "-" if value is None else f"{value:.3g}"


def ci_text(ci) -> str:
    if ci is None:
        return "-"
    return f"{flops_text(ci[0])} to {'unbounded' if ci[1] is None else flops_text(ci[1])}"


def factor_text(value) -> str:
    return "-" if value is None else f"{value:.2f}x"


def interval_text(ci, unit: str = "") -> str:
    if ci is None:
        return "undefined"
    low = "-" if ci[0] is None else f"{ci[0]:.1f}"
    return f"{low} to {'unbounded' if ci[1] is None else f'{ci[1]:.1f}'}{unit}"


def coverage_text(value) -> str:
    return "-" if value is None else f"{100 * value:.4g}%"


def doubling_text(data: dict) -> str:
    months = data.get("doubling_time_months")
    if months is None:
        return f"doubling time: undefined ({data.get('doubling_time_note') or 'fewer than 2 frontier points'})"
    ci = data.get("doubling_time_ci95_months")
    if ci is None:
        ci_part = f"OLS 95% CI {data.get('doubling_time_note') or 'undefined'}"
    else:
        ci_part = f"OLS 95% CI {interval_text(ci, ' months')}"
    boot = data.get("doubling_time_bootstrap_ci95_months")
    boot_part = f"; seed bootstrap 95% CI {interval_text(boot, ' months')}" if boot is not None else ""
    best = (data.get("best_so_far") or {}).get("doubling_time_months")
    best_part = f"; best-so-far fit {best:.1f} months" if best is not None else ""
    return f"doubling time: {months:.1f} months ({ci_part}{boot_part}){best_part}"


def targets_text(data: dict) -> list[str]:
    """The targets, and the baseline's own level with its interval."""
    targets = data.get("targets") or {"test": data["target"]}
    lines = []
    for phase, role in (("validation", "selection"), ("test", "the figures below")):
        t = targets.get(phase)
        if t:
            sign = ">=" if t.get("higher_is_better", True) else "<="
            lines.append(f"{phase} target: {t['metric']} {sign} {t['threshold']:g} ({role})")
    level = targets.get("baseline_final_test")
    if level:
        lines.append(f"the baseline's own final {data['target']['metric']} in this study: median {level['median']:.4g}, "
                     f"{coverage_text(level['coverage'])} interval {level['ci'][0]:.4g} to {level['ci'][1]:.4g} "
                     f"({level['seeds']} seeds)")
    return lines


def protocol_text(data: dict) -> str:
    p = data.get("protocol") or {}
    parts = []
    if p.get("splits"):
        parts.append("splits " + " / ".join(f"{k} {v:,}" for k, v in p["splits"].items()))
    tuning = p.get("tuning_seeds") or []
    parts.append(f"tuning seeds {tuning[0]}-{tuning[-1]}" if tuning else "no tuning phase (pre-selected configurations)")
    report = p.get("report_seeds") or []
    if report:
        parts.append(f"report seeds {report[0]}-{report[-1]}")
    return "protocol: " + "; ".join(parts)


def _row(e: dict, tuning_n) -> list[str]:
    d = e.get("decomposition") or {}
    name = e["recipe"] + (" (baseline)" if e["is_baseline"] else "")
    return [name, e.get("role", ""), e["date"], flops_text(e["compute_to_target_flops"]), ci_text(e["ci95_flops"]),
            coverage_text(e.get("ci_coverage")) if e["ci95_flops"] is not None else "-",
            f"{e['seeds_reached']}/{e['seeds']}", factor_text(e["reduction_factor"]),
            factor_text(e.get("reduction_factor_vs_control")), factor_text(d.get("epochs_factor")),
            factor_text(d.get("flops_per_epoch_factor")), flops_text(e.get("eval_flops_to_target")),
            f"{e['configs']} x {tuning_n}" if e.get("configs") else "pre-selected",
            flops_text(e.get("tuning_compute_flops"))]


TABLE_HEADER = ["recipe", "role", "date", "median compute-to-target", "CI", "CI coverage", "seeds reached",
                "reduction factor", "vs best control", "epochs factor", "FLOPs/epoch factor",
                "eval FLOPs to target", "configs x tuning seeds", "compute incl. tuning"]


def sensitivity_rows(data: dict) -> list[list[str]]:
    rows = []
    for r in data.get("sensitivity") or []:
        months = r["doubling_time_months"]
        best = r.get("best_so_far_doubling_time_months")
        factors = ", ".join(f"{k} {factor_text(v)}" for k, v in r["reduction_factors"].items() if v is not None)
        mark = " (baseline < half)" if r.get("baseline_warning") else ""
        rows.append([f"{r['threshold']:g}{mark}", "-" if months is None else f"{months:.1f}",
                     interval_text(r["ci95_months"]) if months is not None else "-",
                     interval_text(r.get("bootstrap_ci95_months")) if r.get("bootstrap_ci95_months") else "-",
                     "-" if best is None else f"{best:.1f}", ", ".join(r["frontier"]) or "-", factors or "-"])
    return rows


SENSITIVITY_HEADER = ["threshold", "doubling time (months)", "OLS 95% CI", "seed bootstrap 95% CI",
                      "best-so-far (months)", "frontier", "reduction factors"]


def _md(header, rows) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(r) + " |" for r in rows]


def render_table(data: dict) -> str:
    """The study's table in Markdown: one row per recipe, doubling time, selection bias, sensitivity, rules."""
    tuning_n = len((data.get("protocol") or {}).get("tuning_seeds") or [])
    lines = [
        f"# {data['title']}: compute to reach the {data['baseline']} baseline" + (" (quick)" if data["quick"] else ""),
        "",
        *[f"- {line}" for line in targets_text(data)],
        f"- {protocol_text(data)}",
        "- compute in training FLOPs (a multiply-add counts 2); evaluation FLOPs beside them, never charged",
        "",
        *_md(TABLE_HEADER, [_row(e, tuning_n) for e in data["entries"]]),
        "",
        "reduction factor = epochs factor x FLOPs/epoch factor (the paper's Table 1); 'vs best control' is "
        f"against the best 2012-ideas control ({data.get('control') or 'none in this study'}).",
        "",
    ]
    if data.get("baseline_refused"):
        lines += [f"**No reference compute: {data['baseline_refused']}.**", ""]
    if data.get("baseline_warning"):
        lines += [f"**Note: {data['baseline_warning']}.**", ""]
    lines += [
        f"Frontier: {', '.join(data['frontier']) or '-'}.",
        "",
        doubling_text(data) + ".",
        "",
        f"Total training compute, tuning included: {flops_text(data['total_compute_flops'])} FLOPs "
        f"({flops_text(data.get('tuning_compute_flops'))} in the tuning phase, "
        f"{flops_text(data['best_configs_compute_flops'])} in the report phase); evaluation: "
        f"{flops_text(data.get('total_eval_compute_flops'))} FLOPs.",
        "",
    ]
    bias = data.get("selection_bias") or {}
    if any(b["tuning_median_validation_flops"] is not None for b in bias.values()):
        lines += ["## Selection bias", "",
                  "The selected configuration's median validation compute-to-target on the tuning seeds it was "
                  "chosen on, beside the same configuration on fresh report seeds (> 1: tuning was optimistic).", ""]
        lines += _md(["recipe", "tuning seeds", "report seeds", "report / tuning"], [
            [name, flops_text(b["tuning_median_validation_flops"]), flops_text(b["report_median_validation_flops"]),
             factor_text(b["report_over_tuning"])] for name, b in bias.items()])
        lines.append("")
    if data.get("sensitivity"):
        lines += ["## Target sensitivity", "",
                  f"The same report curves scored at other thresholds of {data['target']['metric']} "
                  "(`algoeff study rescore DIR --threshold T` for any other).", ""]
        lines += _md(SENSITIVITY_HEADER, sensitivity_rows(data))
        lines.append("")
    lines += ["Rules:", ""]
    rules = data["rules"]
    lines += [f"- {rules['baseline']}.", f"- compute-to-target: {rules['compute_to_target']}.",
              f"- {rules['selection']}.", f"- {rules['ci']}.", f"- doubling time: {data['doubling_time_rule']}."]
    if rules.get("ledger"):
        lines.append(f"- ledger: {rules['ledger']}.")
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


def plot_sensitivity(data: dict, path: Path) -> Path:
    """Doubling time (with both CIs) and each recipe's reduction factor against the threshold."""
    plt = _pyplot()
    rows = data.get("sensitivity") or []
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 7), dpi=120, sharex=True)
    xs = [r["threshold"] for r in rows]
    for i, r in enumerate(rows):
        y = r["doubling_time_months"]
        if y is None:
            continue
        for ci, color, offset in ((r["ci95_months"], "C0", -0.15), (r.get("bootstrap_ci95_months"), "C1", 0.15)):
            if ci is None:
                continue
            dx = offset * (xs[1] - xs[0] if len(xs) > 1 else 0.01)
            hi = ci[1] if ci[1] is not None else y * 4  # an open upper bound: drawn to 4x the estimate
            top.plot([r["threshold"] + dx] * 2, [ci[0] if ci[0] is not None else y, hi], color=color, alpha=0.6)
    top.plot([x for x, r in zip(xs, rows) if r["doubling_time_months"] is not None],
             [r["doubling_time_months"] for r in rows if r["doubling_time_months"] is not None],
             "o-", color="k", label="frontier fit (bars: OLS 95% CI blue, seed bootstrap orange; an open bound drawn to 4x)")
    best = [(x, r["best_so_far_doubling_time_months"]) for x, r in zip(xs, rows)
            if r.get("best_so_far_doubling_time_months") is not None]
    if best:
        top.plot([b[0] for b in best], [b[1] for b in best], "s--", color="C2", label="best-so-far fit")
    top.set_ylabel("doubling time (months)")
    if any(r["doubling_time_months"] for r in rows):
        top.set_yscale("log")
        top.legend(fontsize=7)
    else:
        top.text(0.5, 0.5, "no doubling time at any threshold", transform=top.transAxes, ha="center")
    top.grid(True, which="both", alpha=0.3)
    names = [e["recipe"] for e in data["entries"] if not e["is_baseline"]]
    for i, name in enumerate(names):
        pts = [(x, r["reduction_factors"].get(name)) for x, r in zip(xs, rows)]
        pts = [p for p in pts if p[1] is not None]
        if pts:
            bottom.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=f"C{i % 10}", label=name, alpha=0.8)
    plotted = bool(bottom.get_lines())
    bottom.axhline(1.0, color="k", linewidth=0.8)
    bottom.set_yscale("log")
    bottom.set_ylabel("reduction factor vs baseline")
    bottom.set_xlabel(f"threshold ({data['target']['metric'].replace('_', ' ')})")
    bottom.grid(True, which="both", alpha=0.3)
    if plotted:
        bottom.legend(fontsize=7, ncol=2)
    target = data["target"]["threshold"]
    for ax in (top, bottom):
        ax.axvline(target, color="k", linestyle="--", linewidth=0.8)
    top.set_title(f"{data['workload']}: the measurement across thresholds (dashed: the study's target {target:g})",
                  fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


OUTPUTS = (TABLE, RESULTS, LEDGER, BENCHMARKS, *PLOTS.values())


def _write_set(data: dict, folder: Path, *, ledger_entries, benchmark) -> dict:
    atomic_write_text(folder / TABLE, render_table(data))
    plot_accuracy_vs_compute(data, folder / PLOTS["accuracy_vs_compute"])
    plot_compute_vs_date(data, folder / PLOTS["compute_vs_date"])
    plot_sensitivity(data, folder / PLOTS["sensitivity"])
    if ledger_entries:
        write_ledger(ledger_entries, folder / LEDGER, benchmarks=[benchmark])
    else:
        # nothing measured to publish (a diverged baseline): no ledger rather than an empty one
        for name in (LEDGER, BENCHMARKS):
            if (folder / name).exists():
                (folder / name).unlink()
    published = bool(ledger_entries)
    results = {**data, "plots": dict(PLOTS), "table": TABLE, "ledger": LEDGER if published else None,
               "benchmarks": BENCHMARKS if published else None}
    atomic_write_text(folder / RESULTS, json.dumps(results, indent=2, allow_nan=False) + "\n")
    return results


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link everything of ``src`` that is not a study output into ``dst`` (folders recreated)."""
    for entry in os.scandir(src):
        if entry.name in OUTPUTS:
            continue
        target = dst / entry.name
        if entry.is_dir(follow_symlinks=False):
            target.mkdir()
            _link_tree(Path(entry.path), target)
        elif entry.is_symlink():
            os.symlink(os.readlink(entry.path), target)
        else:
            os.link(entry.path, target)


def _about_out(err: OSError, tmp: Path, out: Path) -> OSError:
    """The same error naming the file under ``out`` (the user's path), not its twin in the staging folder."""
    name = err.filename
    if name is None:
        return type(err)(err.errno, err.strerror or str(err), str(out))
    try:
        name = out / Path(name).relative_to(tmp)
    except ValueError:
        pass
    return type(err)(err.errno, err.strerror or str(err), str(name))


def write_outputs(data: dict, out, *, ledger_entries, benchmark) -> dict:
    """Write the study's files under ``out`` as one set; return results.json's content (with the file names)."""
    out = Path(out)
    if out.is_symlink():
        out = Path(os.path.realpath(out))  # swap the folder it points to, keep the link
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        try:
            results = _write_set(data, tmp, ledger_entries=ledger_entries, benchmark=benchmark)
        except OSError as err:
            raise _about_out(err, tmp, out) from None
        os.chmod(tmp, out.stat().st_mode & 0o7777 if out.exists() else 0o755)
        if out.exists():
            try:
                _link_tree(out, tmp)
            except OSError:
                # no hard links here: fall back to replacing the files one by one, results.json last
                shutil.rmtree(tmp, ignore_errors=True)
                return _write_set(data, out, ledger_entries=ledger_entries, benchmark=benchmark)
        swap_in_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return results
