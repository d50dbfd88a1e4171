"""Ledger entries under one counting convention, and a warning when a comparison mixes them.

The bundled ledger mixes three conventions: the vision rows count a multiply-add
as 1 FLOP (Hernandez & Brown 2020), the translation rows as 2; the Seq2Seq row
applies a 33% utilization discount and counts a 5-model ensemble. Reduction
factors between entries are only like for like under one convention; the common
target is algoeff.estimate.TARGET (2 FLOPs per multiply-add, no utilization
discount, a single model).
"""

from __future__ import annotations

import dataclasses

from algoeff.errors import EstimateError, LedgerError
from algoeff.estimate.conventions import TARGET, Convention, convert_flops

from .entry import Entry

__all__ = ["NORMALIZE_HELP", "apply_convention", "benchmark_convention", "entry_convention", "mixed_conventions",
           "normalize_entries", "normalize_entry"]


def entry_convention(entry: Entry) -> Convention:
    return Convention(entry.flops_per_mac, entry.utilization_discount, entry.models)


def normalize_entry(entry: Entry, target: Convention = TARGET) -> Entry:
    """``entry`` with its compute re-expressed under ``target`` (and its convention fields set to it)."""
    source = entry_convention(entry)
    if source == target:
        return entry
    try:
        flops = convert_flops(entry.compute_flops, source, target, what=f"{entry.benchmark}/{entry.publication}")
    except EstimateError as err:
        where = f" (line {entry.source_line})" if entry.source_line else ""
        raise LedgerError(f"{err}{where}; set its flops_per_mac to normalise it.") from None
    note = f"normalised from {source.describe()} ({entry.compute_flops:.4g} FLOPs)"
    return dataclasses.replace(entry, compute_flops=flops, flops_per_mac=target.flops_per_mac,
                               utilization_discount=target.utilization_discount, models=target.models,
                               notes=f"{entry.notes} [{note}]".strip())


def normalize_entries(entries, target: Convention = TARGET) -> list[Entry]:
    return [normalize_entry(e, target) for e in entries]


def mixed_conventions(entries) -> str | None:
    """A one-line description of the conventions ``entries`` mix, or None if they share one."""
    groups: dict[Convention, list[str]] = {}
    for entry in entries:
        groups.setdefault(entry_convention(entry), []).append(entry.publication)
    if len(groups) < 2:
        return None
    parts = [f"{', '.join(names)} ({conv.describe()})" for conv, names in groups.items()]
    return "; ".join(parts)


NORMALIZE_HELP = ("put every entry in one counting convention first: 2 FLOPs per multiply-add, "
                  "no utilization discount, single model (default: as listed, with a warning if they mix)")


def apply_convention(entries, *, normalize: bool) -> tuple[list[Entry], str | None]:
    """The entries to compare, and a warning when they mix conventions and are not normalised."""
    entries = list(entries)
    if normalize:
        return normalize_entries(entries), None
    mix = mixed_conventions(entries)
    if mix is None:
        return entries, None
    key = entries[0].benchmark
    return entries, (f"{key} mixes counting conventions, so its reduction factors compare unlike counts: {mix}; "
                     "--normalize puts them in one")


def benchmark_convention(entries) -> tuple[Convention | None, str]:
    """The convention a benchmark's entries share, and how it was decided.

    (convention, "shared") when every entry counts alike and the FLOPs per
    multiply-add are known; (None, "mixed") when known conventions differ, so
    a comparison must normalise them all; (None, "unknown") when some entry's
    FLOPs per multiply-add are unknown (a seed-format ledger); (None, "none")
    without entries.
    """
    conventions = {entry_convention(e) for e in entries}
    if not conventions:
        return None, "none"
    if any(c.flops_per_mac is None for c in conventions):
        return None, "unknown"
    if len(conventions) > 1:
        return None, "mixed"
    return conventions.pop(), "shared"
