"""A benchmark's pages: the leaderboard (all entries, newest first), its frontier-only view,
an analysis page per analysed entry, and its downloads (entries.csv, entries.json).

    write_benchmark(bench, entries, folder, *, checks, version, progress) -> dict   # its index card
"""

from __future__ import annotations

import json
from pathlib import Path

from algoeff.errors import LedgerError
from algoeff.ledger import frontier, reduction_factor, write_ledger
from algoeff.units import FLOPS_PER_TFS_DAY

from . import charts
from .analysis_page import write_analysis
from .caveats import benchmark_caveats
from .html import external_link, fmt_factor, fmt_interval, fmt_months, unique_slugs
from .render import render

__all__ = ["write_benchmark"]

ROOT = "../../"


def fit_for(entries):
    from algoeff.trend import fit_trend

    try:
        return fit_trend(entries), ""
    except LedgerError as err:
        return None, str(err)


def doubling_ci_text(fit) -> str:
    """'95% CI 12.1 – 25.3 months', or why there is none."""
    ci = fit.doubling_time_ci95_months
    if ci is None:
        return f"no 95% CI ({fit.n_points} frontier points)"
    return "95% CI " + fmt_interval(ci[0], ci[1], fmt_months, unit="months")


def convention_text(e) -> str:
    parts = [f"{e.flops_per_mac} FLOP{'s' if e.flops_per_mac != 1 else ''}/MAC" if e.flops_per_mac is not None
             else "FLOPs/MAC unknown"]
    if e.utilization_discount is not None:
        parts.append(f"utilization ×{e.utilization_discount:g}")
    if e.models != 1:
        parts.append(f"{e.models}-model ensemble")
    if e.method:
        parts.append(e.method)
    return " · ".join(parts)


def write_benchmark(bench, entries, folder: Path, *, checks: dict, version, progress) -> dict:
    fit, why = fit_for(entries)
    base = entries[0]
    on = {id(e) for e in frontier(entries)}
    anchors = unique_slugs([f"{e.date.isoformat()} {e.publication}" for e in entries], prefix="e-")
    number = {id(e): (i + 1, anchors[i]) for i, e in enumerate(entries)}

    # analysis pages first: rows and caveats link to them
    analysis_pages, page_of = [], {}
    for e in entries:
        row = checks.get(id(e))
        if row is not None and row.analysis is not None:
            name = f"analysis-{number[id(e)][1][2:]}.html"
            page_of[id(e)] = name
            analysis_pages.append((e, row, name))
    caveats = benchmark_caveats(entries, fit, checks, {id(e): page_of.get(id(e), f"#{number[id(e)][1]}")
                                                       for e in entries})
    kinds = {c.kind for c in caveats}

    rows, notes = [], []
    for e in entries:
        n, anchor = number[id(e)]
        check = checks.get(id(e))
        footnote = None
        if e.corrections:
            notes.append(e)
            footnote = len(notes)
        rows.append({
            "n": n, "anchor": anchor, "entry": e, "frontier": id(e) in on,
            "publication": external_link(e.publication_link, e.publication),
            "tfs": e.compute_flops / FLOPS_PER_TFS_DAY, "flops": e.compute_flops,
            "listed": e.listed_reduction_factor, "recomputed": reduction_factor(e, base),
            "convention": convention_text(e),
            "source_analysis": external_link(e.analysis_link, e.analysis or "source") if (
                e.analysis or e.analysis_link) else None,
            "page": page_of.get(id(e)),
            "differs": check is not None and check.verdict == "differs",
            "footnote": footnote,
        })
    newest = list(reversed(rows))

    figures = []
    if fit is not None:
        best = fit.frontier[-1]
        record_differs = any(checks.get(id(x)) is not None and checks[id(x)].verdict == "differs"
                             for x in (best, base))
        figures = [
            {"id": "reduction-factor", "value": fmt_factor(fit.reduction_factor),
             "label": f"less compute than {base.publication} ({base.date.year})",
             "detail": f"{best.publication}, {fit.span_years:.1f} years later"
                       + (f"; the source lists {fmt_factor(best.listed_reduction_factor)}"
                          if best.listed_reduction_factor is not None else ""),
             # the headline's own caveats: its two entries do not reproduce, or they count unlike
             "badges": [c for c in caveats if (c.kind == "reproduce" and record_differs)
                        or c.kind == "conventions"]},
            {"id": "doubling-time", "value": f"{fit.doubling_time_months:.1f} months",
             "label": "efficiency doubling time", "detail": doubling_ci_text(fit),
             "badges": [c for c in caveats if c.kind == "ci"]},
            {"id": "moores-law", "value": fmt_factor(fit.moores_law_factor), "label": "Moore's law over the same span",
             "detail": "2× every 24 months", "badges": []},
            {"id": "combined", "value": fmt_factor(fit.combined_factor),
             "label": "hardware × algorithms (algoeff's derivation)",
             "detail": "reduction factor × Moore's-law factor, computed here; not a figure from the paper",
             "badges": []},
        ]
    else:
        figures = [{"id": "doubling-time", "value": "no trend", "label": "efficiency doubling time", "detail": why,
                    "badges": [c for c in caveats if c.kind == "ci"]}]

    label = f"{bench.title}: training compute against publication date"
    chart = charts.trend_chart(entries, fit, number, label=label)

    csv_name, json_name = "entries.csv", "entries.json"
    try:
        write_ledger(entries, folder / csv_name, benchmarks=[bench])
    except LedgerError as err:
        raise LedgerError(f"benchmark {bench.key}: its entries.csv download: {err}") from None
    payload = {"version": version.to_dict(), "benchmark": bench.to_dict(),
               "entries": [e.to_dict() for e in entries], "trend": fit.to_dict() if fit else None}
    (folder / json_name).write_text(json.dumps(payload, indent=2, ensure_ascii=False, allow_nan=False) + "\n",
                                    encoding="utf-8")
    downloads = [(csv_name, "CSV (project ledger format)"), (json_name, "JSON (entries, benchmark, trend)")]
    if (folder / "benchmarks.toml").is_file():
        downloads.append(("benchmarks.toml", "benchmarks.toml (this benchmark's definition, for the CSV)"))

    common = dict(bench=bench, fit=fit, why=why, base=base, caveats=caveats, kinds=kinds, figures=figures,
                  chart=chart, entries=entries, number=number, notes=notes, downloads=downloads,
                  n_frontier=len(on), has_band=fit is not None and "band" in charts.trend_lines(fit))
    pages = {}
    pages["index.html"] = render("benchmark.html", root=ROOT, version=version, title=bench.title,
                                 rows=newest, view="all", **common)
    pages["frontier.html"] = render("benchmark.html", root=ROOT, version=version,
                                    title=f"{bench.title}: frontier", rows=[r for r in newest if r["frontier"]],
                                    view="frontier", **common)
    for name, text in pages.items():
        (folder / name).write_text(text, encoding="utf-8")
    for e, row, name in analysis_pages:
        write_analysis(bench, e, row, folder / name, version=version, row_anchor=number[id(e)][1])
    progress(f"benchmark {bench.key}: {len(entries)} entries, {len(analysis_pages)} analysis pages")
    record = fit.frontier[-1] if fit else min(entries, key=lambda e: e.compute_flops)
    return {"bench": bench, "fit": fit, "why": why, "entries": len(entries), "caveats": caveats,
            "record": record, "record_anchor": number[id(record)][1], "ci_text": doubling_ci_text(fit) if fit else why,
            "labels": chart.boxes}
