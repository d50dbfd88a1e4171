"""MNIST-1D (Greydanus 2020): 4,000 training and 1,000 test sequences of length 40, ten classes.

A stratified 500 of the training sequences are the validation split (a fixed
split seed, the same for every trial), leaving 3,500 to train on.

Generated here by ``mnist1d.data.make_dataset(get_dataset_args())``, never
downloaded. Generation takes a few seconds, so the arrays are cached in memory
per process and on disk under the user cache directory (``$ALGOEFF_CACHE_DIR``,
else ``$XDG_CACHE_HOME/algoeff``, else ``~/.cache/algoeff``), keyed by a hash of
the generation arguments. A cache that cannot be written is skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .small import SmallWorkload

__all__ = ["MNIST1D", "cache_dir", "mnist1d_arrays"]

_MEMORY: dict[str, tuple] = {}


def cache_dir() -> Path:
    """Where generated datasets are cached on disk."""
    root = os.environ.get("ALGOEFF_CACHE_DIR")
    if root:
        return Path(root)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "algoeff"


def mnist1d_arrays() -> tuple:
    """(x_train, y_train, x_test, y_test) numpy arrays of the default MNIST-1D, generated once."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    settings = {k: v for k, v in vars(args).items() if k != "url"}  # the url is the download path: unused
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    if key in _MEMORY:
        return _MEMORY[key]
    path = cache_dir() / f"mnist1d-{key}.npz"
    arrays = None
    try:
        with np.load(path) as saved:
            arrays = tuple(saved[k] for k in ("x", "y", "x_test", "y_test"))
    except (OSError, KeyError, ValueError):
        pass
    if arrays is None:
        data = make_dataset(args)  # generated locally; nothing is downloaded
        arrays = (data["x"], data["y"], data["x_test"], data["y_test"])
        _save(path, arrays)
    _MEMORY[key] = arrays
    return arrays


def _save(path: Path, arrays: tuple):
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **dict(zip(("x", "y", "x_test", "y_test"), arrays)))
        os.replace(tmp, path)  # two workers generating at once both write whole files
    except OSError:
        pass  # a read-only home: generate again next time


class MNIST1D(SmallWorkload):
    """MNIST-1D with 1-D convolutional recipes from AlexNet (2012) to EfficientNet (2019)."""

    file = "mnist1d"

    @property
    def name(self) -> str:
        """Registry key."""
        return "mnist1d"

    @property
    def title(self) -> str:
        """Human name."""
        return "MNIST-1D (3,500 train / 500 validation / 1,000 test sequences of length 40)"

    @property
    def input_shape(self) -> tuple:
        """[channels, length]."""
        return (1, 40)

    def _base_arrays(self):
        x, y, x_test, y_test = mnist1d_arrays()
        return x[:, None, :], y, x_test[:, None, :], y_test
