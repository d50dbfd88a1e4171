"""Scoring a study's stored report curves at any threshold: the figures behind the table and `rescore`.

Report trials train their full schedule and keep every evaluation, so a
threshold is a reading of curves already measured, never a reason to retrain.
One function, ``score``, makes every figure; the study calls it at its own test
target and ``algoeff study rescore`` at any other, so the two agree exactly.

Rules (each a choice the sensitivity table and rescore show across):

* crossing rule ``first``: the first evaluation at or past the threshold;
  ``consecutive:K``: the first of K evaluations in a row at or past it (a
  fluke that falls back is not a crossing). Lower thresholds are reached no
  later under either rule, so no recipe needs more compute at a lower threshold.
* baseline charge ``full``: the baseline is charged its whole schedule (the
  paper); ``crossing``: charged, like every recipe, up to its crossing.
* a seed that never crosses, or diverges, is censored (+inf). A baseline that
  diverges in any seed publishes no reference compute: no reduction factor
  against it, no ledger, no doubling time.
* per recipe: the median over report seeds with its order-statistic interval
  and the interval's actual coverage (``algoeff.track.stats.median_interval``).
* doubling time: ``algoeff.trend.fit_trend`` over the ledger's frontier (the
  baseline and every "recipe" from its date on; controls and floors are in the
  table, not the ledger), with the OLS t-interval, and beside it a percentile
  bootstrap over seeds that resamples each recipe's seeds, so frontier
  membership changes from resample to resample; a best-so-far (running
  minimum over every recipe) fit beside the frontier fit.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from algoeff.errors import LedgerError, StudyError
from algoeff.ledger import Entry
from algoeff.track.stats import censored_median, median_interval
from algoeff.trend import fit_trend, months_between

__all__ = ["BASELINE_CHARGES", "BOOTSTRAP_RESAMPLES", "ci_rule", "crossing_index", "parse_rule", "score",
           "sensitivity", "sensitivity_thresholds"]

BASELINE_CHARGES = ("full", "crossing")
BOOTSTRAP_RESAMPLES = 1999
LEDGER_ROLES = ("baseline", "recipe")  # controls and floors are measured, not publications of the lineage


def ci_rule(coverage_text: str = "") -> str:
    return ("CI of the median: order statistics [x_(k), x_(n+1-k)], the narrowest with coverage >= 95% "
            "(1 - 2 P(Bin(n, 1/2) <= k - 1)), else [min, max] with its actual coverage (75% at 3 seeds, "
            "93.75% at 5)" + coverage_text + "; a seed that never reaches counts as +inf")


def parse_rule(rule) -> int:
    """K of a crossing rule: "first" is 1, "consecutive:K" is K (>= 1)."""
    if rule == "first":
        return 1
    if isinstance(rule, str) and rule.startswith("consecutive:"):
        text = rule.partition(":")[2]
        try:
            k = int(text)
        except ValueError:
            k = None
        if k is not None and k >= 1:
            return k
        raise StudyError(f"rule {rule!r}: K == {text!r}, must be an integer >= 1 (e.g. consecutive:2).")
    raise StudyError(f"Unknown rule {rule!r}. Possible values are: 'first', 'consecutive:K' (K >= 1).")


def _check_charge(charge):
    if charge not in BASELINE_CHARGES:
        raise StudyError(f"Unknown baseline charge {charge!r}. Possible values are: "
                         f"{', '.join(repr(c) for c in BASELINE_CHARGES)}.")


def _reached(value, threshold: float, higher: bool) -> bool:
    if value is None or not math.isfinite(value):
        return False
    return value >= threshold if higher else value <= threshold


def crossing_index(curve, metric: str, threshold: float, higher: bool = True, k: int = 1):
    """Index of the first of ``k`` evaluations in a row at or past ``threshold``, or None."""
    run = 0
    for i, point in enumerate(curve):
        run = run + 1 if _reached(point.get(metric), threshold, higher) else 0
        if run == k:
            return i - k + 1
    return None


def _finite(value):
    return value if value is not None and math.isfinite(value) else None


def _median(values):
    finite = [v for v in values if v is not None]
    return float(np.median(finite)) if finite else None


class _Seeds:
    """One recipe's report trials read at one threshold."""

    def __init__(self, trials, metric, threshold, higher, k, charged_full: bool):
        self.trials = sorted(trials, key=lambda t: t["seed"])
        self.values, self.eval_values, self.reached = [], [], []
        for t in self.trials:
            i = None if t.get("diverged") else crossing_index(t["curve"], metric, threshold, higher, k)
            self.reached.append(i is not None)
            if charged_full:
                # the paper's baseline: its whole schedule, whatever it reached
                self.values.append(float(t["total_train_flops"]))
                self.eval_values.append(float(t.get("eval_flops") or 0.0))
            elif i is None:
                self.values.append(None)
                self.eval_values.append(None)
            else:
                point = t["curve"][i]
                self.values.append(float(point["flops"]))
                self.eval_values.append(float(point.get("eval_flops") or 0.0))
        self.diverged = [t["seed"] for t in self.trials if t.get("diverged")]
        self.n = len(self.trials)
        self.n_reached = sum(self.reached)
        self.fpe = _median([t.get("flops_per_epoch") for t in self.trials])
        if self.n >= 2:
            self.stats = median_interval(self.values)
            self.median = self.stats.median
        else:
            self.stats = None
            self.median = math.inf if self.values[0] is None else self.values[0]

    def array(self):
        return np.array([math.inf if v is None else v for v in self.values], dtype=float)


def _ols(xs, ys):
    """(slope, 95% t-interval of 1/slope or None): the trend layer's formula, for the best-so-far fit."""
    n = len(xs)
    if n < 2:
        return None, None
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return None, None
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx
    if n == 2:
        return slope, None
    from scipy.special import stdtrit

    intercept = my - slope * mx
    sse = sum((y - intercept - slope * x) ** 2 for x, y in zip(xs, ys))
    se = math.sqrt(sse / (n - 2) / sxx)
    t = float(stdtrit(n - 2, 0.975))
    lo, hi = slope - t * se, slope + t * se
    if hi <= 0:
        return slope, None
    return slope, [1.0 / hi, 1.0 / lo if lo > 0 else None]


def _doubling(slope):
    return 1.0 / slope if slope is not None and slope > 0 else None


def _frontier_slope(xs, ys_compute):
    """OLS slope of log2(base / compute) over the strict running-minimum frontier (first point the baseline)."""
    base = ys_compute[0]
    if not math.isfinite(base):
        return None
    fx, fy, best = [], [], math.inf
    for x, c in zip(xs, ys_compute):
        if c < best:
            best = c
            fx.append(x)
            fy.append(math.log2(base / c))
    if len(fx) < 2:
        return None
    mx, my = sum(fx) / len(fx), sum(fy) / len(fy)
    sxx = sum((x - mx) ** 2 for x in fx)
    if sxx == 0:
        return None
    return sum((x - mx) * (y - my) for x, y in zip(fx, fy)) / sxx


def _bootstrap_doubling(members, seeds_by_recipe, months, n_resamples=BOOTSTRAP_RESAMPLES, seed=0):
    """Percentile 95% interval of the doubling time when every recipe's seeds are resampled.

    Frontier membership is recomputed in each resample. A resample with no
    trend (baseline censored, fewer than 2 frontier points, slope <= 0) has an
    unbounded doubling time; more than 2.5% of those leave the upper bound open.
    """
    rng = np.random.default_rng(seed)
    medians = []
    for name in members:
        x = seeds_by_recipe[name].array()
        if len(x) < 2:
            return None
        idx = rng.integers(0, len(x), size=(n_resamples, len(x)))
        medians.append(censored_median(x[idx], axis=1))
    xs = [months[name] for name in members]
    times = np.empty(n_resamples)
    for b in range(n_resamples):
        compute = [float(m[b]) for m in medians]
        slope = _frontier_slope(xs, compute)
        times[b] = 1.0 / slope if slope is not None and slope > 0 else math.inf
    low = float(np.quantile(times, 0.025, method="lower"))
    high = float(np.quantile(times, 0.975, method="higher"))
    return [None if not math.isfinite(low) else low, None if not math.isfinite(high) else float(high)]


def _ledger_entries(entries, base, workload: str, command: str, charge: str):
    ledger, owner, used = [], {}, set()
    for e in sorted(entries, key=lambda e: (not e["is_baseline"], e["date"])):
        if e["role"] not in LEDGER_ROLES or e["compute_to_target_flops"] is None or e["date"] < base["date"]:
            continue
        publication = e["publication"] if e["publication"].lower() not in used else f"{e['publication']} [{e['recipe']}]"
        used.add(publication.lower())
        ci = e["ci95_flops"]
        ci_text = "no CI (1 seed)" if ci is None else (
            f"{100 * e['ci_coverage']:.4g}% order-statistic CI {ci[0]:.3g} to "
            f"{'unbounded' if ci[1] is None else f'{ci[1]:.3g}'} FLOPs")
        charged = ("full schedule (baseline)" if charge == "full" else "compute to target (baseline)") \
            if e["is_baseline"] else "compute to target"
        entry = Entry(
            benchmark=workload, publication=publication, publication_link=e["link"],
            date=dt.date.fromisoformat(e["date"]), compute_flops=e["compute_to_target_flops"],
            listed_reduction_factor=e["reduction_factor"], analysis=f"{command}: recipe {e['recipe']}",
            analysis_link="", flops_per_mac=2, models=1, method="measured",
            notes=(f"{e['title']}; median of {e['seeds']} report seeds ({e['seeds_reached']} reached), {ci_text}; "
                   f"selected configuration {e.get('selected_from') or ''}".rstrip()),
            provenance=f"{command}; {charged}",
        )
        ledger.append(entry)
        owner[id(entry)] = e["recipe"]
    return ledger, owner


def score(curves: dict, threshold: float, *, rule: str = "first", baseline_charge: str = "full",
          bootstrap: bool = True) -> dict:
    """Every figure of a study at ``threshold`` of its report metric; see the module docstring.

    ``curves`` is the study's scoring input (aggregate.scoring_input): workload,
    metric, higher_is_better, recipes [{name, title, publication, link, date,
    role, is_baseline, selected_from}], trials {recipe: [{seed, total_train_flops,
    eval_flops, flops_per_epoch, diverged, curve}]} and the command that made it.
    Returns the entries and fit plus "ledger_entries" (Entry objects, not JSON).
    """
    k = parse_rule(rule)
    _check_charge(baseline_charge)
    metric, higher = curves["metric"], curves["higher_is_better"]
    recipes = [r for r in curves["recipes"] if curves["trials"].get(r["name"])]
    base_meta = next(r for r in recipes if r["is_baseline"])
    seeds = {r["name"]: _Seeds(curves["trials"][r["name"]], metric, threshold, higher, k,
                               charged_full=r["is_baseline"] and baseline_charge == "full")
             for r in recipes}
    base = seeds[base_meta["name"]]
    refused = None
    if base.diverged:
        refused = (f"the baseline {base_meta['name']} diverged in seed(s) "
                   f"{', '.join(map(str, base.diverged))}: no reference compute is published "
                   "(no reduction factor against it, no ledger, no doubling time)")
    elif not math.isfinite(base.median):
        refused = f"the baseline {base_meta['name']} reaches {metric} {threshold:g} in fewer than half of its seeds"
    base_median = None if refused else base.median
    sign = ">=" if higher else "<="
    warning = None
    if not refused and 2 * base.n_reached < base.n:
        # charged its full schedule, it still fell short: its compute to this level is more than that
        warning = (f"the baseline {base_meta['name']} reaches {metric} {sign} {threshold:g} in only "
                   f"{base.n_reached}/{base.n} seeds: its compute to this level is more than its full schedule, "
                   "so every reduction factor against it is a lower bound")

    controls = [r["name"] for r in recipes if r["role"] == "control" and math.isfinite(seeds[r["name"]].median)
                and not seeds[r["name"]].diverged]
    control = min(controls, key=lambda n: seeds[n].median) if controls else None
    base_epochs = None if base_median is None or not base.fpe else base_median / base.fpe

    entries = []
    for r in recipes:
        s = seeds[r["name"]]
        median = _finite(s.median)
        if r["is_baseline"] and refused:
            median = None
        ci = None if s.stats is None or median is None else [_finite(s.stats.ci_low), _finite(s.stats.ci_high)]
        factor = None if median is None or base_median is None else base_median / median
        vs_control = None if median is None or control is None else seeds[control].median / median
        epochs = None if median is None or not s.fpe else median / s.fpe
        decomposition = {
            "epochs_to_target": epochs,
            "flops_per_epoch": s.fpe,
            "epochs_factor": None if epochs is None or base_epochs is None else base_epochs / epochs,
            "flops_per_epoch_factor": None if factor is None or not s.fpe or not base.fpe else base.fpe / s.fpe,
        }
        entries.append({
            "recipe": r["name"], "title": r["title"], "publication": r["publication"], "link": r["link"],
            "date": r["date"], "role": r["role"], "is_baseline": r["is_baseline"],
            "compute_to_target_flops": median,
            "ci95_flops": ci,
            "ci_coverage": None if s.stats is None else s.stats.coverage,
            "seeds_reached": s.n_reached, "seeds": s.n,
            "reached": 2 * s.n_reached >= s.n and not (r["is_baseline"] and refused),
            "diverged_seeds": s.diverged,
            "reduction_factor": factor,
            "reduction_factor_vs_control": vs_control,
            "decomposition": decomposition,
            "compute_by_seed_flops": s.values,
            "eval_flops_to_target": _median(s.eval_values) if median is not None else None,
            "selected_from": r.get("selected_from"),
        })

    command = curves.get("command", f"algoeff study {curves['workload']}")
    ledger, owner, fit, note = [], {}, None, ""
    if refused:
        note = refused
    else:
        base_entry = next(e for e in entries if e["is_baseline"])
        ledger, owner = _ledger_entries(entries, base_entry, curves["workload"], command, baseline_charge)
        try:
            fit = fit_trend(ledger)
        except LedgerError as err:
            note = str(err)
    frontier = [owner[id(e)] for e in fit.frontier] if fit else [owner[id(e)] for e in ledger[:1]]
    fitd = fit.to_dict() if fit else {}

    # best-so-far and the seed bootstrap, over the same ledger members
    members = [owner[id(e)] for e in sorted(ledger, key=lambda e: e.date)]
    months = {}
    if members:
        d0 = dt.date.fromisoformat(base_meta["date"])
        months = {name: months_between(d0, dt.date.fromisoformat(next(r["date"] for r in recipes if r["name"] == name)))
                  for name in members}
    best_so_far = {"doubling_time_months": None, "ci95_months": None,
                   "rule": "OLS of log2(baseline / running minimum of compute) over every ledger recipe"}
    if len(members) >= 2:
        running, ys = math.inf, []
        for name in members:
            running = min(running, seeds[name].median)
            ys.append(math.log2(base_median / running))
        slope, ci = _ols([months[n] for n in members], ys)
        best_so_far.update(doubling_time_months=_doubling(slope), ci95_months=ci)
    boot = None
    if bootstrap and len(members) >= 2:
        boot = _bootstrap_doubling(members, seeds, months)
    return {
        "threshold": float(threshold),
        "metric": metric,
        "rule": rule,
        "baseline_charge": baseline_charge,
        "entries": entries,
        "control": control,
        "baseline_refused": refused,
        "baseline_warning": warning,
        "frontier": frontier,
        "doubling_time_months": fitd.get("doubling_time_months"),
        "doubling_time_ci95_months": fitd.get("doubling_time_ci95_months"),
        "doubling_time_bootstrap_ci95_months": boot,
        "doubling_time_note": fitd.get("ci_note", note) or note,
        "best_so_far": best_so_far,
        "reduction_factor": fitd.get("reduction_factor"),
        "span_years": fitd.get("span_years"),
        "moores_law_factor": fitd.get("moores_law_factor"),
        "ledger_entries": ledger,
    }


def baseline_reaches(curves: dict, threshold: float, rule: str = "first") -> int:
    """How many baseline report seeds cross ``threshold`` under ``rule``."""
    k = parse_rule(rule)
    base = next(r for r in curves["recipes"] if r["is_baseline"])
    return sum(1 for t in curves["trials"].get(base["name"], [])
               if not t.get("diverged") and crossing_index(t["curve"], curves["metric"], threshold,
                                                           curves["higher_is_better"], k) is not None)


def sensitivity_thresholds(curves: dict, target: float, target_ci=None) -> list[float]:
    """Thresholds from well below the target to the baseline's level, plus the target's own CI ends.

    Only thresholds at least one baseline seed reaches are kept (a threshold
    above the baseline's level has no reference compute).
    """
    higher = curves["higher_is_better"]
    if higher:
        candidates = [target - d for d in (0.2, 0.15, 0.1, 0.05, 0.025, 0.0)]
    else:
        candidates = [target * f for f in (1.5, 1.35, 1.2, 1.1, 1.05, 1.0)]
    candidates += [v for v in (target_ci or []) if v is not None]
    # rounded where a person picks them (float noise of target - d), exact at the baseline's own values
    rounded = {round(t, 6) for t in candidates[:6]} | set(candidates[6:])
    out = sorted({t for t in rounded if t > 0 or not higher}, reverse=not higher)
    return [t for t in out if baseline_reaches(curves, t) > 0]


def sensitivity(curves: dict, thresholds, *, rule: str = "first", baseline_charge: str = "full") -> list[dict]:
    """One row per threshold: doubling time with both CIs, frontier, reduction factors."""
    rows = []
    for threshold in thresholds:
        s = score(curves, threshold, rule=rule, baseline_charge=baseline_charge)
        rows.append({
            "threshold": s["threshold"],
            "doubling_time_months": s["doubling_time_months"],
            "ci95_months": s["doubling_time_ci95_months"],
            "bootstrap_ci95_months": s["doubling_time_bootstrap_ci95_months"],
            "best_so_far_doubling_time_months": s["best_so_far"]["doubling_time_months"],
            "frontier": s["frontier"],
            "reduction_factors": {e["recipe"]: e["reduction_factor"] for e in s["entries"]},
            "compute_to_target_flops": {e["recipe"]: e["compute_to_target_flops"] for e in s["entries"]},
            "note": s["doubling_time_note"],
            "baseline_warning": s["baseline_warning"],
        })
    return rows
