"""Aggregation: the tuning phase selects, the report phase measures, ``score`` reads the figures.

* Selection (tuning phase, validation data only). The baseline's selected
  configuration fixes the targets, so its selection cannot use them: the best
  median final validation metric over the tuning seeds (it trains its whole
  schedule). Every other recipe: per configuration, the median validation
  compute-to-target over the tuning seeds (+inf for a seed that never reaches);
  among the configurations where at least half of the seeds reach, the lowest
  median wins (ties: the earlier in the sweep); when none does, the best median
  final validation metric.
* Report (report seeds, full schedules, test metric): ``score.score`` at the
  test target; the sensitivity table at thresholds from well below the target
  to the baseline's level and at the ends of the baseline's own interval.
* Selection bias, measured: the selected configuration's tuning-phase median
  beside the same configuration's report-phase median on the same validation
  target, from fresh seeds.
"""

from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from algoeff.ledger import Benchmark
from algoeff.track.stats import censored_median, median_interval

from .plan import recipe_role, selected_config
from .score import ci_rule, crossing_index, score, sensitivity, sensitivity_thresholds

__all__ = ["BASELINE_RULE", "CI_RULE", "SELECTION_RULE", "TREND_RULE", "aggregate", "report_target",
           "scoring_input", "select_configs", "study_benchmark"]

SELECTION_RULE = (
    "selection on validation data only, over the tuning seeds: the baseline (whose selected configuration fixes "
    "the targets) by the best median final validation metric; every other recipe by the lowest median "
    "validation compute-to-target (up to its first validation crossing) among the configurations where at least "
    "half of the tuning seeds reach the validation target (ties: the earlier in the sweep), and when none does, "
    "the best median final validation metric"
)
QUICK_SELECTION_RULE = "--quick: each recipe's pre-selected configuration (Recipe.selected); no tuning phase"
CI_RULE = ci_rule()
TREND_RULE = ("OLS fit of log2(baseline compute / compute) against months over the frontier, baseline "
              "included; doubling time = 1 / slope")
BOOTSTRAP_RULE = ("percentile bootstrap over seeds (1,999 resamples, seed 0): each recipe's report seeds "
                  "resampled, its median recomputed, the frontier rebuilt and refitted")
BASELINE_RULE = "the baseline trains its full schedule and is charged all of it (its compute is not stopped at the target)"


def report_target(workload):
    """The target the report phase is scored at: the test target, else (older workloads) the one target."""
    return getattr(workload, "test_target", None) or workload.target


def study_benchmark(workload) -> Benchmark:
    """The ledger benchmark a study measures: its workload at the baseline's fixed test target."""
    target = report_target(workload)
    base = next(r for r in workload.recipes() if r.is_baseline)
    sign = ">=" if target.higher_is_better else "<="
    return Benchmark(
        key=workload.name,
        title=f"{base.name}-level performance on {workload.name}",
        capability=f"{target.metric} {sign} {target.threshold:g} on {workload.name} (the {base.name} baseline's level)",
        dataset=workload.title,
        metric=target.metric,
        threshold=target.threshold,
        direction="higher" if target.higher_is_better else "lower",
        source="algoeff study (measured)",
    )


def definition_hash(recipe) -> str:
    fn = getattr(recipe, "definition_hash", None)
    if fn is not None:
        return fn()
    text = json.dumps({**recipe.to_dict(), "grid": getattr(recipe, "grid", {})}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


# -- tuning phase ---------------------------------------------------------------------------


def _tuning_value(result: dict, target, baseline: bool):
    """Validation compute a tuning trial is charged for selection, or None (censored)."""
    if result.get("diverged"):
        return None
    i = crossing_index(result.get("curve") or [], target.metric, target.threshold, target.higher_is_better)
    if i is None:
        return None
    return float(result["total_train_flops"]) if baseline else float(result["curve"][i]["flops"])


def _final(result: dict, metric: str):
    for point in reversed(result.get("curve") or []):
        value = point.get(metric)
        if value is not None and math.isfinite(value):
            return value
    return None


def select_configs(workload, recipes, tuning_trials, results, *, quick: bool) -> tuple[dict, dict]:
    """(selected, tuning): recipe -> (config_index, config), and recipe -> the tuning phase's figures."""
    target = workload.target
    selected, tuning = {}, {}
    for recipe in recipes:
        if quick:
            selected[recipe.name] = (0, selected_config(recipe))
            tuning[recipe.name] = {"configs": 0, "trials": 0, "median_validation_compute_flops": None}
            continue
        groups: dict[int, list] = {}
        for trial in tuning_trials:
            if trial.recipe == recipe.name:
                groups.setdefault(trial.config_index, []).append(trial)
        rows = []
        for index, trials in sorted(groups.items()):
            values = [_tuning_value(results[t.run_key], target, recipe.is_baseline) for t in trials]
            arr = np.array([math.inf if v is None else v for v in values])
            n_reached = sum(v is not None for v in values)
            finals = [f for f in (_final(results[t.run_key], target.metric) for t in trials) if f is not None]
            final = float(np.median(finals)) if finals else None
            rows.append({"index": index, "config": trials[0].config, "values": values,
                         "median": float(censored_median(arr)), "eligible": 2 * n_reached >= len(values),
                         "final": final})
        eligible = [r for r in rows if r["eligible"] and math.isfinite(r["median"])]
        sign = 1.0 if target.higher_is_better else -1.0
        if eligible and not recipe.is_baseline:
            best = min(eligible, key=lambda r: (r["median"], r["index"]))
        else:
            # the baseline's selection fixes the targets, so it cannot use them: the best median final
            # validation metric (also every recipe's fallback when no configuration reaches the target)
            best = max(rows, key=lambda r: (-math.inf if r["final"] is None else sign * r["final"], -r["index"]))
        selected[recipe.name] = (best["index"], best["config"])
        tuning[recipe.name] = {
            "configs": len(rows), "trials": sum(len(r["values"]) for r in rows),
            "median_validation_compute_flops": best["median"] if math.isfinite(best["median"]) else None,
            "by_config": [{"config_index": r["index"], "median_validation_compute_flops":
                           r["median"] if math.isfinite(r["median"]) else None, "eligible": r["eligible"]}
                          for r in rows],
        }
    return selected, tuning


# -- report phase ---------------------------------------------------------------------------


def _flops_per_epoch(result: dict, config: dict):
    if result.get("flops_per_epoch"):
        return float(result["flops_per_epoch"])
    curve = result.get("curve") or []
    for point in reversed(curve):
        if point.get("epoch"):
            return float(point["flops"]) / float(point["epoch"])
    epochs = config.get("epochs")
    if not result.get("diverged") and epochs:
        return float(result["total_train_flops"]) / float(epochs)
    return None


def _trial_record(trial, result: dict) -> dict:
    return {
        "seed": trial.seed,
        "run_key": trial.run_key,
        "total_train_flops": float(result["total_train_flops"]),
        "eval_flops": float(result.get("eval_flops") or 0.0),
        "flops_per_epoch": _flops_per_epoch(result, trial.config),
        "diverged": bool(result.get("diverged")),
        "curve": result.get("curve") or [],
    }


def scoring_input(workload, recipes, report_trials, results, *, command: str, selected=None) -> dict:
    """What ``score`` reads: recipe metadata and every report trial's stored curve (JSON-ready)."""
    target = report_target(workload)
    trials: dict[str, list] = {}
    for trial in report_trials:
        trials.setdefault(trial.recipe, []).append(_trial_record(trial, results[trial.run_key]))
    return {
        "workload": workload.name,
        "metric": target.metric,
        "higher_is_better": target.higher_is_better,
        "validation_metric": workload.target.metric,
        "command": command,
        "recipes": [{
            "name": r.name, "title": r.title, "publication": r.publication, "link": r.link,
            "date": r.date.isoformat(), "role": recipe_role(r), "is_baseline": r.is_baseline,
            "selected_from": None if selected is None else _config_text(selected[r.name][1]),
        } for r in recipes],
        "trials": trials,
    }


def _config_text(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(config.items()))


def _baseline_level(curves: dict) -> dict | None:
    """The baseline's final report metric: median and order-statistic interval (the target's own uncertainty)."""
    base = next(r["name"] for r in curves["recipes"] if r["is_baseline"])
    finals = [_final(t, curves["metric"]) for t in curves["trials"].get(base, []) if not t["diverged"]]
    finals = [f for f in finals if f is not None]
    if len(finals) < 2:
        return None
    stats = median_interval(finals)
    return {"median": stats.median, "ci": [stats.ci_low, stats.ci_high], "coverage": stats.coverage,
            "seeds": len(finals), "method": "order statistics of the baseline's final report-phase metric"}


def _selection_bias(curves, tuning, workload) -> dict:
    """Selected configuration: tuning-phase median vs report-phase median, both on the validation target."""
    target = workload.target
    out = {}
    for r in curves["recipes"]:
        tuned = tuning[r["name"]]["median_validation_compute_flops"]
        values = []
        for t in curves["trials"].get(r["name"], []):
            values.append(_tuning_value({**t, "curve": t["curve"]}, target, r["is_baseline"]))
        arr = np.array([math.inf if v is None else v for v in values]) if values else np.array([math.inf])
        reported = float(censored_median(arr))
        reported = reported if math.isfinite(reported) else None
        out[r["name"]] = {
            "tuning_median_validation_flops": tuned,
            "report_median_validation_flops": reported,
            "report_over_tuning": None if not tuned or reported is None else reported / tuned,
        }
    return out


def aggregate(workload, tuning_trials, report_trials, results: dict, *, quick: bool = False,
              selected: dict, tuning: dict, protocol: dict) -> dict:
    """The study's figures: results.json's fields plus "ledger_entries" and "benchmark" for the writer."""
    names = {t.recipe for t in report_trials}
    recipes = [r for r in workload.recipes() if r.name in names]
    base_recipe = next(r for r in recipes if r.is_baseline)
    command = f"algoeff study {workload.name}" + (" --quick" if quick else "")
    curves = scoring_input(workload, recipes, report_trials, results, command=command, selected=selected)
    protocol = {**protocol, "scoring": {k: v for k, v in curves.items() if k != "trials"}}
    target = report_target(workload)
    main = score(curves, target.threshold)
    level = _baseline_level(curves)
    thresholds = sensitivity_thresholds(curves, target.threshold, level["ci"] if level else None)
    if target.threshold not in thresholds:
        thresholds = sorted({*thresholds, target.threshold}, reverse=not target.higher_is_better)
    table = sensitivity(curves, thresholds)
    bias = _selection_bias(curves, tuning, workload)

    all_trials = list(tuning_trials) + list(report_trials)
    entries = []
    for entry in main["entries"]:
        name = entry["recipe"]
        index, config = selected[name]
        mine = [t for t in all_trials if t.recipe == name]
        report = [t for t in report_trials if t.recipe == name]
        entries.append({
            **entry,
            "best_config": config,
            "best_config_index": index,
            "configs": tuning[name]["configs"],
            "trials": len(mine),
            "tuning_trials": tuning[name]["trials"],
            "tuning": tuning[name],
            "selection_bias": bias[name],
            "final_metric_median": _median_final([results[t.run_key] for t in report], target.metric),
            "tuning_compute_flops": float(sum(results[t.run_key]["total_train_flops"] for t in mine)),
            "report_compute_flops": float(sum(results[t.run_key]["total_train_flops"] for t in report)),
            "eval_compute_flops": float(sum(results[t.run_key].get("eval_flops") or 0 for t in mine)),
        })
    # the reduction factor's CI: the order-statistic interval has no ratio form; bootstrap of the ratio of medians
    _ratio_cis(entries, curves, main)

    plot_curves = []
    for trial in report_trials:
        result = results[trial.run_key]
        plot_curves.append({
            "recipe": trial.recipe, "seed": trial.seed, "config_index": trial.config_index, "config": trial.config,
            "best": True, "phase": "report", "run_key": trial.run_key,
            "reached": not result.get("diverged") and crossing_index(
                result.get("curve") or [], target.metric, target.threshold, target.higher_is_better) is not None,
            "points": [{k: p.get(k) for k in ("flops", "eval_flops", "examples", "epoch", target.metric,
                                              workload.target.metric) if k in p} for p in result.get("curve") or []],
        })

    targets = {"validation": workload.target.to_dict(), "test": target.to_dict(),
               "baseline_final_test": level}
    ledger = main.pop("ledger_entries")
    data = {
        "workload": workload.name,
        "title": workload.title,
        "quick": bool(quick),
        "target": target.to_dict(),
        "targets": targets,
        "protocol": protocol,
        "baseline": base_recipe.name,
        "seeds": max(e["seeds"] for e in entries),
        "entries": entries,
        "control": main["control"],
        "baseline_refused": main["baseline_refused"],
        "baseline_warning": main["baseline_warning"],
        "frontier": main["frontier"],
        "doubling_time_months": main["doubling_time_months"],
        "doubling_time_ci95_months": main["doubling_time_ci95_months"],
        "doubling_time_bootstrap_ci95_months": main["doubling_time_bootstrap_ci95_months"],
        "doubling_time_note": main["doubling_time_note"],
        "doubling_time_rule": TREND_RULE + "; t-interval on the slope; beside it, " + BOOTSTRAP_RULE,
        "best_so_far": main["best_so_far"],
        "reduction_factor": main["reduction_factor"],
        "span_years": main["span_years"],
        "moores_law_factor": main["moores_law_factor"],
        "sensitivity": table,
        "selection_bias": bias,
        "total_compute_flops": float(sum(results[t.run_key]["total_train_flops"] for t in all_trials)),
        "tuning_compute_flops": float(sum(results[t.run_key]["total_train_flops"] for t in tuning_trials)),
        "best_configs_compute_flops": float(sum(results[t.run_key]["total_train_flops"] for t in report_trials)),
        "total_eval_compute_flops": float(sum(results[t.run_key].get("eval_flops") or 0 for t in all_trials)),
        "rules": {"selection": QUICK_SELECTION_RULE if quick else SELECTION_RULE, "ci": CI_RULE,
                  "baseline": BASELINE_RULE, "crossing": "first evaluation at or past the threshold",
                  "compute_to_target": "training FLOPs at the first evaluation at or past the test target "
                                       "(evaluation FLOPs kept apart), over the report seeds",
                  "ledger": "the baseline and the dated recipes from its date on; 2012-ideas controls and "
                            "floors are in the table, not the ledger"},
        "curves": plot_curves,
        "ledger_entries": ledger,
        "benchmark": study_benchmark(workload),
    }
    return data


def _median_final(results, metric):
    finals = [f for f in (_final(r, metric) for r in results) if f is not None]
    return float(np.median(finals)) if finals else None


def _ratio_cis(entries, curves, main):
    from algoeff.track import less_compute

    base = next(e for e in entries if e["is_baseline"])
    for e in entries:
        e["reduction_factor_ci95"] = None
        e["reduction_factor_ci_method"] = ("percentile bootstrap of the ratio of medians (9,999 resamples); "
                                           "with few seeds its coverage is below 95%")
        if e["is_baseline"] or e["reduction_factor"] is None or e["seeds"] < 2 or base["seeds"] < 2:
            continue
        cmp = less_compute(e["compute_by_seed_flops"], base["compute_by_seed_flops"])
        low = 1.0 / cmp.ci_high if cmp.ci_high > 0 and math.isfinite(cmp.ci_high) else None
        high = 1.0 / cmp.ci_low if cmp.ci_low > 0 and math.isfinite(cmp.ci_low) else None
        e["reduction_factor_ci95"] = [low, high]
