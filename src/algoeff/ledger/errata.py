"""Recorded corrections to ledger data, applied at load time and never silently.

Each erratum in ``data/errata.toml`` names the entries it applies to
(benchmark key, publications, analysis title), the field, the value the source
lists (``seed``), the value to use (``corrected``) and its ``source``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tomllib
from importlib import resources

from algoeff.errors import LedgerError

from .entry import Correction, Entry

__all__ = ["Erratum", "apply_errata", "bundled_errata", "parse_errata"]

_FIELDS = ("date", "publication_link", "analysis", "analysis_link", "compute_flops", "listed_reduction_factor")


@dataclasses.dataclass(frozen=True)
class Erratum:
    id: str
    field: str
    seed: object
    corrected: object
    source: str
    benchmark: str | None = None  # match only this benchmark key
    publication: tuple[str, ...] = ()  # match only these publications (any benchmark if none)
    analysis: str | None = None  # match only entries citing this analysis

    def matches(self, entry: Entry) -> bool:
        if self.benchmark is not None and entry.benchmark != self.benchmark:
            return False
        if self.publication and entry.publication.strip() not in self.publication:
            return False
        if self.analysis is not None and entry.analysis.strip() != self.analysis:
            return False
        return getattr(entry, self.field) == self.seed

    def correction(self) -> Correction:
        return Correction(self.id, self.field, self.seed, self.corrected, self.source)


def parse_errata(text: str, where: str = "errata.toml") -> list[Erratum]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise LedgerError(f"{where}: not valid TOML: {err}") from err
    errata = []
    for i, item in enumerate(data.get("erratum", []), start=1):
        name = item.get("id", f"#{i}")
        missing = [k for k in ("id", "field", "seed", "corrected", "source") if k not in item]
        if missing:
            raise LedgerError(f"{where}: erratum {name}: missing {missing[0]!r}.")
        if item["field"] not in _FIELDS:
            raise LedgerError(
                f"{where}: erratum {name}: field == {item['field']!r}. Possible values are: {', '.join(_FIELDS)}."
            )
        for key in ("seed", "corrected"):
            value = item[key]
            if item["field"] == "date" and not isinstance(value, dt.date):
                raise LedgerError(f"{where}: erratum {name}: {key} must be a TOML date (YYYY-MM-DD).")
        publication = item.get("publication", ())
        if isinstance(publication, str):
            publication = (publication,)
        errata.append(
            Erratum(
                id=item["id"],
                field=item["field"],
                seed=item["seed"],
                corrected=item["corrected"],
                source=item["source"],
                benchmark=item.get("benchmark"),
                publication=tuple(publication),
                analysis=item.get("analysis"),
            )
        )
    return errata


_BUNDLED: list[Erratum] | None = None


def bundled_errata() -> list[Erratum]:
    global _BUNDLED
    if _BUNDLED is None:
        text = resources.files("algoeff").joinpath("data/errata.toml").read_text(encoding="utf-8")
        _BUNDLED = parse_errata(text, "algoeff/data/errata.toml")
    return list(_BUNDLED)


def apply_errata(entries, errata=None) -> list[Entry]:
    """Entries with every matching erratum applied and recorded in ``corrections``."""
    errata = bundled_errata() if errata is None else list(errata)
    out = []
    for entry in entries:
        for erratum in errata:
            if erratum.matches(entry):
                entry = dataclasses.replace(
                    entry,
                    **{erratum.field: erratum.corrected},
                    corrections=(*entry.corrections, erratum.correction()),
                )
        out.append(entry)
    return out
