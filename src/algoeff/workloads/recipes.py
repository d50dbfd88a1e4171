"""Read a workload's data file (``algoeff/data/workloads/<name>.toml``): target, protocol, recipes."""

from __future__ import annotations

import datetime as dt
import functools
import tomllib
from importlib import resources

from algoeff.errors import StudyError
from algoeff.track import Target

from .spec import Recipe

__all__ = ["load_workload_file"]

_RECIPE_FIELDS = ("name", "title", "publication", "link", "date")


@functools.cache
def load_workload_file(name: str) -> dict:
    """{"target", "test_target", "targets", "splits", "protocol", "recipes"} from the bundled TOML, checked.

    "target" is the default validation Target and "test_target" its test
    Target; "targets" maps every named level to (validation, test);
    "recipes" is the Recipe list in date order with exactly one baseline.
    """
    path = resources.files("algoeff") / "data" / "workloads" / f"{name}.toml"
    where = f"algoeff/data/workloads/{name}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise StudyError(f"{where} not found; the package data is incomplete.") from err
    except tomllib.TOMLDecodeError as err:
        raise StudyError(f"{where}: {err}") from err
    # [target] and [test_target], or named levels [targets.<level>.validation] / [targets.<level>.test]
    levels = data.get("targets") or {"default": {"validation": data.get("target", {}), "test": data.get("test_target", {})}}
    targets = {level: (_target(raw.get("validation", {}), f"{where}: target {level!r} validation"),
                       _target(raw.get("test", {}), f"{where}: target {level!r} test"))
               for level, raw in levels.items()}
    # recipes may take their publication fields from another workload's file of the same recipe names
    shared = {}
    if "recipes_from" in data:
        shared = {r.name: r for r in load_workload_file(data["recipes_from"])["recipes"]}
    how = data.get("selection", {}).get("how", "")
    recipes = []
    for i, raw in enumerate(data.get("recipes", [])):
        if raw.get("name") in shared:
            base = shared[raw["name"]]
            raw = {"title": base.title, "publication": base.publication, "link": base.link,
                   "date": base.date, "role": base.role, "notes": base.notes, **raw}
        missing = [k for k in _RECIPE_FIELDS if k not in raw]
        if missing:
            raise StudyError(f"{where}: recipe #{i + 1} has no {missing[0]!r}.")
        if not isinstance(raw["date"], dt.date):
            raise StudyError(f"{where}: recipe {raw['name']!r} date == {raw['date']!r}, must be a TOML date.")
        role = raw.get("role", "recipe")
        try:
            recipes.append(
                Recipe(
                    name=raw["name"],
                    title=raw["title"],
                    publication=raw["publication"],
                    link=raw["link"],
                    date=raw["date"],
                    is_baseline=role == "baseline",
                    role=role,
                    defaults={**data.get("defaults", {}), **raw.get("defaults", {})},
                    grid=dict(raw.get("grid", {})),
                    selected=dict(raw.get("selected", {})),
                    selection=raw.get("selection", how),
                    notes=raw.get("notes", ""),
                )
            )
        except StudyError as err:
            raise StudyError(f"{where}: {err}") from err
    recipes.sort(key=lambda r: r.date)
    baselines = [r.name for r in recipes if r.is_baseline]
    if len(baselines) != 1:
        raise StudyError(f"{where}: {len(baselines)} recipes have role = \"baseline\", must be exactly 1.")
    validation, test = next(iter(targets.values()))
    return {"target": validation, "test_target": test, "targets": targets, "splits": dict(data.get("splits", {})),
            "protocol": dict(data.get("protocol", {})), "recipes": recipes}


def _target(raw: dict, where: str) -> Target:
    try:
        return Target(raw["metric"], raw["threshold"], raw.get("higher_is_better", True))
    except (KeyError, ValueError) as err:
        raise StudyError(f"{where} needs metric and threshold ({err}).") from err
