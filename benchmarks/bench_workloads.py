"""Per-recipe trial cost: each recipe's default config (the --quick sweep) over a few seeds, one thread.

    python benchmarks/bench_workloads.py mnist1d --seeds 2 [--json]

For each recipe: wall seconds per trial (median), whether each seed reached the
target, compute-to-target and training FLOPs. The baseline trains its full
schedule, as in a study. The sum of the walls is the single-thread work of a
quick study with that many seeds (before process start-up and aggregation).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from algoeff.workloads import get_workload


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", nargs="?", default="mnist1d", choices=["mnist1d", "digits"])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    wl = get_workload(args.workload)
    start = time.perf_counter()
    wl.arrays()  # data made once per process, as in a worker
    setup = time.perf_counter() - start
    rows = []
    for recipe in wl.recipes():
        results = [wl.run_trial(recipe.name, None, seed, full_schedule=recipe.is_baseline) for seed in range(args.seeds)]
        reached = [r["compute_to_target_flops"] for r in results if r["reached"]]
        rows.append({
            "recipe": recipe.name,
            "wall_s": statistics.median(r["wall_s"] for r in results),
            "wall_total_s": sum(r["wall_s"] for r in results),
            "seeds_reached": len(reached),
            "seeds": args.seeds,
            "median_compute_to_target_flops": statistics.median(reached) if len(reached) == args.seeds else None,
            "total_train_flops": statistics.median(r["total_train_flops"] for r in results),
            "final_metric": statistics.median(r["final_metric"] for r in results),
        })
        if not args.json:
            row = rows[-1]
            ctt = row["median_compute_to_target_flops"]
            print(f"{row['recipe']:<22} {row['wall_s']:6.2f} s/trial  reached {row['seeds_reached']}/{args.seeds}  "
                  f"compute-to-target {'-' if ctt is None else f'{ctt:.3g}':>9}  trained {row['total_train_flops']:.3g}  "
                  f"final {row['final_metric']:.3f}", flush=True)
    total = sum(r["wall_total_s"] for r in rows)
    summary = {"workload": wl.name, "target": wl.target.to_dict(), "data_setup_s": setup,
               "total_trial_wall_s": total, "recipes": rows}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"target {wl.target}; data set-up {setup:.1f} s; all trials {total:.1f} s single-thread")


if __name__ == "__main__":
    main()
