"""``algoeff study``: the paper's experiment on a workload (dated recipes, compute to a fixed target)."""

from __future__ import annotations

import json

__all__ = ["register"]

WORKLOAD_NAMES = ("mnist1d", "digits", "cifar10", "imagenet")


def _positive_int(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} < 1, must be >= 1")
    return value


def _override(text: str):
    import argparse

    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = value
    return key.strip(), parsed


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "study", help="measure compute-to-target of a workload's dated recipes and the doubling time",
        description="Train each dated recipe (a small tuning sweep x seeds), charge the baseline its full "
                    "schedule and every other recipe its compute until it first reaches the workload's fixed "
                    "target, and write a table, plots, a measured ledger and results.json under --out. "
                    "Trials already finished in the store are not run again.")
    parser.add_argument("workload", metavar="WORKLOAD",
                        help=f"workload name: {', '.join(WORKLOAD_NAMES)}")
    parser.add_argument("--quick", action="store_true", help="the small sweep (minutes on a laptop)")
    parser.add_argument("--seeds", type=_positive_int, metavar="N",
                        help="seeds per configuration (default 3 with --quick, else 5)")
    parser.add_argument("--workers", type=_positive_int, metavar="N",
                        help="parallel trials (default: the CPU cores available)")
    parser.add_argument("--executor", choices=("local", "ray"), default="local",
                        help="local process pool (default) or Ray tasks")
    parser.add_argument("--ray-address", metavar="ADDR",
                        help="an existing Ray cluster (default with --executor ray: start a local one)")
    parser.add_argument("--store", metavar="FILE", help="run store (default: OUT/study.sqlite)")
    parser.add_argument("--out", metavar="DIR", help="output folder (default: study-WORKLOAD)")
    parser.add_argument("--data-dir", metavar="DIR", help="dataset folder of cifar10 and imagenet")
    parser.add_argument("--recipes", metavar="A,B",
                        help="only these recipes (comma-separated); the baseline always runs")
    parser.add_argument("--max-configs", type=_positive_int, metavar="N",
                        help="only the first N configurations of each recipe's sweep")
    parser.add_argument("--max-trials", type=_positive_int, metavar="N",
                        help="train at most N trials now; run the command again to continue")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        type=_override,
                        help="set a config key in every configuration, e.g. --set epochs=2 (repeatable; "
                             "the value is read as JSON, else as text)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout (dates ISO 8601)")
    parser.set_defaults(func=_study)


def _study(args) -> int:
    from algoeff.study import run_study
    from algoeff.study.outputs import ci_text, doubling_text, factor_text, flops_text

    result = run_study(
        args.workload, quick=args.quick, seeds=args.seeds, workers=args.workers, executor=args.executor,
        store=args.store, out=args.out, data_dir=args.data_dir, ray_address=args.ray_address,
        recipes=args.recipes, max_configs=args.max_configs, max_trials=args.max_trials,
        overrides=dict(args.overrides) or None, progress=True)
    data = result.data
    if args.json:
        print(json.dumps({k: v for k, v in data.items() if k != "curves"}, indent=2))
        return 0
    if not result.complete:
        print(f"{result.ran} trials run now, {result.reused} found in the store, {result.pending} of "
              f"{result.planned} still to run: run the same command again to continue.")
        print(f"store: {result.store}")
        return 0
    target = data["target"]
    sign = ">=" if target["higher_is_better"] else "<="
    print(f"{data['title']}" + (" (quick)" if data["quick"] else ""))
    print(f"target: {target['metric']} {sign} {target['threshold']:g} (the {data['baseline']} baseline's level); "
          f"compute in training FLOPs")
    rows = [("recipe", "date", "compute-to-target", "95% CI", "seeds", "reduction")]
    for e in data["entries"]:
        rows.append((e["recipe"] + (" *" if e["is_baseline"] else ""), e["date"],
                     flops_text(e["compute_to_target_flops"]), ci_text(e["ci95_flops"]),
                     f"{e['seeds_reached']}/{e['seeds']}", factor_text(e["reduction_factor"])))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) if i in (0, 1, 3) else cell.rjust(w)
                        for i, (cell, w) in enumerate(zip(row, widths))).rstrip())
    print("* baseline: trained and charged its full schedule")
    print(f"frontier: {', '.join(data['frontier'])}")
    print(doubling_text(data))
    print(f"  rule: {data['doubling_time_rule']}")
    print(f"total compute incl. tuning: {flops_text(data['total_compute_flops'])} FLOPs; trials: "
          f"{data['trials']['ran']} run now, {data['trials']['reused']} from the store")
    print(f"table: {result.out / data['table']}")
    for path in data["plots"].values():
        print(f"plot: {result.out / path}")
    print(f"ledger: {result.out / data['ledger']}")
    print(f"results: {result.out / 'results.json'}")
    return 0
