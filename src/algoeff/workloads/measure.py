"""Tune every recipe and measure a workload's targets: how the numbers in its data file were made.

    python -m algoeff.workloads.measure mnist1d                  # tune, measure targets, tune the rest
    python -m algoeff.workloads.measure mnist1d --targets-only   # re-measure the targets only

The procedure (AlgoPerf style; selection on validation, test only reported):

1. The baseline's grid on the tuning seeds (1000, 1001), full schedule; its
   selected configuration is the one with the highest median final
   validation accuracy (the strongest baseline, whose level the targets are).
2. That configuration on the target-measurement seeds (2000-2004), full
   schedule: the validation target is the mean final validation accuracy,
   the test target the mean final test accuracy (each rounded to 3 places).
3. Every other recipe's grid on the tuning seeds, each trial stopped at the
   new validation target; the selected configuration is the one with the
   lowest median validation compute-to-target among those where at least
   half the seeds reach it (a seed that never reaches counts as +inf, the
   lower middle value of two when one is censored; ties go to the earlier in
   the grid); when none reaches, the highest median final validation
   accuracy. This is the study's own tuning rule (study/aggregate.py), so the
   study's tuning phase selects the same configurations from the same trials.

Seeds never overlap: report seeds are 0..N-1, tuning 1000.., targets 2000...
Trials are deterministic per configuration and seed, so the study's tuning
phase, run later, re-trains the very same trials. ``--cache FILE`` keeps
finished trials (JSON lines), so an interrupted run resumes. It prints what
it measured, with the TOML to paste into the workload's data file.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import math
import multiprocessing
import os
import statistics
import sys
import time
from pathlib import Path

from algoeff.track import Target, censored_median

from . import get_workload

__all__ = ["TARGET_SEEDS", "TUNING_SEEDS", "measure_targets", "select", "tune"]

TUNING_SEEDS = (1000, 1001)
TARGET_SEEDS = (2000, 2001, 2002, 2003, 2004)


# -- running trials --------------------------------------------------------------------


def _worker_trial(name: str, job: tuple, target: dict | None) -> dict:
    workload = _worker_workload(name, target)
    recipe, config, seed, full = job
    return _slim(workload.run_trial(recipe, config, seed, full_schedule=full))


_WORKLOADS: dict = {}


def _worker_workload(name: str, target: dict | None):
    key = (name, json.dumps(target, sort_keys=True))
    if key not in _WORKLOADS:
        workload = get_workload(name)
        if target is not None:
            workload = _with_target(workload, Target(**target))
        _WORKLOADS[key] = workload
    return _WORKLOADS[key]


def _with_target(workload, target: Target):
    """The workload scored against ``target`` instead of its data file's validation target."""
    cls = type(workload)
    scored = type(cls.__name__, (cls,), {"target": property(lambda self: target)})
    return scored()


def _slim(result: dict) -> dict:
    # tuning needs the figures, not the curve's every point
    return {k: v for k, v in result.items() if k != "curve"} | {"points": len(result.get("curve") or [])}


def _job_key(name: str, job: tuple, target: dict | None) -> str:
    recipe, config, seed, full = job
    return json.dumps([name, recipe, config, seed, full, target], sort_keys=True)


def run_jobs(workload, jobs: list[tuple], *, workers: int = 1, cache: Path | None = None, target: Target | None = None,
             progress=None) -> list[dict]:
    """run_trial for each (recipe, config, seed, full_schedule), in order; ``workers`` processes, resumable via ``cache``."""
    target_dict = None if target is None else target.to_dict()
    done = {}
    if cache is not None and cache.exists():
        for line in cache.read_text().splitlines():
            if line.strip():
                entry = json.loads(line)
                done[entry["key"]] = entry["result"]
    keys = [_job_key(workload.name, job, target_dict) for job in jobs]
    todo = [(k, job) for k, job in zip(keys, jobs) if k not in done]
    scored = workload if target is None else _with_target(workload, target)
    count = [len(keys) - len(todo)]

    def finished(key, result):
        done[key] = result
        count[0] += 1
        if cache is not None:
            with cache.open("a") as fh:
                fh.write(json.dumps({"key": key, "result": result}) + "\n")
        if progress is not None:
            progress(count[0], len(keys), result)

    if workers <= 1:
        for key, job in todo:
            recipe, config, seed, full = job
            finished(key, _slim(scored.run_trial(recipe, config, seed, full_schedule=full)))
    else:
        context = multiprocessing.get_context("fork")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            futures = {pool.submit(_worker_trial, workload.name, job, target_dict): key for key, job in todo}
            for future in concurrent.futures.as_completed(futures):
                finished(futures[future], future.result())
    return [done[k] for k in keys]


# -- selection ---------------------------------------------------------------------------


def _charged(result: dict) -> float:
    if result.get("reached") and not result.get("diverged") and result.get("compute_to_target_flops") is not None:
        return float(result["compute_to_target_flops"])
    return math.inf


def _final(result: dict) -> float:
    value = result.get("final_metric")
    return -math.inf if result.get("diverged") or value is None else float(value)


def select(configs: list[dict], results: list[list[dict]], *, rule: str) -> dict:
    """The selected configuration's index and every configuration's tuning figures.

    ``rule`` is "final" (highest median final validation accuracy: the
    baseline) or "compute" (lowest median validation compute-to-target, as the
    module docstring says).
    """
    rows = []
    for i, (config, seeds) in enumerate(zip(configs, results)):
        charged = [_charged(r) for r in seeds]
        reached = sum(math.isfinite(c) for c in charged)
        rows.append({
            "index": i,
            "config": config,
            "median_compute_to_target_flops": float(censored_median(charged)),
            "seeds_reached": reached,
            "seeds": len(seeds),
            "median_final_validation_accuracy": statistics.median(_final(r) for r in seeds),
            "median_final_test_accuracy": statistics.median(
                -math.inf if r.get("final_test_metric") is None else r["final_test_metric"] for r in seeds),
            "wall_s": [round(r["wall_s"], 2) for r in seeds],
        })
    if rule == "final":
        best = max(rows, key=lambda r: (r["median_final_validation_accuracy"], -r["index"]))
    else:
        reaching = [r for r in rows if 2 * r["seeds_reached"] >= r["seeds"] and r["seeds_reached"] > 0]
        if reaching:
            best = min(reaching, key=lambda r: (r["median_compute_to_target_flops"], r["index"]))
        else:
            best = max(rows, key=lambda r: (r["median_final_validation_accuracy"], -r["index"]))
    return {"selected_index": best["index"], "rule": rule, "configs": rows}


def tune(workload, recipe, *, seeds=TUNING_SEEDS, target: Target | None = None, workers: int = 1,
         cache: Path | None = None, progress=None) -> dict:
    """Train ``recipe``'s grid on ``seeds`` and select; the baseline by final accuracy, the rest by compute."""
    configs = recipe.sweep()
    full = recipe.is_baseline
    jobs = [(recipe.name, config, seed, full) for config in configs for seed in seeds]
    flat = run_jobs(workload, jobs, workers=workers, cache=cache, target=None if full else target, progress=progress)
    results = [flat[i * len(seeds):(i + 1) * len(seeds)] for i in range(len(configs))]
    chosen = select(configs, results, rule="final" if full else "compute")
    point = {k: configs[chosen["selected_index"]][k] for k in recipe.grid}
    return {"recipe": recipe.name, "role": recipe.role, "seeds": list(seeds), "selected": point, **chosen}


def measure_targets(workload, *, config: dict | None = None, seeds=TARGET_SEEDS, workers: int = 1,
                    cache: Path | None = None) -> dict:
    """The baseline's ``config`` (its selected one by default), full schedule, on ``seeds``: both targets."""
    recipe = workload.baseline
    config = recipe.selected_config() if config is None else config
    jobs = [(recipe.name, config, seed, True) for seed in seeds]
    results = run_jobs(workload, jobs, workers=workers, cache=cache)
    diverged = [seed for seed, r in zip(seeds, results) if r.get("diverged")]
    if diverged:
        raise SystemExit(f"the baseline diverged on seed {diverged[0]}: no target can be measured from it")
    out = {"recipe": recipe.name, "config": config, "seeds": list(seeds)}
    for split, key in (("validation", "final_metric"), ("test", "final_test_metric")):
        finals = [r[key] for r in results]
        mean = statistics.fmean(finals)
        out[split] = {"finals": finals, "mean": mean, "stdev": statistics.stdev(finals) if len(finals) > 1 else None,
                      "threshold": round(mean, 3)}
    out["total_train_flops"] = results[0]["total_train_flops"]
    out["wall_s"] = [r["wall_s"] for r in results]
    return out


# -- command line --------------------------------------------------------------------------


def _toml_value(value) -> str:
    return json.dumps(value) if isinstance(value, str) else repr(value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=["mnist1d", "digits"])
    parser.add_argument("--targets-only", action="store_true",
                        help="re-measure the targets from the baseline's selected config (step 2 only)")
    parser.add_argument("--recipes", help="comma-separated recipes to tune (default: all)")
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1), help="worker processes (default 2)")
    parser.add_argument("--cache", type=Path, help="JSON-lines file of finished trials, to resume")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    workload = get_workload(args.workload)
    started = time.perf_counter()
    log = (lambda *a: None) if args.json else (lambda *a: print(*a, file=sys.stderr, flush=True))

    def progress(done, total, result):
        log(f"  {done}/{total} {result['recipe']} seed {result['seed']}: {result['wall_s']:.1f} s")

    out = {"workload": workload.name, "date": dt.date.today().isoformat(), "command": " ".join(["python -m algoeff.workloads.measure", *(argv or sys.argv[1:])])}
    baseline_config = None
    names = [n.strip() for n in args.recipes.split(",")] if args.recipes else [r.name for r in workload.recipes()]
    if not args.targets_only and workload.baseline.name in names:
        log(f"1. tuning the baseline {workload.baseline.name} (seeds {TUNING_SEEDS}, full schedule)")
        out["baseline_tuning"] = tune(workload, workload.baseline, workers=args.workers, cache=args.cache, progress=progress)
        baseline_config = {**workload.baseline.defaults, **out["baseline_tuning"]["selected"]}
    log(f"2. measuring the targets (seeds {TARGET_SEEDS})")
    out["targets"] = measure_targets(workload, config=baseline_config, workers=args.workers, cache=args.cache)
    target = Target(workload.target.metric, out["targets"]["validation"]["threshold"], workload.target.higher_is_better)
    out["tuning"] = []
    if not args.targets_only:
        for name in names:
            recipe = workload.recipe(name)
            if recipe.is_baseline:
                continue
            log(f"3. tuning {name} against {target}")
            out["tuning"].append(tune(workload, recipe, target=target, workers=args.workers, cache=args.cache,
                                      progress=progress))
    out["wall_s"] = time.perf_counter() - started
    if args.json:
        print(json.dumps(out, indent=2))
        return
    _print_text(out)


def _print_text(out: dict):
    t = out["targets"]
    print(f"{out['workload']}: measured {out['date']} with {out['command']}")
    for split in ("validation", "test"):
        s = t[split]
        print(f"{split} target {s['threshold']:.3f}: {t['recipe']} {json.dumps({k: t['config'][k] for k in sorted(t['config'])})}"
              f" seeds {t['seeds']}: finals {', '.join(f'{v:.3f}' for v in s['finals'])} (mean {s['mean']:.4f}, sd {s['stdev']:.3f})")
    for tuned in ([out["baseline_tuning"]] if "baseline_tuning" in out else []) + out["tuning"]:
        print(f"\n{tuned['recipe']} ({tuned['role']}), rule {tuned['rule']}, seeds {tuned['seeds']}:")
        for row in tuned["configs"]:
            mark = "*" if row["index"] == tuned["selected_index"] else " "
            point = {k: row["config"][k] for k in tuned["selected"]}
            ctt = row["median_compute_to_target_flops"]
            print(f" {mark} {json.dumps(point)}: median compute-to-target {ctt:.3g} ({row['seeds_reached']}/{row['seeds']} reached), "
                  f"median final validation {row['median_final_validation_accuracy']:.3f}, test {row['median_final_test_accuracy']:.3f}, wall {row['wall_s']}")
        print("  [recipes.selected] " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in tuned["selected"].items()))
    print(f"\nwall time {out['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
