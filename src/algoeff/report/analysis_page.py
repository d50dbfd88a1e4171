"""An entry's analysis page, rendered from its analysis file and ``ledger check``'s row for it:
the inputs with their sources, the formula with the numbers in it, recomputed against listed,
the verdict, what was tried, the cross-checks. The analysis's TOML is copied beside the page.

    write_analysis(bench, entry, row, path, *, version, row_anchor)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from algoeff.units import FLOPS_PER_TFS_DAY

from .render import render

__all__ = ["formula", "verdict_text", "write_analysis"]


def _g(v, digits: int = 4) -> str:
    return f"{float(v):.{digits}g}"


def _value(v) -> str:
    if isinstance(v, (list, dict)):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return f"{v:g}"


def formula(est) -> list[str]:
    """The estimate's arithmetic, one line per step, with its inputs' values."""
    try:
        return _formula(est)
    except (KeyError, TypeError, ValueError):
        # a method whose inputs this page does not know how to spell out: the total, and the inputs below
        return [f"compute ({est.method}) = {_g(est.total_flops)} FLOPs = "
                f"{est.total_flops / FLOPS_PER_TFS_DAY:.3g} tfs-days, from the inputs below"]


def _counted(est, total: str) -> list[str]:
    """A rebuilt model counted by algoeff's FLOP counter, phase by phase (estimate.counted)."""
    i = est.inputs
    fpm = i["flops_per_mac"]
    lines = ["compute = Σ over phases of (forward + backward FLOPs per example, counted on the rebuilt model)"
             f" × {fpm}/2 (FLOPs per multiply-add; the counter counts 2) × examples seen × models"]
    for ph in i["phases"]:
        what = f"{ph.get('label') or ph['model']}: {ph['model']} at {tuple(ph['input_shape'])}"
        lines.append(f"{what}: ({_g(ph['forward_flops_per_example'])} + {_g(ph['backward_flops_per_example'])}) × "
                     f"{fpm}/2 × {_g(ph['examples_seen'])} × {i['models']} = {_g(ph['flops'])}"
                     + ("" if ph.get("train", True) else " (evaluation only: forward)"))
    lines.append(f"= {total}")
    return lines


def _formula(est) -> list[str]:
    i = est.inputs
    frac = i.get("fraction_of_run")
    tail = f" × {_g(frac)} (fraction of the run)" if frac is not None else ""
    total = f"{_g(est.total_flops)} FLOPs = {est.total_flops / FLOPS_PER_TFS_DAY:.3g} tfs-days"
    lines = []
    if est.method == "counting" and i.get("counted"):
        return _counted(est, total)
    if est.method == "counting":
        if "per_example_gmacs" in i:
            lines.append(f"per-example forward FLOPs = {_g(i['per_example_gmacs'])} G multiply-adds × "
                         f"{i['flops_per_mac']} FLOP{'s' if i['flops_per_mac'] != 1 else ''} per multiply-add = "
                         f"{_g(i['per_example_flops'])}")
        elif "per_example_gflops" in i:
            lines.append(f"per-example forward FLOPs = {_g(i['per_example_gflops'])} GFLOPs = {_g(i['per_example_flops'])}")
        lines.append("compute = per-example forward FLOPs × (1 + backward factor) × examples × epochs × models"
                     + (" × fraction of the run" if frac is not None else ""))
        lines.append(f"= {_g(i['per_example_flops'])} × (1 + {_g(i['backward_factor'])}) × {_g(i['examples'])} × "
                     f"{_g(i['epochs'])} × {i['models']}{tail} = {total}")
    elif est.method == "hardware":
        lines.append("compute = devices × seconds × peak FLOP/s per device × utilization × models"
                     + (" × fraction of the run" if frac is not None else ""))
        seconds = i["hours"] * 3600
        lines.append(f"= {_g(i['count'])} × {_g(seconds)} s ({_g(i['days'])} days) × {_g(i['peak_flops'])} × "
                     f"{_g(i['utilization'])} × {i['models']}{tail} = {total}")
    else:
        lines.append(f"compute = the reported total, {_g(i['total_flops'])} FLOPs{tail} = {total}")
    return lines


def verdict_text(row) -> tuple[str, bool]:
    if row.verdict == "reproduces":
        text = "reproduces: the recomputed value is within the listed figure's rounding"
    else:
        text = "does not reproduce: the recomputed value is outside the listed figure's rounding"
        if row.documented:
            text += "; the analysis says why (below)"
    if row.stale_yield:
        text += "; the analysis's recorded yield is not what its inputs give"
    if not row.convention_matches:
        text += "; the analysis counts in a different convention from the ledger entry"
    return text, row.ok and row.verdict == "reproduces"


def write_analysis(bench, entry, row, path: Path, *, version, row_anchor: str) -> None:
    a, est = row.analysis, row.estimate
    inputs = [(k, _value(v), a.primary.sources.get(k, "")) for k, v in a.primary.inputs.items()]
    toml_name = path.with_suffix(".toml").name
    shutil.copyfile(a.path, path.parent / toml_name)
    text, good = verdict_text(row)
    unit = "tfs-days" if row.unit == "tfs-days" else "FLOPs"
    cross = [{"label": c.label, "method": c.estimate.method, "tfs": c.estimate.total_flops / FLOPS_PER_TFS_DAY,
              "ratio": c.ratio, "note": c.note} for c in row.cross_checks]
    html = render("analysis.html", root="../../", version=version, title=f"{entry.publication}: compute analysis",
                  bench=bench, entry=entry, row=row, analysis=a, est=est, inputs=inputs, formula=formula(est),
                  verdict=text, good=good, unit=unit, cross=cross, toml_name=toml_name, row_anchor=row_anchor,
                  convention=a.convention.describe())
    path.write_text(html, encoding="utf-8")
