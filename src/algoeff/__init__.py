"""algoeff: measure, track and forecast the algorithmic efficiency of neural-network training.

The public names below are imported lazily, so ``import algoeff`` stays cheap
(the ledger and trend commands never pay for importing torch).
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it. Each module keeps its own __all__.
_EXPORTS: dict[str, str] = {
    "AlgoeffError": "algoeff.errors",
    "CountError": "algoeff.errors",
    "EstimateError": "algoeff.errors",
    "LedgerError": "algoeff.errors",
    "ReportError": "algoeff.errors",
    "StoreError": "algoeff.errors",
    "StudyError": "algoeff.errors",
    "TrackError": "algoeff.errors",
    "FLOPS_PER_PFS_DAY": "algoeff.units",
    "FLOPS_PER_TFS_DAY": "algoeff.units",
    "format_compute": "algoeff.units",
    "from_flops": "algoeff.units",
    "to_flops": "algoeff.units",
    "Benchmark": "algoeff.ledger",
    "Entry": "algoeff.ledger",
    "Ledger": "algoeff.ledger",
    "frontier": "algoeff.ledger",
    "load_ledger": "algoeff.ledger",
    "reduction_factor": "algoeff.ledger",
    "write_ledger": "algoeff.ledger",
    "FlopReport": "algoeff.flops",
    "StepCounter": "algoeff.flops",
    "count_flops": "algoeff.flops",
    "Estimate": "algoeff.estimate",
    "estimate_hardware": "algoeff.estimate",
    "estimate_ops": "algoeff.estimate",
    "load_catalog": "algoeff.estimate",
    "TrendFit": "algoeff.trend",
    "fit_trend": "algoeff.trend",
    "moores_law_factor": "algoeff.trend",
    "ComputeTracker": "algoeff.track",
    "RunStore": "algoeff.track",
    "Target": "algoeff.track",
    "beats_target": "algoeff.track",
    "less_compute": "algoeff.track",
    "median_compute_to_target": "algoeff.track",
    "get_workload": "algoeff.workloads",
    "build_site": "algoeff.report",
    "load_study": "algoeff.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'algoeff' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))
