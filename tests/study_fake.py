"""A fake workload for the study tests: analytic learning curves, no training.

It follows the workload contract the study codes against: ``splits``, a
validation ``target`` and a ``test_target``, recipes with ``role``, ``selected``,
``sweep()`` and ``definition_hash()``, and ``run_trial(..., full_schedule=)``
returning full curves with validation and test metrics, cumulative training and
evaluation FLOPs and ``flops_per_epoch``. Every figure a study reports can be
recomputed from ``curve()`` by hand.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math

from algoeff.errors import StudyError
from algoeff.track import Target

EPOCH_FLOPS = 1_000_000  # training FLOPs per epoch at cost 1
EVAL_FLOPS = 10_000  # per evaluation
VAL_TARGET = 0.9
TEST_TARGET = 0.9
KEYS = ("lr", "epochs", "scale", "cap", "cost")


@dataclasses.dataclass(frozen=True)
class FakeRecipe:
    name: str
    title: str
    publication: str
    link: str
    date: dt.date
    is_baseline: bool
    role: str
    defaults: dict
    grid: dict
    selected: dict
    notes: str = ""

    def sweep(self):
        keys = list(self.grid)
        if not keys:
            return [dict(self.defaults)]
        import itertools

        return [{**self.defaults, **dict(zip(keys, values))} for values in itertools.product(*self.grid.values())]

    def definition_hash(self):
        text = json.dumps({"defaults": self.defaults, "grid": self.grid, "selected": self.selected}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def to_dict(self):
        return {"name": self.name, "date": self.date.isoformat(), "defaults": self.defaults}


def recipe(name, year, *, role="recipe", lrs=(0.1,), selected_lr=None, month=6, **defaults):
    return FakeRecipe(
        name=name, title=f"{name} title", publication=f"{name} publication", link=f"https://example.org/{name}",
        date=dt.date(year, month, 1), is_baseline=role == "baseline", role=role,
        defaults={"lr": lrs[0], "epochs": 20, "cost": 1.0, **defaults},
        grid={"lr": list(lrs)}, selected={"lr": selected_lr if selected_lr is not None else lrs[0]},
    )


# scale (epochs) of each recipe at lr 0.1; cap = the best accuracy it can reach; cost = FLOPs per epoch factor
RECIPES = [
    recipe("floor-1990", 1990, role="floor", scale=4.0, cap=0.95),
    recipe("base-2012", 2012, role="baseline", lrs=(0.1, 0.2), scale=7.0, cap=0.99, cost=2.0),
    recipe("control-2012", 2012, role="control", month=7, scale=5.0, cap=0.99, cost=1.0),
    recipe("mid-2015", 2015, lrs=(0.1, 0.3), selected_lr=0.3, scale=4.0, cap=0.97),
    recipe("never-2017", 2017, scale=2.0, cap=0.6),
    recipe("new-2019", 2019, lrs=(0.1, 0.3), selected_lr=0.3, scale=2.0, cap=0.99, cost=0.5),
    # reaches fast with one seed in two at lr 0.3 (flaky), slowly but surely at lr 0.1
    recipe("flaky-2020", 2020, lrs=(0.1, 0.3), scale=3.0, cap=0.99),
]


def scale_of(recipe, config, seed):
    return config["scale"] * (0.1 / config["lr"]) ** 0.5 * (1 + 0.1 * (seed % 1000))


def cap_of(recipe, config, seed):
    if recipe.name == "flaky-2020" and config["lr"] == 0.3:
        return 0.99 if seed % 2 == 0 else 0.5
    return config["cap"]


def accuracies(recipe, config, seed, k):
    """(validation, test) accuracy after epoch k: validation learns a little faster than test."""
    scale, cap = scale_of(recipe, config, seed), cap_of(recipe, config, seed)
    return cap * (1 - math.exp(-k / (0.9 * scale))), cap * (1 - math.exp(-k / scale))


def curve(recipe, config, seed, full_schedule):
    """Points as run_trial evaluates them (once per epoch), stopping at the validation target unless full."""
    fpe = EPOCH_FLOPS * config["cost"]
    points = []
    for k in range(1, config["epochs"] + 1):
        val, test = accuracies(recipe, config, seed, k)
        if config["lr"] >= 1000:  # diverges at once
            val = test = None
        points.append({"step": k, "epoch": k, "flops": k * fpe, "eval_flops": k * EVAL_FLOPS,
                       "examples": k * 1000, "wall_s": 0.0, "validation_accuracy": val, "test_accuracy": test,
                       "train_loss": 1.0})
        if val is None:
            break
        if val >= VAL_TARGET and not full_schedule:
            break
    return points


class FakeWorkload:
    name = "fake"
    title = "Fake workload (analytic curves)"
    splits = {"train": 700, "validation": 100, "test": 200}
    target = Target("validation_accuracy", VAL_TARGET)
    test_target = Target("test_accuracy", TEST_TARGET)

    def __init__(self, recipes=None):
        self._recipes = list(recipes or RECIPES)
        self.calls = []

    def recipes(self):
        return list(self._recipes)

    def recipe(self, name):
        for r in self._recipes:
            if r.name == name:
                return r
        raise StudyError(f"Unknown recipe {name!r} for workload 'fake'. Possible values are: "
                         f"{', '.join(repr(r.name) for r in self._recipes)}.")

    def resolve_config(self, recipe, config):
        merged = {**recipe.defaults, **(config or {})}
        unknown = sorted(set(merged) - set(KEYS))
        if unknown:
            raise StudyError(f"Unknown config key {unknown[0]!r} for recipe {recipe.name!r}.")
        if not (isinstance(merged["lr"], (int, float)) and merged["lr"] > 0):
            raise StudyError(f"lr == {merged['lr']!r}, must be > 0.")
        if not (isinstance(merged["epochs"], int) and merged["epochs"] >= 1):
            raise StudyError(f"epochs == {merged['epochs']!r}, must be an integer >= 1.")
        return merged

    def run_trial(self, recipe_name, config=None, seed=0, *, store=None, run_key=None,
                  full_schedule=False, on_eval=None):
        r = self.recipe(recipe_name)
        cfg = self.resolve_config(r, config)
        self.calls.append((recipe_name, cfg["lr"], seed, full_schedule))
        points = curve(r, cfg, seed, full_schedule)
        diverged = points[-1]["validation_accuracy"] is None
        val_at = next((p["flops"] for p in points if (p["validation_accuracy"] or 0) >= VAL_TARGET), None)
        test_at = next((p["flops"] for p in points if (p["test_accuracy"] or 0) >= TEST_TARGET), None)
        return {
            "recipe": recipe_name, "config": cfg, "seed": seed,
            "reached": val_at is not None and not diverged,
            "compute_to_target_flops": val_at,
            "compute_to_test_target_flops": test_at,
            "compute_to_target_interpolated_flops": None,
            "total_train_flops": points[-1]["flops"],
            "eval_flops": points[-1]["eval_flops"],
            "flops_per_epoch": EPOCH_FLOPS * cfg["cost"],
            "final_metric": points[-1]["validation_accuracy"],
            "diverged": diverged,
            "wall_s": 0.0,
            "curve": points,
        }


def by_recipe(data):
    return {e["recipe"]: e for e in data["entries"]}


def crossing_at(recipe, config, seed, threshold=TEST_TARGET, metric="test_accuracy"):
    """Training FLOPs at the first full-schedule evaluation at or past ``threshold``, or None."""
    return next((p["flops"] for p in curve(recipe, config, seed, True)
                 if p[metric] is not None and p[metric] >= threshold), None)
