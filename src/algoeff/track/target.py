"""The capability a run must reach: one metric and a threshold.

A target is data, like AlgoPerf's workload targets: ``Target("accuracy", 0.95)``
is reached by any value at or above 0.95, ``Target("loss", 0.3,
higher_is_better=False)`` by any value at or below 0.3.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from algoeff.errors import TrackError

__all__ = ["Target"]


@dataclass(frozen=True)
class Target:
    """A metric name and the threshold that counts as reaching the capability."""

    metric: str  # name passed to ComputeTracker.record(), e.g. "accuracy"
    threshold: float  # value at or past which the target is reached
    higher_is_better: bool = True  # False for losses and error rates

    def __post_init__(self):
        if not isinstance(self.metric, str) or not self.metric.strip():
            raise TrackError(f"Target metric == {self.metric!r}, must be a non-empty string.")
        if self.threshold is None:
            raise TrackError(f"Target {self.metric!r} has no threshold; pass threshold=<number>.")
        if isinstance(self.threshold, bool) or not isinstance(self.threshold, numbers.Real):
            raise TrackError(
                f"Target {self.metric!r} threshold == {self.threshold!r}, must be a real number."
            )
        if not math.isfinite(self.threshold):
            raise TrackError(
                f"Target {self.metric!r} threshold == {self.threshold!r}, must be finite."
            )
        if not isinstance(self.higher_is_better, bool):
            raise TrackError(
                f"Target {self.metric!r} higher_is_better == {self.higher_is_better!r}, "
                "must be True or False."
            )
        object.__setattr__(self, "threshold", float(self.threshold))

    def reached(self, value) -> bool:
        """Whether ``value`` is at or past the threshold. NaN and inf never reach it."""
        value = float(value)
        if not math.isfinite(value):
            return False
        if self.higher_is_better:
            return value >= self.threshold
        return value <= self.threshold

    def to_dict(self) -> dict:
        return {
            "metric": self.metric,
            "threshold": self.threshold,
            "higher_is_better": self.higher_is_better,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "Target":
        return cls(data["metric"], data["threshold"], bool(data.get("higher_is_better", True)))

    def __str__(self) -> str:
        sign = ">=" if self.higher_is_better else "<="
        return f"{self.metric} {sign} {self.threshold:g}"
