"""Split a reduction factor into fewer epochs x fewer FLOPs per epoch (Hernandez & Brown 2020, Table 1).

    reduction = baseline compute / entry compute
              = (baseline epochs / entry epochs) x (baseline FLOPs per epoch / entry FLOPs per epoch)

GoogLeNet against AlexNet: 90 / 8 = 11 fewer epochs x 0.77 / 2.00 = 0.38 "fewer"
FLOPs per epoch (it costs more per epoch) = 4.3.
"""

from __future__ import annotations

import dataclasses

from algoeff.errors import EstimateError

from .conventions import TARGET, Convention, convert_flops
from .result import Estimate

__all__ = ["Decomposition", "decompose"]


@dataclasses.dataclass(frozen=True)
class Decomposition:
    fewer_epochs: float  # baseline epochs / entry epochs
    fewer_flops_per_epoch: float  # baseline FLOPs per epoch / entry FLOPs per epoch
    baseline_epochs: float
    epochs: float

    @property
    def reduction_factor(self) -> float:
        return self.fewer_epochs * self.fewer_flops_per_epoch

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "reduction_factor": self.reduction_factor}


def _per_epoch(est: Estimate, what: str) -> tuple[float, float]:
    if est.method != "counting" or "epochs" not in est.inputs:
        raise EstimateError(f"{what}: a decomposition needs a counting estimate with epochs; got {est.method!r}.")
    epochs = est.inputs["epochs"]
    source = Convention(est.flops_per_mac, est.utilization_discount, est.models)
    # per epoch of one model, 2 FLOPs per multiply-add, so both sides count alike
    return epochs, convert_flops(est.total_flops, source, TARGET, what=what) / epochs


def decompose(entry: Estimate, baseline: Estimate) -> Decomposition:
    """The Table 1 decomposition of ``entry``'s reduction factor against ``baseline``."""
    base_epochs, base_per_epoch = _per_epoch(baseline, "baseline")
    epochs, per_epoch = _per_epoch(entry, "entry")
    return Decomposition(base_epochs / epochs, base_per_epoch / per_epoch, base_epochs, epochs)
