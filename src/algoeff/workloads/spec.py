"""The workload contract: what a workload provides and how one trial of a recipe runs.

A workload (AlgoPerf style) is a dataset with train / validation / test
splits, a metric and two fixed targets (validation, test); its recipes are
dated training configurations (a model and its training method) that stand
for a publication, each with a tuning grid and the configuration the tuning
phase selected from it. ``run_trial`` trains one configuration with one seed
under ``algoeff.ComputeTracker`` and returns a JSON-ready dict.
"""

from __future__ import annotations

import abc
import datetime as dt
import hashlib
import itertools
import json
import math
import numbers
import time
from dataclasses import dataclass, field

from algoeff.errors import StudyError
from algoeff.track import ComputeTracker, Target

__all__ = ["ROLES", "Recipe", "Workload"]

ROLES = ("baseline", "control", "recipe", "floor")


@dataclass(frozen=True)
class Recipe:
    """A dated training configuration standing for one publication.

    ``role`` says what it is in a study: "baseline" (the recipe whose selected
    configuration fixes the targets), "control" (a network built from its
    date's ideas only, the baseline's rivals: the best of them is what that
    date could do), "recipe" (a dated step of the lineage) or "floor" (a
    network that shows what the task needs, e.g. an MLP).
    """

    name: str  # key, e.g. "alexnet-2012"
    title: str  # human name, e.g. "AlexNet-style CNN, SGD with step schedule"
    publication: str  # the paper it stands for
    link: str  # where to read it
    date: dt.date  # the publication's date (first arXiv or conference version)
    is_baseline: bool = False  # true exactly when role == "baseline"
    defaults: dict = field(default_factory=dict)  # every config key; the grid and selection override some
    grid: dict = field(default_factory=dict)  # the tuning grid: key -> values, every combination
    notes: str = ""  # how the recipe departs from its publication
    role: str = ""  # "baseline", "control", "recipe" or "floor"; "" derives it from is_baseline
    selected: dict = field(default_factory=dict)  # the tuning phase's choice: a grid point (--quick trains it)
    selection: str = ""  # how ``selected`` was chosen (rule, seeds, date, command)

    def __post_init__(self):
        role = self.role or ("baseline" if self.is_baseline else "recipe")
        if role not in ROLES:
            raise StudyError(
                f"recipe {self.name!r} role == {role!r}. Possible values are: {', '.join(map(repr, ROLES))}."
            )
        if self.is_baseline != (role == "baseline"):
            raise StudyError(f"recipe {self.name!r}: is_baseline == {self.is_baseline!r} but role == {role!r}.")
        object.__setattr__(self, "role", role)
        unknown = sorted(set(self.selected) - set(self.grid))
        if unknown:
            raise StudyError(f"recipe {self.name!r}: selected key {unknown[0]!r} is not a key of its grid.")

    def sweep(self, quick: bool = False) -> list[dict]:
        """Full configurations of the tuning grid (defaults with each grid point applied), in grid order.

        ``quick=True`` gives the one selected configuration instead (what --quick trains).
        """
        if quick:
            return [self.selected_config()]
        if not self.grid:
            return [dict(self.defaults)]
        keys = list(self.grid)
        return [{**self.defaults, **dict(zip(keys, values))} for values in itertools.product(*self.grid.values())]

    def selected_config(self) -> dict:
        """The full configuration the tuning phase selected (the defaults when nothing was selected)."""
        return {**self.defaults, **self.selected}

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "title": self.title,
            "publication": self.publication,
            "link": self.link,
            "date": self.date.isoformat(),
            "role": self.role,
            "is_baseline": self.is_baseline,
            "defaults": dict(self.defaults),
            "grid": {k: list(v) for k, v in self.grid.items()},
            "selected": dict(self.selected),
            "selection": self.selection,
            "notes": self.notes,
        }

    def definition_hash(self) -> str:
        """12 hex digits of sha256 over what is trained: name, date, role, defaults, grid and selection.

        Titles, links and notes are descriptive and left out, so rewording them
        keeps a study's results valid; any change to what a trial trains does not.
        """
        definition = {k: v for k, v in self.to_dict().items() if k in ("name", "date", "role", "defaults", "grid", "selected")}
        text = json.dumps(definition, sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


class Workload(abc.ABC):
    """A dataset with train / validation / test splits, two targets and dated recipes.

    As in MLCommons AlgoPerf, a run is scored on the validation target (the
    split carved from the training data) and the test target is reported
    beside it; the test split never selects anything.
    """

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

    #: the kinds of knob a tuning grid may search, each a list of config keys; every
    #: recipe's grid searches the same kinds with the same number of values each
    TUNING_KNOBS: dict[str, tuple[str, ...]] = {
        "size": ("width",),  # network width (base channel count)
        "learning rate": ("lr",),
        "schedule length": ("epochs",),
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
        """The validation target every run is scored against (the baseline's level on validation)."""

    @property
    @abc.abstractmethod
    def test_target(self) -> Target:
        """The test target reported beside it (the baseline's level on test; never used to select)."""

    @property
    @abc.abstractmethod
    def splits(self) -> dict[str, int]:
        """Examples per split: {"train": n, "validation": n, "test": n}; validation is carved from training data."""

    @property
    @abc.abstractmethod
    def evals_per_epoch(self) -> int:
        """Evaluations per training epoch: the fixed interval at which the target is checked."""

    @abc.abstractmethod
    def recipes(self) -> list[Recipe]:
        """The dated recipes, in date order; exactly one is the baseline."""

    @abc.abstractmethod
    def _prepare(self, config: dict, seed: int):
        """(model, batches, steps_per_epoch, evaluators) for one trial.

        ``batches`` is an endless iterator of (inputs, labels) from the train
        split; ``evaluators`` maps "validation" and "test" to a function of the
        model returning that split's metrics ("<split>_accuracy", "<split>_loss", ...).
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
        """Whether an evaluation's metrics reach the validation target (data-driven, as in AlgoPerf)."""
        return self.target.reached(metrics.get(self.target.metric, float("nan")))

    def has_reached_test_target(self, metrics: dict) -> bool:
        """Whether an evaluation's metrics reach the test target."""
        return self.test_target.reached(metrics.get(self.test_target.metric, float("nan")))

    @property
    def baseline(self) -> Recipe:
        """The recipe whose selected configuration fixed the targets."""
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
        """Train one configuration with one seed; stop at the validation target unless ``full_schedule``.

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
            model, batches, steps_per_epoch, evaluators = self._prepare(cfg, seed)
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
                eval_flops = train(
                    model, batches, evaluators, tracker,
                    optimizer=optimizer, schedule=schedule, loss_fn=loss_fn, steps=steps,
                    eval_every=max(1, round(steps_per_epoch / self.evals_per_epoch)),
                    steps_per_epoch=steps_per_epoch, stop_at_target=not full_schedule, on_eval=on_eval,
                )
        finally:
            torch.set_num_threads(threads)
        curve = [curve_point(p, steps_per_epoch) for p in tracker.curve]
        final = curve[-1].get(self.target.metric) if curve else None
        test_at = _first_reached(curve, self.test_target)
        return {
            "recipe": recipe.name,
            "config": cfg,
            "seed": seed,
            "reached": tracker.reached,
            "compute_to_target_flops": tracker.compute_to_target,
            "compute_to_target_interpolated_flops": tracker.compute_to_target_interpolated,
            "test_reached": test_at is not None,
            "compute_to_test_target_flops": None if test_at is None else curve[test_at]["flops"],
            "total_train_flops": tracker.total_flops,
            "flops_per_epoch": (tracker.flops_per_step or 0) * steps_per_epoch,
            "steps_per_epoch": steps_per_epoch,
            "eval_flops": tracker.eval_flops,
            "eval_flops_by_split": eval_flops,
            "final_metric": final,
            "final_test_metric": curve[-1].get(self.test_target.metric) if curve else None,
            "diverged": tracker.diverged,
            "wall_s": time.perf_counter() - start,
            "curve": curve,
        }

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} target {self.target}>"


def curve_point(point, steps_per_epoch: int) -> dict:
    """One tracker CurvePoint as the result's curve entry; non-finite metrics become None."""
    metrics = {k: v if math.isfinite(v) else None for k, v in point.metrics.items()}
    return {
        "step": point.step,
        "epoch": point.step / steps_per_epoch,
        "flops": point.flops,
        "eval_flops": point.eval_flops,
        "examples": point.examples,
        "wall_s": point.wall,
        **metrics,
    }


def _first_reached(curve: list[dict], target: Target) -> int | None:
    """Index of the first point reaching ``target`` before any non-finite metric, else None."""
    for index, point in enumerate(curve):
        value = point.get(target.metric)
        if value is None or any(v is None for v in point.values()):
            return None  # diverged: nothing after counts
        if target.reached(value):
            return index
    return None


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
