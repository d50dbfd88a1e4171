"""Measure a workload's target: the baseline's default config, full schedule, over several seeds.

    python -m algoeff.workloads.measure mnist1d --seeds 5

prints each seed's final test accuracy, their mean (the number to fix in the
workload's TOML file as [target] threshold) and the wall time per trial.
"""

from __future__ import annotations

import argparse
import json
import statistics

from . import get_workload

__all__ = ["measure_target"]


def measure_target(name: str, seeds: int = 5) -> dict:
    """{"workload", "recipe", "config", "seeds", "final_metrics", "mean", "stdev", "wall_s"}."""
    workload = get_workload(name)
    recipe = workload.baseline
    results = [workload.run_trial(recipe.name, None, seed, full_schedule=True) for seed in range(seeds)]
    finals = [r["final_metric"] for r in results]
    return {
        "workload": name,
        "recipe": recipe.name,
        "config": results[0]["config"],
        "seeds": list(range(seeds)),
        "final_metrics": finals,
        "mean": statistics.fmean(finals),
        "stdev": statistics.stdev(finals) if len(finals) > 1 else None,
        "total_train_flops": results[0]["total_train_flops"],
        "wall_s": [r["wall_s"] for r in results],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workload", choices=["mnist1d", "digits"])
    parser.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1 (default 5)")
    args = parser.parse_args(argv)
    print(json.dumps(measure_target(args.workload, args.seeds), indent=2))


if __name__ == "__main__":
    main()
