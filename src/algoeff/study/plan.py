"""Sweep planning: a study's two phases, with disjoint seeds.

tuning   every configuration of each recipe's sweep x tuning seeds (1000, 1001, ...);
         selection reads the VALIDATION metric only. A tuning trial may stop at the
         validation target (the baseline trains its whole schedule: it is charged all of it).
report   each recipe's selected configuration x report seeds (0 .. N-1), full
         schedule, every evaluation stored: any threshold can be scored later.

``--quick`` has no tuning phase: each recipe's pre-selected configuration
(``Recipe.selected``) goes straight to the report phase.

Run keys say what determines a trial's result. A tuning key hashes the
configuration, the full-schedule flag and the validation target (it may stop
there); a report key hashes only the configuration (it never stops), so a new
threshold never retrains, and a quick study's report trials are reused by the
default study whenever the tuning phase selects the same configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import numbers

from algoeff.errors import StudyError

__all__ = ["PHASES", "REPORT_SEED_BASE", "TUNING_SEED_BASE", "Trial", "config_id", "plan_report",
           "plan_trials", "recipe_role", "report_seeds", "select_recipes", "selected_config", "tuning_seeds"]

PHASES = ("tuning", "report")
REPORT_SEED_BASE = 0
TUNING_SEED_BASE = 1000  # far from the report seeds: the two sets never meet at any sane seed count


@dataclasses.dataclass(frozen=True, eq=False)
class Trial:
    """One configuration of one recipe trained with one seed, in one phase."""

    workload: str  # registry name, e.g. "mnist1d"
    recipe: str  # recipe name, e.g. "resnet-2015"
    config: dict  # the full configuration (recipe defaults with the sweep point applied)
    config_index: int  # position in the recipe's sweep, 0-based
    seed: int
    full_schedule: bool  # trains every step (report trials, and the baseline's tuning trials)
    run_key: str  # identity in the run store
    phase: str = "tuning"  # "tuning" or "report"

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _canonical(data) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)


def config_id(config: dict, *, full_schedule: bool, target: dict | None) -> str:
    """12 hex digits identifying a configuration (under a target, unless None) across runs and machines."""
    payload = {"config": config, "full_schedule": full_schedule}
    if target is not None:
        payload["target"] = target
    return hashlib.sha256(_canonical(payload).encode("utf-8")).hexdigest()[:12]


def _positive_int(value, name: str, *, allow_none: bool = False):
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise StudyError(f"{name} == {value!r}, must be an integer >= 1.")
    if value < 1:
        raise StudyError(f"{name} == {value!r}, must be >= 1.")
    return int(value)


def tuning_seeds(n: int) -> list[int]:
    return list(range(TUNING_SEED_BASE, TUNING_SEED_BASE + n))


def report_seeds(n: int) -> list[int]:
    return list(range(REPORT_SEED_BASE, REPORT_SEED_BASE + n))


def recipe_role(recipe) -> str:
    """"baseline", "control" (2012 ideas only), "recipe" or "floor"; older recipes have no role field."""
    role = getattr(recipe, "role", None)
    if role:
        return role
    return "baseline" if recipe.is_baseline else "recipe"


def selected_config(recipe) -> dict:
    """The pre-selected configuration of --quick: Recipe.selected over the defaults (the defaults alone if none)."""
    return {**recipe.defaults, **(getattr(recipe, "selected", None) or {})}


def _sweep(recipe) -> list[dict]:
    try:
        return list(recipe.sweep())
    except TypeError:  # an older Recipe.sweep(quick) signature
        return list(recipe.sweep(False))


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


def _is_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_overrides(recipe, overrides: dict):
    """Types the workload's own checks would word badly: --set lr=abc is not a number, not "must be > 0"."""
    for key, value in overrides.items():
        default = recipe.defaults.get(key)
        if _is_number(default) and not _is_number(value):
            raise StudyError(f"--set {key}={value!r}: {value!r} is not a number ({key} of recipe "
                             f"{recipe.name!r} is {default!r}).")
        if isinstance(default, bool) and not isinstance(value, bool):
            raise StudyError(f"--set {key}={value!r}: {value!r} is not true or false.")


def _configs(workload, recipe, configs, overrides):
    if overrides:
        _check_overrides(recipe, overrides)
        configs = [{**config, **overrides} for config in configs]
        # an override can make sweep points equal (overriding the swept key): keep each once
        unique = {}
        for config in configs:
            unique.setdefault(_canonical(config), config)
        configs = list(unique.values())
    check = getattr(workload, "resolve_config", None)
    if check is not None:
        for config in configs:
            check(recipe, config)  # an unknown key or bad value fails before any training (or store)
    return configs


def _check_overrides_arg(overrides):
    if overrides is not None and not isinstance(overrides, dict):
        raise StudyError(f"overrides == {overrides!r}, must be a dict of config keys.")


def plan_trials(workload, *, quick: bool = False, tuning_seeds_n: int = 2, recipes=None,
                max_configs: int | None = None, overrides: dict | None = None) -> list[Trial]:
    """The tuning phase: every configuration x tuning seed, by recipe (date order), configuration, seed.

    Empty with ``quick`` (pre-selected configurations, no tuning). ``recipes``
    limits the study to some recipe names (the baseline is always added);
    ``max_configs`` keeps the first N configurations of each sweep; ``overrides``
    sets config keys in every configuration (``{"epochs": 1}`` for a smoke test),
    validated here, before anything trains or any store is opened.
    """
    n_seeds = _positive_int(tuning_seeds_n, "tuning_seeds")
    max_configs = _positive_int(max_configs, "max_configs", allow_none=True)
    _check_overrides_arg(overrides)
    target = workload.target.to_dict()
    trials = []
    for recipe in select_recipes(workload, recipes):
        if quick:
            _configs(workload, recipe, [selected_config(recipe)], overrides)  # validate the report config
            continue
        configs = _sweep(recipe)
        if not configs:
            raise StudyError(f"recipe {recipe.name!r} of {workload.name!r} has an empty sweep.")
        if max_configs is not None:
            configs = configs[:max_configs]
        configs = _configs(workload, recipe, configs, overrides)
        for index, config in enumerate(configs):
            cid = config_id(config, full_schedule=recipe.is_baseline, target=target)
            for seed in tuning_seeds(n_seeds):
                trials.append(Trial(
                    workload=workload.name, recipe=recipe.name, config=dict(config), config_index=index,
                    seed=seed, full_schedule=recipe.is_baseline, phase="tuning",
                    run_key=f"study/{workload.name}/{recipe.name}/tune-{cid}/seed{seed}",
                ))
    return trials


def plan_report(workload, selected: dict, *, seeds: int = 3, overrides: dict | None = None) -> list[Trial]:
    """The report phase: each recipe's selected configuration x report seeds, full schedule.

    ``selected`` maps recipe name -> (config_index, config) in the order the
    recipes are studied. The run key hashes no target.
    """
    n_seeds = _positive_int(seeds, "seeds")
    _check_overrides_arg(overrides)
    trials = []
    for name, (index, config) in selected.items():
        recipe = workload.recipe(name)
        (config,) = _configs(workload, recipe, [config], overrides)
        cid = config_id(config, full_schedule=True, target=None)
        for seed in report_seeds(n_seeds):
            trials.append(Trial(
                workload=workload.name, recipe=name, config=dict(config), config_index=index, seed=seed,
                full_schedule=True, phase="report",
                run_key=f"study/{workload.name}/{name}/report-{cid}/seed{seed}",
            ))
    return trials
