"""Aggregation: trials -> one entry per recipe, a measured ledger and the doubling time.

The protocol (Hernandez & Brown 2020, section 3):

* The baseline trains its full schedule and is charged all of it; every other
  recipe is charged its training compute until its first evaluation at or past
  the workload's fixed target (the tracker's conservative compute-to-target).
* Per configuration, the median compute-to-target across seeds, a seed that
  never reaches counting as +inf (``algoeff.track.stats``).
* SELECTION_RULE picks each recipe's best configuration; its median, bootstrap
  CI, seeds reached and reduction factor against the baseline are the paper's
  figure. The compute of every trial (tuning included) is reported beside it.
* The doubling time is ``algoeff.trend.fit_trend`` over the measured ledger's
  frontier (recipes that reached the target, from the baseline's date on).

Selection bias: the best configuration is picked on the same seeds that report
its compute, so its median is optimistic by the luck of the draw among the
configurations tried; the sweeps are small (2 to 4 configurations) and the
baseline is not tuned, so the bias favours later recipes slightly.
"""

from __future__ import annotations

import math

import numpy as np

from algoeff.errors import LedgerError
from algoeff.ledger import Benchmark, Entry
from algoeff.track import less_compute, median_compute_to_target
from algoeff.trend import fit_trend

__all__ = ["BASELINE_RULE", "CI_RULE", "SELECTION_RULE", "TREND_RULE", "aggregate", "study_benchmark"]

SELECTION_RULE = (
    "best configuration: the lowest median compute-to-target among the configurations where at least "
    "half of the seeds reach the target (ties go to the earlier in the sweep); when none does, the one "
    "with the best median final metric, reported as not reached"
)
CI_RULE = (
    "95% CI: percentile bootstrap of the median across seeds (9,999 resamples, seed 0); a seed that never "
    "reaches the target counts as +inf, and an upper bound the data cannot fix is null"
)
TREND_RULE = ("OLS fit of log2(baseline compute / compute) against months over the frontier, baseline "
              "included; doubling time = 1 / slope")
BASELINE_RULE = "the baseline trains its full schedule and is charged all of it (its compute is not stopped at the target)"


def _finite(value):
    return value if value is not None and math.isfinite(value) else None


def _charged(result: dict, baseline: bool):
    """FLOPs a trial is charged, or None when it never reached the target (censored)."""
    if baseline:
        return float(result["total_train_flops"])
    if result.get("reached") and not result.get("diverged") and result.get("compute_to_target_flops") is not None:
        return float(result["compute_to_target_flops"])
    return None


def _reached(result: dict) -> bool:
    return bool(result.get("reached")) and not result.get("diverged")


class _Config:
    """One configuration's seeds: their charged compute and its median with CI."""

    def __init__(self, index: int, config: dict, pairs, baseline: bool, higher_is_better: bool):
        self.index, self.config = index, config
        self.results = [r for _, r in sorted(pairs, key=lambda p: p[0].seed)]
        self.values = [_charged(r, baseline) for r in self.results]
        self.n = len(self.results)
        self.n_reached = sum(_reached(r) for r in self.results)
        self.eligible = 2 * self.n_reached >= self.n
        finals = [r["final_metric"] for r in self.results if _finite(r.get("final_metric")) is not None]
        self.final_median = float(np.median(finals)) if finals else None
        sign = 1.0 if higher_is_better else -1.0
        self.final_score = -math.inf if self.final_median is None else sign * self.final_median
        if self.n >= 2:
            stats = median_compute_to_target(self.values)
            self.median, self.ci = stats.median, (stats.ci_low, stats.ci_high)
        else:
            self.median = math.inf if self.values[0] is None else self.values[0]
            self.ci = None  # one seed: no interval


def _best(configs: list[_Config]) -> _Config:
    eligible = [c for c in configs if c.eligible and math.isfinite(c.median)]
    if eligible:
        return min(eligible, key=lambda c: (c.median, c.index))
    return max(configs, key=lambda c: (c.final_score, -c.index))


def _interval(ci):
    if ci is None:
        return None
    return [_finite(ci[0]), _finite(ci[1])]


def _reduction_ci(best: _Config, base: _Config):
    """95% CI of baseline / recipe compute from the bootstrap of the ratio of medians."""
    if best.n < 2 or base.n < 2:
        return None
    cmp = less_compute(best.values, base.values)
    low = 1.0 / cmp.ci_high if cmp.ci_high > 0 and math.isfinite(cmp.ci_high) else None
    high = 1.0 / cmp.ci_low if cmp.ci_low > 0 and math.isfinite(cmp.ci_low) else None
    return [low, high]


def study_benchmark(workload) -> Benchmark:
    """The ledger benchmark a study measures: its workload at the baseline's fixed target."""
    target = workload.target
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


def aggregate(workload, trials, results: dict, *, quick: bool = False) -> dict:
    """The study's figures from its trials and their results (run_key -> run_trial dict).

    Returns the results.json fields that do not depend on where outputs are written,
    plus "ledger_entries" (list of Entry) and "benchmark" (Benchmark) for the writer.
    """
    target = workload.target
    by_recipe: dict[str, list] = {}
    for trial in trials:
        by_recipe.setdefault(trial.recipe, []).append((trial, results[trial.run_key]))
    recipes = [r for r in workload.recipes() if r.name in by_recipe]
    base_recipe = next(r for r in recipes if r.is_baseline)

    chosen, entries, curves = {}, [], []
    for recipe in recipes:
        pairs = by_recipe[recipe.name]
        groups: dict[int, list] = {}
        for trial, result in pairs:
            groups.setdefault(trial.config_index, []).append((trial, result))
        configs = [_Config(i, g[0][0].config, g, recipe.is_baseline, target.higher_is_better)
                   for i, g in sorted(groups.items())]
        best = chosen[recipe.name] = _best(configs)
        for trial, result in sorted(pairs, key=lambda p: (p[0].config_index, p[0].seed)):
            curves.append({
                "recipe": recipe.name, "seed": trial.seed, "config_index": trial.config_index,
                "config": trial.config, "best": trial.config_index == best.index, "reached": _reached(result),
                "points": [{"flops": p["flops"], "examples": p.get("examples"), target.metric: p.get(target.metric)}
                           for p in result.get("curve") or []],
            })
        entries.append({
            "recipe": recipe.name,
            "title": recipe.title,
            "publication": recipe.publication,
            "link": recipe.link,
            "date": recipe.date.isoformat(),
            "is_baseline": recipe.is_baseline,
            "compute_to_target_flops": _finite(best.median),
            "ci95_flops": _interval(best.ci) if math.isfinite(best.median) else None,
            "seeds_reached": best.n_reached,
            "seeds": best.n,
            "reached": best.eligible,
            "reduction_factor": None,
            "reduction_factor_ci95": None,
            "final_metric_median": best.final_median,
            "compute_by_seed_flops": best.values,
            "best_config": best.config,
            "best_config_index": best.index,
            "configs": len(configs),
            "trials": len(pairs),
            "tuning_compute_flops": float(sum(r["total_train_flops"] for _, r in pairs)),
            "eval_compute_flops": float(sum(r.get("eval_flops") or 0 for _, r in pairs)),
        })

    base = chosen[base_recipe.name]
    for entry in entries:
        best = chosen[entry["recipe"]]
        if entry["compute_to_target_flops"] is not None and math.isfinite(base.median):
            entry["reduction_factor"] = base.median / entry["compute_to_target_flops"]
            entry["reduction_factor_ci95"] = None if best is base else _reduction_ci(best, base)

    benchmark = study_benchmark(workload)
    ledger, owner = _ledger_entries(entries, base_recipe, benchmark, workload.name, quick)
    trend, note, frontier = None, "", []
    try:
        trend = fit_trend(ledger)
        frontier = [owner[id(e)] for e in trend.frontier]
    except LedgerError as err:
        note = str(err)
        frontier = [owner[id(e)] for e in ledger[:1]]
    fit = trend.to_dict() if trend else {}
    return {
        "workload": workload.name,
        "title": workload.title,
        "quick": bool(quick),
        "target": target.to_dict(),
        "baseline": base_recipe.name,
        "seeds": max(e["seeds"] for e in entries),
        "entries": entries,
        "frontier": frontier,
        "doubling_time_months": fit.get("doubling_time_months"),
        "doubling_time_ci95_months": fit.get("doubling_time_ci95_months"),
        "doubling_time_note": fit.get("ci_note", note) or note,
        "doubling_time_rule": TREND_RULE + (f"; {trend.ci_method}" if trend else ""),
        "reduction_factor": fit.get("reduction_factor"),
        "span_years": fit.get("span_years"),
        "moores_law_factor": fit.get("moores_law_factor"),
        "total_compute_flops": float(sum(e["tuning_compute_flops"] for e in entries)),
        "best_configs_compute_flops": float(sum(
            r["total_train_flops"] for t, r in (p for ps in by_recipe.values() for p in ps)
            if t.config_index == chosen[t.recipe].index)),
        "total_eval_compute_flops": float(sum(e["eval_compute_flops"] for e in entries)),
        "rules": {"selection": SELECTION_RULE, "ci": CI_RULE, "baseline": BASELINE_RULE,
                  "compute_to_target": "training FLOPs at the first evaluation at or past the target "
                                       "(evaluation FLOPs kept apart)"},
        "curves": curves,
        "ledger_entries": ledger,
        "benchmark": benchmark,
    }


def _ledger_entries(entries, base_recipe, benchmark, workload: str, quick: bool):
    """Measured ledger entries (baseline first) and a map from each to its recipe name.

    Recipes that never reached the target have no compute to list; recipes dated
    before the baseline (a floor such as the MLP) are in the table, not the ledger,
    whose earliest entry must be its baseline.
    """
    ledger, owner, used = [], {}, set()
    command = f"algoeff study {workload}" + (" --quick" if quick else "")
    for e in sorted(entries, key=lambda e: (not e["is_baseline"], e["date"])):
        if e["compute_to_target_flops"] is None or e["date"] < base_recipe.date.isoformat():
            continue
        publication = e["publication"] if e["publication"].lower() not in used else f"{e['publication']} [{e['recipe']}]"
        used.add(publication.lower())
        ci = e["ci95_flops"]
        ci_text = "no CI (1 seed)" if ci is None else (
            f"95% CI {ci[0]:.3g} to {'unbounded' if ci[1] is None else f'{ci[1]:.3g}'} FLOPs")
        entry = Entry(
            benchmark=benchmark.key,
            publication=publication,
            publication_link=e["link"],
            date=_date(e["date"]),
            compute_flops=e["compute_to_target_flops"],
            listed_reduction_factor=e["reduction_factor"],
            analysis=f"{command}: recipe {e['recipe']}",
            analysis_link="",
            flops_per_mac=2,
            models=1,
            method="measured",
            notes=(f"{e['title']}; median of {e['seeds']} seeds ({e['seeds_reached']} reached), {ci_text}; "
                   f"best of {e['configs']} configurations"),
            provenance=f"{command}; {'full schedule (baseline)' if e['is_baseline'] else 'compute to target'}",
        )
        ledger.append(entry)
        owner[id(entry)] = e["recipe"]
    return ledger, owner


def _date(text: str):
    import datetime as dt

    return dt.date.fromisoformat(text)
