"""Re-score a finished study at other thresholds, from its store, without training anything.

    algoeff study rescore DIR [--threshold T ...] [--rule first|consecutive:K]
                              [--baseline-charge full|crossing] [--json]

The study's results.json names its report runs and the recipes' metadata
(``protocol``); their stored curves are read back from the run store read-only
and scored with ``score.score``, the function that made the study's own figures,
so at the study's own threshold and rules the two agree exactly. Nothing is
written.
"""

from __future__ import annotations

import json
import math
import numbers
import sqlite3
import types
from pathlib import Path

from algoeff.errors import StudyError

from .aggregate import _trial_record
from .score import BASELINE_CHARGES, baseline_reaches, parse_rule, score

__all__ = ["load_study", "rescore"]

STORE_FILE = "study.sqlite"


def _not_a_study(folder: Path, why: str) -> StudyError:
    return StudyError(f"{str(folder)!r} is not a finished study ({why}); "
                      f"run `algoeff study WORKLOAD --out {folder}` first.")


def _read_summaries(store: Path, keys: list[str]) -> dict:
    """run_key -> stored summary of the latest finished (or diverged) run, read-only."""
    uri = store.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True)
        conn.execute("SELECT 1 FROM runs LIMIT 1")
    except sqlite3.OperationalError:
        # read-only media: a WAL store's -shm cannot be made there, and nothing can be writing to it
        try:
            conn = sqlite3.connect(f"{uri}?immutable=1", uri=True)
        except sqlite3.Error as err:
            raise StudyError(f"cannot read run store {str(store)!r}: {err}") from err
    except sqlite3.Error as err:
        raise StudyError(f"cannot read run store {str(store)!r}: {err}") from err
    out = {}
    try:
        for key in keys:
            row = conn.execute("SELECT summary FROM runs WHERE key = ? AND status IN ('finished', 'diverged') "
                               "ORDER BY id DESC LIMIT 1", (key,)).fetchone()
            if row is None or row[0] is None:
                raise StudyError(f"run store {str(store)!r} has no finished run {key!r}: the study's store "
                                 "is not the one its results.json was made from.")
            try:
                out[key] = json.loads(row[0])
            except json.JSONDecodeError as err:
                raise StudyError(f"run store {str(store)!r}: run {key!r} has a damaged summary ({err}).") from err
    except sqlite3.Error as err:
        raise StudyError(f"cannot read run store {str(store)!r}: {err}") from err
    finally:
        conn.close()
    return out


def load_study(folder) -> tuple[dict, dict]:
    """(results.json, the scoring input rebuilt from the store) of the study in ``folder``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise _not_a_study(folder, "no such folder" if not folder.exists() else "not a folder")
    path = folder / "results.json"
    if not path.is_file():
        raise _not_a_study(folder, "no results.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise _not_a_study(folder, f"results.json is not JSON: {err}") from err
    protocol = data.get("protocol") if isinstance(data, dict) else None
    if not isinstance(protocol, dict) or not isinstance(protocol.get("scoring"), dict) \
            or not isinstance(protocol.get("report_runs"), dict):
        raise _not_a_study(folder, "its results.json has no protocol with report runs: made by an older algoeff?")
    store = folder / STORE_FILE
    if not store.is_file() and data.get("store"):
        store = Path(data["store"])
    if not store.is_file():
        raise StudyError(f"study {str(folder)!r}: run store {str(store)!r} not found; rescoring reads the "
                         "stored curves.")
    runs = protocol["report_runs"]
    summaries = _read_summaries(store, [r["run_key"] for rs in runs.values() for r in rs])
    trials = {}
    for recipe, records in runs.items():
        selected = protocol.get("configs", {}).get(recipe, {}).get("selected", {})
        trials[recipe] = [
            _trial_record(types.SimpleNamespace(seed=r["seed"], run_key=r["run_key"],
                                                config=summaries[r["run_key"]].get("config") or selected),
                          summaries[r["run_key"]])
            for r in records]
    return data, {**protocol["scoring"], "trials": trials}


def _threshold(value):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise StudyError(f"threshold == {value!r}, must be a finite number.")
    return float(value)


def rescore(folder, thresholds=None, *, rule: str = "first", baseline_charge: str = "full") -> dict:
    """The study in ``folder`` scored at each threshold (default: its own test target)."""
    parse_rule(rule)
    if baseline_charge not in BASELINE_CHARGES:
        raise StudyError(f"Unknown baseline charge {baseline_charge!r}. Possible values are: "
                         f"{', '.join(repr(c) for c in BASELINE_CHARGES)}.")
    data, curves = load_study(folder)
    if thresholds is None or len(thresholds) == 0:
        thresholds = [data["target"]["threshold"]]
    thresholds = [_threshold(t) for t in thresholds]
    sign = ">=" if curves["higher_is_better"] else "<="
    for t in thresholds:
        # the study's own target is scored as the study scored it, reached or not
        if t != data["target"]["threshold"] and baseline_reaches(curves, t, rule) == 0:
            raise StudyError(f"threshold {t:g}: no baseline seed reaches {curves['metric']} {sign} {t:g} "
                             f"(rule {rule}), so there is no reference compute; pick a threshold at or below "
                             f"the baseline's level (the study's target is {data['target']['threshold']:g}).")
    scores = []
    for t in thresholds:
        s = score(curves, t, rule=rule, baseline_charge=baseline_charge)
        s.pop("ledger_entries")
        scores.append(s)
    return {"study": str(folder), "workload": data["workload"], "title": data.get("title", data["workload"]),
            "metric": curves["metric"], "higher_is_better": curves["higher_is_better"],
            "study_threshold": data["target"]["threshold"], "rule": rule, "baseline_charge": baseline_charge,
            "scores": scores}
