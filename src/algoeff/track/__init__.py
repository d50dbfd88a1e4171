"""Compute-to-target tracking: Target, ComputeTracker, the run store and seed statistics.

Importing this package does not import torch; ComputeTracker imports it when built.
"""

from .crossing import conservative_crossing, interpolated_crossing
from .stats import beats_target, censored_median, less_compute, median_compute_to_target
from .store import RunStore
from .target import Target
from .tracker import ComputeTracker, CurvePoint

__all__ = [
    "ComputeTracker",
    "CurvePoint",
    "RunStore",
    "Target",
    "beats_target",
    "censored_median",
    "conservative_crossing",
    "interpolated_crossing",
    "less_compute",
    "median_compute_to_target",
]
