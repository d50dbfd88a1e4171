"""The static site: an index of benchmark cards, a leaderboard (and frontier view and
analysis pages) per benchmark, a page per study, a method page, and the data downloads.

    build_site(out, *, ledger=None, studies=(), corrected=True, progress=None) -> Site

Pages are Jinja2 templates (report/templates, autoescape on), one module per page
kind: benchmark_page, analysis_page, study_page; charts are inline SVG (charts.py,
svg.py). The site is built in a temporary folder beside ``out`` and moved into place
only when every page is written, so a failure leaves the previous site (or nothing),
never half of one. An existing ``out`` is replaced only if it is empty or a site
algoeff wrote (it holds the marker file), never an unrelated folder. Pages work
opened from disk or from any subpath: relative links, inline style, no scripts.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path

from algoeff import __version__, trend
from algoeff.errors import LedgerError, ReportError
from algoeff.files import swap_in_folder
from algoeff.ledger import Ledger, bundled_ledger_path, load_ledger, write_ledger
from algoeff.units import FLOPS_PER_TFS_DAY

from .benchmark_page import write_benchmark
from .caveats import KINDS
from .render import render, version_of
from .study import Study, load_study
from .study_page import write_study

__all__ = ["MARKER", "Site", "build_site"]

MARKER = ".algoeff-report"  # marks a folder as a site algoeff wrote (and may replace)


@dataclasses.dataclass(frozen=True)
class Site:
    index: Path  # index.html of the finished site
    benchmarks: list[str]  # benchmark keys, one page each
    studies: list[str]  # study page folders
    pages: list[Path]
    # chart label boxes per page (relative path) and variant: what the layout placed, for checks
    labels: dict = dataclasses.field(default_factory=dict, repr=False)


# -- inputs ------------------------------------------------------------------

def _open_ledger(ledger, corrected: bool) -> Ledger:
    if isinstance(ledger, Ledger):
        return ledger
    if ledger is not None:
        path = Path(ledger)
        if not path.exists():
            raise ReportError(f"ledger {str(path)!r} does not exist.")
    return load_ledger(ledger, corrected=corrected)


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise ReportError(f"--out {str(out)!r} is a file; pass a folder for the site.")
    if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
        raise ReportError(f"--out {str(out)!r} is a folder that is not an algoeff report; "
                          "pass a new or empty folder (an earlier report there is replaced).")


def _checks(book: Ledger) -> tuple[dict, str]:
    """``ledger check``'s row per entry (by id), or why the analyses could not be checked."""
    from algoeff.errors import EstimateError
    from algoeff.ledger.check import check_ledger

    try:
        report = check_ledger(book)
    except (LedgerError, EstimateError) as err:
        return {}, str(err)
    return {id(row.entry): row for row in report.rows}, ""


def _write_ledger_downloads(book: Ledger, folder: Path, version) -> bool:
    """ledger.csv (project format, loadable) and ledger.json; True if a benchmarks.toml went beside them."""
    write_ledger(book, folder / "ledger.csv")
    payload = {"version": version.to_dict(),
               "benchmarks": [b.to_dict() for b in book.used_benchmarks()],
               "entries": [e.to_dict() for e in book.entries]}
    (folder / "ledger.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                                        encoding="utf-8")
    return (folder / "benchmarks.toml").is_file()


def _rule(doc: str | None, start: str, stop: str | None, fallback: str) -> str:
    """The rule a module's docstring states (the code's own words), or ``fallback`` if it is worded otherwise."""
    if not doc or start not in doc:
        return fallback
    text = doc.split(start, 1)[1]
    text = text.split(stop)[0] if stop else text
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] if text else fallback


def _method_page(version) -> str:
    from algoeff.estimate import TARGET
    from algoeff.ledger import check
    from algoeff.study import CI_RULE
    from algoeff.trend import CI_METHOD

    trend_rule = _rule(trend.__doc__, "Rule (Hernandez & Brown 2020): ", "With only",
                       "over a benchmark's frontier, baseline included, an OLS fit of log2(baseline compute / "
                       "entry compute) against months since the baseline; the doubling time is 1 / slope.")
    check_rule = _rule(check.__doc__, "Rule: ", None,
                       "a listed value reproduces when the recomputed value lies within half a unit of its last "
                       "significant figure.")
    return render("method.html", root="", version=version, title="Method", trend_rule=trend_rule,
                  ci_method=CI_METHOD, study_ci_rule=CI_RULE.removeprefix("95% CI: "), check_rule=check_rule,
                  target_convention=TARGET.describe(), kinds=[(k, v[0], v[1]) for k, v in KINDS.items()])


def _nothing(_line: str) -> None:
    pass


def build_site(out, *, ledger=None, studies=(), corrected: bool = True, progress=None) -> Site:
    """Write the report site into folder ``out`` (see the module docstring); return where it went.

    ``ledger`` is a path, a loaded Ledger or None (the bundled ledger); ``studies`` are
    folders written by ``algoeff study --out``. ``progress`` gets one line per page.
    """
    out = Path(out)
    progress = progress or _nothing
    _check_out(out)
    book = _open_ledger(ledger, corrected)
    loaded = [load_study(path) for path in studies]
    seen: dict[str, int] = {}
    for i, s in enumerate(loaded):
        n = seen[s.slug] = seen.get(s.slug, 0) + 1
        if n > 1:  # two studies of one workload get their own folders
            loaded[i] = dataclasses.replace(s, slug=f"{s.slug}-{n}")
    benches = book.used_benchmarks()
    if not benches and not loaded:
        raise ReportError(f"nothing to report: ledger {book.path} has no entries and no --study was given.")

    bundled = book.path is not None and Path(book.path) == bundled_ledger_path()
    source = "the bundled ledger" if bundled else f"ledger {Path(book.path).name if book.path else '(in memory)'}"
    version = version_of(book, source, __version__)
    # recomputing counted analyses rebuilds their models (seconds each): say what is going on
    progress(f"checking {len(book.entries)} entries against their analyses (as `algoeff ledger check`)")
    checks, check_error = _checks(book)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        pages, cards, study_cards, labels = [], [], [], {}
        for bench in benches:
            folder = tmp / "benchmark" / bench.key
            folder.mkdir(parents=True)
            card = write_benchmark(bench, book.for_benchmark(bench.key), folder, checks=checks, version=version,
                                   progress=progress)
            cards.append(card)
            labels[f"benchmark/{bench.key}/index.html"] = card["labels"]
            pages += [out / "benchmark" / bench.key / name for name in ("index.html", "frontier.html")]
        for study in loaded:
            folder = tmp / "study" / study.slug
            folder.mkdir(parents=True)
            card = write_study(study, folder, version=version, progress=progress)
            study_cards.append(card)
            labels[f"study/{study.slug}/index.html"] = card["labels"]
            pages.append(out / "study" / study.slug / "index.html")
        has_toml = _write_ledger_downloads(book, tmp, version) if book.entries else False
        (tmp / "index.html").write_text(render(
            "index.html", root="", version=version, title="Algorithmic efficiency", cards=cards,
            studies=study_cards, source=source, corrected=book.corrected, check_error=check_error,
            tfs_day=FLOPS_PER_TFS_DAY, has_benchmarks_toml=has_toml), encoding="utf-8")
        (tmp / "method.html").write_text(_method_page(version), encoding="utf-8")
        pages.append(out / "method.html")
        (tmp / MARKER).write_text(f"algoeff {__version__} report\n", encoding="utf-8")
        _publishable(tmp)
        swap_in_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    index = out / "index.html"
    return Site(index=index, benchmarks=[b.key for b in benches], studies=[s.slug for s in loaded],
                pages=[index, *pages], labels=labels)


def _publishable(root: Path) -> None:
    """World-readable, as a published site must be: mkdtemp and mkstemp (charts) create owner-only."""
    os.chmod(root, 0o755)
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
