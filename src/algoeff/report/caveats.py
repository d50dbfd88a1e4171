"""Caveats a headline figure carries, shown as badges that link to their explanation.

    benchmark_caveats(entries, fit, checks) -> [Caveat]

Three kinds, each from the project's own checks, never typed in by hand:
- ``reproduce``: ``algoeff ledger check`` recomputed an entry from its analysis
  and the listed value is outside the listed figure's rounding (ledger/check.py);
- ``conventions``: the entries count compute under different conventions
  (FLOPs per multiply-add, utilization discount, ensemble size: ledger/conventions.py),
  so their reduction factors compare unlike counts;
- ``ci``: too few frontier points for a confidence interval on the doubling time
  (or for a trend at all).
"""

from __future__ import annotations

import dataclasses

from algoeff.ledger.conventions import mixed_conventions

__all__ = ["KINDS", "Caveat", "benchmark_caveats"]

# kind -> (badge text, what it means: the method page's explanation)
KINDS = {
    "reproduce": ("does not reproduce",
                  "algoeff recomputes every entry that has an analysis file (`algoeff ledger check`): the inputs "
                  "with their sources, through the method's formula. An entry does not reproduce when the "
                  "recomputed compute lies outside the listed figure's own rounding (half a unit of its last "
                  "significant figure). The listed value is still what the leaderboard ranks; the analysis page "
                  "says what was tried and by how much it differs."),
    "conventions": ("mixed conventions",
                    "Sources count compute differently: 1 or 2 FLOPs per multiply-add, a utilization discount on "
                    "hardware time, or an ensemble of several models. Reduction factors between entries under "
                    "different conventions compare unlike counts; algoeff trend --normalize re-expresses every "
                    "entry at 2 FLOPs per multiply-add, no discount, one model."),
    "ci": ("too few points for a CI",
           "The doubling time is an OLS fit over the frontier; with 2 frontier points the line passes through "
           "both exactly, has no residual degrees of freedom and so no confidence interval (with 1 point, no "
           "trend at all). The point value is shown, without an interval."),
}


@dataclasses.dataclass(frozen=True)
class Caveat:
    kind: str
    detail: str  # what it is on this benchmark, in words
    entries: tuple = ()  # (publication, fragment of its analysis page or row) it concerns

    @property
    def label(self) -> str:
        return KINDS[self.kind][0]

    @property
    def anchor(self) -> str:
        return f"caveat-{self.kind}"


def benchmark_caveats(entries, fit, checks: dict, pages: dict) -> list[Caveat]:
    """``checks``: id(entry) -> CheckRow; ``pages``: id(entry) -> its analysis page or row fragment."""
    out = []
    bad = [e for e in entries if id(e) in checks and checks[id(e)].verdict == "differs"]
    if bad:
        parts = []
        for e in bad:
            row = checks[id(e)]
            parts.append(f"{e.publication}: listed {row.listed:g} {_unit(row.unit)}, recomputed {row.recomputed:.3g}")
        out.append(Caveat("reproduce", f"{len(bad)} of {len(entries)} entries do not reproduce from their "
                                       f"analyses ({'; '.join(parts)}).",
                          tuple((e.publication, pages[id(e)]) for e in bad)))
    mix = mixed_conventions(entries)
    if mix:
        out.append(Caveat("conventions", f"The entries count compute under different conventions: {mix}."))
    if fit is None:
        out.append(Caveat("ci", "Fewer than 2 frontier points at different dates: no trend, no interval."))
    elif fit.doubling_time_ci95_months is None:
        out.append(Caveat("ci", f"{fit.n_points} frontier points: the doubling time has no 95% CI."))
    return out


def _unit(unit: str) -> str:
    return "tfs-days" if unit == "tfs-days" else "FLOPs" if unit == "flops" else unit
