"""The "measured" analysis method: compute to target read again from a tracked run's curve.

An analysis written by ``algoeff ledger add --from-run`` holds the run's whole
evaluation curve, so ``ledger check`` recomputes the entry from the curve::

    [inputs]
    metric = "accuracy"          # the target's metric
    threshold = 0.9
    higher_is_better = true
    flops = [1.2e9, 2.4e9, ...]  # cumulative training FLOPs at each evaluation (ComputeTracker: 2 per multiply-add)
    values = [0.41, 0.77, ...]   # the metric at each evaluation
    flops_per_mac = 2            # the convention the entry is expressed in (1 halves the count)

The rule is the tracker's headline one (algoeff.track.crossing.conservative_crossing):
the training FLOPs at the first evaluation at or past the threshold; a
non-finite value marks the run diverged, and nothing after it counts.

An analysis written by ``--from-study`` holds the seeds' figures instead,
``compute_by_seed_flops = [...]`` (``inf`` for a seed that never reached the
target), and the entry is their median, the study's rule.
"""

from __future__ import annotations

import math
import statistics

from algoeff.errors import EstimateError
from algoeff.estimate import Estimate
from algoeff.estimate.result import positive

__all__ = ["INPUTS", "crossing", "measured_estimate"]

COUNTED_FLOPS_PER_MAC = 2  # ComputeTracker and algoeff flops count a multiply-add as 2 FLOPs
INPUTS = {"metric", "threshold", "higher_is_better", "flops", "values", "compute_by_seed_flops", "flops_per_mac"}


def _numbers(name: str, values) -> list[float]:
    if not isinstance(values, list) or not values:
        raise EstimateError(f"{name} must be a non-empty list of numbers.")
    out = []
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EstimateError(f"{name} holds {value!r}, must hold numbers only.")
        out.append(float(value))
    return out


def crossing(flops: list[float], values: list[float], threshold: float, higher_is_better: bool) -> int | None:
    """Index of the first finite value at or past ``threshold`` before any non-finite one, or None."""
    for i, value in enumerate(values):
        if not math.isfinite(value):
            return None  # diverged: no later point reaches the target
        if (value >= threshold) if higher_is_better else (value <= threshold):
            return i
    return None


def measured_estimate(inputs: dict) -> Estimate:
    """The compute to target an analysis's [inputs] give, in their ``flops_per_mac`` convention."""
    mac = inputs.get("flops_per_mac", COUNTED_FLOPS_PER_MAC)
    if mac not in (1, 2):
        raise EstimateError(f"flops_per_mac == {mac!r}, must be 1 or 2.")
    if "compute_by_seed_flops" in inputs:
        seeds = _numbers("compute_by_seed_flops", inputs["compute_by_seed_flops"])
        median = statistics.median(seeds)
        if not math.isfinite(median):
            raise EstimateError("compute_by_seed_flops: fewer than half the seeds reached the target.")
        total = positive("median of compute_by_seed_flops", median)
    else:
        for key in ("metric", "threshold", "flops", "values"):
            if key not in inputs:
                raise EstimateError(f"method 'measured' needs inputs.{key} (or inputs.compute_by_seed_flops).")
        flops = _numbers("flops", inputs["flops"])
        values = [float(v) for v in _numbers("values", inputs["values"])]
        if len(flops) != len(values):
            raise EstimateError(f"flops has {len(flops)} points, values {len(values)}; they must match.")
        higher = inputs.get("higher_is_better", True)
        if not isinstance(higher, bool):
            raise EstimateError(f"higher_is_better == {higher!r}, must be true or false.")
        threshold = inputs["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)):
            raise EstimateError(f"threshold == {threshold!r}, must be a number.")
        i = crossing(flops, values, float(threshold), higher)
        if i is None:
            sign = ">=" if higher else "<="
            raise EstimateError(f"the curve never reaches {inputs['metric']} {sign} {threshold:g}.")
        total = positive(f"flops[{i}]", flops[i])
    total = total * mac / COUNTED_FLOPS_PER_MAC
    return Estimate("measured", total, dict(inputs), flops_per_mac=mac, utilization_discount=None, models=1)
