"""Submissions: validate one entry and append it to a ledger file atomically."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import tomllib
from pathlib import Path

from algoeff.errors import LedgerError
from algoeff.units import UNITS, from_flops, to_flops

from algoeff.estimate.conventions import TARGET, Convention
from algoeff.files import atomic_write_text
from algoeff.units import format_compute

from .benchmarks import adhoc_benchmark
from .conventions import benchmark_convention, entry_convention, normalize_entries, normalize_entry
from .entry import Entry
from .errata import apply_errata
from .formats import (
    PROJECT_COLUMNS,
    _number,
    _Problems,
    check_entries,
    entry_from_row,
    neutralise,
    parse_ledger,
    render_project_csv,
)
from .frontier import baseline, reduction_factor
from .load import registry_for, bundled_ledger_path

__all__ = ["Appended", "Verdict", "append_entry", "read_entry_file"]

# Besides the project columns, an entry may give compute in a display unit.
_EXTRA_KEYS = ("compute", "unit")
# Project columns the seed format has no place for.
_PROJECT_ONLY = ("flops_per_mac", "utilization_discount", "method", "notes", "provenance")


def _compute_text(flops: float) -> str:
    """tfs-days for the ledger's everyday sizes, FLOPs for a small run's (1e-10 tfs-days reads badly)."""
    return format_compute(flops) if flops >= 1e-3 * UNITS["tfs-days"] else f"{flops:.3g} FLOPs"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether a new entry is a record, compared with its benchmark's entries in one convention."""

    record: bool  # less compute than every entry dated on or before it (so on the frontier)
    baseline: Entry | None  # the benchmark's baseline; None when the new entry is the baseline
    previous: Entry | None  # the record it had to beat: least compute dated on or before it
    vs_baseline: float  # reduction factor: baseline compute / its compute
    vs_previous: float | None  # previous record's compute / its compute
    convention: Convention | None  # the convention compared in; None: unknown (compared as listed)
    later: float | None = None  # an entry dated before all others: the old baseline's factor against it

    def line(self, entry: Entry) -> str:
        """One line for people: "51.7x vs the baseline AlexNet (3.1 tfs-days), 1.15x vs ..."."""
        if self.baseline is None and self.previous is None:
            if self.later:
                return (f"dated before every other {entry.benchmark} entry, it is the new baseline (1x); "
                        f"the earlier baseline becomes {self.later:.3g}x")
            return f"the first {entry.benchmark} entry, its baseline (1x)"
        base = self.baseline
        parts = [f"{self.vs_baseline:.3g}x vs the baseline {base.publication} ({_compute_text(base.compute_flops)})"
                 if base is not None else "it is the earliest entry, the new baseline"]
        if self.previous is not None and self.previous is not base:
            parts.append(f"{self.vs_previous:.3g}x vs the previous record {self.previous.publication} "
                         f"({_compute_text(self.previous.compute_flops)})")
        return ", ".join(parts)

    def to_dict(self) -> dict:
        return {
            "record": self.record,
            "reduction_factor_vs_baseline": self.vs_baseline,
            "reduction_factor_vs_previous_record": self.vs_previous,
            "baseline": None if self.baseline is None else self.baseline.publication,
            "baseline_compute_flops": None if self.baseline is None else self.baseline.compute_flops,
            "previous_record": None if self.previous is None else self.previous.publication,
            "previous_record_compute_flops": None if self.previous is None else self.previous.compute_flops,
            "compared_in": None if self.convention is None else dataclasses.asdict(self.convention),
        }


@dataclasses.dataclass(frozen=True)
class Appended:
    entry: Entry  # as written (in its benchmark's convention)
    path: Path
    line: int  # the line the entry now starts on
    on_frontier: bool
    note: str  # why it is not a record; "" if it is
    verdict: Verdict | None = None
    conversion: str = ""  # the conversion into the benchmark's convention, "" if none
    added_columns: tuple[str, ...] = ()  # columns a hand-written ledger gained for this entry

    def headline(self) -> str:
        """ "new record: 51.7x vs the baseline ..." or "not a record: ..." """
        verdict = self.verdict
        return f"{'new record' if verdict.record else 'not a record'}: {verdict.line(self.entry)}"


def read_entry_file(path) -> dict:
    """An entry's fields from a .toml or .json file (keys: the project columns)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise LedgerError(f"{path}: unknown entry file type {suffix or '(none)'!r}. Possible values are: .toml, .json.")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise LedgerError(f"{path}: not UTF-8 (byte offset {err.start}).") from err
    try:
        data = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        raise LedgerError(f"{path}: not valid {suffix[1:].upper()}: {err}") from err
    if not isinstance(data, dict):
        raise LedgerError(f"{path}: expected one table of fields, got {type(data).__name__}.")
    return data


def _cells(fields: dict, where: str) -> dict[str, str]:
    known = (*PROJECT_COLUMNS, *_EXTRA_KEYS)
    for key in fields:
        if key not in known:
            raise LedgerError(f"{where}: unknown field {key!r}. Possible fields are: {', '.join(known)}.")
    cells = {}
    for key, value in fields.items():
        if value is None:
            text = ""
        elif isinstance(value, dt.date):
            text = value.isoformat()
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            text = repr(value)
        elif isinstance(value, str):
            text = value
        else:
            raise LedgerError(f"{where}: {key} == {value!r}, must be text, a number or a date.")
        cells[key] = text
    if "compute" in cells:
        if cells.get("compute_flops"):
            raise LedgerError(f"{where}: give compute or compute_flops, not both.")
        unit = cells.pop("unit", "") or "tfs-days"
        if unit not in UNITS:
            raise LedgerError(f"{where}: unit == {unit!r}. Possible values are: {', '.join(UNITS)}.")
        try:
            compute = _number("compute", cells.pop("compute"))
        except _Problems as err:
            raise LedgerError(f"{where}: {err.column}: {err.message}") from None
        cells["compute_flops"] = repr(to_flops(compute, unit))
    elif "unit" in cells:
        raise LedgerError(f"{where}: unit is given without compute.")
    return {column: cells.get(column, "") for column in PROJECT_COLUMNS}


def _seed_row(entry: Entry, name: str) -> list[str]:
    d = entry.date
    return [name, f"{d.month}/{d.day}/{d.year}", neutralise(entry.publication), neutralise(entry.publication_link),
            f"{from_flops(entry.compute_flops):.15g}",
            "" if entry.listed_reduction_factor is None else f"{entry.listed_reduction_factor:.15g}",
            neutralise(entry.analysis), neutralise(entry.analysis_link)]


def _csv_line(row: list[str]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue()


def _compared(entry: Entry, same: list[Entry], where: str) -> tuple[Entry, list[Entry], Convention | None, str]:
    """The new entry (converted if need be) and its benchmark's entries, in one convention.

    Returns (entry to write, entries to compare with, the convention compared in
    or None if unknown, the sentence that states any conversion).
    """
    conv, how = benchmark_convention(same)
    mine = entry_convention(entry)
    key = entry.benchmark
    if how == "shared":
        if mine.flops_per_mac is None:
            raise LedgerError(
                f"{where}: flops_per_mac: unknown, but {key}'s entries count {conv.describe()}; say how this "
                "figure counts a multiply-add with --flops-per-mac 1 or 2 (algoeff flops and ComputeTracker "
                "count 2), so it can be compared (nothing written).")
        if mine == conv:
            return entry, same, conv, ""
        converted = normalize_entry(entry, conv)
        sentence = (f"converted {_compute_text(entry.compute_flops)} counted with {mine.describe()} to "
                    f"{_compute_text(converted.compute_flops)} in {key}'s convention ({conv.describe()})")
        converted = dataclasses.replace(converted, notes=f"{entry.notes} [{sentence}]".strip())
        return converted, same, conv, sentence
    if how == "mixed":
        if mine.flops_per_mac is None:
            raise LedgerError(
                f"{where}: flops_per_mac: unknown, but {key}'s entries say how they count; give "
                "--flops-per-mac 1 or 2 (algoeff flops and ComputeTracker count 2) (nothing written).")
        sentence = (f"{key}'s entries mix counting conventions: compared after putting every entry in "
                    f"{TARGET.describe()} (the entry is written as given)")
        return entry, same, TARGET, sentence
    if how == "unknown":
        return entry, same, None, (f"{key}'s entries do not all say how they count a multiply-add: "
                                   "compared as listed")
    return entry, same, conv, ""


def _verdict(entry: Entry, same: list[Entry], conv: Convention | None) -> Verdict:
    if conv is not None and conv == TARGET and any(entry_convention(e) != TARGET for e in [entry, *same]):
        entry, same = normalize_entry(entry), normalize_entries(same)
    if not same:
        return Verdict(True, None, None, 1.0, None, conv)
    base = baseline([*same, entry])
    if base is entry and not [e for e in same if e.date <= entry.date]:
        old = baseline(same)
        return Verdict(True, None, None, 1.0, None, conv, later=reduction_factor(old, entry))
    earlier = [e for e in same if e.date <= entry.date]
    previous = min(earlier, key=lambda e: e.compute_flops) if earlier else None
    record = all(entry.compute_flops < e.compute_flops for e in earlier)
    return Verdict(record, None if base is entry else base, previous,
                   reduction_factor(entry, base), None if previous is None else reduction_factor(entry, previous),
                   conv)


def _csv_rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _project_line(entry: Entry, header: list[str]) -> tuple[str, list[str]]:
    """The entry's row in a project file with ``header``, and the columns the header must gain for it."""
    full = dict(zip(PROJECT_COLUMNS, next(csv.reader([render_project_csv([entry]).split("\n", 1)[1]]))))
    names = [h.strip() for h in header]
    if "compute" in names:
        full.pop("compute_flops")
        full["compute"], full["unit"] = f"{from_flops(entry.compute_flops):.15g}", "tfs-days"
    defaults = {"models": "1"}
    missing = [c for c, v in full.items() if c not in names and v and v != defaults.get(c)]
    return _csv_line([full.get(n, "") for n in [*names, *missing]]), missing


def append_entry(path, fields: dict, *, today: dt.date | None = None) -> Appended:
    """Validate ``fields`` as one entry and append it to the ledger at ``path``.

    The file may be in the seed or the project format (a missing file starts a
    new project-format ledger). The entry is compared with its benchmark's
    entries in one counting convention: converted into the benchmark's own when
    they share one (and the conversion is recorded in its notes), refused when
    its FLOPs per multiply-add are unknown where the benchmark's are known.
    Nothing is written unless the whole resulting file validates. The installed
    package's ledger is never modified. A symlinked ledger stays a symlink: the
    file it points to is updated.
    """
    path = Path(path)
    if path.resolve() == bundled_ledger_path().resolve():
        raise LedgerError(f"{path}: is the ledger installed with algoeff; append to a copy "
                          "(algoeff ledger add --ledger MY_LEDGER.csv ...).")
    if path.is_dir():
        raise LedgerError(f"{path}: is a folder, expected a ledger CSV file.")
    if not path.parent.is_dir():
        raise LedgerError(f"{path}: folder {str(path.parent)!r} does not exist; create it first.")
    today = today or dt.date.today()
    registry = registry_for(path)
    if path.exists():
        data = path.read_bytes()
        fmt, existing, problems = parse_ledger(data, str(path), registry, today=today)
        if problems:
            raise LedgerError(f"{problems[0]} (fix the ledger before adding to it; nothing written)")
        text = data.decode("utf-8")
    else:
        fmt, existing, text = "project", [], _csv_line(list(PROJECT_COLUMNS))
    if text and not text.endswith("\n"):
        text += "\n"
    line = text.count("\n") + 1

    cells = _cells(fields, f"{path}:{line}")
    name = cells["benchmark"].strip()
    if fmt == "seed":
        for column in _PROJECT_ONLY:
            if cells[column].strip():
                raise LedgerError(f"{path}:{line}: {column}: the seed format has no column for it; "
                                  "use a project-format ledger to record it.")
        if cells["models"].strip() not in ("", "1"):
            raise LedgerError(f"{path}:{line}: models: the seed format has no column for it; "
                              "use a project-format ledger to record it.")
        if name and registry.get(name) is None:
            registry.add(adhoc_benchmark(name))
    entry = entry_from_row(cells, registry, fmt="project", path=str(path), line=line, today=today)

    problems = [p for p in check_entries([*existing, entry], str(path), registry, fmt=fmt) if p.line == line]
    if problems:
        raise LedgerError(f"{problems[0]} (nothing written)")

    # the verdict uses the values `ledger show` uses: errata applied
    same = [e for e in apply_errata(existing) if e.benchmark == entry.benchmark]
    entry, same, conv, conversion = _compared(entry, same, f"{path}:{line}")
    verdict = _verdict(entry, same, conv)
    note = ""
    if not verdict.record:
        note = f"not a record: {verdict.line(entry)}"
        if fmt == "project":
            entry = dataclasses.replace(entry, notes=f"{entry.notes} [not on the frontier when added]".strip())

    added_columns: list[str] = []
    if fmt == "seed":
        bench = registry[entry.benchmark]
        new_text = text + _csv_line(_seed_row(entry, bench.aliases[0] if bench.aliases else name))
    else:
        rows = _csv_rows(text)
        row, added_columns = _project_line(entry, rows[0])
        if added_columns:
            # a hand-written ledger gains the columns this entry needs; its other rows keep their values
            width = len(added_columns)
            new_text = "".join(_csv_line([*r, *([""] * width)] if i else [*r, *added_columns])
                               for i, r in enumerate(rows) if r or i == 0) + row
        else:
            new_text = text + row
    _, _, problems = parse_ledger(new_text.encode("utf-8"), str(path), registry_for(path), today=today)
    if problems:
        raise LedgerError(f"{problems[0]} (nothing written)")
    atomic_write_text(path, new_text)
    return Appended(entry=entry, path=path, line=line, on_frontier=verdict.record, note=note, verdict=verdict,
                    conversion=conversion, added_columns=tuple(added_columns))
