"""A ledger entry: the compute one publication took to reach a benchmark."""

from __future__ import annotations

import dataclasses
import datetime as dt

__all__ = ["METHODS", "Correction", "Entry"]

# How an entry's compute was obtained (Sevilla et al. 2022; AI and Compute):
#   counting  operations counted from the architecture x examples x epochs
#   hardware  devices x time x throughput (x utilization)
#   measured  counted by instrumenting a real run (algoeff's tracker)
METHODS = ("counting", "hardware", "measured")


@dataclasses.dataclass(frozen=True)
class Correction:
    """One erratum applied to an entry at load time."""

    id: str  # the erratum's id in errata.toml
    field: str  # the Entry field it changed
    seed: object  # the value the source ledger lists
    corrected: object  # the value used instead
    source: str  # why the corrected value is right

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        for name in ("seed", "corrected"):
            if isinstance(data[name], dt.date):
                data[name] = data[name].isoformat()
        return data


@dataclasses.dataclass(frozen=True)
class Entry:
    benchmark: str  # benchmark key, e.g. "alexnet"
    publication: str
    publication_link: str
    date: dt.date  # publication date
    compute_flops: float  # training compute to reach the benchmark, in FLOPs
    listed_reduction_factor: float | None = None  # as the source lists it; recomputed elsewhere
    analysis: str = ""
    analysis_link: str = ""
    # Counting convention, so figures from different sources can be normalised:
    flops_per_mac: int | None = None  # 1 or 2 FLOPs per multiply-add; None if unknown
    utilization_discount: float | None = None  # e.g. 0.33 if compute = time x peak x 0.33; None if not applied
    models: int = 1  # models trained (5 for a 5-model ensemble)
    method: str | None = None  # one of METHODS, None if unknown
    notes: str = ""
    provenance: str = ""  # where the figure comes from
    source_line: int | None = None  # line in the ledger file it was read from
    corrections: tuple[Correction, ...] = ()  # errata applied at load

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["date"] = self.date.isoformat()
        data["corrections"] = [c.to_dict() for c in self.corrections]
        return data
