"""Workloads small enough to hold in memory and train on one CPU thread: the base of MNIST-1D and digits."""

from __future__ import annotations

import abc
import math

from algoeff.errors import StudyError

from .models import MODELS, build_model
from .recipes import load_workload_file
from .spec import Workload, _integer, _real
from .splits import carve_validation

__all__ = ["SmallWorkload"]

# (file, validation size, split seed) -> the split tensors, shared by every trial in a process
_TENSORS: dict = {}


class SmallWorkload(Workload):
    """Arrays in memory, models from ``models.py``, recipes and target from the workload's TOML file."""

    CONFIG_KEYS = {
        **Workload.CONFIG_KEYS,
        "width": "base channel count of the model (>= 1)",
        "hidden": "AlexNet's fully connected width (>= 1)",
        "dropout": "dropout before the classifier (0 <= value < 1)",
        "groups": "ShuffleNet's 1x1 convolution groups (>= 1)",
    }
    _MODEL_OPTIONS = ("width", "hidden", "dropout", "groups")

    #: "file" names the TOML data file; set by subclasses
    file: str = ""

    @property
    def target(self):
        """The fixed validation target from the workload's data file."""
        return load_workload_file(self.file)["target"]

    @property
    def test_target(self):
        """The fixed test target from the workload's data file."""
        return load_workload_file(self.file)["test_target"]

    @property
    def splits(self) -> dict[str, int]:
        """Examples per split: train, validation (carved from the training data), test."""
        return {name: len(y) for name, (_, y) in self.arrays().items()}

    @property
    def split_seed(self) -> int:
        """The fixed seed that carves validation out of the training data (not the trial's seed)."""
        return int(load_workload_file(self.file)["splits"].get("split_seed", 0))

    @property
    def validation_size(self) -> int:
        """Validation examples carved from the training data, from the data file's [splits]."""
        return int(load_workload_file(self.file)["splits"]["validation"])

    @property
    def evals_per_epoch(self) -> int:
        """Evaluations per epoch, from the data file's [protocol]."""
        return int(load_workload_file(self.file)["protocol"].get("evals_per_epoch", 1))

    @property
    def dims(self) -> int:
        """1 for sequences (Conv1d), 2 for images (Conv2d)."""
        return len(self.input_shape) - 1

    @property
    @abc.abstractmethod
    def input_shape(self) -> tuple:
        """One example's shape, channels first."""

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return 10

    @abc.abstractmethod
    def _base_arrays(self):
        """(x_train, y_train, x_test, y_test) numpy arrays as the dataset ships them, inputs channels first."""

    def arrays(self) -> dict:
        """{"train", "validation", "test"}: (inputs, labels) torch tensors, cached per class and process."""
        import torch

        key = (self.file, self.validation_size, self.split_seed)
        cache = _TENSORS.get(key)
        if cache is None:
            x, y, x_test, y_test = self._base_arrays()
            train, validation = carve_validation(y, self.validation_size, self.split_seed)

            def tensors(a, b):
                return torch.tensor(a, dtype=torch.float32), torch.tensor(b, dtype=torch.long)

            cache = {"train": tensors(x[train], y[train]), "validation": tensors(x[validation], y[validation]),
                     "test": tensors(x_test, y_test)}
            _TENSORS[key] = cache
        return cache

    def recipes(self):
        """The dated recipes, in date order."""
        return list(load_workload_file(self.file)["recipes"])

    def resolve_config(self, recipe, config):
        merged = super().resolve_config(recipe, config)
        if merged.get("model") not in MODELS:
            raise StudyError(
                f"Unknown model {merged.get('model')!r}. Possible values are: {', '.join(map(repr, MODELS))}."
            )
        for key in ("width", "hidden", "groups"):
            if key in merged and not (_integer(merged[key]) and merged[key] >= 1):
                raise StudyError(f"{key} == {merged[key]!r}, must be an integer >= 1.")
        if "dropout" in merged and not (_real(merged["dropout"]) and 0 <= merged["dropout"] < 1):
            raise StudyError(f"dropout == {merged['dropout']!r}, must be in [0, 1).")
        return merged

    def build_model(self, config: dict):
        """The configured model for this workload's inputs."""
        options = {k: config[k] for k in self._MODEL_OPTIONS if k in config}
        options.setdefault("kernel", 5 if self.dims == 1 else 3)
        if config["model"] == "mlp":
            options = {k: v for k, v in options.items() if k == "width"}
        return build_model(config["model"], self.input_shape, self.num_classes, dims=self.dims, **options)

    def _prepare(self, config, seed):
        import torch

        splits = self.arrays()
        x, y = splits["train"]
        model = self.build_model(config)
        batch = min(config["batch_size"], len(x))
        steps_per_epoch = len(x) // batch  # the last partial batch is dropped
        generator = torch.Generator().manual_seed(seed)

        def batches():
            while True:
                order = torch.randperm(len(x), generator=generator)
                for i in range(steps_per_epoch):
                    index = order[i * batch:(i + 1) * batch]
                    yield x[index], y[index]

        def evaluator(split):
            inputs, labels = splits[split]

            def evaluate(model):
                # the whole split in one batch: small, and one counted forward pass
                logits = model(inputs)
                loss = torch.nn.functional.cross_entropy(logits, labels).item()
                accuracy = (logits.argmax(1) == labels).float().mean().item()
                return {f"{split}_accuracy": accuracy, f"{split}_loss": loss if math.isfinite(loss) else float("nan")}

            return evaluate

        return model, batches(), steps_per_epoch, {split: evaluator(split) for split in ("validation", "test")}
