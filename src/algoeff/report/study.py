"""Read a study's ``results.json`` (written by ``algoeff study``) and check the fields the report uses.

The report trusts nothing in it: every field it reads is type-checked here, and a
bad one is a one-line ReportError naming the file and the field
(``out/study/results.json: entries[2].date == '2019-13-01', must be an ISO date (YYYY-MM-DD).``).
Fields the report does not use are left alone, so a newer study format still renders.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
from pathlib import Path

from algoeff.errors import ReportError

__all__ = ["Study", "load_study"]

RESULTS_FILE = "results.json"


@dataclasses.dataclass(frozen=True)
class Study:
    path: Path  # the study folder
    data: dict  # results.json, validated
    slug: str  # file-system-safe name for its page folder

    @property
    def title(self) -> str:
        return self.data.get("title") or self.data["workload"]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_.-]+", "-", text.lower()).strip("-.") or "study"


class _Checker:
    def __init__(self, where: str):
        self.where = where

    def fail(self, field: str, value, rule: str):
        raise ReportError(f"{self.where}: {field} == {_short(value)}, {rule}")

    def obj(self, value, field: str) -> dict:
        if not isinstance(value, dict):
            self.fail(field, value, "must be an object.")
        return value

    def seq(self, value, field: str) -> list:
        if not isinstance(value, list):
            self.fail(field, value, "must be a list.")
        return value

    def text(self, data: dict, key: str, field: str, *, required: bool = False) -> None:
        value = data.get(key)
        if value is None and not required:
            return
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(field, value, "must be a non-empty string." if required else "must be a string.")

    def number(self, data: dict, key: str, field: str, *, positive: bool = False, required: bool = False) -> None:
        value = data.get(key)
        if value is None:
            if required:
                self.fail(field, value, "must be a number.")
            return
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.fail(field, value, "must be a finite number or null.")
        if positive and value <= 0:
            self.fail(field, value, "must be > 0.")

    def interval(self, data: dict, key: str, field: str) -> None:
        value = data.get(key)
        if value is None:
            return
        ok = isinstance(value, list) and len(value) == 2 and all(
            v is None or (isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
            for v in value)
        if not ok:
            self.fail(field, value, "must be [low, high] (numbers or null) or null.")

    def date(self, data: dict, key: str, field: str) -> None:
        value = data.get(key)
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            self.fail(field, value, "must be an ISO date (YYYY-MM-DD).")


def _short(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _validate(data, where: str) -> dict:
    c = _Checker(where)
    c.obj(data, "results")
    c.text(data, "workload", "workload", required=True)
    c.text(data, "title", "title")
    target = c.obj(data.get("target"), "target")
    c.text(target, "metric", "target.metric", required=True)
    c.number(target, "threshold", "target.threshold", required=True)
    for i, entry in enumerate(c.seq(data.get("entries"), "entries")):
        f = f"entries[{i}]"
        c.obj(entry, f)
        c.text(entry, "recipe", f"{f}.recipe", required=True)
        for key in ("title", "publication", "link"):
            c.text(entry, key, f"{f}.{key}")
        c.date(entry, "date", f"{f}.date")
        for key in ("compute_to_target_flops", "reduction_factor", "tuning_compute_flops"):
            c.number(entry, key, f"{f}.{key}", positive=True)
        for key in ("seeds_reached", "seeds", "trials"):
            c.number(entry, key, f"{f}.{key}")
        c.interval(entry, "ci95_flops", f"{f}.ci95_flops")
        # the study-protocol issue's keys, checked when present
        c.number(entry, "reduction_factor_vs_control", f"{f}.reduction_factor_vs_control", positive=True)
        c.number(entry, "eval_compute_flops", f"{f}.eval_compute_flops")
        c.number(entry, "eval_flops_to_target", f"{f}.eval_flops_to_target")
        c.interval(entry, "reduction_factor_ci95", f"{f}.reduction_factor_ci95")
        if entry.get("decomposition") is not None:
            dec = c.obj(entry["decomposition"], f"{f}.decomposition")
            for key in ("epochs_factor", "flops_per_epoch_factor"):
                c.number(dec, key, f"{f}.decomposition.{key}", positive=True)
        coverage = entry.get("ci_coverage")
        if coverage is not None and not isinstance(coverage, (dict, str)):
            c.number(entry, "ci_coverage", f"{f}.ci_coverage")
    if not data["entries"]:
        c.fail("entries", [], "must list at least one recipe.")
    # an absent or null list is an empty one: a study may have no frontier or no curves to show
    data["frontier"] = data.get("frontier") or []
    data["curves"] = data.get("curves") or []
    frontier = c.seq(data["frontier"], "frontier")
    if not all(isinstance(name, str) for name in frontier):
        c.fail("frontier", frontier, "must be a list of recipe names.")
    c.number(data, "doubling_time_months", "doubling_time_months")
    c.interval(data, "doubling_time_ci95_months", "doubling_time_ci95_months")
    c.number(data, "total_compute_flops", "total_compute_flops")
    c.number(data, "total_eval_compute_flops", "total_eval_compute_flops")
    c.interval(data, "doubling_time_bootstrap_ci95_months", "doubling_time_bootstrap_ci95_months")
    for key in ("run_seconds", "wall_seconds", "elapsed_seconds"):
        c.number(data, key, key)
    for key in ("protocol", "targets", "rules", "trials"):
        if data.get(key) is not None:
            c.obj(data[key], key)
    if data.get("sensitivity") is not None:
        for i, row in enumerate(c.seq(data["sensitivity"], "sensitivity")):
            f = f"sensitivity[{i}]"
            c.obj(row, f)
            c.number(row, "threshold", f"{f}.threshold", required=True)
            c.number(row, "doubling_time_months", f"{f}.doubling_time_months")
            c.interval(row, "ci95_months", f"{f}.ci95_months")
            c.interval(row, "bootstrap_ci95_months", f"{f}.bootstrap_ci95_months")
            names = row.get("frontier")
            if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
                c.fail(f"{f}.frontier", names, "must be a list of recipe names.")
    for i, curve in enumerate(c.seq(data["curves"], "curves")):
        f = f"curves[{i}]"
        c.obj(curve, f)
        c.text(curve, "recipe", f"{f}.recipe", required=True)
        for j, point in enumerate(c.seq(curve.get("points"), f"{f}.points")):
            c.obj(point, f"{f}.points[{j}]")
            c.number(point, "flops", f"{f}.points[{j}].flops", required=True)
            c.number(point, target["metric"], f"{f}.points[{j}].{target['metric']}")
    return data


def load_study(path) -> Study:
    """The study in folder ``path`` (its results.json), checked; ReportError if missing or malformed."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"study folder {str(path)!r} does not exist.")
    if not path.is_dir():
        raise ReportError(f"study {str(path)!r} is not a folder; pass the folder `algoeff study --out` wrote.")
    results = path / RESULTS_FILE
    if not results.is_file():
        raise ReportError(f"{path}: no {RESULTS_FILE}; is it a folder written by `algoeff study --out`?")
    try:
        data = json.loads(results.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as err:
        raise ReportError(f"{results}: not UTF-8 ({err.reason} at byte {err.start}).") from err
    except json.JSONDecodeError as err:
        raise ReportError(f"{results}:{err.lineno}:{err.colno}: not valid JSON: {err.msg}.") from err
    _validate(data, str(results))
    return Study(path=path, data=data, slug=_slug(data["workload"]))
