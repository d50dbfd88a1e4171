"""Compute-to-target inside the trainers people use.

    from algoeff.integrations.lightning import ComputeToTarget      # a lightning.pytorch.Callback
    from algoeff.integrations.transformers import ComputeToTarget   # a transformers.TrainerCallback

Each submodule imports its framework; importing ``algoeff`` or this package
imports neither. Both callbacks ride on ``algoeff.ComputeTracker``: the same
per-step count, the same crossing, the same run store.
"""

__all__: list[str] = []
