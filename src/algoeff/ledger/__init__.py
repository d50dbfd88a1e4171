"""The efficiency ledger: benchmarks, entries, file formats, errata, frontier, tables.

    load_ledger(path=None, *, corrected=True) -> Ledger
    write_ledger(ledger_or_entries, path, benchmarks=None)
    frontier(entries), reduction_factor(entry, baseline)
"""

from __future__ import annotations

from .benchmarks import Benchmark, BenchmarkRegistry, bundled_benchmarks, load_benchmarks, write_benchmarks
from .entry import METHODS, Correction, Entry
from .errata import Erratum, apply_errata, bundled_errata
from .formats import PROJECT_COLUMNS, SEED_COLUMNS, Problem, neutralise
from .frontier import baseline, frontier, is_frontier, reduction_factor
from .load import Ledger, bundled_ledger_path, load_ledger, validate_ledger, write_ledger
from .submit import Appended, append_entry, read_entry_file
from .tables import END_MARKER, START_MARKER, render_tables, write_tables

__all__ = [
    "END_MARKER",
    "METHODS",
    "PROJECT_COLUMNS",
    "SEED_COLUMNS",
    "START_MARKER",
    "Appended",
    "Benchmark",
    "BenchmarkRegistry",
    "Correction",
    "Entry",
    "Erratum",
    "Ledger",
    "Problem",
    "append_entry",
    "apply_errata",
    "baseline",
    "bundled_benchmarks",
    "bundled_errata",
    "bundled_ledger_path",
    "frontier",
    "is_frontier",
    "load_benchmarks",
    "load_ledger",
    "neutralise",
    "read_entry_file",
    "reduction_factor",
    "render_tables",
    "validate_ledger",
    "write_benchmarks",
    "write_ledger",
    "write_tables",
]
