"""Where a training curve crosses its target.

Two readings of the same curve of (cumulative training FLOPs, metric) points:

* conservative: the compute at the first evaluation at or past the target.
  This is the paper's and DAWNBench's rule and algoeff's headline figure; it
  overstates the true crossing by at most one evaluation interval.
* interpolated: log-linear in compute between the last evaluation short of the
  target and the first one past it, i.e. the metric is taken to move linearly
  in log(FLOPs) over that interval. It reads less noise from the evaluation
  schedule, but assumes the curve is smooth there.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from .target import Target

__all__ = ["conservative_crossing", "crossing_index", "interpolated_crossing"]


def crossing_index(values: Sequence[float], target: Target) -> int | None:
    """Index of the first value at or past the target, or None."""
    for i, value in enumerate(values):
        if target.reached(value):
            return i
    return None


def conservative_crossing(
    compute: Sequence[float], values: Sequence[float], target: Target
) -> float | None:
    """Compute at the first evaluation at or past ``target``; None if never reached."""
    i = crossing_index(values, target)
    return None if i is None else compute[i]


def interpolated_crossing(
    compute: Sequence[float], values: Sequence[float], target: Target
) -> float | None:
    """Compute where the curve crosses ``target``, log-linear between the two evaluations around it.

    Falls back to the conservative figure where there is nothing to interpolate
    from: the target reached at the first evaluation, the previous evaluation at
    zero compute (log 0 is undefined) or with a non-finite metric.
    """
    i = crossing_index(values, target)
    if i is None:
        return None
    c1, v1 = compute[i], float(values[i])
    if i == 0:
        return c1
    c0, v0 = compute[i - 1], float(values[i - 1])
    if c0 <= 0 or c1 <= c0 or not math.isfinite(v0) or v1 == v0:
        return c1
    fraction = (target.threshold - v0) / (v1 - v0)
    fraction = min(max(fraction, 0.0), 1.0)
    log_c = math.log(c0) + fraction * (math.log(c1) - math.log(c0))
    return min(max(math.exp(log_c), c0), c1)
