"""Scoring stored curves at any threshold: a hand-built study with known figures, rescore == the study's
own figures, monotonicity, the crossing and baseline-charge rules, and bad inputs (one line, nothing written).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os

import numpy as np
import pytest
from study_fake import RECIPES as FAKE_RECIPES
from study_fake import FakeRecipe, FakeWorkload, by_recipe

from algoeff.cli import main
from algoeff.errors import StudyError
from algoeff.study import rescore, run_study
from algoeff.study.score import crossing_index
from algoeff.track import Target
from algoeff.trend import months_between

# -- a hand-built study: literal curves (test accuracy per epoch), known figures ---------------

M = 1_000_000
FPE = {"base": 10 * M, "ctrl": 4 * M, "a": 5 * M, "b": 2 * M}  # training FLOPs per epoch
CURVES = {
    "base": [[.5, .6, .7, .8, .85, .9], [.5, .6, .7, .75, .8, .85], [.4, .5, .6, .7, .8, .88]],
    "ctrl": [[.6, .7, .8, .85, .9, .9], [.6, .7, .8, .84, .86, .9], [.6, .7, .86, .86, .9, .9]],
    # seed 0 has a fluke at epoch 2 that falls back below 0.85 at epoch 3
    "a": [[.6, .86, .7, .87, .9, .9], [.5, .7, .85, .86, .9, .9], [.5, .6, .7, .8, .86, .9]],
    "b": [[.7, .8, .86, .9, .9, .9], [.7, .8, .82, .84, .86, .9], [.6, .7, .8, .8, .8, .8]],
}
DATES = {"base": dt.date(2012, 1, 1), "ctrl": dt.date(2012, 2, 1), "a": dt.date(2015, 1, 1), "b": dt.date(2018, 1, 1)}
ROLES = {"base": "baseline", "ctrl": "control", "a": "recipe", "b": "recipe"}


def _table_recipe(name):
    return FakeRecipe(name=name, title=f"{name} title", publication=f"{name} publication",
                      link=f"https://example.org/{name}", date=DATES[name], is_baseline=name == "base",
                      role=ROLES[name], defaults={"epochs": 6}, grid={}, selected={})


class TableWorkload:
    name = "table"
    title = "Hand-built curves"
    splits = {"train": 10, "validation": 10, "test": 10}
    target = Target("validation_accuracy", 0.85)
    test_target = Target("test_accuracy", 0.85)

    def recipes(self):
        return [_table_recipe(n) for n in CURVES]

    def recipe(self, name):
        return _table_recipe(name)

    def run_trial(self, recipe_name, config=None, seed=0, *, store=None, run_key=None, full_schedule=False,
                  on_eval=None):
        accs = CURVES[recipe_name][seed]
        fpe = FPE[recipe_name]
        points = [{"step": k + 1, "epoch": k + 1, "flops": (k + 1) * fpe, "eval_flops": (k + 1) * 1000,
                   "examples": k + 1, "wall_s": 0.0, "validation_accuracy": a, "test_accuracy": a}
                  for k, a in enumerate(accs)]
        return {"recipe": recipe_name, "config": dict(config or {}), "seed": seed, "reached": True,
                "compute_to_target_flops": None, "total_train_flops": points[-1]["flops"],
                "eval_flops": points[-1]["eval_flops"], "flops_per_epoch": fpe, "diverged": False,
                "final_metric": accs[-1], "wall_s": 0.0, "curve": points}


@pytest.fixture(scope="module")
def table_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("table")
    result = run_study(TableWorkload(), quick=True, seeds=3, workers=1, out=out)
    return out, result


def _entries(score):
    return {e["recipe"]: e for e in score["entries"]}


def test_hand_built_study_gives_the_known_figures(table_study):
    out, result = table_study
    s = rescore(out)["scores"][0]
    e = _entries(s)
    assert s["threshold"] == 0.85
    assert e["base"]["compute_to_target_flops"] == 60 * M  # full schedule, every seed
    assert e["base"]["seeds_reached"] == 3
    assert e["a"]["compute_by_seed_flops"] == [10 * M, 15 * M, 25 * M]
    assert e["a"]["compute_to_target_flops"] == 15 * M and e["a"]["ci95_flops"] == [10 * M, 25 * M]
    assert e["a"]["ci_coverage"] == 0.75
    assert e["b"]["compute_by_seed_flops"] == [6 * M, 10 * M, None]
    assert e["b"]["compute_to_target_flops"] == 10 * M and e["b"]["ci95_flops"] == [6 * M, None]
    assert e["ctrl"]["compute_to_target_flops"] == 16 * M
    assert (e["a"]["reduction_factor"], e["b"]["reduction_factor"]) == (4.0, 6.0)
    assert s["control"] == "ctrl"
    assert e["a"]["reduction_factor_vs_control"] == 16 / 15 and e["b"]["reduction_factor_vs_control"] == 1.6
    assert e["a"]["decomposition"]["epochs_factor"] == 2.0 and e["a"]["decomposition"]["flops_per_epoch_factor"] == 2.0
    assert e["b"]["decomposition"]["epochs_factor"] == 1.2 and e["b"]["decomposition"]["flops_per_epoch_factor"] == 5.0
    assert e["a"]["eval_flops_to_target"] == 3000  # median of the evaluations at epochs 2, 3, 5
    # the frontier is base, a, b; the OLS slope over (0, 0), (x_a, 2), (x_b, log2 6)
    assert s["frontier"] == ["base", "a", "b"]
    xs = [months_between(DATES["base"], DATES[n]) for n in ("base", "a", "b")]
    ys = [0.0, 2.0, math.log2(6)]
    mx, my = sum(xs) / 3, sum(ys) / 3
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    assert s["doubling_time_months"] == pytest.approx(1 / slope)
    # the study's own figures are these
    study = by_recipe(result.data)
    for name, entry in e.items():
        assert study[name]["compute_to_target_flops"] == entry["compute_to_target_flops"]


def test_a_lower_threshold_reads_earlier_evaluations(table_study):
    out, _ = table_study
    e = _entries(rescore(out, [0.7])["scores"][0])
    assert e["a"]["compute_by_seed_flops"] == [10 * M, 10 * M, 15 * M]
    assert e["b"]["compute_to_target_flops"] == 2 * M and e["ctrl"]["compute_to_target_flops"] == 8 * M
    assert e["base"]["compute_to_target_flops"] == 60 * M


def test_consecutive_rule_skips_a_fluke(table_study):
    out, _ = table_study
    e = _entries(rescore(out, [0.85], rule="consecutive:2")["scores"][0])
    # seed 0's fluke at epoch 2 falls back: its crossing is the first of epochs 4-5
    assert e["a"]["compute_by_seed_flops"] == [20 * M, 15 * M, 25 * M]
    assert e["a"]["compute_to_target_flops"] == 20 * M


def test_baseline_charged_its_crossing(table_study):
    out, _ = table_study
    full = _entries(rescore(out, [0.8])["scores"][0])["base"]
    crossing = _entries(rescore(out, [0.8], baseline_charge="crossing")["scores"][0])["base"]
    assert full["compute_to_target_flops"] == 60 * M
    assert crossing["compute_by_seed_flops"] == [40 * M, 50 * M, 50 * M]


def test_crossing_index_rules():
    curve = [{"m": v} for v in (0.1, 0.9, 0.2, 0.9, 0.9, None, 0.9)]
    assert crossing_index(curve, "m", 0.5) == 1
    assert crossing_index(curve, "m", 0.5, k=2) == 3
    assert crossing_index(curve, "m", 0.5, k=3) is None  # a missing value breaks a run
    assert crossing_index(curve, "m", 0.15, higher=False) == 0


# -- rescore == the study at its own threshold, monotone at lower ones (the fake workload) -----


@pytest.fixture(scope="module")
def fake_study(tmp_path_factory):
    out = tmp_path_factory.mktemp("fake")
    result = run_study(FakeWorkload(), seeds=3, tuning_seeds=2, workers=1, out=out)
    return out, result


SCORED_KEYS = ("compute_to_target_flops", "ci95_flops", "ci_coverage", "seeds_reached", "seeds", "reduction_factor",
               "reduction_factor_vs_control", "decomposition", "compute_by_seed_flops", "eval_flops_to_target")


def test_rescore_reproduces_the_study_exactly_at_its_own_threshold(fake_study):
    out, result = fake_study
    data = json.loads((out / "results.json").read_text())
    s = rescore(out)["scores"][0]
    assert s["threshold"] == data["target"]["threshold"]
    study, again = by_recipe(data), _entries(s)
    assert set(study) == set(again)
    for name in study:
        for key in SCORED_KEYS:
            assert again[name][key] == study[name][key], (name, key)
    for key in ("frontier", "doubling_time_months", "doubling_time_ci95_months",
                "doubling_time_bootstrap_ci95_months", "best_so_far", "control"):
        assert s[key] == data[key], key
    # and every sensitivity row is a rescore at that threshold
    for row in data["sensitivity"]:
        r = rescore(out, [row["threshold"]])["scores"][0]
        assert r["doubling_time_months"] == row["doubling_time_months"] and r["frontier"] == row["frontier"]


@pytest.mark.parametrize("rule, charge", [("first", "full"), ("consecutive:2", "full"), ("first", "crossing"),
                                          ("consecutive:3", "crossing")])
def test_no_recipe_needs_more_compute_at_a_lower_threshold(fake_study, rule, charge):
    out, _ = fake_study
    thresholds = [round(t, 3) for t in np.linspace(0.5, 0.9, 9)]
    scores = rescore(out, thresholds, rule=rule, baseline_charge=charge)["scores"]
    for lower, higher in zip(scores, scores[1:]):
        lo, hi = _entries(lower), _entries(higher)
        for name in lo:
            a = lo[name]["compute_by_seed_flops"]
            b = hi[name]["compute_by_seed_flops"]
            for x, y in zip(a, b):
                assert (math.inf if x is None else x) <= (math.inf if y is None else y), (name, lower["threshold"])
            a_med, b_med = lo[name]["compute_to_target_flops"], hi[name]["compute_to_target_flops"]
            assert (math.inf if a_med is None else a_med) <= (math.inf if b_med is None else b_med)


def test_a_new_threshold_trains_nothing(fake_study, tmp_path):
    out, result = fake_study
    wl = FakeWorkload()
    wl.test_target = Target("test_accuracy", 0.8)
    again = run_study(wl, seeds=3, tuning_seeds=2, workers=1, out=tmp_path, store=result.store)
    assert again.ran == 0 and wl.calls == []
    assert again.data["target"]["threshold"] == 0.8


# -- bad inputs: one line, exit 1, nothing written ----------------------------------------------


def _snapshot(folder):
    # SQLite's own -wal/-shm index files: a read-only reader of a WAL store may create or touch them
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.iterdir())
            if not p.name.endswith(("-wal", "-shm"))}


@pytest.mark.parametrize("args, message", [
    (["--threshold", "0.95"], "StudyError: threshold 0.95: no baseline seed reaches test_accuracy >= 0.95"),
    (["--rule", "consecutive:0"], "StudyError: rule 'consecutive:0': K == '0', must be an integer >= 1"),
    (["--rule", "consecutive:x"], "StudyError: rule 'consecutive:x': K == 'x', must be an integer >= 1"),
    (["--rule", "last"], "StudyError: Unknown rule 'last'. Possible values are: 'first', 'consecutive:K'"),
    (["--seeds", "2"], "StudyError: --seeds is a study option; rescore takes DIR"),
])
def test_rescore_bad_inputs_are_one_line_and_write_nothing(table_study, args, message, capsys):
    out, _ = table_study
    before = _snapshot(out)
    assert main(["study", "rescore", str(out), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    assert _snapshot(out) == before


def test_rescore_of_a_folder_that_is_no_study(tmp_path, capsys):
    assert main(["study", "rescore", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"StudyError: {str(tmp_path)!r} is not a finished study (no results.json); "
                   f"run `algoeff study WORKLOAD --out {tmp_path}` first."]
    (tmp_path / "results.json").write_text('{"workload": "x"}')
    assert main(["study", "rescore", str(tmp_path)]) == 1
    assert "its results.json has no protocol" in capsys.readouterr().err
    assert main(["study", "rescore", str(tmp_path / "missing")]) == 1
    assert "(no such folder)" in capsys.readouterr().err
    assert main(["study", "rescore"]) == 1
    assert capsys.readouterr().err.strip() == "StudyError: study rescore needs DIR, the finished study's --out folder."
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_rescore_writes_nothing_and_prints_each_threshold(table_study, capsys):
    out, _ = table_study
    before = _snapshot(out)
    assert main(["study", "rescore", str(out), "--threshold", "0.85", "--threshold", "0.7"]) == 0
    text = capsys.readouterr().out
    assert "test_accuracy >= 0.85 (the study's own target)" in text and "test_accuracy >= 0.7\n" in text
    assert "frontier: base, a, b" in text
    assert main(["study", "rescore", str(out), "--threshold", "0.7", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [s["threshold"] for s in data["scores"]] == [0.7]
    assert _entries(data["scores"][0])["b"]["compute_to_target_flops"] == 2 * M
    assert _snapshot(out) == before


def test_fake_recipes_have_a_control():
    assert any(r.role == "control" for r in FAKE_RECIPES)


def test_rescore_rejects_a_bad_threshold_value(table_study):
    out, _ = table_study
    with pytest.raises(StudyError, match=r"threshold == nan, must be a finite number\."):
        rescore(out, [float("nan")])


def test_a_baseline_short_of_the_threshold_makes_every_factor_a_lower_bound(table_study, capsys):
    out, _ = table_study
    s = rescore(out, [0.9])["scores"][0]  # only base seed 0 reaches 0.9
    assert _entries(s)["base"]["seeds_reached"] == 1
    assert s["baseline_warning"].startswith("the baseline base reaches test_accuracy >= 0.9 in only 1/3 seeds")
    assert rescore(out, [0.85])["scores"][0]["baseline_warning"] is None
    assert main(["study", "rescore", str(out), "--threshold", "0.9"]) == 0
    assert "note: the baseline base reaches test_accuracy >= 0.9 in only 1/3 seeds" in capsys.readouterr().out


def test_rescore_reads_a_store_in_a_read_only_folder(table_study, tmp_path):
    import shutil

    out, _ = table_study
    copy = tmp_path / "ro"
    shutil.copytree(out, copy)
    for p in copy.iterdir():
        if p.name.endswith(("-wal", "-shm")):
            p.unlink()
    copy.chmod(0o555)
    try:
        if os.access(copy, os.W_OK):
            pytest.skip("running as a user who can write anywhere (root): a read-only folder cannot be made")
        s = rescore(copy, [0.7])["scores"][0]
        assert _entries(s)["b"]["compute_to_target_flops"] == 2 * M
    finally:
        copy.chmod(0o755)


def test_rescore_falls_back_to_an_immutable_read_where_read_only_cannot_open(table_study, monkeypatch):
    import sqlite3

    out, _ = table_study
    real = sqlite3.connect
    tried = []

    def connect(database, *args, **kwargs):
        if isinstance(database, str):
            tried.append(database.rpartition("?")[2])
            if database.endswith("?mode=ro"):  # as on read-only media, where the -shm file cannot be created
                raise sqlite3.OperationalError("unable to open database file")
        return real(database, *args, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)
    s = rescore(out, [0.7])["scores"][0]
    assert tried == ["mode=ro", "immutable=1"] and _entries(s)["b"]["compute_to_target_flops"] == 2 * M
