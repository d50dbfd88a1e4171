"""``algoeff study``: the paper's experiment on a workload (dated recipes, compute to a fixed target)."""

from __future__ import annotations

import json

from .args import finite_float

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
        description="Two phases with disjoint seeds: tune each dated recipe (its sweep x tuning seeds, selection "
                    "on validation), then re-run each selected configuration on fresh report seeds for its full "
                    "schedule, storing every evaluation. Charge the baseline its full schedule and every other "
                    "recipe its compute until it first reaches the test target; write a table (with the "
                    "target-sensitivity table), plots, a measured ledger and results.json under --out. Trials "
                    "already finished in the store are not run again. "
                    "`algoeff study rescore DIR` re-scores a finished study at other thresholds without training.")
    parser.add_argument("workload", metavar="WORKLOAD",
                        help=f"workload name: {', '.join(WORKLOAD_NAMES)}; or 'rescore' followed by a study folder")
    parser.add_argument("folder", metavar="DIR", nargs="?", help="(rescore only) the finished study's --out folder")
    parser.add_argument("--quick", action="store_true",
                        help="pre-selected configurations, no tuning phase, 3 report seeds (minutes on a laptop)")
    parser.add_argument("--seeds", type=_positive_int, metavar="N",
                        help="report seeds 0..N-1 per recipe (default 3 with --quick, else 5)")
    parser.add_argument("--tuning-seeds", type=_positive_int, metavar="N",
                        help="tuning seeds 1000..1000+N-1 per configuration (default 2; none with --quick)")
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
                        help="train at most N trials now; run the same command again to continue")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        type=_override,
                        help="set a config key in every configuration, e.g. --set epochs=2 (repeatable; "
                             "the value is read as JSON, else as text)")
    parser.add_argument("--threshold", type=finite_float, action="append", metavar="T",
                        help="(rescore only) score at this threshold of the test metric (repeatable; "
                             "default: the study's own target)")
    parser.add_argument("--rule", default="first", metavar="first|consecutive:K",
                        help="(rescore only) crossing rule: the first evaluation at or past the threshold, or "
                             "the first of K in a row (default: first)")
    parser.add_argument("--baseline-charge", choices=("full", "crossing"), default="full",
                        help="(rescore only) charge the baseline its full schedule (default, the paper) or "
                             "its own crossing")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout (dates ISO 8601)")
    parser.set_defaults(func=_study)


_RESCORE_ONLY = ("threshold", "folder")
_STUDY_ONLY = ("quick", "seeds", "tuning_seeds", "workers", "ray_address", "store", "out", "data_dir",
               "recipes", "max_configs", "max_trials")


def _study(args) -> int:
    from algoeff.errors import StudyError

    if args.workload == "rescore":
        used = [name for name in _STUDY_ONLY if getattr(args, name) not in (None, False)]
        if args.overrides or args.executor != "local":
            used.append("set" if args.overrides else "executor")
        if used:
            raise StudyError(f"--{used[0].replace('_', '-')} is a study option; rescore takes DIR, --threshold, "
                             "--rule, --baseline-charge and --json.")
        if args.folder is None:
            raise StudyError("study rescore needs DIR, the finished study's --out folder.")
        return _rescore(args)
    if args.folder is not None:
        raise StudyError(f"unexpected argument {args.folder!r}: DIR is only for `algoeff study rescore DIR`.")
    if args.threshold or args.rule != "first" or args.baseline_charge != "full":
        raise StudyError("--threshold, --rule and --baseline-charge are for `algoeff study rescore DIR`; a "
                         "study is scored at its own target (its table has the sensitivity table).")
    return _run(args)


def _table(rows, left=(0, 1)) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) if i in left else cell.rjust(w)
                      for i, (cell, w) in enumerate(zip(row, widths))).rstrip() for row in rows]


def _entry_rows(entries) -> list[str]:
    from algoeff.study.outputs import ci_text, coverage_text, factor_text, flops_text

    rows = [("recipe", "date", "compute-to-target", "CI", "cover", "seeds", "reduction", "vs control",
             "epochs x", "FLOPs/ep x")]
    for e in entries:
        d = e.get("decomposition") or {}
        rows.append((e["recipe"] + (" *" if e["is_baseline"] else ""), e["date"],
                     flops_text(e["compute_to_target_flops"]), ci_text(e["ci95_flops"]),
                     coverage_text(e.get("ci_coverage")) if e["ci95_flops"] is not None else "-",
                     f"{e['seeds_reached']}/{e['seeds']}", factor_text(e["reduction_factor"]),
                     factor_text(e.get("reduction_factor_vs_control")), factor_text(d.get("epochs_factor")),
                     factor_text(d.get("flops_per_epoch_factor"))))
    return _table(rows, left=(0, 1, 3))


def _run(args) -> int:
    from algoeff.study import run_study
    from algoeff.study.outputs import (SENSITIVITY_HEADER, doubling_text, flops_text, protocol_text,
                                       sensitivity_rows, targets_text)

    result = run_study(
        args.workload, quick=args.quick, seeds=args.seeds, tuning_seeds=args.tuning_seeds, workers=args.workers,
        executor=args.executor, store=args.store, out=args.out, data_dir=args.data_dir,
        ray_address=args.ray_address, recipes=args.recipes, max_configs=args.max_configs,
        max_trials=args.max_trials, overrides=dict(args.overrides) or None, progress=True)
    data = result.data
    if args.json:
        print(json.dumps({k: v for k, v in data.items() if k != "curves"}, indent=2))
        return 0
    if not result.complete:
        print(f"{result.ran} trials run now, {result.reused} found in the store, {result.pending} of "
              f"{result.planned} still to run: run the same command again to continue.")
        print(f"store: {result.store}")
        return 0
    print(f"{data['title']}" + (" (quick)" if data["quick"] else ""))
    for line in targets_text(data):
        print(line)
    print(protocol_text(data))
    print("compute in training FLOPs, report seeds, test target")
    for line in _entry_rows(data["entries"]):
        print(line)
    print("* baseline: trained and charged its full schedule; CI: order statistics of the median, with its "
          "actual coverage")
    if data.get("control"):
        print(f"vs control: against the best 2012-ideas control, {data['control']}")
    if data.get("baseline_refused"):
        print(f"no reference compute: {data['baseline_refused']}")
    if data.get("baseline_warning"):
        print(f"note: {data['baseline_warning']}")
    print(f"frontier: {', '.join(data['frontier']) or '-'}")
    print(doubling_text(data))
    print(f"  rule: {data['doubling_time_rule']}")
    bias = {k: v for k, v in (data.get("selection_bias") or {}).items() if v["report_over_tuning"] is not None}
    if bias:
        print("selection bias (report-seed / tuning-seed median validation compute of the selected configuration): "
              + ", ".join(f"{k} {v['report_over_tuning']:.2f}x" for k, v in bias.items()))
    if data.get("sensitivity"):
        print("target sensitivity:")
        for line in _table([tuple(SENSITIVITY_HEADER[:6])] + [tuple(r[:6]) for r in sensitivity_rows(data)],
                           left=(5,)):
            print("  " + line)
    print(f"total compute incl. tuning: {flops_text(data['total_compute_flops'])} FLOPs; trials: "
          f"{data['trials']['ran']} run now, {data['trials']['reused']} from the store")
    print(f"table: {result.out / data['table']}")
    for path in data["plots"].values():
        print(f"plot: {result.out / path}")
    print(f"ledger: {result.out / data['ledger']}" if data.get("ledger") else
          "ledger: none (no reference compute to publish)")
    print(f"results: {result.out / 'results.json'}")
    return 0


def _rescore(args) -> int:
    from algoeff.study import rescore
    from algoeff.study.outputs import doubling_text

    result = rescore(args.folder, args.threshold, rule=args.rule, baseline_charge=args.baseline_charge)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    sign = ">=" if result["higher_is_better"] else "<="
    print(f"{result['title']}: rescored from {result['study']} (rule {result['rule']}, baseline charged "
          f"{'its full schedule' if result['baseline_charge'] == 'full' else 'up to its crossing'})")
    for s in result["scores"]:
        own = " (the study's own target)" if s["threshold"] == result["study_threshold"] else ""
        print()
        print(f"{result['metric']} {sign} {s['threshold']:g}{own}")
        for line in _entry_rows(s["entries"]):
            print(line)
        if s.get("baseline_refused"):
            print(f"no reference compute: {s['baseline_refused']}")
        if s.get("baseline_warning"):
            print(f"note: {s['baseline_warning']}")
        print(f"frontier: {', '.join(s['frontier']) or '-'}")
        print(doubling_text(s))
    return 0
