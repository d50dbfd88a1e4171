"""``algoeff ledger``: show, tables, validate and add."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

from algoeff.ledger import (
    append_entry,
    frontier,
    load_ledger,
    read_entry_file,
    reduction_factor,
    render_tables,
    validate_ledger,
    write_tables,
)
from algoeff.ledger.conventions import NORMALIZE_HELP, apply_convention
from algoeff.ledger.entry import METHODS
from algoeff.units import UNITS, from_flops

__all__ = ["EXTRA_LEDGER_COMMANDS", "add_ledger_options", "format_compute", "open_ledger", "register"]

# Modules under algoeff.cli that add more `algoeff ledger` sub-commands, each
# with register(ledger_subparsers).
EXTRA_LEDGER_COMMANDS: list[str] = ["ledger_check"]


def add_ledger_options(parser: argparse.ArgumentParser, *, unit: bool = True) -> None:
    parser.add_argument("--ledger", metavar="PATH",
                        help="ledger CSV, seed or project format (default: the bundled ledger)")
    parser.add_argument("--seed-values", action="store_true",
                        help="use the values as listed, without the known errata (data/errata.toml)")
    if unit:
        parser.add_argument("--unit", choices=list(UNITS), default="tfs-days",
                            help="compute unit of the human output (default: tfs-days; JSON is always FLOPs)")


def format_compute(flops: float, unit: str = "tfs-days") -> str:
    """Three significant figures, without an exponent for everyday sizes: "1620 tfs-days"."""
    value = from_flops(flops, unit)
    if unit != "flops" and 1e-3 <= abs(value) < 1e6:
        return f"{float(f'{value:.3g}'):g} {unit}"
    return f"{value:.2e} {unit}"


def open_ledger(args):
    return load_ledger(args.ledger, corrected=not args.seed_values)


def register(subparsers) -> None:
    parser = subparsers.add_parser("ledger", help="the efficiency ledger: show, tables, validate, add",
                                   description="The ledger of training compute to reach fixed benchmarks.")
    sub = parser.add_subparsers(dest="ledger_command", metavar="SUBCOMMAND", parser_class=type(parser))
    sub.required = True

    show = sub.add_parser("show", help="entries per benchmark, frontier and reduction factors")
    add_ledger_options(show)
    show.add_argument("--benchmark", metavar="KEY", help="only this benchmark (key or alias)")
    show.add_argument("--json", action="store_true", help="one JSON object on stdout")
    show.add_argument("--normalize", action="store_true", help=NORMALIZE_HELP)
    show.set_defaults(func=_show)

    tables = sub.add_parser("tables", help="the README's Markdown tables, generated from the ledger")
    add_ledger_options(tables, unit=False)
    tables.add_argument("--write", metavar="FILE",
                        help="rewrite the tables between the algoeff:tables markers in FILE (created if absent)")
    tables.set_defaults(func=_tables)

    validate = sub.add_parser("validate", help="check a whole ledger file; every problem as PATH:LINE: column")
    validate.add_argument("path", metavar="PATH")
    validate.set_defaults(func=_validate)

    add = sub.add_parser("add", help="validate one entry and append it to a ledger atomically",
                         description="Append one entry to a ledger file (never the installed one). "
                                     "Give the fields as flags or in --file entry.toml/.json "
                                     "(keys: the project columns, or compute + unit).")
    add.add_argument("--ledger", metavar="PATH", required=True,
                     help="ledger CSV to append to (created in the project format if absent)")
    add.add_argument("--file", metavar="ENTRY", help="the entry's fields in a .toml or .json file")
    add.add_argument("--from-run", metavar="STORE[:RUN]",
                     help="the entry from a tracked run: ComputeTracker's store, and a run id, name or key "
                          "(default: every run in the store, in order); writes analyses/ beside the ledger")
    add.add_argument("--from-study", metavar="DIR[:RECIPE]",
                     help="the entries from a study's --out folder (its results.json): one recipe, or all")
    add.add_argument("--benchmark", help="benchmark key or alias")
    add.add_argument("--publication")
    add.add_argument("--date", help="publication date, YYYY-MM-DD")
    add.add_argument("--compute", help="training compute to reach the benchmark, in --unit")
    add.add_argument("--unit", choices=list(UNITS), help="unit of --compute (default: tfs-days)")
    add.add_argument("--publication-link")
    add.add_argument("--listed-reduction-factor")
    add.add_argument("--analysis")
    add.add_argument("--analysis-link")
    add.add_argument("--flops-per-mac", choices=["1", "2"], help="FLOPs counted per multiply-add")
    add.add_argument("--utilization-discount", help="e.g. 0.33 if compute = time x peak x 0.33")
    add.add_argument("--models", help="models trained (ensemble size), default 1")
    add.add_argument("--method", choices=list(METHODS))
    add.add_argument("--notes")
    add.add_argument("--provenance", help="where the figure comes from")
    add.add_argument("--json", action="store_true", help="print the added entry as JSON")
    add.set_defaults(func=_add)

    for name in EXTRA_LEDGER_COMMANDS:
        importlib.import_module(f"algoeff.cli.{name}").register(sub)


def _show(args) -> int:
    ledger = open_ledger(args)
    benches = [ledger.benchmark(args.benchmark)] if args.benchmark else ledger.used_benchmarks()
    report = []
    for bench in benches:
        entries, warning = apply_convention(ledger.for_benchmark(bench.key), normalize=args.normalize)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
        on = {id(e) for e in frontier(entries)} if entries else set()
        base = entries[0] if entries else None
        report.append((bench, [(e, reduction_factor(e, base), id(e) in on) for e in entries]))
    if args.json:
        print(json.dumps({
            "ledger": str(ledger.path),
            "format": ledger.format,
            "corrected": ledger.corrected,
            "benchmarks": [{
                **bench.to_dict(),
                "entries": [{**e.to_dict(), "reduction_factor": rf, "on_frontier": on} for e, rf, on in rows],
            } for bench, rows in report],
        }, indent=2))
        return 0
    values = "corrected (errata applied)" if ledger.corrected else "as listed (--seed-values: no errata)"
    print(f"ledger: {ledger.path} ({ledger.format} format), values {values}")
    for bench, rows in report:
        print()
        print(f"{bench.title} [{bench.key}]" + (f": {bench.capability}" if bench.capability else ""))
        if not rows:
            print("  (no entries)")
            continue
        width = max(len(e.publication) for e, _, _ in rows)
        print(f"    {'date':<10}  {'publication':<{width}}  {'compute':>16}  {'reduction':>9}  {'listed':>6}")
        for e, rf, on in rows:
            listed = "" if e.listed_reduction_factor is None else f"{e.listed_reduction_factor:g}"
            mark = "*" if on else " "
            fixed = " (corrected: " + ", ".join(c.field for c in e.corrections) + ")" if e.corrections else ""
            print(f"  {mark} {e.date.isoformat():<10}  {e.publication:<{width}}  "
                  f"{format_compute(e.compute_flops, args.unit):>16}  {rf:>8.1f}x  {listed:>6}{fixed}")
    print()
    print("* on the frontier (less compute than every earlier entry); reduction = baseline compute / compute, "
          "listed = as the source lists it")
    return 0


def _tables(args) -> int:
    ledger = open_ledger(args)
    if args.write:
        path = write_tables(ledger, args.write)
        print(f"wrote the tables of {len(ledger.used_benchmarks())} benchmarks to {path}", file=sys.stderr)
    else:
        sys.stdout.write(render_tables(ledger))
    return 0


def _validate(args) -> int:
    problems = validate_ledger(args.path)
    for problem in problems:
        print(f"LedgerError: {problem}", file=sys.stderr)
    if problems:
        return 1
    ledger = load_ledger(args.path)
    print(f"{args.path}: ok, {len(ledger.entries)} entries over {len(ledger.used_benchmarks())} benchmarks "
          f"({ledger.format} format)")
    return 0


_FLAG_FIELDS = ("benchmark", "publication", "date", "compute", "unit", "publication_link",
                "listed_reduction_factor", "analysis", "analysis_link", "flops_per_mac",
                "utilization_discount", "models", "method", "notes", "provenance")


def _add(args) -> int:
    if args.from_run or args.from_study:
        return _add_measured(args)
    fields = read_entry_file(args.file) if args.file else {}
    for name in _FLAG_FIELDS:
        value = getattr(args, name)
        if value is not None:
            fields[name] = value  # a flag overrides the file
    result = append_entry(args.ledger, fields)
    report_added(result, as_json=args.json)
    return 0


def report_added(result, *, as_json: bool, extra: dict | None = None) -> None:
    """The verdict on an added entry: conversion, new record or not, where it was written."""
    if as_json:
        print(json.dumps({**result.entry.to_dict(), "on_frontier": result.on_frontier, "note": result.note,
                          "conversion": result.conversion or None, "verdict": result.verdict.to_dict(),
                          "headline": result.headline(), "added_columns": list(result.added_columns),
                          "path": str(result.path), "line": result.line, **(extra or {})}))
        return
    if result.conversion:
        print(f"note: {result.conversion}")
    if result.added_columns:
        print(f"note: the ledger gained the column{'s' if len(result.added_columns) != 1 else ''} "
              f"{', '.join(result.added_columns)} for this entry")
    print(result.headline())
    print(f"added {result.entry.publication!r} ({result.entry.benchmark}, {result.entry.date.isoformat()}) "
          f"to {result.path} at line {result.line}")


# Fields a tracked run or a study gives; a flag may not override them.
_MEASURED_FIELDS = ("compute", "unit", "file", "flops_per_mac", "utilization_discount", "models", "method",
                    "listed_reduction_factor", "analysis")


def _add_measured(args) -> int:
    from pathlib import Path

    from algoeff.errors import LedgerError
    from algoeff.records import (analysis_path, define_benchmark, from_run, from_study, resolve_benchmark,
                                 write_analysis)

    if args.from_run and args.from_study:
        raise LedgerError("give --from-run or --from-study, not both.")
    flag = "--from-run" if args.from_run else "--from-study"
    given = [f"--{n.replace('_', '-')}" for n in _MEASURED_FIELDS if getattr(args, n) is not None]
    if given:
        raise LedgerError(f"{flag} takes the entry's compute and convention from the run; "
                          f"drop {', '.join(given)}.")
    candidates = from_run(args.from_run) if args.from_run else from_study(args.from_study)
    usable = [c for c in candidates if not c.refused]
    refused = [c.refused for c in candidates if c.refused]
    if not usable:
        raise LedgerError("; ".join(refused) + " (nothing written)" if len(refused) == 1 else
                          f"none of the {len(refused)} reached its target: " + "; ".join(refused)
                          + " (nothing written)")
    if len(usable) > 1 and (args.publication or args.date):
        raise LedgerError(f"--publication and --date name one entry; pick one run with {flag} SOURCE:RUN.")
    ledger = Path(args.ledger)
    key, new_bench = resolve_benchmark(usable, ledger, args.benchmark)
    existing = load_ledger(ledger).entries if ledger.exists() else []
    have = {(e.benchmark, e.publication.casefold(), e.date.isoformat()) for e in existing}
    notes, added, skipped = [], [], list(refused)
    undo = None
    if new_bench is not None:
        beside, undo = define_benchmark(new_bench, ledger)
        notes.append(f"defined benchmark {key!r} ({new_bench.capability}) in {beside}")
    for c in usable:
        fields = {**c.fields, "benchmark": key}
        for name in ("publication", "date", "publication_link", "notes", "provenance"):
            if getattr(args, name) is not None:
                fields[name] = getattr(args, name)
        if (key, str(fields["publication"]).casefold(), fields["date"]) in have:
            skipped.append(f"{c.label} is already in {ledger} as {fields['publication']!r}")
            continue
        apath = analysis_path(ledger, key, str(fields["publication"]))
        if apath.exists():
            skipped.append(f"{c.label}: {apath} exists already; give --publication another name")
            continue
        fields["analysis"] = str(apath.relative_to(ledger.parent))
        try:
            result = append_entry(ledger, fields)
        except LedgerError:
            if undo is not None and not added:
                undo()  # nothing was added: the new benchmark goes too
            raise
        e = result.entry
        write_analysis(apath, key, e.publication, c.analysis,
                       {"flops_per_mac": e.flops_per_mac, "models": e.models,
                        "utilization_discount": e.utilization_discount}, e.compute_flops)
        added.append((c, result, apath))
    if args.json:
        print(json.dumps({"notes": notes, "skipped": skipped, "added": [
            {**r.entry.to_dict(), "source": c.label, "analysis_file": str(p), "conversion": r.conversion or None,
             "verdict": r.verdict.to_dict(), "headline": r.headline(), "path": str(r.path), "line": r.line}
            for c, r, p in added]}))
    else:
        for note in notes:
            print(f"note: {note}")
        for c, r, p in added:
            if len(candidates) > 1:
                print(f"{c.label}:")
            if r.conversion:
                print(f"note: {r.conversion}")
            print(r.headline())
            print(f"added {r.entry.publication!r} ({r.entry.benchmark}, {r.entry.date.isoformat()}) to {r.path} "
                  f"at line {r.line}; analysis {p}")
        for reason in skipped:
            print(f"skipped: {reason}")
    return 0 if added else 1
