"""The workload contract: what a workload provides and how one trial of a recipe runs.

A workload (AlgoPerf style) is a dataset, a metric and a fixed target; its
recipes are dated training configurations (a model and its training method)
that stand for a publication. ``run_trial`` trains one configuration with one
seed under ``algoeff.ComputeTracker`` and returns a JSON-ready dict.
"""

from __future__ import annotations

import abc
import datetime as dt
import itertools
import math
import numbers
import time
from dataclasses import dataclass, field

from algoeff.errors import StudyError
from algoeff.track import ComputeTracker, Target

__all__ = ["Recipe", "Workload"]


@dataclass(frozen=True)
class Recipe:
    """A dated training configuration standing for one publication."""

    name: str  # key, e.g. "alexnet-2012"
    title: str  # human name, e.g. "AlexNet-style CNN, SGD with step schedule"
    publication: str  # the paper it stands for
    link: str  # where to read it
    date: dt.date  # the publication's date (first arXiv or conference version)
    is_baseline: bool  # the recipe whose full-schedule accuracy is the target
    defaults: dict  # the full configuration trained by default
    grid: dict = field(default_factory=dict)  # the tuning sweep: key -> values
    quick_grid: dict = field(default_factory=dict)  # the smaller sweep of --quick
    notes: str = ""  # how the recipe departs from its publication

    def sweep(self, quick: bool = False) -> list[dict]:
        """Full configurations of the tuning sweep (defaults with each grid point applied), in grid order."""
        grid = self.quick_grid if quick else self.grid
        if not grid:
            return [dict(self.defaults)]
        keys = list(grid)
        return [{**self.defaults, **dict(zip(keys, values))} for values in itertools.product(*grid.values())]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "publication": self.publication,
            "link": self.link,
            "date": self.date.isoformat(),
            "is_baseline": self.is_baseline,
            "defaults": dict(self.defaults),
            "notes": self.notes,
        }


class Workload(abc.ABC):
    """A dataset, a target and dated recipes. Subclasses provide data, models and evaluation."""

    #: config keys every recipe may set, with what they mean; subclasses add their own
    CONFIG_KEYS: dict[str, str] = {
        "model": "model family (a key of the workload's models)",
        "optimizer": "'sgd' (with momentum) or 'adamw'",
        "lr": "peak learning rate (> 0)",
        "momentum": "SGD momentum, or AdamW beta1 (0 <= momentum < 1)",
        "weight_decay": "L2 (SGD) or decoupled (AdamW) weight decay (>= 0)",
        "schedule": "'step' (x0.1 at 1/3 and 2/3 of training), 'onecycle' or 'constant'",
        "epochs": "schedule length in epochs (>= 1)",
        "batch_size": "training examples per step (>= 1)",
        "label_smoothing": "cross-entropy label smoothing (0 <= value < 1)",
    }

    @property
    @abc.abstractmethod
    def name(self) -> str:
        """Registry key, e.g. "mnist1d"."""

    @property
    @abc.abstractmethod
    def title(self) -> str:
        """Human name of the dataset and task."""

    @property
    @abc.abstractmethod
    def target(self) -> Target:
        """The fixed capability every run is measured against."""

    @property
    @abc.abstractmethod
    def evals_per_epoch(self) -> int:
        """Evaluations per training epoch: the fixed interval at which the target is checked."""

    @abc.abstractmethod
    def recipes(self) -> list[Recipe]:
        """The dated recipes, in date order; exactly one is the baseline."""

    @abc.abstractmethod
    def _prepare(self, config: dict, seed: int):
        """(model, batches, steps_per_epoch, evaluate) for one trial.

        ``batches`` is an endless iterator of (inputs, labels); ``evaluate(model)``
        returns the metrics dict, the target's metric included.
        """

    # -- recipes ------------------------------------------------------------------

    def recipe(self, name: str) -> Recipe:
        """The recipe called ``name``; StudyError listing the known names otherwise."""
        for recipe in self.recipes():
            if recipe.name == name:
                return recipe
        known = ", ".join(repr(r.name) for r in self.recipes())
        raise StudyError(f"Unknown recipe {name!r} for workload {self.name!r}. Possible values are: {known}.")

    def has_reached_target(self, metrics: dict) -> bool:
        """Whether an evaluation's metrics reach the target (data-driven, as in AlgoPerf)."""
        return self.target.reached(metrics.get(self.target.metric, float("nan")))

    @property
    def baseline(self) -> Recipe:
        """The recipe whose full-schedule accuracy fixed the target."""
        return next(r for r in self.recipes() if r.is_baseline)

    def resolve_config(self, recipe: Recipe, config: dict | None) -> dict:
        """The recipe's defaults with ``config`` applied, validated."""
        if config is not None and not isinstance(config, dict):
            raise StudyError(f"config == {config!r}, must be a dict.")
        merged = {**recipe.defaults, **(config or {})}
        unknown = sorted(set(merged) - set(self.CONFIG_KEYS))
        if unknown:
            raise StudyError(
                f"Unknown config key {unknown[0]!r} for recipe {recipe.name!r}. "
                f"Possible keys are: {', '.join(repr(k) for k in self.CONFIG_KEYS)}."
            )
        _check(merged, "lr", lambda v: _real(v) and v > 0, "must be > 0")
        _check(merged, "epochs", lambda v: _integer(v) and v >= 1, "must be an integer >= 1")
        _check(merged, "batch_size", lambda v: _integer(v) and v >= 1, "must be an integer >= 1")
        _check(merged, "momentum", lambda v: _real(v) and 0 <= v < 1, "must be in [0, 1)")
        _check(merged, "weight_decay", lambda v: _real(v) and v >= 0, "must be >= 0")
        _check(merged, "label_smoothing", lambda v: _real(v) and 0 <= v < 1, "must be in [0, 1)")
        _choice(merged, "optimizer", ("sgd", "adamw"))
        _choice(merged, "schedule", ("step", "onecycle", "constant"))
        return merged

    # -- one trial ----------------------------------------------------------------

    def run_trial(
        self,
        recipe_name: str,
        config: dict | None = None,
        seed: int = 0,
        *,
        store=None,
        run_key: str | None = None,
        full_schedule: bool = False,
        on_eval=None,
    ) -> dict:
        """Train one configuration with one seed; stop at the target unless ``full_schedule``.

        ``on_eval(point)`` is called after each evaluation with the curve point
        (a dict as in the result's ``curve``). Returns the contract's dict (docs/workloads.md).
        """
        import torch

        from .train import make_optimizer, make_schedule, train

        recipe = self.recipe(recipe_name)
        cfg = self.resolve_config(recipe, config)
        if not _integer(seed) or seed < 0:
            raise StudyError(f"seed == {seed!r}, must be an integer >= 0.")
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # trials run in parallel worker processes
        start = time.perf_counter()
        try:
            torch.manual_seed(seed)
            model, batches, steps_per_epoch, evaluate = self._prepare(cfg, seed)
            steps = cfg["epochs"] * steps_per_epoch
            optimizer = make_optimizer(model, cfg)
            schedule = make_schedule(optimizer, cfg, steps)
            loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=cfg.get("label_smoothing", 0.0))
            tracker = ComputeTracker(
                model,
                self.target,
                store=store,
                run_name=f"{self.name}/{recipe.name}",
                run_key=run_key,
                config={"workload": self.name, "recipe": recipe.name, "seed": seed, **cfg},
            )
            with tracker:
                train(
                    model, batches, evaluate, tracker,
                    optimizer=optimizer, schedule=schedule, loss_fn=loss_fn, steps=steps,
                    eval_every=max(1, round(steps_per_epoch / self.evals_per_epoch)),
                    stop_at_target=not full_schedule, on_eval=on_eval,
                )
        finally:
            torch.set_num_threads(threads)
        metric = self.target.metric
        final = tracker.curve[-1].metrics.get(metric) if tracker.curve else None
        return {
            "recipe": recipe.name,
            "config": cfg,
            "seed": seed,
            "reached": tracker.reached,
            "compute_to_target_flops": tracker.compute_to_target,
            "compute_to_target_interpolated_flops": tracker.compute_to_target_interpolated,
            "total_train_flops": tracker.total_flops,
            "eval_flops": tracker.eval_flops,
            "final_metric": None if final is None or not math.isfinite(final) else final,
            "diverged": tracker.diverged,
            "wall_s": time.perf_counter() - start,
            "curve": [curve_point(p, metric) for p in tracker.curve],
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} target {self.target}>"


def curve_point(point, metric: str) -> dict:
    """One tracker CurvePoint as the result's curve entry."""
    value = point.metrics.get(metric)
    return {
        "flops": point.flops,
        "examples": point.examples,
        "wall_s": point.wall,
        metric: value if value is not None and math.isfinite(value) else None,
    }


def _real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _integer(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check(config: dict, key: str, ok, rule: str):
    if key in config and not ok(config[key]):
        raise StudyError(f"{key} == {config[key]!r}, {rule}.")


def _choice(config: dict, key: str, choices):
    if key in config and config[key] not in choices:
        raise StudyError(
            f"Unknown {key} {config[key]!r}. Possible values are: {', '.join(repr(c) for c in choices)}."
        )
