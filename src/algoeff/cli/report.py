"""``algoeff report``: the static leaderboard site, from a ledger and studies."""

from __future__ import annotations

import json
import sys

from algoeff.report import build_site

__all__ = ["register"]


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="write the static leaderboard site (benchmarks, trends, studies)",
        description="A self-contained site (works opened from disk or any subpath, offline): an index of "
                    "benchmark cards, a leaderboard, chart, analysis pages and CSV/JSON downloads per benchmark, "
                    "a page per study and a method page. Entries are checked against their analyses first "
                    "(as `algoeff ledger check`). Prints the path of its index.html.")
    parser.add_argument("--ledger", metavar="PATH",
                        help="ledger CSV, seed or project format (default: the bundled ledger)")
    parser.add_argument("--seed-values", action="store_true",
                        help="use the values as listed, without the known errata (data/errata.toml)")
    parser.add_argument("--study", metavar="DIR", action="extend", nargs="+", default=[],
                        help="a folder written by `algoeff study --out` (repeatable)")
    parser.add_argument("--out", metavar="DIR", required=True,
                        help="folder for the site; an earlier report there is replaced")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout: index and pages")
    parser.set_defaults(func=_report)


def _report(args) -> int:
    from pathlib import Path

    from algoeff.errors import ReportError

    for folder in Path(args.out).absolute().parents:
        if folder.exists() and not folder.is_dir():
            raise ReportError(f"--out {args.out}: {folder} is a file, so the site's folder cannot be made there.")

    def progress(line: str) -> None:
        print(f"report: {line}", file=sys.stderr, flush=True)

    site = build_site(args.out, ledger=args.ledger, studies=args.study, corrected=not args.seed_values,
                      progress=progress)
    if args.json:
        print(json.dumps({"index": str(site.index), "benchmarks": site.benchmarks, "studies": site.studies,
                          "pages": [str(p) for p in site.pages]}, indent=2))
    else:
        print(site.index)
    return 0
