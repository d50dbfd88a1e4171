"""Counting conventions and conversion between them.

Published compute figures differ in three ways (Hernandez & Brown 2020 vs AI
and Compute vs Vaswani et al.): FLOPs per multiply-add (1 or 2), whether a
utilization discount was applied to hardware time x peak, and whether an
ensemble's models are all counted. The common target is 2 FLOPs per
multiply-add, no utilization discount, a single model.
"""

from __future__ import annotations

import dataclasses

from algoeff.errors import EstimateError

__all__ = ["TARGET", "Convention", "convert_flops"]


@dataclasses.dataclass(frozen=True)
class Convention:
    flops_per_mac: int | None = 2  # None: unknown
    utilization_discount: float | None = None  # None: no discount applied
    models: int = 1

    def describe(self) -> str:
        mac = "unknown FLOPs per multiply-add" if self.flops_per_mac is None else (
            f"{self.flops_per_mac} FLOP{'s' if self.flops_per_mac != 1 else ''} per multiply-add")
        util = ("no utilization discount" if self.utilization_discount is None
                else f"utilization discount {self.utilization_discount:g}")
        models = f"{self.models} model{'s' if self.models != 1 else ''}"
        return f"{mac}, {util}, {models}"


TARGET = Convention(flops_per_mac=2, utilization_discount=None, models=1)


def convert_flops(flops: float, source: Convention, target: Convention = TARGET, *, what: str = "compute") -> float:
    """``flops`` counted under ``source`` re-expressed under ``target``.

    A discount d means compute = time x peak x d, so removing it divides by d;
    an ensemble of n models becomes one model by dividing by n.
    """
    if source.flops_per_mac is None or target.flops_per_mac is None:
        raise EstimateError(f"{what}: cannot convert between conventions: FLOPs per multiply-add unknown "
                            f"({source.describe()} -> {target.describe()}).")
    out = flops * target.flops_per_mac / source.flops_per_mac
    out *= (target.utilization_discount or 1.0) / (source.utilization_discount or 1.0)
    return out * target.models / source.models
