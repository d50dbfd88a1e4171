"""The static site: an index, one page per benchmark, one page per study.

    build_site(out, *, ledger=None, studies=(), corrected=True, progress=None) -> Site

The site is built in a temporary folder beside ``out`` and moved into place only
when every page and chart is written, so a failure leaves the previous site (or
nothing), never half of one. An existing ``out`` is replaced only if it is empty
or a site algoeff wrote (it holds the marker file), never an unrelated folder.
Pages work opened from disk: relative links, inline style, local images, no scripts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import tempfile
import tomllib
from importlib import resources
from pathlib import Path

from algoeff import __version__
from algoeff.errors import LedgerError, ReportError
from algoeff.ledger import Ledger, bundled_ledger_path, frontier, load_ledger, reduction_factor
from algoeff.units import from_flops

from . import charts
from .html import esc, external_link, fmt_factor, fmt_number, headline_figure, page, table
from .study import Study, load_study

__all__ = ["MARKER", "Site", "build_site"]

MARKER = ".algoeff-report"  # marks a folder as a site algoeff wrote (and may replace)


@dataclasses.dataclass(frozen=True)
class Site:
    index: Path  # index.html of the finished site
    benchmarks: list[str]  # benchmark keys, one page each
    studies: list[str]  # study page folders
    pages: list[Path]


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


def _analyses_root():
    return resources.files("algoeff").joinpath("data", "analyses")


def _analyses(key: str) -> dict[str, tuple[str, str]]:
    """Bundled per-entry analyses of a benchmark: publication or file stem -> (stem, TOML text)."""
    folder = _analyses_root().joinpath(key)
    found: dict[str, tuple[str, str]] = {}
    if not folder.is_dir():
        return found
    for item in sorted(folder.iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".toml"):
            continue
        stem = item.name[: -len(".toml")]
        text = item.read_text(encoding="utf-8")
        found[_slug(stem)] = (stem, text)
        try:
            publication = tomllib.loads(text).get("publication")
        except tomllib.TOMLDecodeError:
            publication = None
        if isinstance(publication, str):
            found[_slug(publication)] = (stem, text)
    return found


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


# -- benchmark pages ---------------------------------------------------------

def _convention(e) -> str:
    parts = []
    if e.flops_per_mac is not None:
        parts.append(f"{e.flops_per_mac} FLOP{'s' if e.flops_per_mac != 1 else ''}/MAC")
    else:
        parts.append("FLOPs/MAC unknown")
    if e.utilization_discount is not None:
        parts.append(f"utilization ×{e.utilization_discount:g}")
    if e.models != 1:
        parts.append(f"{e.models} models")
    if e.method:
        parts.append(e.method)
    return esc(" · ".join(parts))


def _fit(entries):
    from algoeff.trend import fit_trend

    try:
        return fit_trend(entries), ""
    except LedgerError as err:
        return None, str(err)


def _ci_text(fit, *, short: bool = False) -> str:
    """The doubling time's 95% CI in words; ``short`` for a chart title or a headline card."""
    ci = fit.doubling_time_ci95_months
    if ci is None:
        return f"CI undefined: {fit.n_points} points" if short else f"95% CI {fit.ci_note}"
    hi = "∞" if ci[1] == float("inf") else f"{ci[1]:.1f}"
    if short:
        return f"95% CI {ci[0]:.1f}–{hi}"
    text = f"95% CI {ci[0]:.1f} to {hi} months"
    return text + (f" ({fit.ci_note})" if fit.ci_note else "")


def _benchmark_page(bench, entries, folder: Path, *, root: str, footer: str, progress) -> tuple[str, dict]:
    """Write the benchmark's chart and analyses into ``folder``; return its page and its index row."""
    fit, why = _fit(entries)
    base = entries[0]
    on_frontier = {id(e) for e in frontier(entries)}
    if fit is not None:
        # at most ~80 characters: longer titles run off the figure
        title = f"{bench.title}: doubling every {fit.doubling_time_months:.1f} months ({_ci_text(fit, short=True)})"
        charts.trend_chart(entries, folder / "trend.png", title=title)
    else:
        charts.entries_chart(entries, folder / "trend.png", title=f"{bench.title}: compute to reach it")
    progress(f"benchmark {bench.key}: {len(entries)} entries, chart {folder.name}/trend.png")

    figures = []
    if fit is not None:
        best = fit.frontier[-1]
        figures.append(headline_figure(
            fmt_factor(fit.reduction_factor), f"less compute than {base.publication} ({base.date.year})",
            f"{best.publication}, {fit.span_years:.1f} years later", ident="reduction-factor"))
        figures.append(headline_figure(
            f"{fit.doubling_time_months:.1f} months", "efficiency doubling time",
            _ci_text(fit) if fit.doubling_time_ci95_months else "95% CI undefined (see below)",
            ident="doubling-time"))
        figures.append(headline_figure(
            fmt_factor(fit.moores_law_factor), "Moore's law over the same span", "2× every 24 months"))
        figures.append(headline_figure(
            fmt_factor(fit.combined_factor), "hardware × algorithms", "reduction factor × Moore's law"))
    else:
        figures.append(headline_figure("no trend", "efficiency doubling time", why, ident="doubling-time"))

    analyses = _analyses(bench.key)
    rows, classes, notes = [], [], []
    for e in entries:
        on = id(e) in on_frontier
        publication = external_link(e.publication_link, e.publication)
        if e.corrections:
            n = len(notes) + 1
            notes.append((n, e))
            publication += f' <sup><a href="#correction-{n}" title="corrected value">{n}</a></sup>'
        analysis = external_link(e.analysis_link, e.analysis or ("analysis" if e.analysis_link else ""))
        match = analyses.get(_slug(e.publication))
        if match is not None:
            stem, text = match
            name = f"analysis-{_slug(stem)}.html"
            body = (f'<h1>{esc(e.publication)}: compute analysis</h1><p class="sub">{esc(bench.title)} · '
                    f'<a href="index.html">back to the leaderboard</a></p><pre>{esc(text)}</pre>')
            (folder / name).write_text(page(f"{e.publication} analysis", body, root=root + "../",
                                            footer=footer), encoding="utf-8")
            analysis = (analysis + " · " if analysis else "") + f'<a href="{esc(name)}">algoeff analysis</a>'
        listed = e.listed_reduction_factor
        recomputed = reduction_factor(e, base)
        rows.append([
            '<span class="mark" title="on the frontier">★</span>' if on else "",
            esc(e.date.isoformat()),
            publication,
            esc(fmt_number(from_flops(e.compute_flops, "tfs-days"))),
            esc(f"{e.compute_flops:.3e}"),
            esc(fmt_factor(listed)),
            esc(fmt_factor(recomputed)),
            _convention(e),
            analysis or "—",
        ])
        classes.append("frontier" if on else "")
    leaderboard = table(
        ["Frontier", "Date", "Publication", "Compute (tf-s-days)", "Compute (FLOPs)",
         "Reduction (listed)", "Reduction (recomputed)", "Convention", "Analysis"],
        rows, numeric=(3, 4, 5, 6), nowrap=(1,), row_classes=classes, table_id="leaderboard")

    correction_html = ""
    if notes:
        items = "".join(
            f'<li id="correction-{n}">{esc(e.publication)}: ' + "; ".join(
                f"{esc(c.field)} {esc(_plain(c.seed))} → {esc(_plain(c.corrected))} ({esc(c.source)})"
                for c in e.corrections) + "</li>" for n, e in notes)
        correction_html = f"<h2>Corrections applied</h2><ol class=note>{items}</ol>"

    described = " · ".join(esc(x) for x in (bench.capability, bench.dataset, bench.source) if x)
    body = f"""
<h1>{esc(bench.title)}</h1>
<p class="sub">{described}</p>
<div class="headline">{''.join(figures)}</div>
<h2>Efficiency over time</h2>
<img class="chart" id="trend-chart" src="trend.png" width="960" height="600"
 alt="{esc(bench.title)}: training compute against publication date, frontier, fitted trend and Moore's law">
<p class="note">Compute is training compute to reach the benchmark, in teraflop/s-days (1 tf-s-day = 8.64e16 FLOPs).
The frontier (★) holds the entries that took less compute than every earlier one; the trend is an OLS fit of
log2(baseline compute / compute) against months over the frontier, baseline included; doubling time = 1 / slope.
{esc(_ci_rule(fit))}</p>
<h2>Leaderboard</h2>
{leaderboard}
<p class="note">Reduction factor (recomputed) = {esc(base.publication)}'s compute / the entry's compute;
the listed one is what the source states.</p>
{correction_html}
"""
    html_page = page(bench.title, body, root=root, footer=footer)
    row = {
        "key": bench.key, "title": bench.title, "capability": bench.capability, "entries": len(entries),
        "fit": fit, "why": why,
    }
    return html_page, row


def _ci_rule(fit) -> str:
    if fit is None:
        return ""
    rule = f"Its {fit.ci_method}"
    return rule + (f"; here {fit.ci_note}." if fit.ci_note else ".")


def _plain(value) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


# -- study pages -------------------------------------------------------------

def _study_page(study: Study, folder: Path, *, root: str, footer: str, progress) -> str:
    data = study.data
    target = data["target"]
    charts.accuracy_chart(data, folder / "accuracy_vs_compute.png")
    charts.compute_to_target_chart(data, folder / "compute_to_target.png")
    progress(f"study {data['workload']}: {len(data['entries'])} recipes, charts in {folder.name}/")
    shutil.copyfile(study.path / "results.json", folder / "results.json")
    downloads = ['<a href="results.json">results.json</a>']
    table_md = study.path / str(data.get("table") or "table.md")
    if table_md.is_file() and table_md.resolve().parent == study.path.resolve():
        shutil.copyfile(table_md, folder / "table.md")
        downloads.append('<a href="table.md">table.md</a>')

    sign = ">=" if target.get("higher_is_better", True) else "<="
    target_text = f"{target['metric']} {sign} {target['threshold']:g}"
    frontier_names = set(data.get("frontier", []))
    factors = [e["reduction_factor"] for e in data["entries"] if e.get("reduction_factor")]
    figures = []
    if factors:
        best = max(data["entries"], key=lambda e: e.get("reduction_factor") or 0)
        figures.append(headline_figure(fmt_factor(best["reduction_factor"]), "less compute than the baseline",
                                       best.get("title") or best["recipe"], ident="reduction-factor"))
    doubling = data.get("doubling_time_months")
    ci = data.get("doubling_time_ci95_months")
    if doubling is not None:
        ci_text = "95% CI undefined" if not ci else (
            f"95% CI {fmt_number(ci[0])} to {'∞' if ci[1] is None else fmt_number(ci[1])} months")
        figures.append(headline_figure(f"{doubling:.1f} months", "efficiency doubling time", ci_text,
                                       ident="doubling-time"))
    if not factors:
        figures.append(headline_figure("not reached", "no recipe reached the target", target_text,
                                       ident="reduction-factor"))
    if data.get("total_compute_flops"):
        figures.append(headline_figure(f"{data['total_compute_flops']:.2e} FLOPs", "total study compute",
                                       "every trial, tuning included"))

    rows, classes = [], []
    for e in sorted(data["entries"], key=lambda e: e["date"]):
        ci95 = e.get("ci95_flops")
        ci_cell = "—" if not ci95 else f"{fmt_number(ci95[0])} – {fmt_number(ci95[1])}"
        seeds = f"{fmt_number(e.get('seeds_reached'))} / {fmt_number(e.get('seeds'))}"
        best_config = e.get("best_config")
        config = (", ".join(f"{k}={json.dumps(v)}" for k, v in sorted(best_config.items()))
                  if isinstance(best_config, dict) and best_config else "—")
        rows.append([
            '<span class="mark" title="on the frontier">★</span>' if e["recipe"] in frontier_names else "",
            esc(e["date"]),
            esc(e.get("title") or e["recipe"]) + (" <span class=note>(baseline)</span>" if e.get("is_baseline")
                                                  else ""),
            external_link(e.get("link"), e.get("publication") or "—"),
            esc(fmt_number(e.get("compute_to_target_flops")) if e.get("compute_to_target_flops")
                else "not reached"),
            esc(ci_cell),
            esc(seeds),
            esc(fmt_factor(e.get("reduction_factor"))),
            esc(fmt_number(e.get("trials"))),
            esc(fmt_number(e.get("tuning_compute_flops"))),
            f'<code class="config">{esc(config)}</code>',
        ])
        classes.append("frontier" if e["recipe"] in frontier_names else "")
    results = table(
        ["Frontier", "Date", "Recipe", "Publication", "Compute to target (FLOPs)", "95% CI (FLOPs)",
         "Seeds reached", "Reduction", "Trials", "Tuning (FLOPs)", "Best config"],
        rows, numeric=(4, 5, 6, 7, 8, 9), nowrap=(1,), row_classes=classes, table_id="study-table")
    body = f"""
<h1>{esc(study.title)}</h1>
<p class="sub">workload {esc(data['workload'])} · target {esc(target_text)} ·
{'quick sweep' if data.get('quick') else 'full sweep'} · {' · '.join(downloads)}</p>
<div class="headline">{''.join(figures)}</div>
<div class="charts">
<figure><img class="chart" id="accuracy-chart" src="accuracy_vs_compute.png" width="960" height="600"
 alt="{esc(target['metric'])} against training compute per recipe, target line dashed"></figure>
<figure><img class="chart" id="compute-chart" src="compute_to_target.png" width="960" height="600"
 alt="compute to reach the target per recipe against date, with 95% confidence intervals"></figure>
</div>
<p class="note">Compute to target is the median over seeds of the training FLOPs counted until
{esc(target_text)}; the interval is its 95% CI over seeds. The baseline is charged its full schedule.</p>
<h2>Results</h2>
{results}
"""
    return page(study.title, body, root=root, footer=footer)


# -- the site ----------------------------------------------------------------

def _index_page(ledger: Ledger, bench_rows: list[dict], studies: list[Study], *, footer: str) -> str:
    rows = []
    for r in bench_rows:
        fit = r["fit"]
        rows.append([
            f'<a href="benchmark/{esc(r["key"])}/index.html">{esc(r["title"])}</a>',
            esc(r["capability"]),
            esc(str(r["entries"])),
            esc(fmt_factor(fit.reduction_factor)) if fit else "—",
            esc(f"{fit.span_years:.1f}") if fit else "—",
            esc(f"{fit.doubling_time_months:.1f}") if fit else "—",
            esc(_ci_text(fit, short=True).replace("95% CI ", "")) if fit else esc(r["why"]),
        ])
    bench_table = table(["Benchmark", "Capability", "Entries", "Reduction factor", "Years",
                         "Doubling time (months)", "95% CI (months)"],
                        rows, numeric=(2, 3, 4, 5), table_id="benchmarks")
    study_rows = []
    for s in studies:
        d = s.data
        target = d["target"]
        reached = sum(1 for e in d["entries"] if e.get("compute_to_target_flops"))
        doubling = d.get("doubling_time_months")
        study_rows.append([
            f'<a href="study/{esc(s.slug)}/index.html">{esc(s.title)}</a>',
            esc(f"{target['metric']} {'>=' if target.get('higher_is_better', True) else '<='} "
                f"{target['threshold']:g}"),
            esc(f"{reached} / {len(d['entries'])}"),
            esc(f"{doubling:.1f}" if doubling is not None else "—"),
            esc(fmt_number(d.get("total_compute_flops"))),
            esc("quick" if d.get("quick") else "full"),
        ])
    study_html = (table(["Study", "Target", "Recipes reaching it", "Doubling time (months)",
                         "Total compute (FLOPs)", "Sweep"], study_rows, numeric=(2, 3, 4), table_id="studies")
                  if study_rows else '<p class="note">No studies in this report (add them with --study DIR).</p>')
    source = "the bundled ledger" if ledger.path == bundled_ledger_path() else f"ledger {ledger.path}"
    body = f"""
<h1>Algorithmic efficiency of neural-network training</h1>
<p class="sub">Training compute needed to reach fixed benchmarks, by publication date, from {esc(source)}
({'errata applied' if ledger.corrected else 'values as listed'}). Method: Hernandez &amp; Brown 2020,
<a href="https://arxiv.org/abs/2005.04305" rel="noopener noreferrer">Measuring the Algorithmic Efficiency of
Neural Networks</a>.</p>
<h2 id="benchmarks">Benchmarks</h2>
{bench_table}
<h2 id="studies">Studies</h2>
{study_html}
"""
    return page("Algorithmic efficiency", body, root="", footer=footer)


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

    footer = esc(f"Generated by algoeff {__version__} on {dt.date.today().isoformat()}; "
                 "a static page, rebuild it with `algoeff report`.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        pages, rows = [], []
        for bench in benches:
            folder = tmp / "benchmark" / bench.key
            folder.mkdir(parents=True)
            html_page, row = _benchmark_page(bench, book.for_benchmark(bench.key), folder,
                                             root="../../", footer=footer, progress=progress)
            (folder / "index.html").write_text(html_page, encoding="utf-8")
            pages.append(out / "benchmark" / bench.key / "index.html")
            rows.append(row)
        for study in loaded:
            folder = tmp / "study" / study.slug
            folder.mkdir(parents=True)
            html_page = _study_page(study, folder, root="../../", footer=footer, progress=progress)
            (folder / "index.html").write_text(html_page, encoding="utf-8")
            pages.append(out / "study" / study.slug / "index.html")
        (tmp / "index.html").write_text(_index_page(book, rows, loaded, footer=footer), encoding="utf-8")
        (tmp / MARKER).write_text(f"algoeff {__version__} report\n", encoding="utf-8")
        _publishable(tmp)
        _swap(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    index = out / "index.html"
    return Site(index=index, benchmarks=[b.key for b in benches], studies=[s.slug for s in loaded],
                pages=[index, *pages])


def _publishable(root: Path) -> None:
    """World-readable, as a published site must be: mkdtemp and mkstemp (charts) create owner-only."""
    os.chmod(root, 0o755)
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


def _swap(tmp: Path, out: Path) -> None:
    """Put the finished site at ``out``; an earlier site there is removed only once the new one is in place."""
    if not out.exists():
        os.rename(tmp, out)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.rename(out, old / "site")
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old / "site", out)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
