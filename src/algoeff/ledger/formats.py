"""Ledger files: the seed CSV format (read) and the project format (read and write).

Seed format (openai/ai-and-efficiency ``efficiency_sota.csv``), read verbatim:

    Metric,Publication Date,Publication,Publication link,Compute (teraflops-s/days),
    Reduction Factor,Analysis,Analysis link

with M/D/YYYY dates and compute in teraflop/s-days. Any Metric name loads: an
unknown one becomes an ad-hoc benchmark.

Project format (what algoeff writes): the columns in PROJECT_COLUMNS, ISO dates
and compute in FLOPs, plus the counting convention, method, notes and
provenance. Its benchmarks must be known: bundled, or defined in a
``benchmarks.toml`` beside the file. A hand-written project ledger needs only
the REQUIRED_COLUMNS and its compute, as ``compute_flops`` or as ``compute`` and
``unit`` (tfs-days, pfs-days, flops); every other column may be left out and
takes its default (empty; models 1), which ``ledger validate`` reports.

Every problem is reported as ``PATH:LINE: column: message``, every problem of a
row, not only its first.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import math
import re

from algoeff.errors import LedgerError
from algoeff.units import FLOPS_PER_TFS_DAY

from .benchmarks import BenchmarkRegistry, adhoc_benchmark
from .entry import METHODS, Entry

__all__ = [
    "PROJECT_COLUMNS",
    "REQUIRED_COLUMNS",
    "SEED_COLUMNS",
    "defaulted_columns",
    "Problem",
    "check_entries",
    "entry_from_row",
    "neutralise",
    "parse_ledger",
    "render_project_csv",
]

SEED_COLUMNS = (
    "Metric",
    "Publication Date",
    "Publication",
    "Publication link",
    "Compute (teraflops-s/days)",
    "Reduction Factor",
    "Analysis",
    "Analysis link",
)
PROJECT_COLUMNS = (
    "benchmark",
    "date",  # YYYY-MM-DD
    "publication",
    "publication_link",
    "compute_flops",  # FLOPs (1 tfs-day = 8.64e16)
    "listed_reduction_factor",  # as the source lists it, may be empty
    "analysis",
    "analysis_link",
    "flops_per_mac",  # 1, 2 or empty (unknown)
    "utilization_discount",  # e.g. 0.33, or empty (none applied)
    "models",  # 1, or the ensemble size
    "method",  # counting, hardware, measured or empty
    "notes",
    "provenance",
)

# What a hand-written project ledger must have; compute comes as compute_flops,
# or as compute + unit.
REQUIRED_COLUMNS = ("benchmark", "date", "publication")
# Optional columns a hand-written ledger may use instead of compute_flops.
COMPUTE_COLUMNS = ("compute", "unit")
# Fields shown on one line in every table: a newline would break them.
_ONE_LINE = ("publication", "publication_link", "analysis", "analysis_link",
             "Publication", "Publication link", "Analysis", "Analysis link")

# Cells a spreadsheet would run as a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclasses.dataclass(frozen=True)
class Problem:
    path: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.column}: {self.message}"


class _Problems(Exception):
    """Raised inside cell parsing: the bad cell's column and what is wrong with it."""

    def __init__(self, column: str, message: str):
        super().__init__(message)
        self.column = column
        self.message = message


class _RowProblems(Exception):
    """Every bad cell of one row (raised once the whole row has been read)."""

    def __init__(self, problems: list[_Problems]):
        super().__init__(problems[0].message)
        self.problems = problems


class _Collect:
    """Parse a row's cells one by one, keeping every problem instead of stopping at the first."""

    def __init__(self):
        self.problems: list[_Problems] = []

    def __call__(self, parse, *args, **kwargs):
        try:
            return parse(*args, **kwargs)
        except _Problems as err:
            self.problems.append(err)
            return None

    def done(self) -> None:
        if self.problems:
            raise _RowProblems(self.problems)


def neutralise(text: str) -> str:
    """Prefix a cell a spreadsheet would evaluate with ' so it stays text."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def _unneutralise(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(_FORMULA_START) else text


# -- cells -------------------------------------------------------------------

def _number(column: str, text: str, *, positive: bool = True, optional: bool = False) -> float | None:
    text = text.strip()
    if not text:
        if optional:
            return None
        raise _Problems(column, "missing value, must be a number > 0.")
    try:
        value = float(text)
    except ValueError:
        raise _Problems(column, f"{text!r} is not a number.") from None
    if not math.isfinite(value):
        raise _Problems(column, f"{text!r} is not a finite number.")
    if positive and value <= 0:
        raise _Problems(column, f"{text} <= 0, must be > 0.")
    return value


def _seed_date(column: str, text: str) -> dt.date:
    match = re.fullmatch(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*", text)
    if not match:
        raise _Problems(column, f"{text!r} is not a date, expected M/D/YYYY.")
    month, day, year = map(int, match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError as err:
        raise _Problems(column, f"impossible date {text.strip()!r} ({err}).") from None


def _iso_date(column: str, text: str) -> dt.date:
    text = text.strip()
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        raise _Problems(column, f"{text!r} is not a date, expected YYYY-MM-DD.")
    try:
        return dt.date.fromisoformat(text)
    except ValueError as err:
        raise _Problems(column, f"impossible date {text!r} ({err}).") from None


def _not_future(column: str, date: dt.date, today: dt.date) -> dt.date:
    if date > today:
        raise _Problems(column, f"{date.isoformat()} is in the future (today is {today.isoformat()}).")
    return date


def _text(column: str, text: str, *, required: bool = False) -> str:
    text = _unneutralise(text.strip())
    if required and not text:
        raise _Problems(column, "missing value.")
    if column in _ONE_LINE and ("\n" in text or "\r" in text):
        raise _Problems(column, f"{text!r} has a line break; it must fit on one line (tables show it on one).")
    return text


def _compute(row: dict) -> float:
    """compute_flops, or compute in its unit column (a hand-written ledger)."""
    from algoeff.units import UNITS

    if "compute" not in row:
        return _number("compute_flops", row.get("compute_flops", ""))
    value = _number("compute", row["compute"])
    unit = row.get("unit", "").strip()
    if unit not in UNITS:
        raise _Problems("unit", f"{unit!r}. Possible values are: {', '.join(UNITS)}."
                        if unit else f"missing value. Possible values are: {', '.join(UNITS)}.")
    return value * UNITS[unit]


def _project_row(row: dict, registry: BenchmarkRegistry, today: dt.date) -> Entry:
    # a hand-written ledger may leave out any optional column: it reads as empty
    row = {**dict.fromkeys(PROJECT_COLUMNS, ""), **row}
    cell = _Collect()

    def benchmark():
        name = row["benchmark"].strip()
        if not name:
            raise _Problems("benchmark", "missing value.")
        bench = registry.get(name)
        if bench is None:
            raise _Problems(
                "benchmark",
                f"unknown benchmark {name!r}. Possible values are: {', '.join(registry.keys())}"
                " (define others in a benchmarks.toml beside the ledger: algoeff ledger benchmark add).",
            )
        return bench

    def flops_per_mac():
        text = row["flops_per_mac"].strip()
        if text not in ("", "1", "2"):
            raise _Problems("flops_per_mac", f"{text!r}, must be 1, 2 or empty (unknown).")
        return int(text) if text else None

    def discount():
        value = _number("utilization_discount", row["utilization_discount"], optional=True)
        if value is not None and value > 1:
            raise _Problems("utilization_discount", f"{value:g} > 1, must be in (0, 1] or empty.")
        return value

    def models():
        text = row["models"].strip() or "1"
        if not text.isdigit() or int(text) < 1:
            raise _Problems("models", f"{text!r}, must be a whole number >= 1.")
        return int(text)

    def method():
        text = row["method"].strip() or None
        if text is not None and text not in METHODS:
            raise _Problems("method", f"{text!r}. Possible values are: {', '.join(METHODS)} or empty.")
        return text

    fields = dict(
        benchmark=cell(benchmark),
        publication=cell(_text, "publication", row["publication"], required=True),
        publication_link=cell(_text, "publication_link", row["publication_link"]),
        date=cell(lambda: _not_future("date", _iso_date("date", row["date"]), today)),
        compute_flops=cell(_compute, row),
        listed_reduction_factor=cell(_number, "listed_reduction_factor", row["listed_reduction_factor"],
                                     optional=True),
        analysis=cell(_text, "analysis", row["analysis"]),
        analysis_link=cell(_text, "analysis_link", row["analysis_link"]),
        flops_per_mac=cell(flops_per_mac),
        utilization_discount=cell(discount),
        models=cell(models),
        method=cell(method),
        notes=cell(_text, "notes", row["notes"]),
        provenance=cell(_text, "provenance", row["provenance"]),
    )
    cell.done()
    fields["benchmark"] = fields["benchmark"].key
    return Entry(**fields)


def _seed_row(row: dict, registry: BenchmarkRegistry, today: dt.date) -> Entry:
    cell = _Collect()

    def benchmark():
        name = row["Metric"].strip()
        if not name:
            raise _Problems("Metric", "missing value.")
        bench = registry.get(name)
        if bench is None:
            bench = adhoc_benchmark(name)
            registry.add(bench)
        return bench

    column = "Compute (teraflops-s/days)"
    compute = cell(_number, column, row[column])
    fields = dict(
        benchmark=cell(benchmark),
        publication=cell(_text, "Publication", row["Publication"], required=True),
        publication_link=cell(_text, "Publication link", row["Publication link"]),
        date=cell(lambda: _not_future("Publication Date", _seed_date("Publication Date", row["Publication Date"]),
                                      today)),
        compute_flops=None if compute is None else compute * FLOPS_PER_TFS_DAY,
        listed_reduction_factor=cell(_number, "Reduction Factor", row["Reduction Factor"], optional=True),
        analysis=cell(_text, "Analysis", row["Analysis"]),
        analysis_link=cell(_text, "Analysis link", row["Analysis link"]),
    )
    cell.done()
    fields["benchmark"] = fields["benchmark"].key
    return Entry(**fields)


def entry_from_row(row: dict, registry: BenchmarkRegistry, *, fmt: str = "project",
                   path: str = "<entry>", line: int = 1, today: dt.date | None = None) -> Entry:
    """One entry from a row of cells (column -> text); raises LedgerError naming the cell."""
    try:
        return _row_entry(row, registry, fmt, line, today or dt.date.today())
    except _RowProblems as err:
        parts = [f"{p.column}: {p.message.rstrip('.')}" for p in err.problems]
        raise LedgerError(f"{path}:{line}: " + "; ".join(parts) + ".") from None


def _row_entry(row: dict, registry: BenchmarkRegistry, fmt: str, line: int, today: dt.date) -> Entry:
    entry = (_project_row if fmt == "project" else _seed_row)(row, registry, today)
    return dataclasses.replace(entry, source_line=line)


# -- whole files ---------------------------------------------------------------

def _decode(data: bytes, path: str) -> tuple[str | None, Problem | None]:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data.count(b"\n", 0, err.start) + 1
        return None, Problem(path, line, "bytes", f"not UTF-8 (byte 0x{data[err.start]:02x} at offset {err.start}).")
    return text.removeprefix("\ufeff"), None  # a BOM, as spreadsheets write


def _header_problems(header: list[str], expected: tuple[str, ...], path: str) -> list[Problem]:
    problems = []
    seen = [h.strip() for h in header]
    for column in expected:
        if column not in seen:
            problems.append(Problem(path, 1, "header", f"missing column {column!r}."))
    for column in seen:
        if column not in expected:
            problems.append(Problem(path, 1, "header", f"unexpected column {column!r}. "
                                    f"Expected columns are: {', '.join(expected)}."))
    for column in sorted({c for c in seen if seen.count(c) > 1}):
        problems.append(Problem(path, 1, "header", f"column {column!r} appears more than once."))
    return problems


def _project_header_problems(header: list[str], path: str) -> list[Problem]:
    """A project header: the required columns and a compute; any other project column optional."""
    seen = [h.strip() for h in header]
    problems = [Problem(path, 1, "header", f"missing column {column!r}.")
                for column in REQUIRED_COLUMNS if column not in seen]
    if "compute_flops" not in seen and "compute" not in seen:
        problems.append(Problem(path, 1, "header", "missing column 'compute_flops' (or 'compute' and 'unit')."))
    elif "compute_flops" in seen and "compute" in seen:
        problems.append(Problem(path, 1, "header", "give 'compute_flops' or 'compute' and 'unit', not both."))
    elif "compute" in seen and "unit" not in seen:
        problems.append(Problem(path, 1, "header", "column 'compute' needs a column 'unit' (tfs-days, pfs-days "
                                                   "or flops)."))
    allowed = (*PROJECT_COLUMNS, *COMPUTE_COLUMNS)
    for column in seen:
        if column not in allowed:
            problems.append(Problem(path, 1, "header", f"unexpected column {column!r}. "
                                    f"Possible columns are: {', '.join(allowed)}."))
    for column in sorted({c for c in seen if seen.count(c) > 1}):
        problems.append(Problem(path, 1, "header", f"column {column!r} appears more than once."))
    return problems


def defaulted_columns(data: bytes) -> tuple[str, ...]:
    """Project columns a project-format file leaves out (each takes its default); () for any other file."""
    text, problem = _decode(data, "")
    if problem is not None or not text.strip():
        return ()
    try:
        header = [h.strip() for h in next(csv.reader(io.StringIO(text, newline="")))]
    except (csv.Error, StopIteration):
        return ()
    if "benchmark" not in header or "Metric" in header:
        return ()
    given = set(header) | ({"compute_flops"} if "compute" in header else set())
    return tuple(c for c in PROJECT_COLUMNS if c not in given)


def parse_ledger(data: bytes, path: str, registry: BenchmarkRegistry, *,
                 today: dt.date | None = None) -> tuple[str, list[Entry], list[Problem]]:
    """Parse a ledger file's bytes: (format, entries, problems), checking every row.

    ``registry`` gains any ad-hoc benchmark a seed-format file names. It never
    raises on bad content: every problem is returned.
    """
    today = today or dt.date.today()
    text, problem = _decode(data, path)
    if problem is not None:
        return "unknown", [], [problem]
    if not text.strip():
        return "empty", [], [Problem(path, 1, "header", "empty file, expected a header row.")]
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except csv.Error as err:
        return "unknown", [], [Problem(path, 1, "header", f"not CSV: {err}.")]
    stripped = [h.strip() for h in header]
    if "Metric" in stripped:
        fmt, expected = "seed", SEED_COLUMNS
    elif "benchmark" in stripped:
        fmt, expected = "project", PROJECT_COLUMNS
    else:
        return "unknown", [], [Problem(
            path, 1, "header",
            "not a ledger header: expected the seed columns (Metric, Publication Date, ...) "
            "or the project columns (benchmark, date, ...).")]
    problems = (_header_problems(header, expected, path) if fmt == "seed"
                else _project_header_problems(header, path))
    if problems:
        return fmt, [], problems

    entries: list[Entry] = []
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as err:
            problems.append(Problem(path, line, "row", f"not CSV: {err}."))
            break
        start, line = line, reader.line_num + 1
        if not any(c.strip() for c in cells):
            continue  # blank lines carry no entry
        if len(cells) != len(header):
            problems.append(Problem(path, start, "row", f"{len(cells)} fields, the header has {len(header)}."))
            continue
        row = {h.strip(): c for h, c in zip(header, cells)}
        try:
            entries.append(_row_entry(row, registry, fmt, start, today))
        except _RowProblems as err:
            problems.extend(Problem(path, start, p.column, p.message) for p in err.problems)
    problems.extend(check_entries(entries, path, registry, fmt=fmt))
    if not entries and not problems:
        problems.append(Problem(path, 2, "row", "no entries after the header."))
    return fmt, entries, problems


def check_entries(entries, path: str, registry: BenchmarkRegistry, *, fmt: str = "project") -> list[Problem]:
    """Rules across entries: no duplicates; each benchmark's earliest entry is its baseline."""
    problems = []
    pub_col = "Publication" if fmt == "seed" else "publication"
    factor_col = "Reduction Factor" if fmt == "seed" else "listed_reduction_factor"
    seen: dict[tuple, Entry] = {}
    for entry in entries:
        key = (entry.benchmark, entry.publication.strip().lower(), entry.date)
        if key in seen:
            problems.append(Problem(
                path, entry.source_line or 0, pub_col,
                f"duplicate entry {entry.publication!r} for {entry.benchmark} dated {entry.date.isoformat()} "
                f"(first at line {seen[key].source_line})."))
        else:
            seen[key] = entry
    by_bench: dict[str, list[Entry]] = {}
    for entry in entries:
        by_bench.setdefault(entry.benchmark, []).append(entry)
    for key, group in by_bench.items():
        first = min(group, key=lambda e: e.date)
        listed = first.listed_reduction_factor
        # Listed factors are relative to the baseline: if the earliest entry lists
        # anything but 1, the baseline they were measured against is missing.
        if listed is not None and not math.isclose(listed, 1.0):
            problems.append(Problem(
                path, first.source_line or 0, factor_col,
                f"benchmark {key!r} has no baseline: its earliest entry {first.publication!r} "
                f"({first.date.isoformat()}) lists a reduction factor of {listed:g}, a baseline lists 1."))
    return sorted(problems, key=lambda p: p.line)


def _num(value: float) -> str:
    # 15 significant digits drop the float noise of unit conversion
    # (0.28 tfs-days -> 2.4192e+16, not 2.4192000000000004e+16)
    return f"{float(value):.15g}"


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return _num(value)
    return neutralise(str(value))


def render_project_csv(entries) -> str:
    """The project-format CSV text of ``entries`` (formula-like text neutralised)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(PROJECT_COLUMNS)
    for e in entries:
        writer.writerow([
            e.benchmark, e.date.isoformat(), _cell(e.publication), _cell(e.publication_link),
            _num(e.compute_flops), _cell(e.listed_reduction_factor), _cell(e.analysis),
            _cell(e.analysis_link), _cell(e.flops_per_mac), _cell(e.utilization_discount),
            str(e.models), e.method or "", _cell(e.notes), _cell(e.provenance),
        ])
    return buf.getvalue()
