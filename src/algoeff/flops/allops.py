"""``all``-policy formulas: per-element costs of the non-matmul work."""

from __future__ import annotations

__all__: list[str] = []
