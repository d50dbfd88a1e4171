"""Load, validate and write whole ledgers."""

from __future__ import annotations

import dataclasses
import datetime as dt
from importlib import resources
from pathlib import Path

from algoeff.errors import LedgerError

from algoeff.files import atomic_write_text
from .benchmarks import Benchmark, BenchmarkRegistry, bundled_benchmarks, load_benchmarks, write_benchmarks
from .entry import Entry
from .errata import apply_errata
from .formats import Problem, defaulted_columns, parse_ledger, render_project_csv

__all__ = ["Ledger", "bundled_ledger_path", "load_ledger", "registry_for", "validate_ledger", "write_ledger"]

BENCHMARKS_FILE = "benchmarks.toml"


def bundled_ledger_path() -> Path:
    """The ledger shipped with algoeff (read it; never write to it)."""
    return Path(str(resources.files("algoeff").joinpath("data/ledger.csv")))


@dataclasses.dataclass
class Ledger:
    entries: list[Entry]
    benchmarks: dict[str, Benchmark]  # key -> Benchmark: bundled, beside the file, ad hoc
    path: Path | None = None
    format: str = "project"  # "seed" or "project": the format it was read from
    corrected: bool = True  # whether errata were applied
    defaulted: tuple[str, ...] = ()  # project columns the file leaves out (each took its default)

    def benchmark(self, name: str) -> Benchmark:
        """A benchmark by key or alias, case-insensitive."""
        return BenchmarkRegistry(self.benchmarks.values())[name]

    def for_benchmark(self, name: str) -> list[Entry]:
        """The entries of one benchmark, in date order (file order among equal dates)."""
        key = self.benchmark(name).key
        return sorted((e for e in self.entries if e.benchmark == key), key=lambda e: e.date)

    def used_benchmarks(self) -> list[Benchmark]:
        """Benchmarks that have entries, in the order they first appear."""
        keys = dict.fromkeys(e.benchmark for e in self.entries)
        return [self.benchmarks[k] for k in keys]


def registry_for(path) -> BenchmarkRegistry:
    """The benchmarks a ledger at ``path`` may use: bundled, then those in a benchmarks.toml beside it."""
    path = Path(path)
    registry = bundled_benchmarks()
    beside = path.parent / BENCHMARKS_FILE
    if path != bundled_ledger_path() and beside.is_file():
        for bench in load_benchmarks(beside):
            registry.add(bench)
    return registry


def _read(path, today) -> tuple[str, list[Entry], list[Problem], BenchmarkRegistry, Path, bytes]:
    path = bundled_ledger_path() if path is None else Path(path)
    if path.is_dir():
        raise LedgerError(f"{path}: is a folder, expected a ledger CSV file.")
    if not path.exists():
        raise LedgerError(f"{path}: no such ledger file.")
    data = path.read_bytes()
    registry = registry_for(path)
    fmt, entries, problems = parse_ledger(data, str(path), registry, today=today)
    return fmt, entries, problems, registry, path, data


def load_ledger(path=None, *, corrected: bool = True, today: dt.date | None = None) -> Ledger:
    """Read a ledger (seed or project format); the bundled one when ``path`` is None.

    With ``corrected`` (the default) the known errata are applied and recorded on
    each entry's ``corrections``; ``corrected=False`` gives the values as listed.
    Raises LedgerError naming the first bad cell as ``PATH:LINE: column: message``.
    """
    fmt, entries, problems, registry, path, data = _read(path, today)
    if problems:
        more = f" (and {len(problems) - 1} more; see `algoeff ledger validate`)" if len(problems) > 1 else ""
        err = LedgerError(f"{problems[0]}{more}")
        err.problems = problems
        raise err
    if corrected:
        entries = apply_errata(entries)
    benchmarks = {b.key: b for b in registry}
    return Ledger(entries=entries, benchmarks=benchmarks, path=path, format=fmt, corrected=corrected,
                  defaulted=defaulted_columns(data))


def validate_ledger(path, *, today: dt.date | None = None) -> list[Problem]:
    """Every problem in a ledger file (empty if it is valid)."""
    return _read(path, today)[2]


def write_ledger(ledger_or_entries, path, benchmarks=None) -> Path:
    """Write entries in the project format at ``path``, atomically.

    Benchmarks the entries use that algoeff does not bundle (from the Ledger, or
    ``benchmarks``, an iterable of Benchmark) are written to a benchmarks.toml
    beside it. Nothing is written unless the result loads back cleanly.
    """
    path = Path(path)
    if isinstance(ledger_or_entries, Ledger):
        entries = list(ledger_or_entries.entries)
        defined = list(ledger_or_entries.benchmarks.values())
    else:
        entries, defined = list(ledger_or_entries), []
    defined += list(benchmarks or ())
    bundled = bundled_benchmarks()
    registry = bundled.copy()
    for bench in defined:
        registry.add(bench)
    local = {}
    for entry in entries:
        bench = registry.get(entry.benchmark)
        if bench is None:
            raise LedgerError(f"write_ledger: entry {entry.publication!r} names unknown benchmark "
                              f"{entry.benchmark!r}; pass its Benchmark in benchmarks=.")
        if bundled.get(bench.key) != bench:
            local[bench.key] = bench
    text = render_project_csv(entries)
    _, _, problems = parse_ledger(text.encode("utf-8"), str(path), registry.copy())
    if problems:
        raise LedgerError(f"{problems[0]} (nothing written)")
    if local:
        write_benchmarks(local.values(), path.parent / BENCHMARKS_FILE)
    return atomic_write_text(path, text)
