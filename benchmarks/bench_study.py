"""Wall time of ``algoeff study`` (targets: --quick < 2 min, default < 15 min, 2 workers >= 1.8x 1 worker,
``study rescore`` of a default study < 5 s).

Each study runs in a fresh subprocess on a fresh store (nothing reused), as a user runs it:

    quick      algoeff study WORKLOAD --quick                    (workers: every core)
    default    algoeff study WORKLOAD                             (only with --default: minutes)
    scaling    the same small plan with --workers 1 and --workers 2, interleaved
               (--scaling-args; default: the quick sweep, 2 seeds), speed-up = t(1) / t(2);
               beside it the trials' own wall seconds summed (from the store) with 1 and
               with 2 workers: their ratio is how much slower the same trials ran two at once

    rescore    algoeff study rescore DIR at its own threshold, and at its sensitivity thresholds, on the last
               quick study (and on the default one with --default), or on --rescore-study DIR

Reports the median of --repeats runs of each. Timings depend on the machine's
load: on a shared machine they are upper bounds of what an idle one does.

    python benchmarks/bench_study.py [--workload mnist1d] [--repeats 1] [--default [--default-repeats 1]]
                                     [--rescore-study DIR] [--skip-scaling] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time


CPU_SECONDS: list[float] = []  # CPU time of each study (its process and its workers)
TRIAL_SECONDS: list[float] = []  # the sum of each study's trials' own wall times (from its store)


def _trial_seconds(store) -> float:
    """Each run's wall seconds at its last evaluation point, summed: the trials' own work."""
    from algoeff import RunStore

    with RunStore(store) as runs:
        points = runs.points()
    return float(points.groupby("run_id")["wall"].max().sum()) if len(points) else 0.0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_study(args: list[str], keep: str | None = None) -> float:
    """Seconds one study takes, start to finish, in its own process and folder (``keep``: that folder).

    Its CPU seconds go to CPU_SECONDS: on a loaded machine, CPU time / workers
    estimates what an idle machine's wall time would be.
    """
    with tempfile.TemporaryDirectory(prefix="bench-study-") as tmp:
        out = keep or tmp
        cpu, start = _children_cpu(), time.perf_counter()
        subprocess.run([sys.executable, "-m", "algoeff", "study", *args, "--out", out, "--json"],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        CPU_SECONDS.append(_children_cpu() - cpu)
        TRIAL_SECONDS.append(_trial_seconds(os.path.join(out, "study.sqlite")))
        return wall


def time_rescore(folder: str, repeats: int) -> dict:
    """Median seconds of `algoeff study rescore DIR` (its own threshold, then its sensitivity table's), as a user runs it."""
    with open(os.path.join(folder, "results.json"), encoding="utf-8") as fh:
        rows = json.load(fh)["sensitivity"]  # thresholds the baseline reaches: every one is valid
    many = [repr(r["threshold"]) for r in rows]
    out = {"rescore_thresholds": len(many)}
    for name, extra in (("rescore_own_s", []), ("rescore_sensitivity_s", [x for t in many for x in ("--threshold", t)])):
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "algoeff", "study", "rescore", folder, "--json", *extra],
                           check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    out["rescore_target_s"] = 5
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="mnist1d")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--default", action="store_true", help="also time the default study (minutes)")
    parser.add_argument("--default-repeats", type=int, default=1,
                        help="runs of the default study (about 10 minutes each on 2 cores)")
    parser.add_argument("--skip-quick", action="store_true")
    parser.add_argument("--scaling-args", default="--quick --seeds 2",
                        help="study options of the 1-vs-2-worker comparison")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--rescore-study", metavar="DIR", help="also time rescore on this finished study")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    keep = tempfile.mkdtemp(prefix="bench-study-keep-")

    results = {"workload": args.workload, "cores": len(os.sched_getaffinity(0)), "repeats": args.repeats}
    if not args.skip_quick:
        times = [run_study([args.workload, "--quick"]) for _ in range(args.repeats - 1)]
        times.append(run_study([args.workload, "--quick"], keep=os.path.join(keep, "quick")))
        results["quick_s"] = statistics.median(times)
        results["quick_cpu_s"] = statistics.median(CPU_SECONDS[-len(times):])
        results["quick_target_s"] = 120
        results.update({f"quick_{k}": v for k, v in time_rescore(os.path.join(keep, "quick"), args.repeats).items()})
    if args.rescore_study:
        results.update({f"study_{k}": v for k, v in time_rescore(args.rescore_study, args.repeats).items()})
    scaling = {1: [], 2: []}
    cpu = {1: [], 2: []}
    trial_work = {1: [], 2: []}
    for _ in range(0 if args.skip_scaling else args.repeats):
        for workers in (1, 2):  # interleaved: drift in load hits both
            scaling[workers].append(run_study([args.workload, *args.scaling_args.split(), "--workers", str(workers)]))
            cpu[workers].append(CPU_SECONDS[-1])
            trial_work[workers].append(TRIAL_SECONDS[-1])
    if scaling[1]:
        results["scaling_args"] = args.scaling_args
        results["workers_1_s"] = statistics.median(scaling[1])
        results["workers_2_s"] = statistics.median(scaling[2])
        results["speedup_2_workers"] = results["workers_1_s"] / results["workers_2_s"]
        results["workers_1_cpu_s"] = statistics.median(cpu[1])
        results["workers_2_cpu_s"] = statistics.median(cpu[2])
        # > 1: the same trials ran slower two at a time (shared caches, memory bandwidth)
        results["trial_work_1_s"] = statistics.median(trial_work[1])
        results["trial_work_2_s"] = statistics.median(trial_work[2])
        results["speedup_target"] = 1.8
    if args.default:
        times = [run_study([args.workload]) for _ in range(args.default_repeats - 1)]
        times.append(run_study([args.workload], keep=os.path.join(keep, "default")))
        results["default_s"] = statistics.median(times)
        results["default_repeats"] = args.default_repeats
        results["default_target_s"] = 900
        results.update({f"default_{k}": v for k, v in time_rescore(os.path.join(keep, "default"), args.repeats).items()})
    import shutil

    shutil.rmtree(keep, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key:20} {value:.2f}" if isinstance(value, float) else f"{key:20} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
