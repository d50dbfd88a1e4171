"""Effective compute: hardware and algorithmic gains multiply (Hernandez & Brown 2020, section 4).

Over a period, the compute a fixed budget buys grows by a hardware factor (the
catalog's peak ratio between two devices, or 2 ** (months / doubling time));
the compute a capability needs shrinks by the algorithmic factor. Their product
is the gain in effective compute: 300,000x (AI and Compute, 2012-18) x 25x
(ShuffleNet v2 against AlexNet) = 7.5 million x.
"""

from __future__ import annotations

import dataclasses

from algoeff.errors import EstimateError

from .hardware import Catalog, load_catalog
from .result import positive

__all__ = ["EffectiveCompute", "effective_compute", "hardware_factor_from_catalog"]


@dataclasses.dataclass(frozen=True)
class EffectiveCompute:
    months: float
    algorithmic_factor: float
    hardware_factor: float
    hardware_basis: str  # how the hardware factor was obtained

    @property
    def effective_factor(self) -> float:
        return self.algorithmic_factor * self.hardware_factor

    def to_dict(self) -> dict:
        return {**dataclasses.asdict(self), "effective_factor": self.effective_factor}


def hardware_factor_from_catalog(start_device, end_device, *, precision: str = "fp32",
                                 catalog: Catalog | None = None) -> tuple[float, str]:
    """Peak ratio end / start at ``precision``, and a line saying so."""
    catalog = catalog or load_catalog()
    start, end = catalog[start_device], catalog[end_device]
    a, b = start.peak_flops(precision), end.peak_flops(precision)
    basis = (f"catalog peak {precision}: {end.name} {b / 1e12:g} TFLOPS / {start.name} {a / 1e12:g} TFLOPS")
    return b / a, basis


def effective_compute(algorithmic_factor: float, months: float, *, hardware_doubling_months: float | None = None,
                      hardware_factor: float | None = None, hardware_basis: str = "") -> EffectiveCompute:
    """Combine an algorithmic factor over ``months`` with a hardware factor.

    Give the hardware factor directly (``hardware_factor``, e.g. from
    hardware_factor_from_catalog) or as a doubling time; with neither, hardware
    doubles every 24 months (Moore's law as the paper uses it).
    """
    algorithmic_factor = positive("algorithmic_factor", algorithmic_factor)
    months = positive("months", months, allow_zero=True)
    if hardware_factor is not None and hardware_doubling_months is not None:
        raise EstimateError("give the hardware factor or its doubling time, not both.")
    if hardware_factor is None:
        doubling = positive("hardware_doubling_months", 24.0 if hardware_doubling_months is None
                            else hardware_doubling_months)
        hardware_factor = 2.0 ** (months / doubling)
        hardware_basis = hardware_basis or f"doubling every {doubling:g} months: 2 ** ({months:.1f} / {doubling:g})"
    else:
        hardware_factor = positive("hardware_factor", hardware_factor)
        hardware_basis = hardware_basis or "given"
    return EffectiveCompute(months, algorithmic_factor, hardware_factor, hardware_basis)
