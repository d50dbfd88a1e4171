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

from algoeff.files import atomic_write_text
from .benchmarks import adhoc_benchmark
from .entry import Entry
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
from .frontier import is_frontier
from .load import registry_for, bundled_ledger_path

__all__ = ["Appended", "append_entry", "read_entry_file"]

# Besides the project columns, an entry may give compute in a display unit.
_EXTRA_KEYS = ("compute", "unit")
# Project columns the seed format has no place for.
_PROJECT_ONLY = ("flops_per_mac", "utilization_discount", "method", "notes", "provenance")


@dataclasses.dataclass(frozen=True)
class Appended:
    entry: Entry
    path: Path
    line: int  # the line the entry now starts on
    on_frontier: bool
    note: str  # why it is not on the frontier; "" if it is


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


def append_entry(path, fields: dict, *, today: dt.date | None = None) -> Appended:
    """Validate ``fields`` as one entry and append it to the ledger at ``path``.

    The file may be in the seed or the project format (a missing file starts a
    new project-format ledger). Nothing is written unless the whole resulting
    file validates. The installed package's ledger is never modified.
    """
    path = Path(path)
    if path.resolve() == bundled_ledger_path().resolve():
        raise LedgerError(f"{path}: is the ledger installed with algoeff; append to a copy "
                          "(algoeff ledger add --ledger MY_LEDGER.csv ...).")
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

    same = [e for e in existing if e.benchmark == entry.benchmark]
    on_frontier = is_frontier(entry, same) if same else True
    note = ""
    if not on_frontier:
        best = min((e for e in same if e.date <= entry.date), key=lambda e: e.compute_flops)
        note = (f"not on the frontier: {from_flops(entry.compute_flops):.3g} tf-s-days does not beat "
                f"{best.publication!r} ({best.date.isoformat()}, {from_flops(best.compute_flops):.3g} tf-s-days); "
                "added as a non-frontier entry")
        if fmt == "project":
            entry = dataclasses.replace(entry, notes=f"{entry.notes} [{note}]".strip())

    if fmt == "seed":
        bench = registry[entry.benchmark]
        row = _csv_line(_seed_row(entry, bench.aliases[0] if bench.aliases else name))
    else:
        row = render_project_csv([entry]).split("\n", 1)[1]
    new_text = text + row
    _, _, problems = parse_ledger(new_text.encode("utf-8"), str(path), registry_for(path), today=today)
    if problems:
        raise LedgerError(f"{problems[0]} (nothing written)")
    atomic_write_text(path, new_text)
    return Appended(entry=entry, path=path, line=line, on_frontier=on_frontier, note=note)
