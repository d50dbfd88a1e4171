"""Units of training compute.

Compute is always kept in FLOPs (a multiply-add counts as 2 FLOPs unless a
ledger entry's convention says otherwise). The seed ledger and the paper report
teraflop/s-days ("tfs-s/days"): a teraflop per second sustained for one day.
"""

from __future__ import annotations

import math

__all__ = [
    "FLOPS_PER_PFS_DAY",
    "FLOPS_PER_TFS_DAY",
    "UNITS",
    "format_compute",
    "from_flops",
    "to_flops",
]

SECONDS_PER_DAY = 86_400
FLOPS_PER_TFS_DAY = 1e12 * SECONDS_PER_DAY  # 8.64e16
FLOPS_PER_PFS_DAY = 1e15 * SECONDS_PER_DAY  # 8.64e19

# FLOPs in one of each display unit.
UNITS: dict[str, float] = {
    "flops": 1.0,
    "tfs-days": FLOPS_PER_TFS_DAY,
    "pfs-days": FLOPS_PER_PFS_DAY,
}


def _unit(unit: str) -> float:
    try:
        return UNITS[unit]
    except KeyError:
        raise ValueError(
            f"Unknown compute unit {unit!r}. Possible values are: {', '.join(UNITS)}."
        ) from None


def to_flops(value: float, unit: str = "tfs-days") -> float:
    """Convert ``value`` in ``unit`` to FLOPs."""
    return float(value) * _unit(unit)


def from_flops(flops: float, unit: str = "tfs-days") -> float:
    """Convert ``flops`` to ``unit``."""
    return float(flops) / _unit(unit)


def format_compute(flops: float, unit: str = "tfs-days", digits: int = 3) -> str:
    """A compute figure for people: ``digits`` significant figures and the unit."""
    value = from_flops(flops, unit)
    if value == 0 or not math.isfinite(value):
        text = f"{value:g}"
    elif unit == "flops":
        text = f"{value:.{digits - 1}e}"
    else:
        text = f"{value:.{digits}g}"
    return f"{text} {unit}"
