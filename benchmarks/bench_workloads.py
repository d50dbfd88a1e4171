"""Per-recipe trial cost: each recipe's selected config, full schedule (a report-phase trial), one thread.

    python benchmarks/bench_workloads.py mnist1d --seeds 2 [--json]

For each recipe: wall seconds per full-schedule trial (median over seeds
0..N-1), training and evaluation FLOPs, FLOPs per epoch, whether each seed
reached the validation and test targets, and the final accuracies. The sum
of the medians is the single-thread work of one report seed of every
recipe; ``--quick`` of a study trains 3 of them (before process start-up and
aggregation), so on W quiet workers it needs about 3 x sum / W seconds.
Tuning-phase costs come from ``python -m algoeff.workloads.measure``
(its trials stop at the target and are timed there).
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
    parser.add_argument("--recipes", help="comma-separated recipe names (default: all)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    wl = get_workload(args.workload)
    start = time.perf_counter()
    wl.arrays()  # data made once per process, as in a worker
    setup = time.perf_counter() - start
    names = args.recipes.split(",") if args.recipes else [r.name for r in wl.recipes()]
    rows = []
    for name in names:
        recipe = wl.recipe(name)
        config = recipe.selected_config()
        results = [wl.run_trial(recipe.name, config, seed, full_schedule=True) for seed in range(args.seeds)]
        rows.append({
            "recipe": recipe.name,
            "role": recipe.role,
            "selected": dict(recipe.selected),
            "wall_s": statistics.median(r["wall_s"] for r in results),
            "walls_s": [r["wall_s"] for r in results],
            "seeds_reached": sum(r["reached"] for r in results),
            "seeds_reached_test": sum(r["test_reached"] for r in results),
            "seeds": args.seeds,
            "total_train_flops": statistics.median(r["total_train_flops"] for r in results),
            "eval_flops": statistics.median(r["eval_flops"] for r in results),
            "flops_per_epoch": results[0]["flops_per_epoch"],
            "final_validation_accuracy": statistics.median(r["final_metric"] for r in results),
            "final_test_accuracy": statistics.median(r["final_test_metric"] for r in results),
        })
        if not args.json:
            row = rows[-1]
            print(f"{row['recipe']:<20} {row['wall_s']:6.2f} s/trial  reached {row['seeds_reached']}/{args.seeds} "
                  f"(test {row['seeds_reached_test']}/{args.seeds})  trained {row['total_train_flops']:.3g}  "
                  f"eval {row['eval_flops']:.3g}  per epoch {row['flops_per_epoch']:.3g}  "
                  f"final val {row['final_validation_accuracy']:.3f} test {row['final_test_accuracy']:.3f}", flush=True)
    per_seed = sum(r["wall_s"] for r in rows)
    summary = {"workload": wl.name, "target": wl.target.to_dict(), "test_target": wl.test_target.to_dict(),
               "data_setup_s": setup, "one_seed_of_every_recipe_s": per_seed, "recipes": rows}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"targets {wl.target}, {wl.test_target}; data set-up {setup:.1f} s; one full-schedule seed of every "
              f"recipe {per_seed:.1f} s single-thread (quick study: 3 seeds, ~{3 * per_seed / 2:.0f} s on 2 quiet workers)")


if __name__ == "__main__":
    main()
