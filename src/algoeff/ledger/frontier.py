"""The state-of-the-art frontier of a benchmark and reduction factors against its baseline."""

from __future__ import annotations

from algoeff.errors import LedgerError

from .entry import Entry

__all__ = ["baseline", "frontier", "is_frontier", "reduction_factor"]


def _one_benchmark(entries) -> list[Entry]:
    entries = list(entries)
    if not entries:
        raise LedgerError("no entries: a benchmark needs at least its baseline entry.")
    keys = sorted({e.benchmark for e in entries})
    if len(keys) > 1:
        raise LedgerError(f"entries of several benchmarks ({', '.join(keys)}); pass one benchmark's entries.")
    # sorted() is stable: among equal dates, file order decides
    return sorted(entries, key=lambda e: e.date)


def baseline(entries) -> Entry:
    """The benchmark's baseline: its earliest entry."""
    return _one_benchmark(entries)[0]


def frontier(entries) -> list[Entry]:
    """Entries in date order whose compute is strictly below every earlier entry's.

    The baseline (earliest entry) is always on it.
    """
    out: list[Entry] = []
    for entry in _one_benchmark(entries):
        if not out or entry.compute_flops < out[-1].compute_flops:
            out.append(entry)
    return out


def is_frontier(entry: Entry, entries) -> bool:
    """Whether ``entry`` beats every entry dated before it (ties on date count as earlier)."""
    earlier = [e for e in entries if e is not entry and e.date <= entry.date]
    return all(entry.compute_flops < e.compute_flops for e in earlier)


def reduction_factor(entry: Entry, baseline: Entry) -> float:
    """How many times less compute ``entry`` took than ``baseline``: 3.1 / 0.069 = 44.9."""
    return baseline.compute_flops / entry.compute_flops
