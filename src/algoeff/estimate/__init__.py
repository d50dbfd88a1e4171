"""Training-compute estimation: counting operations and hardware time; the hardware catalog.

    estimate_ops(...), estimate_hardware(...) -> Estimate (total_flops, tfs_days, pfs_days, inputs, method)
    load_catalog() -> Catalog of devices with peak FLOP/s per precision, each with its source
    Convention, convert_flops: re-express compute under another counting convention
    decompose(entry, baseline): reduction factor = fewer epochs x fewer FLOPs per epoch
    effective_compute(...): hardware factor x algorithmic factor
"""

from __future__ import annotations

from .conventions import TARGET, Convention, convert_flops
from .decompose import Decomposition, decompose
from .effective import EffectiveCompute, effective_compute, hardware_factor_from_catalog
from .hardware import (
    PRECISIONS,
    Catalog,
    Device,
    Utilization,
    estimate_hardware,
    load_catalog,
    load_utilizations,
    resolve_utilization,
)
from .ops import FLOPS_PER_MAC_CHOICES, estimate_ops, estimate_ops_from_model
from .result import Estimate

__all__ = [
    "FLOPS_PER_MAC_CHOICES",
    "PRECISIONS",
    "TARGET",
    "Catalog",
    "Convention",
    "Decomposition",
    "Device",
    "EffectiveCompute",
    "Estimate",
    "Utilization",
    "convert_flops",
    "decompose",
    "effective_compute",
    "estimate_hardware",
    "estimate_ops",
    "estimate_ops_from_model",
    "hardware_factor_from_catalog",
    "load_catalog",
    "load_utilizations",
    "resolve_utilization",
]
