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
    """{"target", "targets", "protocol", "recipes"} from the bundled TOML, checked.

    "target" is the default Target, "targets" every named level, "recipes" the
    Recipe list in date order with exactly one baseline.
    """
    path = resources.files("algoeff") / "data" / "workloads" / f"{name}.toml"
    where = f"algoeff/data/workloads/{name}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise StudyError(f"{where} not found; the package data is incomplete.") from err
    except tomllib.TOMLDecodeError as err:
        raise StudyError(f"{where}: {err}") from err
    # one [target], or named levels [targets.<level>] (the first is the default)
    levels = data.get("targets") or {"default": data.get("target", {})}
    targets = {}
    for level, raw in levels.items():
        try:
            targets[level] = Target(raw["metric"], raw["threshold"], raw.get("higher_is_better", True))
        except (KeyError, ValueError) as err:
            raise StudyError(f"{where}: target {level!r} needs metric and threshold ({err}).") from err
    # recipes may take their publication fields from another workload's file of the same recipe names
    shared = {}
    if "recipes_from" in data:
        shared = {r.name: r for r in load_workload_file(data["recipes_from"])["recipes"]}
    recipes = []
    for i, raw in enumerate(data.get("recipes", [])):
        if raw.get("name") in shared:
            base = shared[raw["name"]]
            raw = {"title": base.title, "publication": base.publication, "link": base.link,
                   "date": base.date, "baseline": base.is_baseline, "notes": base.notes, **raw}
        missing = [k for k in _RECIPE_FIELDS if k not in raw]
        if missing:
            raise StudyError(f"{where}: recipe #{i + 1} has no {missing[0]!r}.")
        if not isinstance(raw["date"], dt.date):
            raise StudyError(f"{where}: recipe {raw['name']!r} date == {raw['date']!r}, must be a TOML date.")
        recipes.append(
            Recipe(
                name=raw["name"],
                title=raw["title"],
                publication=raw["publication"],
                link=raw["link"],
                date=raw["date"],
                is_baseline=bool(raw.get("baseline", False)),
                defaults={**data.get("defaults", {}), **raw.get("defaults", {})},
                grid=dict(raw.get("sweep", {})),
                quick_grid=dict(raw.get("quick_sweep", {})),
                notes=raw.get("notes", ""),
            )
        )
    recipes.sort(key=lambda r: r.date)
    baselines = [r.name for r in recipes if r.is_baseline]
    if len(baselines) != 1:
        raise StudyError(f"{where}: {len(baselines)} recipes are marked baseline = true, must be exactly 1.")
    return {"target": next(iter(targets.values())), "targets": targets, "protocol": dict(data.get("protocol", {})), "recipes": recipes}
