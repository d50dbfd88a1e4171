"""Workloads: datasets, models and dated recipes, with one trial's protocol (``run_trial``).

    wl = get_workload("mnist1d")
    wl.splits, wl.target, wl.test_target           # validation carved from training data; two targets
    wl.recipes(), wl.recipe("alexnet-2012").sweep()  # dated recipes (roles), each with its tuning grid
    result = wl.run_trial("resnet-2015", wl.recipe("resnet-2015").selected_config(), seed=0, full_schedule=True)

Workloads are imported when asked for, so a missing optional dependency
(torchvision for cifar10 and imagenet) breaks only the workloads that need it.
"""

from __future__ import annotations

import importlib
import importlib.util

from algoeff.errors import StudyError

from .spec import Recipe, Workload

__all__ = ["WORKLOADS", "Recipe", "Workload", "get_workload"]

# name -> (module, class, optional dependency or None)
WORKLOADS: dict[str, tuple[str, str, str | None]] = {
    "mnist1d": ("algoeff.workloads.mnist1d", "MNIST1D", None),
    "digits": ("algoeff.workloads.digits", "Digits", None),
    "cifar10": ("algoeff.workloads.cifar10", "CIFAR10", "torchvision"),
    "imagenet": ("algoeff.workloads.imagenet", "ImageNet", "torchvision"),
}


def get_workload(name: str, *, data_dir=None, **options) -> Workload:
    """The workload ``name``; ``data_dir`` for those read from disk (cifar10, imagenet)."""
    if name not in WORKLOADS:
        raise StudyError(f"Unknown workload {name!r}. Possible values are: {', '.join(map(repr, WORKLOADS))}.")
    module, cls, needs = WORKLOADS[name]
    if needs is not None and importlib.util.find_spec(needs) is None:
        raise StudyError(f"the {name} workload needs {needs}: pip install 'algoeff[vision]'")
    workload_cls = getattr(importlib.import_module(module), cls)
    if needs is None:
        if data_dir is not None:
            raise StudyError(f"the {name} workload is generated or bundled; data_dir == {str(data_dir)!r} is not used.")
        return workload_cls(**options)
    return workload_cls(data_dir=data_dir, **options)
