"""Workloads small enough to hold in memory and train on one CPU thread: the base of MNIST-1D and digits."""

from __future__ import annotations

import abc
import math

from algoeff.errors import StudyError

from .models import MODELS, build_model
from .recipes import load_workload_file
from .spec import Workload, _integer, _real

__all__ = ["SmallWorkload"]


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
        """The fixed target from the workload's data file."""
        return load_workload_file(self.file)["target"]

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
    def arrays(self):
        """(x_train, y_train, x_test, y_test) as torch tensors, cached per process."""

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

        x, y, x_test, y_test = self.arrays()
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

        def evaluate(model):
            # the whole test set in one batch: small, and one counted forward pass
            logits = model(x_test)
            loss = torch.nn.functional.cross_entropy(logits, y_test).item()
            accuracy = (logits.argmax(1) == y_test).float().mean().item()
            return {"test_accuracy": accuracy, "test_loss": loss if math.isfinite(loss) else float("nan")}

        return model, batches(), steps_per_epoch, evaluate
