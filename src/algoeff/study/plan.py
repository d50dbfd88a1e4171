"""Sweep planning: a study's trials are recipes x tuning configurations x seeds.

Each trial has a stable ``run_key`` built from what determines its result (the
workload, the recipe, the full configuration, whether it trains its full
schedule, the target and the seed), so the same command on the same store
finds the trials it already finished and a changed target or configuration
never reuses a stale one. A quick study's configurations that also appear in
the default sweep share their trials with it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers

from algoeff.errors import StudyError

__all__ = ["Trial", "config_id", "plan_trials"]


@dataclasses.dataclass(frozen=True, eq=False)
class Trial:
    """One configuration of one recipe trained with one seed."""

    workload: str  # registry name, e.g. "mnist1d"
    recipe: str  # recipe name, e.g. "resnet-2015"
    config: dict  # the full configuration (recipe defaults with the sweep point applied)
    config_index: int  # position in the recipe's sweep, 0-based
    seed: int
    full_schedule: bool  # True for the baseline: trained and charged its whole schedule
    run_key: str  # identity in the run store

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _canonical(data) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def config_id(config: dict, *, full_schedule: bool, target: dict) -> str:
    """12 hex digits identifying a configuration under a target (stable across runs and machines)."""
    text = _canonical({"config": config, "full_schedule": full_schedule, "target": target})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def _positive_int(value, name: str, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise StudyError(f"{name} == {value!r}, must be an integer >= 1.")
    if value < 1:
        raise StudyError(f"{name} == {value!r}, must be >= 1.")
    return int(value)


def select_recipes(workload, names=None) -> list:
    """The workload's recipes to study, in date order; the baseline always among them."""
    recipes = list(workload.recipes())
    baselines = [r for r in recipes if r.is_baseline]
    if len(baselines) != 1:
        raise StudyError(f"workload {workload.name!r} has {len(baselines)} baseline recipes, must have exactly 1.")
    if names is None:
        return recipes
    if isinstance(names, str):
        names = [n for n in names.split(",") if n.strip()]
    wanted = {workload.recipe(name.strip()).name for name in names}  # StudyError lists the known names
    # the baseline fixes the target and every reduction factor, so it always runs
    wanted.add(baselines[0].name)
    return [r for r in recipes if r.name in wanted]


def plan_trials(workload, *, quick: bool = False, seeds: int = 3, recipes=None,
                max_configs: int | None = None, overrides: dict | None = None) -> list[Trial]:
    """Every trial of a study, grouped by recipe (date order), then configuration, then seed.

    ``recipes`` limits the study to some recipe names (the baseline is always
    added); ``max_configs`` keeps the first N configurations of each sweep;
    ``overrides`` sets config keys in every configuration (``{"epochs": 1}`` for
    a smoke test; the workload validates them when a trial starts).
    """
    seeds = _positive_int(seeds, "seeds")
    max_configs = _positive_int(max_configs, "max_configs", allow_none=True)
    if overrides is not None and not isinstance(overrides, dict):
        raise StudyError(f"overrides == {overrides!r}, must be a dict of config keys.")
    target = workload.target.to_dict()
    trials = []
    for recipe in select_recipes(workload, recipes):
        configs = list(recipe.sweep(quick))
        if not configs:
            raise StudyError(f"recipe {recipe.name!r} of {workload.name!r} has an empty sweep.")
        if max_configs is not None:
            configs = configs[:max_configs]
        if overrides:
            configs = [{**config, **overrides} for config in configs]
            # an override can make sweep points equal (overriding the swept key): keep each once
            unique = {}
            for config in configs:
                unique.setdefault(_canonical(config), config)
            configs = list(unique.values())
            check = getattr(workload, "resolve_config", None)
            if check is not None:
                check(recipe, configs[0])  # an unknown key or bad value fails before any training
        for index, config in enumerate(configs):
            cid = config_id(config, full_schedule=recipe.is_baseline, target=target)
            for seed in range(seeds):
                trials.append(Trial(
                    workload=workload.name,
                    recipe=recipe.name,
                    config=dict(config),
                    config_index=index,
                    seed=seed,
                    full_schedule=recipe.is_baseline,
                    run_key=f"study/{workload.name}/{recipe.name}/{cid}/seed{seed}",
                ))
    return trials
