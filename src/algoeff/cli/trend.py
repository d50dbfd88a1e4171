"""``algoeff trend``: the efficiency doubling time of one benchmark."""

from __future__ import annotations

import json
import sys

from algoeff.cli.ledger import add_ledger_options, format_compute, open_ledger, plural
from algoeff.errors import LedgerError
from algoeff.ledger.conventions import NORMALIZE_HELP, apply_convention
from algoeff.trend import fit_trend, plot_trend

__all__ = ["register"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "trend", help="doubling time of a benchmark's efficiency, against Moore's law",
        description="OLS fit of log2(baseline compute / compute) against months over the frontier "
                    "(baseline included); doubling time = 1 / slope, 95% CI from the t-distribution on the slope.")
    parser.add_argument("--benchmark", metavar="KEY", required=True, help="benchmark key or alias")
    add_ledger_options(parser)
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout (dates ISO 8601)")
    parser.add_argument("--plot", metavar="FILE",
                        help="save compute against date, fit and Moore's law; .png, .jpg, .svg or .pdf by the "
                             "name (default: no plot)")
    parser.add_argument("--normalize", action="store_true", help=NORMALIZE_HELP)
    parser.set_defaults(func=_trend)


def select_entries(args, ledger):
    """The entries the fit uses; the place to transform them (e.g. normalise conventions)."""
    entries, warning = apply_convention(ledger.for_benchmark(args.benchmark), normalize=args.normalize)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return entries


def _trend(args) -> int:
    ledger = open_ledger(args)
    bench = ledger.benchmark(args.benchmark)
    entries = select_entries(args, ledger)
    if not entries:
        raise LedgerError(f"benchmark {bench.key!r} has no entries in {ledger.path}.")
    fit = fit_trend(entries)
    if args.plot:
        plot_trend(fit, args.plot, entries=entries, unit=args.unit, title=f"{bench.title}: {bench.capability}")
    if args.json:
        data = fit.to_dict()
        data["corrected"] = ledger.corrected
        data["normalized"] = args.normalize
        print(json.dumps(data, indent=2))
        if args.plot:
            print(f"plot: {args.plot}", file=sys.stderr)
        return 0
    unit = args.unit
    print(f"{bench.title} [{bench.key}]" + (f": {bench.capability}" if bench.capability else ""))
    print(f"values: {'corrected (errata applied)' if ledger.corrected else 'as listed (--seed-values)'}")
    if args.normalize:
        print("convention: normalised to 2 FLOPs per multiply-add, no utilization discount, single model")
    print(f"frontier ({fit.n_points} of {plural(len(entries), 'entry', 'entries')}):")
    width = max(len(e.publication) for e in fit.frontier)
    for e, point in zip(fit.frontier, fit.to_dict()["frontier"]):
        listed = "" if e.listed_reduction_factor is None else f"  (listed {e.listed_reduction_factor:g})"
        print(f"  {e.date.isoformat()}  {e.publication:<{width}}  {format_compute(e.compute_flops, unit):>16}"
              f"  {point['reduction_factor']:7.1f}x{listed}")
    ci = fit.doubling_time_ci95_months
    if ci is None:
        ci_text = f"95% CI {fit.ci_note}"
    else:
        hi = f"{ci[1]:.1f}" if ci[1] != float("inf") else "inf"
        ci_text = f"95% CI {ci[0]:.1f} to {hi}; t-distribution on the OLS slope, {fit.n_points - 2} df"
        if fit.ci_note:
            ci_text += f"; {fit.ci_note}"
    print(f"reduction factor        {fit.reduction_factor:.1f}x over {fit.span_years:.2f} years")
    print(f"doubling time           {fit.doubling_time_months:.1f} months ({ci_text})")
    print(f"Moore's law (24 months) {fit.moores_law_factor:.1f}x over the same span")
    print(f"hardware x algorithms   {fit.combined_factor:.0f}x")
    if args.plot:
        print(f"plot: {args.plot}")
    return 0
