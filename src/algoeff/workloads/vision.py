"""Image workloads read from a user's data directory with torchvision: the base of CIFAR-10 and ImageNet.

Models are torchvision's, built with ``weights=None`` (nothing is downloaded);
training follows the PyTorch ImageNet example the paper used (SGD, momentum
0.9, weight decay 1e-4, batch 256, x0.1 every 30 of 90 epochs), evaluated once
per epoch on the validation split (carved from the training images by a
fixed split seed) and on the test split.
"""

from __future__ import annotations

import abc
import math

from algoeff.errors import StudyError

from .recipes import load_workload_file
from .spec import Workload, _integer
from .splits import carve_validation

__all__ = ["VisionWorkload"]

# ImageNet channel statistics, as in the PyTorch example
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class VisionWorkload(Workload):
    """Datasets from ``data_dir``, torchvision models, recipes and targets from the workload's TOML file."""

    CONFIG_KEYS = {
        **Workload.CONFIG_KEYS,
        "image_size": "training and evaluation crop in pixels (>= 16)",
        "workers": "DataLoader worker processes (>= 0)",
        "device": "'cpu' or 'cuda' (the current CUDA device)",
    }

    #: torchvision's models have fixed widths: the grids search the rest
    TUNING_KNOBS = {"learning rate": ("lr",), "schedule length": ("epochs",)}

    #: the TOML data file; set by subclasses
    file: str = ""

    def __init__(self, data_dir=None, *, target: str | None = None):
        if data_dir is None:
            raise StudyError(f"the {self.name} workload needs a data directory: {self.layout}")
        self.data_dir = data_dir
        levels = load_workload_file(self.file)["targets"]
        level = target or next(iter(levels))
        if level not in levels:
            raise StudyError(
                f"Unknown target {level!r} for workload {self.name!r}. "
                f"Possible values are: {', '.join(map(repr, levels))}."
            )
        self.level = level
        self._target, self._test_target = levels[level]
        train, test = self._load_splits()  # fail at once on a missing or incomplete data directory
        settings = load_workload_file(self.file)["splits"]
        size = max(1, round(settings.get("validation_fraction", 0.1) * len(train)))
        if len(train) < 2:
            raise StudyError(f"{self.name} data_dir {str(data_dir)!r} has {len(train)} training images, must have >= 2 (one is carved out for validation).")
        self._train_index, self._validation_index = carve_validation(train.targets, min(size, len(train) - 1),
                                                                     int(settings.get("split_seed", 0)))
        self._splits = (train, test)

    @property
    @abc.abstractmethod
    def layout(self) -> str:
        """One line naming the expected data directory layout."""

    @abc.abstractmethod
    def _load_splits(self):
        """(train, test) torchvision datasets without transforms (with ``.targets``), checked."""

    @abc.abstractmethod
    def _transforms(self, image_size: int):
        """(train transform, test transform) for crops of ``image_size`` pixels."""

    @property
    def target(self):
        """The validation target of the level chosen by ``target=`` (the file's first level by default)."""
        return self._target

    @property
    def test_target(self):
        """The test target of the same level."""
        return self._test_target

    @property
    def splits(self) -> dict[str, int]:
        """Images per split: train and validation (carved from DATA_DIR's training images), test."""
        return {"train": len(self._train_index), "validation": len(self._validation_index),
                "test": len(self._splits[1])}

    @property
    def evals_per_epoch(self) -> int:
        """Once per epoch, as the paper evaluated."""
        return 1

    @property
    def num_classes(self) -> int:
        """Classes in the training split."""
        return len(self._splits[0].classes)

    def recipes(self):
        """The dated recipes, in date order."""
        return list(load_workload_file(self.file)["recipes"])

    def resolve_config(self, recipe, config):
        merged = super().resolve_config(recipe, config)
        if not (_integer(merged.get("image_size")) and merged["image_size"] >= 16):
            raise StudyError(f"image_size == {merged.get('image_size')!r}, must be an integer >= 16.")
        if "workers" in merged and not (_integer(merged["workers"]) and merged["workers"] >= 0):
            raise StudyError(f"workers == {merged['workers']!r}, must be an integer >= 0.")
        device = merged.get("device", "cpu")
        if device not in ("cpu", "cuda"):
            raise StudyError(f"Unknown device {device!r}. Possible values are: 'cpu', 'cuda'.")
        if device == "cuda":
            import torch

            if not torch.cuda.is_available():
                raise StudyError("device == 'cuda', but torch finds no CUDA device; use device = 'cpu'.")
        return merged

    def build_model(self, config: dict):
        """torchvision's ``config["model"]`` with random weights and this workload's classes."""
        import torchvision

        options = {"weights": None, "num_classes": self.num_classes}
        if config["model"] == "googlenet":
            options.update(aux_logits=False, init_weights=True)  # one output; no scipy-based init warning
        try:
            return torchvision.models.get_model(config["model"], **options)
        except ValueError as err:
            raise StudyError(f"model {config['model']!r}: {err}") from err

    def _prepare(self, config, seed):
        import torch
        from torch.utils.data import DataLoader, Subset

        train_set, test_set = self._splits
        train_tf, test_tf = self._transforms(config["image_size"])
        validation_set = Subset(_Transformed(train_set, test_tf), self._validation_index.tolist())
        train_set = Subset(_Transformed(train_set, train_tf), self._train_index.tolist())
        test_set = _Transformed(test_set, test_tf)
        batch = min(config["batch_size"], len(train_set))
        workers = config.get("workers", 0)
        generator = torch.Generator().manual_seed(seed)
        train_loader = DataLoader(train_set, batch_size=batch, shuffle=True, drop_last=True,
                                  num_workers=workers, generator=generator)
        device = torch.device(config.get("device", "cpu"))

        def batches():
            while True:
                for images, labels in train_loader:
                    yield images.to(device, non_blocking=True), labels.to(device, non_blocking=True)

        def evaluator(split, dataset):
            loader = DataLoader(dataset, batch_size=batch, num_workers=workers)

            def evaluate(model):
                correct1 = correct5 = loss = count = 0
                for images, labels in loader:
                    images, labels = images.to(device), labels.to(device)
                    logits = model(images)
                    loss += torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item()
                    top = logits.topk(min(5, logits.shape[1]), dim=1).indices
                    correct1 += (top[:, 0] == labels).sum().item()
                    correct5 += (top == labels[:, None]).any(1).sum().item()
                    count += len(labels)
                loss /= count
                return {
                    f"{split}_accuracy": correct1 / count,
                    f"{split}_top5_accuracy": correct5 / count,
                    f"{split}_loss": loss if math.isfinite(loss) else float("nan"),
                }

            return evaluate

        evaluators = {"validation": evaluator("validation", validation_set), "test": evaluator("test", test_set)}
        return self.build_model(config).to(device), batches(), len(train_set) // batch, evaluators


class _Transformed:
    """A dataset with a transform applied to its images (the base datasets stay shared)."""

    def __init__(self, dataset, transform):
        self.dataset, self.transform = dataset, transform

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        image, label = self.dataset[index]
        return self.transform(image), label
