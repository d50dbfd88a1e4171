"""Carving a validation split out of the training data, the same for every trial.

The split is drawn with its own fixed seed (``split_seed`` in the workload's
data file), never the trial's, so every trial of every recipe selects on the
same validation examples and the test split is left for reporting alone.
"""

from __future__ import annotations

import numpy as np

from algoeff.errors import StudyError

__all__ = ["carve_validation"]


def carve_validation(labels, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(train indices, validation indices) of ``labels``: ``size`` examples, stratified by class, sorted.

    Each class gives its share of ``size`` (largest remainders round), drawn
    without replacement by ``numpy.random.default_rng(seed)``.
    """
    labels = np.asarray(labels)
    if not 1 <= size < len(labels):
        raise StudyError(f"validation size == {size!r}, must be in [1, {len(labels) - 1}] for {len(labels)} training examples.")
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * size / len(labels)
    take = np.floor(quota).astype(int)
    # largest remainders get the examples rounding left over (ties: the lower class)
    for i in np.argsort(-(quota - take), kind="stable")[: size - take.sum()]:
        take[i] += 1
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in zip(classes, take)]
    validation = np.sort(np.concatenate(chosen))
    train = np.setdiff1d(np.arange(len(labels)), validation)
    return train, validation
