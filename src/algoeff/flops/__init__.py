"""The FLOP counter: per-op formulas, policies, the per-step signature cache and the report.

    count_flops(model, inputs, ...)  one forward pass or training step -> FlopReport
    StepCounter(model, ...)          per-step counts inside a user's training loop
    load_model("torchvision:NAME")   a model named as on the command line

A multiply-add is 2 FLOPs everywhere; ``FlopReport.macs`` gives multiply-adds.
"""

from algoeff.flops.count import count_flops
from algoeff.flops.models import load_model, parse_shape
from algoeff.flops.report import FlopReport
from algoeff.flops.step import StepCounter

__all__ = ["FlopReport", "StepCounter", "count_flops", "load_model", "parse_shape"]
