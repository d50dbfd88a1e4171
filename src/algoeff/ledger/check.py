"""``ledger check``: recompute every entry from its analysis and say whether it reproduces.

Rule: a listed value reproduces when the recomputed value lies within the
listed value's own rounding, i.e. within half a unit of its last significant
figure. The seed lists compute in teraflop/s-days, so 3.1 (2 significant
figures) stands for [3.05, 3.15] and 8 (1 figure) for [7.5, 8.5]; trailing
zeros of a whole number are not significant (1620: 3 figures, [1615, 1625]).
The listed figure's unit is the one in which it is shortest (tfs-days or FLOPs).
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from algoeff.errors import LedgerError
from algoeff.estimate import Decomposition, Estimate, decompose
from algoeff.units import FLOPS_PER_TFS_DAY

from .analysis import Analysis, load_analyses, yield_is_stale
from .conventions import entry_convention
from .entry import Entry
from .frontier import baseline

__all__ = ["CheckRow", "CheckReport", "check_ledger", "listed_precision", "significant_figures"]

REPRODUCES, DIFFERS, NO_ANALYSIS = "reproduces", "differs", "no analysis"


def significant_figures(value: float) -> int:
    """Significant figures of a value as written: 3.1 -> 2, 0.069 -> 2, 8 -> 1, 1620 -> 3."""
    text = f"{abs(value):.12g}"
    if "e" in text:
        text = text.split("e")[0]
    if "." in text:
        digits = text.replace(".", "").lstrip("0")
        return max(len(digits), 1)
    return max(len(text.rstrip("0")), 1)


def listed_precision(flops: float) -> tuple[str, float, int, float]:
    """(unit, listed value in it, significant figures, half a unit in the last figure)."""
    options = []
    for unit, scale in (("tfs-days", FLOPS_PER_TFS_DAY), ("flops", 1.0)):
        value = flops / scale
        options.append((significant_figures(value), unit, value))
    figures, unit, value = min(options)
    # the last significant figure's place: 3.1 -> 0.1, 1620 -> 10, 8 -> 1
    place = 10 ** (math.floor(math.log10(abs(value))) - figures + 1)
    return unit, float(f"{value:.{figures - 1}e}"), figures, place / 2


@dataclasses.dataclass(frozen=True)
class CrossCheck:
    label: str
    estimate: Estimate
    ratio: float  # primary / this one, both at 2 FLOPs per multiply-add, per model
    note: str

    def to_dict(self) -> dict:
        return {"label": self.label, "estimate": self.estimate.to_dict(), "ratio_primary_to_this": self.ratio,
                "note": self.note}


@dataclasses.dataclass(frozen=True)
class CheckRow:
    entry: Entry
    analysis: Analysis | None
    estimate: Estimate | None
    verdict: str
    unit: str = "tfs-days"
    listed: float = math.nan  # listed value in unit, as written
    figures: int = 0
    tolerance: float = 0.0  # half a unit in the listed value's last figure, in unit
    recomputed: float = math.nan  # in unit
    stale_yield: bool = False  # the analysis's recorded yield is not what its inputs give
    convention_matches: bool = True  # the analysis and the entry count alike
    cross_checks: tuple[CrossCheck, ...] = ()

    @property
    def ratio(self) -> float:
        return self.recomputed / self.listed if self.listed else math.nan

    @property
    def documented(self) -> bool:
        """A difference the analysis explains."""
        return self.verdict == DIFFERS and bool(self.analysis and self.analysis.difference)

    @property
    def ok(self) -> bool:
        return ((self.verdict == REPRODUCES or self.documented) and not self.stale_yield
                and self.convention_matches)

    def to_dict(self) -> dict:
        a = self.analysis
        return {
            "benchmark": self.entry.benchmark, "publication": self.entry.publication,
            "listed": _num(self.listed), "recomputed": _num(self.recomputed), "unit": self.unit,
            "ratio": _num(self.ratio), "significant_figures": self.figures, "tolerance": self.tolerance,
            "verdict": self.verdict, "documented": self.documented, "ok": self.ok,
            "listed_flops": self.entry.compute_flops,
            "recomputed_flops": self.estimate.total_flops if self.estimate else None,
            "stale_yield": self.stale_yield, "convention_matches": self.convention_matches,
            "entry_convention": dataclasses.asdict(entry_convention(self.entry)),
            "analysis": a.to_dict() if a else None,
            "estimate": self.estimate.to_dict() if self.estimate else None,
            "cross_checks": [c.to_dict() for c in self.cross_checks],
        }


def _num(x: float):
    return None if x is None or not math.isfinite(x) else x


@dataclasses.dataclass(frozen=True)
class DecompositionRow:
    benchmark: str
    publication: str
    baseline: str
    decomposition: Decomposition

    def to_dict(self) -> dict:
        return {"benchmark": self.benchmark, "publication": self.publication, "baseline": self.baseline,
                **self.decomposition.to_dict()}


@dataclasses.dataclass(frozen=True)
class CheckReport:
    rows: list[CheckRow]
    decompositions: list[DecompositionRow]
    analyses_dir: Path | None
    unmatched: list[Analysis]  # analyses of no entry in this ledger

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "analyses": str(self.analyses_dir) if self.analyses_dir else None,
                "rule": __doc__.split("Rule: ", 1)[1].split("\n\n")[0].replace("\n", " "),
                "entries": [r.to_dict() for r in self.rows],
                "decompositions": [d.to_dict() for d in self.decompositions],
                "unmatched_analyses": [str(a.path) for a in self.unmatched]}


def _per_model_mac2(est: Estimate) -> float:
    from algoeff.estimate import TARGET, Convention, convert_flops

    # cross-checks compare counts, not conventions: utilization stays as estimated
    source = Convention(est.flops_per_mac, None, est.models)
    return convert_flops(est.total_flops, source, TARGET)


def check_entry(entry: Entry, analysis: Analysis | None) -> CheckRow:
    if analysis is None:
        return CheckRow(entry, None, None, NO_ANALYSIS)
    est = analysis.recompute()
    unit, listed, figures, half = listed_precision(entry.compute_flops)
    scale = FLOPS_PER_TFS_DAY if unit == "tfs-days" else 1.0
    recomputed = est.total_flops / scale
    verdict = REPRODUCES if abs(recomputed - listed) <= half * (1 + 1e-9) else DIFFERS
    checks = []
    for comp in analysis.cross_checks:
        other = comp.run(f"{analysis.path}: {comp.label}")
        checks.append(CrossCheck(comp.label, other, _per_model_mac2(est) / _per_model_mac2(other), comp.note))
    return CheckRow(entry, analysis, est, verdict, unit, listed, figures, half, recomputed,
                    stale_yield=yield_is_stale(analysis, est),
                    convention_matches=entry_convention(entry) == analysis.convention,
                    cross_checks=tuple(checks))


def check_ledger(ledger, analyses_dir=None) -> CheckReport:
    """Recompute every entry of ``ledger`` from the analyses in ``analyses_dir``.

    ``analyses_dir`` defaults to an ``analyses`` folder beside the ledger file,
    else the bundled analyses.
    """
    from .analysis import bundled_analyses_dir

    if analyses_dir is None and ledger.path is not None:
        beside = Path(ledger.path).parent / "analyses"
        analyses_dir = beside if beside.is_dir() else None
    folder = Path(analyses_dir) if analyses_dir is not None else bundled_analyses_dir()
    analyses = load_analyses(folder)
    rows, used = [], set()
    for bench in ledger.used_benchmarks():
        for entry in ledger.for_benchmark(bench.key):
            key = (entry.benchmark, entry.publication.casefold())
            used.add(key)
            rows.append(check_entry(entry, analyses.get(key)))
    return CheckReport(rows, decompositions(rows), folder, [a for k, a in analyses.items() if k not in used])


def decompositions(rows: list[CheckRow]) -> list[DecompositionRow]:
    """Table 1 of Hernandez & Brown 2020 for every benchmark whose baseline and entry are counted with epochs."""
    out = []
    by_bench: dict[str, list[CheckRow]] = {}
    for row in rows:
        by_bench.setdefault(row.entry.benchmark, []).append(row)
    for key, group in by_bench.items():
        base_entry = baseline([r.entry for r in group])
        base = next(r for r in group if r.entry is base_entry)
        if not _counted(base):
            continue
        for row in group:
            if row is base or not _counted(row):
                continue
            out.append(DecompositionRow(key, row.entry.publication, base.entry.publication,
                                        decompose(row.estimate, base.estimate)))
    return out


def _counted(row: CheckRow) -> bool:
    return row.estimate is not None and row.estimate.method == "counting" and "epochs" in row.estimate.inputs


def describe_failure(row: CheckRow) -> str:
    if row.verdict == NO_ANALYSIS:
        return "no analysis file"
    if row.stale_yield:
        return "the analysis's recorded yield is not what its inputs give"
    if not row.convention_matches:
        return "the analysis counts in a different convention from the ledger entry"
    if row.verdict == DIFFERS and not row.documented:
        return "differs, and the analysis does not say why"
    return ""


def require_ok(report: CheckReport) -> None:
    bad = [r for r in report.rows if not r.ok]
    if bad:
        raise LedgerError("; ".join(f"{r.entry.benchmark}/{r.entry.publication}: {describe_failure(r)}"
                                    for r in bad))
