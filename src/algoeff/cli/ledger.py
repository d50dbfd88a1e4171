"""``algoeff ledger``: show, tables, validate and add."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import sys

from algoeff.errors import LedgerError
from algoeff.ledger import (
    append_entry,
    bundled_ledger_path,
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

from .args import finite_float

__all__ = ["EXTRA_LEDGER_COMMANDS", "add_ledger_options", "format_compute", "open_ledger", "register"]

# Modules under algoeff.cli that add more `algoeff ledger` sub-commands, each
# with register(ledger_subparsers).
EXTRA_LEDGER_COMMANDS: list[str] = ["ledger_check"]


def add_ledger_options(parser: argparse.ArgumentParser, *, unit: bool = True) -> None:
    parser.add_argument("--ledger", metavar="PATH",
                        help="ledger CSV, seed or project format (default: the bundled ledger)")
    parser.add_argument("--seed-values", action="store_true",
                        help="use the values as listed, without the known errata (data/errata.toml; default: "
                             "errata applied)")
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
    parser = subparsers.add_parser("ledger", help="the efficiency ledger: show, tables, validate, add, check, "
                                                  "benchmark",
                                   description="The ledger of training compute to reach fixed benchmarks.")
    sub = parser.add_subparsers(dest="ledger_command", metavar="SUBCOMMAND", parser_class=type(parser))
    sub.required = True

    show = sub.add_parser("show", help="entries per benchmark, frontier and reduction factors")
    add_ledger_options(show)
    show.add_argument("--benchmark", metavar="KEY", help="only this benchmark, key or alias (default: all)")
    show.add_argument("--json", action="store_true", help="one JSON object on stdout")
    show.add_argument("--normalize", action="store_true", help=NORMALIZE_HELP)
    show.set_defaults(func=_show)

    tables = sub.add_parser("tables", help="the README's Markdown tables, generated from the ledger")
    add_ledger_options(tables, unit=False)
    tables.add_argument("--write", metavar="FILE",
                        help="rewrite the tables between the algoeff:tables markers in FILE (created if absent; "
                             "default: print them)")
    tables.add_argument("--json", action="store_true",
                        help="one JSON object on stdout: the Markdown and the benchmarks it covers")
    tables.set_defaults(func=_tables)

    validate = sub.add_parser("validate", help="check a whole ledger file; every problem as PATH:LINE: column",
                              description="Check every row of a ledger file and report every problem, "
                                          "each as PATH:LINE: column: message; exit 1 if there is any.")
    validate.add_argument("--ledger", metavar="PATH", help="ledger CSV to check (default: the bundled ledger)")
    validate.add_argument("path", metavar="PATH", nargs="?",
                          help="deprecated spelling of --ledger PATH (kept for one release)")
    validate.add_argument("--json", action="store_true", help="one JSON object on stdout")
    validate.set_defaults(func=_validate)

    add = sub.add_parser("add", help="validate one entry and append it to a ledger atomically",
                         description="Append one entry to a ledger file (never the installed one). "
                                     "Give the fields as flags or in --file entry.toml/.json "
                                     "(keys: the project columns, or compute + unit).")
    add.add_argument("--ledger", metavar="PATH", required=True,
                     help="ledger CSV to append to (created in the project format if absent)")
    add.add_argument("--file", metavar="ENTRY",
                     help="the entry's fields in a .toml or .json file (flags override it; default: flags only)")
    add.add_argument("--from-run", metavar="STORE[:RUN]",
                     help="the entry from a tracked run: ComputeTracker's store, and a run id, name or key "
                          "(default: every run in the store, in order); writes analyses/ beside the ledger")
    add.add_argument("--from-study", metavar="DIR[:RECIPE]",
                     help="the entries from a study's --out folder (its results.json): one recipe (default: "
                          "every recipe that reached the target, baseline first)")
    add.add_argument("--benchmark", metavar="KEY",
                     help="benchmark key or alias (required; with --from-run, default: the one whose target the "
                          "run's matches)")
    add.add_argument("--publication", metavar="NAME",
                     help="the method's name, one line (required; with --from-run, default: the run's name)")
    add.add_argument("--date", metavar="YYYY-MM-DD",
                     help="publication date (required; with --from-run, default: the day the run started, UTC)")
    add.add_argument("--compute", metavar="X", help="training compute to reach the benchmark, in --unit (required, "
                                                    "unless --file gives it; default: none)")
    add.add_argument("--unit", choices=list(UNITS), help="unit of --compute (default: tfs-days)")
    add.add_argument("--publication-link", metavar="URL", help="link to the publication (default: none)")
    add.add_argument("--listed-reduction-factor", metavar="X",
                     help="the reduction factor the source lists, kept as listed (default: none)")
    add.add_argument("--analysis", metavar="TEXT", help="name or path of the analysis behind it (default: none)")
    add.add_argument("--analysis-link", metavar="URL", help="link to that analysis (default: none)")
    add.add_argument("--flops-per-mac", choices=["1", "2"],
                     help="FLOPs the figure counts per multiply-add (algoeff flops and ComputeTracker count 2); "
                          "needed where the benchmark's entries say theirs (default: unknown)")
    add.add_argument("--utilization-discount", metavar="U",
                     help="e.g. 0.33 if compute = time x peak x 0.33 (default: none applied)")
    add.add_argument("--models", metavar="K", help="models trained, e.g. an ensemble's size (default: 1)")
    add.add_argument("--method", choices=list(METHODS), help="how the figure was obtained (default: unknown)")
    add.add_argument("--notes", metavar="TEXT", help="free text (default: none)")
    add.add_argument("--provenance", metavar="TEXT", help="where the figure comes from (default: none)")
    add.add_argument("--json", action="store_true", help="print the added entry and the verdict as JSON")
    add.set_defaults(func=_add)

    bench = sub.add_parser("benchmark", help="the benchmarks a ledger may use: list, add",
                           description="Benchmarks are bundled with algoeff or defined in a benchmarks.toml "
                                       "beside a ledger (its format: docs/ledger.md).")
    bsub = bench.add_subparsers(dest="benchmark_command", metavar="SUBCOMMAND", parser_class=type(parser))
    bsub.required = True
    blist = bsub.add_parser("list", help="every benchmark a ledger may use, bundled and beside it")
    blist.add_argument("--ledger", metavar="PATH",
                       help="ledger CSV whose benchmarks.toml to read too (default: the bundled ledger)")
    blist.add_argument("--json", action="store_true", help="one JSON object on stdout")
    blist.set_defaults(func=_benchmark_list)
    badd = bsub.add_parser("add", help="define a benchmark in the benchmarks.toml beside a ledger, atomically",
                           description="Define a benchmark (a fixed capability entries must reach) in the "
                                       "benchmarks.toml beside --ledger, validated, without touching the "
                                       "file's other text.")
    badd.add_argument("key", metavar="KEY", help="lower-case key: letters, digits, '_', '.', '-'")
    badd.add_argument("--ledger", metavar="PATH", required=True,
                      help="the ledger CSV the benchmark is for; benchmarks.toml is written beside it")
    badd.add_argument("--title", required=True, help="table heading, e.g. 'Digits-95-level performance'")
    badd.add_argument("--metric", required=True, help="what is measured, e.g. 'test accuracy (%%)'")
    badd.add_argument("--threshold", required=True, type=finite_float,
                      help="the value that counts as reaching the benchmark")
    badd.add_argument("--direction", required=True, choices=("higher", "lower"),
                      help="higher: the metric must be >= threshold; lower: <= threshold")
    badd.add_argument("--capability", default="", help="one line: what reaching it means (default: none)")
    badd.add_argument("--dataset", default="", help="the dataset and split (default: none)")
    badd.add_argument("--alias", action="append", default=[], metavar="NAME",
                      help="another name for it, e.g. a seed ledger's Metric; repeatable (default: none)")
    badd.add_argument("--source", default="", help="where the target comes from (default: none)")
    badd.add_argument("--json", action="store_true", help="print the benchmark as JSON")
    badd.set_defaults(func=_benchmark_add)

    for name in EXTRA_LEDGER_COMMANDS:
        importlib.import_module(f"algoeff.cli.{name}").register(sub)


def _benchmark_list(args) -> int:
    from algoeff.ledger.load import registry_for

    registry = registry_for(args.ledger) if args.ledger else registry_for(bundled_ledger_path())
    benches = list(registry)
    if args.json:
        print(json.dumps({"benchmarks": [b.to_dict() for b in benches]}, indent=2))
        return 0
    width = max(len(b.key) for b in benches)
    for b in benches:
        sign = {"higher": ">=", "lower": "<="}.get(b.direction or "", "?")
        target = f"{b.metric or 'metric'} {sign} {b.threshold:g}" if b.threshold is not None else "no threshold"
        print(f"{b.key:<{width}}  {b.title}  ({target})")
    return 0


def _not_bundled(ledger) -> None:
    """The installed ledger and its benchmarks.toml are read-only: refuse before anything is written."""
    from pathlib import Path

    if Path(ledger).resolve() == bundled_ledger_path().resolve() or \
            Path(ledger).resolve().parent == bundled_ledger_path().resolve().parent:
        raise LedgerError(f"{ledger}: is the ledger installed with algoeff (or beside it); work on a copy "
                          "(--ledger MY_LEDGER.csv).")


def _benchmark_add(args) -> int:
    from pathlib import Path

    from algoeff.ledger import Benchmark
    from algoeff.ledger.benchmarks import add_benchmark
    from algoeff.ledger.load import BENCHMARKS_FILE

    bench = Benchmark(key=args.key, title=args.title, capability=args.capability, dataset=args.dataset,
                      metric=args.metric, threshold=args.threshold, direction=args.direction,
                      aliases=tuple(args.alias), source=args.source)
    ledger = Path(args.ledger)
    _not_bundled(ledger)
    if ledger.is_dir():
        raise LedgerError(f"--ledger {ledger}: is a folder, expected a ledger CSV file (benchmarks.toml goes "
                          "beside it).")
    if not ledger.parent.is_dir():
        raise LedgerError(f"--ledger {ledger}: folder {str(ledger.parent)!r} does not exist; create it first.")
    path = add_benchmark(ledger.parent / BENCHMARKS_FILE, bench)
    if args.json:
        print(json.dumps({**bench.to_dict(), "path": str(path)}))
    else:
        sign = ">=" if bench.direction == "higher" else "<="
        print(f"defined benchmark {bench.key!r} ({bench.metric} {sign} {bench.threshold:g}) in {path}")
    return 0


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
    if args.json:
        path = write_tables(ledger, args.write) if args.write else None
        print(json.dumps({"ledger": str(ledger.path), "corrected": ledger.corrected,
                          "benchmarks": [b.key for b in ledger.used_benchmarks()],
                          "written": None if path is None else str(path), "markdown": render_tables(ledger)},
                         indent=2))
        return 0
    if args.write:
        path = write_tables(ledger, args.write)
        print(f"wrote the tables of {plural(len(ledger.used_benchmarks()), 'benchmark')} to {path}", file=sys.stderr)
    else:
        sys.stdout.write(render_tables(ledger))
    return 0


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 entry", "2 entries" """
    return f"{n} {word if n == 1 else (many or word + 's')}"


def _validate(args) -> int:
    if args.path is not None:
        if args.ledger is not None:
            raise LedgerError("give the ledger once: --ledger PATH (the positional PATH is its deprecated spelling).")
        print("note: `ledger validate PATH` is deprecated; use `ledger validate --ledger PATH`", file=sys.stderr)
    path = args.ledger if args.ledger is not None else args.path
    path = str(bundled_ledger_path()) if path is None else path
    problems = validate_ledger(path)
    ledger = None if problems else load_ledger(path)
    if args.json:
        print(json.dumps({
            "path": path, "ok": not problems, "problems": [dataclasses.asdict(p) for p in problems],
            "entries": None if ledger is None else len(ledger.entries),
            "benchmarks": None if ledger is None else [b.key for b in ledger.used_benchmarks()],
            "format": None if ledger is None else ledger.format,
            "defaulted_columns": [] if ledger is None else list(ledger.defaulted),
        }, indent=2))
        return 1 if problems else 0
    for problem in problems:
        print(f"LedgerError: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{path}: ok, {plural(len(ledger.entries), 'entry', 'entries')} over "
          f"{plural(len(ledger.used_benchmarks()), 'benchmark')} ({ledger.format} format)")
    if ledger.defaulted:
        print(f"note: columns left out take their defaults: {', '.join(ledger.defaulted)} "
              "(empty; models 1)")
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
    _not_bundled(ledger)
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
