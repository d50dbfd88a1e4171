"""Argument types shared by the commands (argparse turns their errors into one UsageError line)."""

from __future__ import annotations

import argparse
import math

__all__ = ["finite_float"]


def finite_float(text: str) -> float:
    """A finite number: 'abc', 'nan' and 'inf' are refused by name."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value
