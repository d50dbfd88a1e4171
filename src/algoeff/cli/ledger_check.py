"""``algoeff ledger check``: recompute every entry from its analysis."""

from __future__ import annotations

import json

from algoeff.ledger import load_ledger
from algoeff.ledger.check import DIFFERS, NO_ANALYSIS, check_ledger, describe_failure

__all__ = ["register"]


def register(ledger_subparsers) -> None:
    parser = ledger_subparsers.add_parser(
        "check", help="recompute every entry from its analysis; listed vs recomputed",
        description="Recompute each entry from analyses/<benchmark>/<entry>.toml and compare it with the listed "
                    "value. An entry reproduces when the recomputed value lies within half a unit of the listed "
                    "value's last significant figure (3.1 tfs-days: [3.05, 3.15]). Exit 1 if an entry has no "
                    "analysis, differs without the analysis saying why, or an analysis's recorded yield is stale.")
    parser.add_argument("--ledger", metavar="PATH", help="ledger CSV (default: the bundled ledger)")
    parser.add_argument("--analyses", metavar="DIR",
                        help="analyses folder (default: analyses/ beside the ledger, else the bundled ones)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.set_defaults(func=_check)


def _fmt(value: float, unit: str) -> str:
    if value != value:  # nan
        return "-"
    return f"{value:.3e}" if unit == "flops" else f"{float(f'{value:.3g}'):g}"


def _check(args) -> int:
    ledger = load_ledger(args.ledger)
    report = check_ledger(ledger, args.analyses)
    if args.json:
        print(json.dumps({"ledger": str(ledger.path), **report.to_dict()}, indent=2))
        return 0 if report.ok else 1
    print(f"ledger: {ledger.path}")
    print(f"analyses: {report.analyses_dir}")
    print("rule: reproduces = recomputed within half a unit of the listed value's last significant figure")
    rows = report.rows
    width = max([len(r.entry.publication) for r in rows] + [5])
    bw = max([len(r.entry.benchmark) for r in rows] + [9])
    print()
    print(f"{'benchmark':<{bw}}  {'entry':<{width}}  {'method':<8}  {'listed':>8}  {'recomputed':>10}  {'ratio':>6}  "
          "verdict")
    for r in rows:
        method = r.analysis.method if r.analysis else "-"
        verdict = r.verdict
        if r.verdict != NO_ANALYSIS:
            verdict += f" ({r.figures} s.f., {r.unit})"
        if r.documented:
            verdict += ", explained in its analysis"
        problem = describe_failure(r)
        if problem and not r.ok:
            verdict += f"  <- {problem}"
        print(f"{r.entry.benchmark:<{bw}}  {r.entry.publication:<{width}}  {method:<8}  {_fmt(r.listed, r.unit):>8}  "
              f"{_fmt(r.recomputed, r.unit):>10}  {r.ratio:>6.3f}  {verdict}")
    differing = [r for r in rows if r.verdict == DIFFERS]
    for r in differing:
        print()
        print(f"{r.entry.benchmark}/{r.entry.publication} differs: "
              + " ".join(r.analysis.difference.split()))
        for item in r.analysis.tried:
            print(f"  tried: {item}")
    checks = [(r, c) for r in rows for c in r.cross_checks]
    if checks:
        print()
        print("cross-checks (ratio = analysis / cross-check, both at 2 FLOPs per multiply-add, per model):")
        for r, c in checks:
            print(f"  {r.entry.publication}: {c.label}: {_fmt(c.estimate.tfs_days, 'x')} tfs-days, ratio {c.ratio:.2f}")
    if report.decompositions:
        print()
        print("decomposition (Hernandez & Brown 2020, Table 1): reduction factor = fewer epochs x fewer FLOPs per epoch")
        w = max(len(d.publication) for d in report.decompositions)
        for d in report.decompositions:
            x = d.decomposition
            print(f"  {d.benchmark:<9}  {d.publication:<{w}}  {x.fewer_epochs:6.2f} x {x.fewer_flops_per_epoch:5.2f}"
                  f" = {x.reduction_factor:6.1f}   ({x.baseline_epochs:g} / {x.epochs:g} epochs, vs {d.baseline})")
    if report.unmatched:
        print()
    for a in report.unmatched:
        print(f"note: {a.path} matches no entry of this ledger")
    ok = sum(r.ok for r in rows)
    reproduce = sum(r.verdict == "reproduces" for r in rows)
    print()
    counted = f"{reproduce} of 1 entry reproduces" if len(rows) == 1 else f"{reproduce} of {len(rows)} entries reproduce"
    print(f"{counted}; {len(differing)} differ"
          + (f" ({sum(r.documented for r in differing)} explained in their analyses)" if differing else "")
          + ("" if report.ok else f"; {len(rows) - ok} need attention"))
    return 0 if report.ok else 1
