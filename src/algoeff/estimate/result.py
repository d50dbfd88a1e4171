"""The result of an estimate, and the checks every estimate's inputs go through."""

from __future__ import annotations

import dataclasses
import math

from algoeff.errors import EstimateError
from algoeff.units import FLOPS_PER_PFS_DAY, FLOPS_PER_TFS_DAY

__all__ = ["Estimate", "positive", "positive_int"]


@dataclasses.dataclass(frozen=True)
class Estimate:
    """Training compute estimated by one method, with every input it used."""

    method: str  # "counting", "hardware" or "reported"
    total_flops: float
    inputs: dict  # the inputs as given, plus the derived ones (per_example_flops, peak_flops, ...)
    flops_per_mac: int | None = 2  # convention of total_flops: FLOPs counted per multiply-add
    utilization_discount: float | None = None  # applied to time x peak; None for counted operations
    models: int = 1  # models trained (an ensemble counts each)

    @property
    def tfs_days(self) -> float:
        return self.total_flops / FLOPS_PER_TFS_DAY

    @property
    def pfs_days(self) -> float:
        return self.total_flops / FLOPS_PER_PFS_DAY

    def scaled(self, factor: float, **extra) -> "Estimate":
        """The same estimate x ``factor`` (e.g. the fraction of a run that reached a target)."""
        return dataclasses.replace(self, total_flops=self.total_flops * factor, inputs={**self.inputs, **extra})

    def to_dict(self) -> dict:
        return {
            "method": self.method,
            "total_flops": self.total_flops,
            "tfs_days": self.tfs_days,
            "pfs_days": self.pfs_days,
            "convention": {
                "flops_per_mac": self.flops_per_mac,
                "utilization_discount": self.utilization_discount,
                "models": self.models,
            },
            "inputs": dict(self.inputs),
        }


def positive(name: str, value, *, allow_zero: bool = False) -> float:
    """``value`` as a finite float > 0 (>= 0 with allow_zero), or EstimateError naming it."""
    if isinstance(value, bool) or value is None:
        raise EstimateError(f"{name} == {value!r}, must be a number > 0.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise EstimateError(f"{name} == {value!r}, must be a number > 0.") from None
    if not math.isfinite(number):
        raise EstimateError(f"{name} == {value!r}, must be finite.")
    if number < 0 or (number == 0 and not allow_zero):
        rule = ">= 0" if allow_zero else "> 0"
        raise EstimateError(f"{name} == {value!r}, must be {rule}.")
    return number


def positive_int(name: str, value) -> int:
    number = positive(name, value)
    if number != int(number):
        raise EstimateError(f"{name} == {value!r}, must be a whole number >= 1.")
    return int(number)
