"""A study's page, from its results.json: headline, protocol facts, charts, the results table,
and, when results.json carries them, the target-sensitivity chart and table, the
decomposition of each reduction factor, and the intervals' coverage.

    write_study(study, folder, *, version, progress) -> dict   # its index card
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

from . import charts
from .html import external_link, fmt_factor, fmt_interval, fmt_months, fmt_number, unique_slugs
from .render import render
from .svg import PALETTE

__all__ = ["write_study"]

RUN_TIME_KEYS = ("run_seconds", "wall_seconds", "elapsed_seconds")


def target_text(target: dict) -> str:
    sign = ">=" if target.get("higher_is_better", True) else "<="
    return f"{target['metric']} {sign} {target['threshold']:g}"


def _g4(v) -> str:
    return f"{v:.4g}"


def _coverage(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{100 * value:.3g}%" if 0 <= value <= 1 else fmt_number(value)
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')} {_coverage(v) if isinstance(v, float) else v}"
                         for k, v in value.items())
    return str(value)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _config(best) -> list[str]:
    if not isinstance(best, dict):
        return []
    return [f"{k}={json.dumps(v)}" for k, v in sorted(best.items())]


def _facts(data: dict) -> list[tuple[str, str]]:
    """Protocol facts, each from results.json; a fact it does not record says so."""
    rules = data.get("rules") or {}
    protocol = data.get("protocol") or {}
    configs = sorted({e.get("configs") for e in data["entries"] if e.get("configs") is not None})
    sweep = ("quick sweep (--quick)" if data.get("quick") else "full sweep")
    if configs:
        sweep += f": {', '.join(map(str, configs))} configuration{'s' if configs != [1] else ''} per recipe"
    facts = [("Target", target_text(data["target"]))]
    targets = data.get("targets")
    if isinstance(targets, dict):
        for key, name in (("validation", "Validation target (selection)"), ("test", "Test target (reported)")):
            t = targets.get(key)
            if isinstance(t, dict) and "metric" in t and "threshold" in t:
                facts.append((name, target_text(t)))
            elif isinstance(t, (int, float)) and not isinstance(t, bool):
                facts.append((name, f"{data['target']['metric']} at {t:g}"))
        level = targets.get("baseline_final_test")
        if isinstance(level, dict) and level.get("median") is not None:
            ci = level.get("ci") or [None, None]
            facts.append(("Baseline's own level", f"final {data['target']['metric']} median {level['median']:.4g}, "
                          f"{_coverage(level.get('coverage'))} interval {fmt_interval(ci[0], ci[1], _g4)} "
                          f"({level.get('seeds', '?')} seeds)"))
    facts.append(("Sweep", sweep))
    splits = protocol.get("splits")
    if isinstance(splits, dict) and splits:
        facts.append(("Splits", ", ".join(f"{k}: {v:,}" if isinstance(v, int) else f"{k}: {v}"
                                          for k, v in splits.items())))
    elif isinstance(splits, str):
        facts.append(("Splits", splits))
    else:
        facts.append(("Splits", "not recorded in this results.json"))
    for key, name in (("tuning_seeds", "Tuning seeds"), ("report_seeds", "Reporting seeds"),
                      ("selection_metric", "Selection metric"), ("report_metric", "Reported metric")):
        value = protocol.get(key)
        if isinstance(value, list):
            facts.append((name, ", ".join(map(str, value)) if value else "none"))
        elif value is not None:
            facts.append((name, str(value)))
    if data.get("seeds") is not None:
        facts.append(("Seeds per configuration", str(data["seeds"])))
    facts.append(("FLOP convention", "counted by algoeff's FLOP counter during training: 2 FLOPs per "
                                     "multiply-add, one model, no utilization discount"))
    if rules.get("compute_to_target"):
        facts.append(("Compute to target", rules["compute_to_target"]))
    if rules.get("baseline"):
        facts.append(("Baseline", rules["baseline"]))
    if rules.get("selection"):
        facts.append(("Selection", rules["selection"]))
    if rules.get("ci"):
        facts.append(("Interval", rules["ci"]))
    if data.get("doubling_time_rule"):
        facts.append(("Doubling time", data["doubling_time_rule"]))
    trials = data.get("trials")
    if isinstance(trials, dict):
        facts.append(("Trials", ", ".join(f"{k} {v}" for k, v in trials.items())))
    run = next((data[k] for k in RUN_TIME_KEYS if isinstance(data.get(k), (int, float))), None)
    facts.append(("Run time", _duration(run) if run is not None else "not recorded in this results.json"))
    if data.get("created"):
        facts.append(("Finished", str(data["created"])))
    return facts


def write_study(study, folder: Path, *, version, progress) -> dict:
    data = study.data
    entries = sorted(data["entries"], key=lambda e: e["date"])
    anchors = unique_slugs([e["recipe"] for e in entries], prefix="r-")
    number = {e["recipe"]: (i + 1, anchors[i]) for i, e in enumerate(entries)}
    front = set(data.get("frontier") or [])
    order = [e["recipe"] for e in data["entries"]]

    shutil.copyfile(study.path / "results.json", folder / "results.json")
    downloads = [("results.json", "results.json")]
    table_md = study.path / str(data.get("table") or "table.md")
    if table_md.is_file() and table_md.resolve().parent == study.path.resolve():
        shutil.copyfile(table_md, folder / "table.md")
        downloads.append(("table.md", "table.md"))

    rows = []
    has = {k: any(e.get(k) is not None for e in entries)
           for k in ("reduction_factor_vs_control", "decomposition", "ci_coverage", "eval_compute_flops",
                     "eval_flops_to_target")}
    has["bootstrap"] = any(r.get("bootstrap_ci95_months") for r in data.get("sensitivity") or [])
    for e in entries:
        n, anchor = number[e["recipe"]]
        ci = e.get("ci95_flops")
        point = e.get("compute_to_target_flops")
        rf_ci = e.get("reduction_factor_ci95")
        dec = e.get("decomposition") or {}
        rows.append({
            "n": n, "anchor": anchor, "e": e, "frontier": e["recipe"] in front,
            "colour": order.index(e["recipe"]) % len(PALETTE),
            "publication": external_link(e.get("link"), e.get("publication") or "—"),
            "compute": fmt_number(point) if point else "not reached",
            "ci": fmt_interval(ci[0], ci[1]) if ci and point else "—",
            "factor": fmt_factor(e.get("reduction_factor")),
            "factor_ci": fmt_interval(rf_ci[0], rf_ci[1], fmt_factor) if rf_ci else (
                "baseline" if e.get("is_baseline") else "—"),
            "vs_control": fmt_factor(e.get("reduction_factor_vs_control")),
            "decomposition": (f"{fmt_number(dec['epochs_factor'])} × {fmt_number(dec['flops_per_epoch_factor'])}"
                              if dec.get("epochs_factor") is not None and dec.get("flops_per_epoch_factor") is not None
                              else "—"),
            "coverage": _coverage(e.get("ci_coverage")),
            "config": _config(e.get("best_config")),
        })

    reached = [e for e in entries if e.get("reduction_factor")]
    figures = []
    if reached:
        best = max(reached, key=lambda e: e["reduction_factor"])
        rf_ci = best.get("reduction_factor_ci95")
        figures.append({"id": "reduction-factor", "value": fmt_factor(best["reduction_factor"]),
                        "label": "less compute than the baseline", "badges": [],
                        "detail": (best.get("title") or best["recipe"])
                        + (f"; 95% CI {fmt_interval(rf_ci[0], rf_ci[1], fmt_factor)}" if rf_ci else "")})
    else:
        figures.append({"id": "reduction-factor", "value": "not reached", "label": "no recipe reached the target",
                        "detail": target_text(data["target"]), "badges": []})
    doubling = data.get("doubling_time_months")
    if doubling is not None:
        ci = data.get("doubling_time_ci95_months")
        detail = ("95% CI " + fmt_interval(ci[0], ci[1], fmt_months, unit="months")) if ci else (
            "no 95% CI: " + (data.get("doubling_time_note") or "undefined"))
        boot = data.get("doubling_time_bootstrap_ci95_months")
        if boot:
            detail += "; seed bootstrap 95% CI " + fmt_interval(boot[0], boot[1], fmt_months, unit="months")
        figures.append({"id": "doubling-time", "value": f"{doubling:.1f} months", "label": "efficiency doubling time",
                        "detail": detail, "badges": []})
    if data.get("total_compute_flops"):
        figures.append({"id": "total-compute", "value": f"{fmt_number(data['total_compute_flops'])} FLOPs",
                        "label": "training compute of the study", "badges": [],
                        "detail": "every trial, tuning included; evaluation not included"})
    ev = data.get("total_eval_compute_flops")
    figures.append({"id": "eval-compute", "value": f"{fmt_number(ev)} FLOPs" if ev is not None else "not recorded",
                    "label": "evaluation compute", "badges": [],
                    "detail": "kept apart: not in training compute or compute to target"})

    tt = target_text(data["target"])
    ctt = charts.compute_to_target_chart(data, number, label=f"{study.title}: compute to reach {tt} per recipe")
    acc = charts.accuracy_chart(data, label=f"{study.title}: {data['target']['metric']} against training compute")
    sens_rows = data.get("sensitivity") or []
    sens = charts.sensitivity_chart(sens_rows, label=f"{study.title}: doubling time against the target threshold") \
        if sens_rows else None
    sensitivity = [{"threshold": r["threshold"], "doubling": fmt_months(r.get("doubling_time_months")),
                    "boot": fmt_interval(r["bootstrap_ci95_months"][0], r["bootstrap_ci95_months"][1], fmt_months)
                    if r.get("bootstrap_ci95_months") and r.get("doubling_time_months") is not None else "—",
                    "warning": bool(r.get("baseline_warning")),
                    "ci": fmt_interval(r["ci95_months"][0], r["ci95_months"][1], fmt_months)
                    if r.get("ci95_months") and r.get("doubling_time_months") is not None else "—",
                    "frontier": ", ".join(r.get("frontier") or []) or "—"} for r in sens_rows]
    missed = [e for e in entries if not e.get("compute_to_target_flops")]
    recipes = [(order.index(e["recipe"]) % len(PALETTE), number[e["recipe"]][0], e) for e in entries]
    html = render("study.html", root="../../", version=version, title=study.title, study=study, data=data,
                  target=tt, facts=_facts(data), warning=data.get("baseline_warning"), figures=figures, rows=list(reversed(rows)), has=has,
                  ctt=ctt, acc=acc, sens=sens, sensitivity=sensitivity, missed=missed, downloads=downloads,
                  recipes=recipes, palette=PALETTE, has_fit=charts.study_fit(data) is not None,
                  band=(charts.study_fit(data) is not None and "band" in charts.trend_lines(charts.study_fit(data))))
    (folder / "index.html").write_text(html, encoding="utf-8")
    progress(f"study {data['workload']}: {len(entries)} recipes")
    n_reached = sum(1 for e in entries if e.get("compute_to_target_flops"))
    return {"slug": study.slug, "title": study.title, "workload": data["workload"], "target": tt,
            "sweep": "quick sweep" if data.get("quick") else "full sweep",
            "reached": f"{n_reached} / {len(entries)}",
            "doubling": f"{doubling:.1f} months" if doubling is not None else "—",
            "total": f"{fmt_number(data.get('total_compute_flops'))} FLOPs",
            "labels": ctt.boxes if ctt else {}}
