"""Study layer: two phases, selection on validation, the protocol, resume, outputs and the CLI, on a fake workload.

The fake workload (tests/study_fake.py) has analytic learning curves (no
training), so every figure the study reports is recomputed here from the curves
by hand. Rescoring and the statistics are in tests/test_study_rescore.py; the
real workloads run end to end in tests/test_study_e2e.py.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import sys

import pytest
from study_fake import (EPOCH_FLOPS, EVAL_FLOPS, RECIPES, TEST_TARGET, VAL_TARGET, FakeWorkload, by_recipe,
                        crossing_at, curve)

import algoeff.study.outputs as outputs
from algoeff.cli import main
from algoeff.errors import StudyError
from algoeff.ledger import load_ledger
from algoeff.study import plan_report, plan_trials, run_study
from algoeff.study.plan import TUNING_SEED_BASE
from algoeff.track import RunStore, Target
from algoeff.track.stats import censored_median
from algoeff.trend import fit_trend

RECIPE = {r.name: r for r in RECIPES}
N_CONFIGS = sum(len(r.sweep()) for r in RECIPES)  # 1 + 2 + 1 + 2 + 1 + 2 + 2 = 11


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    wl = FakeWorkload()
    result = run_study(wl, seeds=3, tuning_seeds=2, workers=1, out=out)
    return wl, result


def _val_charge(recipe, config, seed):
    """Selection's charge for a tuning trial: validation crossing (baseline: whole schedule), else None."""
    points = curve(recipe, config, seed, recipe.is_baseline)
    at = next((p["flops"] for p in points if p["validation_accuracy"] is not None
               and p["validation_accuracy"] >= VAL_TARGET), None)
    if at is None:
        return None
    return points[-1]["flops"] if recipe.is_baseline else at


def _median(values):
    return float(censored_median([math.inf if v is None else v for v in values]))


# -- planning: two phases, disjoint seeds -------------------------------------------------


def test_tuning_plan_is_configs_x_tuning_seeds_with_stable_unique_keys():
    trials = plan_trials(FakeWorkload(), tuning_seeds_n=2)
    assert len(trials) == N_CONFIGS * 2
    assert {t.seed for t in trials} == {TUNING_SEED_BASE, TUNING_SEED_BASE + 1}
    assert {t.phase for t in trials} == {"tuning"}
    assert len({t.run_key for t in trials}) == len(trials)
    assert [t.run_key for t in plan_trials(FakeWorkload(), tuning_seeds_n=2)] == [t.run_key for t in trials]
    # only the baseline trains its whole schedule in tuning: it is charged all of it
    assert {t.recipe for t in trials if t.full_schedule} == {"base-2012"}


def test_quick_has_no_tuning_phase_and_reports_the_preselected_configs():
    assert plan_trials(FakeWorkload(), quick=True) == []
    selected = {r.name: (0, {**r.defaults, **r.selected}) for r in RECIPES}
    report = plan_report(FakeWorkload(), selected, seeds=3)
    assert [t.seed for t in report][:3] == [0, 1, 2] and all(t.full_schedule for t in report)
    assert by_name(report, "mid-2015")[0].config["lr"] == 0.3


def by_name(trials, name):
    return [t for t in trials if t.recipe == name]


def test_report_keys_hash_no_target_and_tuning_keys_do():
    wl, other = FakeWorkload(), FakeWorkload()
    other.target = Target("validation_accuracy", 0.8)
    other.test_target = Target("test_accuracy", 0.7)
    selected = {r.name: (0, dict(r.defaults)) for r in RECIPES}
    assert [t.run_key for t in plan_report(wl, selected)] == [t.run_key for t in plan_report(other, selected)]
    assert {t.run_key for t in plan_trials(wl)}.isdisjoint(t.run_key for t in plan_trials(other))


def test_seeds_of_the_two_phases_are_disjoint_in_the_store(study):
    _, result = study
    runs = RunStore(result.store).runs()
    phases = {}
    for _, run in runs.iterrows():
        phases.setdefault(run["config"]["phase"], set()).add(run["config"]["seed"])
    assert phases["tuning"] == {1000, 1001} and phases["report"] == {0, 1, 2}
    assert phases["tuning"].isdisjoint(phases["report"])
    assert result.data["protocol"]["tuning_seeds"] == [1000, 1001]
    assert result.data["protocol"]["report_seeds"] == [0, 1, 2]
    # report trials train every epoch; tuning trials of non-baselines stop at the validation target
    for _, run in runs.iterrows():
        recipe = RECIPE[run["config"]["recipe"]]
        n = len(run["summary"]["curve"])
        if run["config"]["phase"] == "report" or recipe.is_baseline:
            assert n == run["config"]["config"]["epochs"]


def test_overrides_apply_to_both_phases_and_overriding_the_swept_key_leaves_one_config():
    trials = plan_trials(FakeWorkload(), overrides={"lr": 0.2})
    assert len(trials) == len(RECIPES) * 2 and all(t.config["lr"] == 0.2 for t in trials)


@pytest.mark.parametrize("kwargs, message", [
    ({"tuning_seeds_n": 0}, r"tuning_seeds == 0, must be >= 1\."),
    ({"max_configs": 0}, r"max_configs == 0, must be >= 1\."),
    ({"recipes": "nope"}, r"Unknown recipe 'nope' .* Possible values are: 'floor-1990', "),
    ({"overrides": [1]}, r"overrides == \[1\], must be a dict"),
    ({"overrides": {"lr": "abc"}}, r"--set lr='abc': 'abc' is not a number"),
    ({"overrides": {"epochs": -1}}, r"epochs == -1, must be an integer >= 1"),
    ({"overrides": {"nope": 1}}, r"Unknown config key 'nope'"),
])
def test_plan_rejects_bad_options(kwargs, message):
    with pytest.raises(StudyError, match=message):
        plan_trials(FakeWorkload(), **kwargs)


# -- selection (tuning phase, validation only) ---------------------------------------------


def test_selection_is_the_lowest_median_validation_compute_on_tuning_seeds(study):
    _, result = study
    entries = by_recipe(result.data)
    for name in ("mid-2015", "new-2019", "flaky-2020"):
        recipe = RECIPE[name]
        configs = recipe.sweep()
        values = [[_val_charge(recipe, c, s) for s in (1000, 1001)] for c in configs]
        medians = [_median(v) for v in values]
        eligible = [i for i, v in enumerate(values) if 2 * sum(x is not None for x in v) >= 2]
        best = min(eligible, key=lambda i: (medians[i], i))
        assert entries[name]["best_config_index"] == best, name
        assert entries[name]["best_config"] == configs[best]
        assert entries[name]["tuning"]["median_validation_compute_flops"] == medians[best]
    # flaky-2020 at lr 0.3 reaches with 1 tuning seed in 2 (half: eligible) and fast
    assert entries["flaky-2020"]["best_config"]["lr"] == 0.3
    assert entries["mid-2015"]["best_config"]["lr"] == 0.3
    # the baseline fixes the targets: it is selected by its best median final validation accuracy (lr 0.2
    # learns faster here), not by a compute-to-target that would need the target it fixes
    base = RECIPE["base-2012"]
    finals = {c["lr"]: sorted(curve(base, c, s, True)[-1]["validation_accuracy"] for s in (1000, 1001))
              for c in base.sweep()}
    assert finals[0.2][0] > finals[0.1][0]
    assert entries["base-2012"]["best_config"]["lr"] == 0.2


def test_selection_bias_is_measured_on_fresh_seeds(study):
    _, result = study
    bias = result.data["selection_bias"]["flaky-2020"]
    config = by_recipe(result.data)["flaky-2020"]["best_config"]
    recipe = RECIPE["flaky-2020"]
    tuned = _median([_val_charge(recipe, config, s) for s in (1000, 1001)])
    reported = _median([_val_charge(recipe, config, s) for s in (0, 1, 2)])
    assert bias == {"tuning_median_validation_flops": tuned, "report_median_validation_flops": reported,
                    "report_over_tuning": reported / tuned}


# -- the report phase ------------------------------------------------------------------------


def test_baseline_is_charged_its_full_schedule(study):
    _, result = study
    base = by_recipe(result.data)["base-2012"]
    assert base["compute_by_seed_flops"] == [20 * 2 * EPOCH_FLOPS] * 3
    assert base["compute_to_target_flops"] == 40 * EPOCH_FLOPS and base["reduction_factor"] == 1.0
    assert base["seeds_reached"] == sum(crossing_at(RECIPE["base-2012"], base["best_config"], s) is not None
                                        for s in range(3))


def test_report_figures_are_test_crossings_on_report_seeds_with_order_statistic_cis(study):
    _, result = study
    entries = by_recipe(result.data)
    base = entries["base-2012"]["compute_to_target_flops"]
    for name in ("mid-2015", "new-2019", "control-2012", "floor-1990"):
        e = entries[name]
        values = [crossing_at(RECIPE[name], e["best_config"], s) for s in range(3)]
        assert e["compute_by_seed_flops"] == values
        assert e["compute_to_target_flops"] == _median(values)
        # 3 seeds: [min, max], which covers the median 75% of the time
        assert e["ci95_flops"] == [min(values), max(values)] and e["ci_coverage"] == 0.75
        assert e["reduction_factor"] == pytest.approx(base / _median(values))


def test_a_recipe_that_never_reaches_has_no_compute(study):
    _, result = study
    never = by_recipe(result.data)["never-2017"]
    assert never["reached"] is False and never["seeds_reached"] == 0
    assert never["compute_to_target_flops"] is None and never["ci95_flops"] is None
    assert never["reduction_factor"] is None and never["reduction_factor_vs_control"] is None


def test_decomposition_multiplies_to_the_reduction_factor(study):
    _, result = study
    entries = by_recipe(result.data)
    for e in entries.values():
        d = e["decomposition"]
        if e["reduction_factor"] is None:
            continue
        assert d["epochs_factor"] * d["flops_per_epoch_factor"] == pytest.approx(e["reduction_factor"])
    new = entries["new-2019"]["decomposition"]
    assert new["flops_per_epoch_factor"] == pytest.approx(2.0 / 0.5)  # cost 2 vs cost 0.5
    assert new["epochs_factor"] == pytest.approx(20 / entries["new-2019"]["decomposition"]["epochs_to_target"])


def test_reduction_factor_against_the_best_control(study):
    _, result = study
    entries = by_recipe(result.data)
    assert result.data["control"] == "control-2012"
    control = entries["control-2012"]["compute_to_target_flops"]
    for e in entries.values():
        if e["compute_to_target_flops"] is not None:
            assert e["reduction_factor_vs_control"] == pytest.approx(control / e["compute_to_target_flops"])


def test_evaluation_compute_is_kept_beside_training_compute(study):
    _, result = study
    mid = by_recipe(result.data)["mid-2015"]
    epochs = mid["compute_to_target_flops"] / EPOCH_FLOPS
    assert mid["eval_flops_to_target"] == epochs * EVAL_FLOPS
    assert result.data["total_eval_compute_flops"] > 0


def test_total_compute_includes_every_trial_of_both_phases(study):
    _, result = study
    data = result.data
    assert data["total_compute_flops"] == pytest.approx(data["tuning_compute_flops"] + data["best_configs_compute_flops"])
    report = sum(curve(RECIPE[e["recipe"]], e["best_config"], s, True)[-1]["flops"]
                 for e in data["entries"] for s in range(3))
    assert data["best_configs_compute_flops"] == report


def test_ledger_keeps_controls_and_floors_out_and_the_fit_is_the_trend_layers(study):
    _, result = study
    entries = load_ledger(result.out / "ledger.csv").for_benchmark("fake")
    assert [e.publication for e in entries] == [
        "base-2012 publication", "mid-2015 publication", "new-2019 publication", "flaky-2020 publication"]
    fit = fit_trend(entries)
    assert result.data["doubling_time_months"] == pytest.approx(fit.doubling_time_months)
    assert result.data["frontier"] == [e.publication.removesuffix(" publication") for e in fit.frontier]
    boot = result.data["doubling_time_bootstrap_ci95_months"]
    assert boot is not None and boot[0] <= result.data["doubling_time_months"]
    assert result.data["best_so_far"]["doubling_time_months"] > 0


def test_protocol_and_targets_are_saved(study):
    _, result = study
    data = json.loads((result.out / "results.json").read_text())
    p = data["protocol"]
    assert p["splits"] == FakeWorkload.splits
    assert "validation" in p["selection_metric"]
    assert set(p["configs"]) == set(RECIPE)
    assert p["configs"]["mid-2015"]["definition_hash"] == RECIPE["mid-2015"].definition_hash()
    assert p["configs"]["mid-2015"]["selected"] == by_recipe(data)["mid-2015"]["best_config"]
    assert data["targets"]["validation"] == {"metric": "validation_accuracy", "threshold": VAL_TARGET,
                                             "higher_is_better": True}
    assert data["targets"]["test"]["threshold"] == TEST_TARGET == data["target"]["threshold"]
    level = data["targets"]["baseline_final_test"]
    finals = sorted(curve(RECIPE["base-2012"], by_recipe(data)["base-2012"]["best_config"], s, True)[-1]["test_accuracy"]
                    for s in range(3))
    assert level["ci"] == [finals[0], finals[-1]] and level["coverage"] == 0.75


def test_sensitivity_table_spans_thresholds_up_to_the_target(study):
    _, result = study
    rows = result.data["sensitivity"]
    thresholds = [r["threshold"] for r in rows]
    assert thresholds == sorted(thresholds) and TEST_TARGET in thresholds and min(thresholds) <= TEST_TARGET - 0.15
    for row in rows:
        assert set(row) >= {"threshold", "doubling_time_months", "ci95_months", "frontier"}
    own = next(r for r in rows if r["threshold"] == TEST_TARGET)
    assert own["doubling_time_months"] == result.data["doubling_time_months"]
    assert own["frontier"] == result.data["frontier"]
    # the target's own uncertainty: the baseline's interval ends are rows too
    low = result.data["targets"]["baseline_final_test"]["ci"][0]
    assert low in thresholds


def test_outputs_are_written(study):
    _, result = study
    out = result.out
    data = json.loads((out / "results.json").read_text())
    assert data["entries"] == result.data["entries"]
    for name in data["plots"].values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.md").read_text()
    assert "| mid-2015 | recipe | 2015-06-01 |" in table
    assert "## Target sensitivity" in table and "## Selection bias" in table
    assert "75%" in table and "epochs factor" in table
    assert not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert [c["seed"] for c in data["curves"] if c["recipe"] == "mid-2015"] == [0, 1, 2]


# -- a diverged baseline, a rejected study, a failed write -----------------------------------


def test_a_diverged_baseline_publishes_no_reference_compute(tmp_path):
    result = run_study(FakeWorkload(), seeds=2, tuning_seeds=1, workers=1, out=tmp_path,
                       recipes="mid-2015", max_configs=1, overrides={"lr": 1e6})
    data = result.data
    base = by_recipe(data)["base-2012"]
    assert data["baseline_refused"].startswith("the baseline base-2012 diverged in seed(s) 0, 1")
    assert base["compute_to_target_flops"] is None and base["reduction_factor"] is None
    assert data["frontier"] == [] and data["doubling_time_months"] is None
    assert data["ledger"] is None and not (tmp_path / "ledger.csv").exists()
    assert "No reference compute: the baseline base-2012 diverged" in (tmp_path / "table.md").read_text()


@pytest.mark.parametrize("args, message", [
    (["--set", "epochs=-1"], "StudyError: epochs == -1, must be an integer >= 1."),
    (["--set", "nope=1"], "StudyError: Unknown config key 'nope'"),
    (["--set", "lr=abc"], "StudyError: --set lr='abc': 'abc' is not a number"),
    (["--recipes", "nope"], "StudyError: Unknown recipe 'nope'"),
])
def test_a_rejected_study_writes_nothing(fake_registry, tmp_path, args, message, capsys):
    out = tmp_path / "out"
    assert main(["study", "fake", "--out", str(out), *args]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_outputs_are_swapped_in_whole_or_not_at_all(tmp_path, monkeypatch):
    first = run_study(FakeWorkload(), seeds=2, tuning_seeds=1, workers=1, out=tmp_path / "s",
                      recipes="mid-2015", max_configs=1)
    before = {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir() if p.name != "study.sqlite"}

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    # the second study differs (another recipe) and fails after its table and first plots are written
    monkeypatch.setattr(outputs, "plot_sensitivity", fail)
    with pytest.raises(OSError):
        run_study(FakeWorkload(), seeds=2, tuning_seeds=1, workers=1, out=tmp_path / "s",
                  recipes="new-2019", max_configs=1)
    after = {p.name: p.read_bytes() for p in (tmp_path / "s").iterdir() if p.name != "study.sqlite"}
    assert after == before  # the old study, whole
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no staging folder left
    # the store kept every trial of both studies: 6 of the first, 3 more (the baseline's are shared)
    assert first.planned == 6 and len(RunStore(first.store).runs()) == 9
    monkeypatch.undo()
    again = run_study(FakeWorkload(), seeds=2, tuning_seeds=1, workers=1, out=tmp_path / "s",
                      recipes="new-2019", max_configs=1)
    assert again.ran == 0
    assert [e["recipe"] for e in json.loads((tmp_path / "s" / "results.json").read_text())["entries"]] == [
        "base-2012", "new-2019"]
    assert "new-2019" in (tmp_path / "s" / "table.md").read_text()


# -- resume ---------------------------------------------------------------------------------


def _stable(data):
    return {k: v for k, v in data.items() if k not in ("created", "trials", "store")}


def test_same_command_on_the_same_store_runs_nothing_again(study, tmp_path):
    _, first = study
    wl = FakeWorkload()
    again = run_study(wl, seeds=3, tuning_seeds=2, workers=1, out=tmp_path, store=first.store)
    assert wl.calls == []
    assert (again.ran, again.reused) == (0, first.planned)
    assert _stable(again.data) == _stable(first.data)


def test_max_trials_runs_in_chunks_and_ends_with_the_same_results(study, tmp_path):
    _, first = study
    wl = FakeWorkload()
    part = run_study(wl, seeds=3, tuning_seeds=2, workers=1, out=tmp_path, max_trials=10)
    assert (part.ran, part.complete) == (10, False) and part.pending == first.planned - 10
    assert not (tmp_path / "results.json").exists()
    while not run_study(wl, seeds=3, tuning_seeds=2, workers=1, out=tmp_path, max_trials=10).complete:
        pass
    rest = run_study(wl, seeds=3, tuning_seeds=2, workers=1, out=tmp_path)
    assert len(wl.calls) == first.planned == len(set(wl.calls))
    assert _stable(rest.data) == _stable(first.data)


def test_quick_reports_preselected_configs_with_three_seeds(tmp_path):
    wl = FakeWorkload()
    result = run_study(wl, quick=True, workers=1, out=tmp_path)
    assert result.planned == len(RECIPES) * 3 and all(call[3] for call in wl.calls)  # all full schedule
    assert result.data["protocol"]["tuning_seeds"] == [] and result.data["seeds"] == 3
    assert by_recipe(result.data)["mid-2015"]["best_config"]["lr"] == 0.3


def test_a_trial_left_running_is_trained_again(tmp_path):
    wl = FakeWorkload()
    trials = plan_trials(wl, tuning_seeds_n=1, recipes="mid-2015", max_configs=1)
    store = RunStore(tmp_path / "study.sqlite")
    store.start_run(key=trials[0].run_key)  # a study killed while this trial ran
    result = run_study(wl, seeds=1, tuning_seeds=1, workers=1, out=tmp_path, recipes="mid-2015", max_configs=1)
    assert result.ran == 4 and ("base-2012", 0.1, 1000, True) in wl.calls


# -- run_study's options ----------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, r"workers == 0, must be >= 1\."),
    ({"tuning_seeds": 0}, r"tuning_seeds == 0, must be >= 1\."),
    ({"executor": "dask"}, r"Unknown executor 'dask'\. Possible values are: 'local', 'ray'\."),
    ({"ray_address": "1.2.3.4:6379"}, r"ray_address == '1\.2\.3\.4:6379' needs executor='ray'"),
    ({"max_trials": 0}, r"max_trials == 0, must be >= 1\."),
])
def test_run_study_rejects_bad_options(tmp_path, kwargs, message):
    with pytest.raises(StudyError, match=message):
        run_study(FakeWorkload(), seeds=2, out=tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


def test_out_must_be_a_folder(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(StudyError, match=r"out == '.*file' is a file, must be a folder\."):
        run_study(FakeWorkload(), seeds=2, out=path)


def test_ray_executor_without_ray_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(StudyError, match=r"^the Ray executor needs ray: pip install 'algoeff\[ray\]'$"):
        run_study(FakeWorkload(), seeds=2, executor="ray", out=tmp_path, recipes="mid-2015", max_configs=1)


def test_one_seed_has_no_confidence_interval(tmp_path):
    result = run_study(FakeWorkload(), seeds=1, tuning_seeds=1, workers=1, out=tmp_path, recipes="mid-2015",
                       max_configs=1)
    mid = by_recipe(result.data)["mid-2015"]
    assert mid["ci95_flops"] is None and mid["ci_coverage"] is None and mid["reduction_factor_ci95"] is None
    assert result.data["doubling_time_months"] > 0 and result.data["doubling_time_ci95_months"] is None


# -- the CLI ----------------------------------------------------------------------------


@pytest.fixture
def fake_registry(monkeypatch):
    import algoeff.workloads

    def get_workload(name, *, data_dir=None):
        if name != "fake":
            raise StudyError(f"Unknown workload {name!r}. Possible values are: 'fake'.")
        return FakeWorkload()

    monkeypatch.setattr(algoeff.workloads, "get_workload", get_workload)


def test_cli_prints_targets_table_sensitivity_and_paths(fake_registry, tmp_path, capsys):
    assert main(["study", "fake", "--seeds", "3", "--tuning-seeds", "2", "--workers", "1",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Fake workload (analytic curves)"
    assert out[1] == "validation target: validation_accuracy >= 0.9 (selection)"
    assert out[2] == "test target: test_accuracy >= 0.9 (the figures below)"
    assert out[3].startswith("the baseline's own final test_accuracy in this study: median ")
    assert out[4] == "protocol: splits train 700 / validation 100 / test 200; tuning seeds 1000-1001; report seeds 0-2"
    header = next(i for i, line in enumerate(out) if line.startswith("recipe "))
    assert out[header].split()[:5] == ["recipe", "date", "compute-to-target", "CI", "cover"]
    rows = {line.split()[0]: line.split() for line in out[header + 1:header + 1 + len(RECIPES)]}
    assert rows["base-2012"][1:4] == ["*", "2012-06-01", "4e+07"]
    assert rows["mid-2015"][6:8] == ["75%", "3/3"]
    data = json.loads((tmp_path / "results.json").read_text())
    assert any(line.startswith(f"doubling time: {data['doubling_time_months']:.1f} months (OLS 95% CI") for line in out)
    assert "target sensitivity:" in out
    assert any(line.startswith("selection bias (") for line in out)
    for name in ("table.md", "accuracy_vs_compute.png", "compute_vs_date.png", "sensitivity.png", "ledger.csv",
                 "results.json"):
        assert any(line.endswith(str(tmp_path / name)) for line in out)


def test_cli_json_has_the_contract_keys(fake_registry, tmp_path, capsys):
    assert main(["study", "fake", "--seeds", "2", "--tuning-seeds", "1", "--workers", "1", "--out", str(tmp_path),
                 "--json", "--recipes", "new-2019,control-2012", "--max-configs", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data["protocol"]) >= {"splits", "tuning_seeds", "report_seeds", "selection_metric"}
    assert set(data["targets"]) >= {"validation", "test"}
    assert [e["recipe"] for e in data["entries"]] == ["base-2012", "control-2012", "new-2019"]
    for e in data["entries"]:
        for key in ("recipe", "date", "compute_to_target_flops", "ci95_flops", "seeds_reached", "seeds",
                    "reduction_factor", "reduction_factor_vs_control", "decomposition", "ci_coverage"):
            assert key in e
        assert set(e["decomposition"]) >= {"epochs_factor", "flops_per_epoch_factor"}
        dt.date.fromisoformat(e["date"])
    for row in data["sensitivity"]:
        assert set(row) >= {"threshold", "doubling_time_months", "ci95_months", "frontier"}
    assert "curves" not in data


def test_cli_max_trials_says_how_to_continue(fake_registry, tmp_path, capsys):
    args = ["study", "fake", "--seeds", "2", "--tuning-seeds", "1", "--workers", "1", "--out", str(tmp_path),
            "--recipes", "mid-2015"]
    assert main(args + ["--max-trials", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "3 trials run now, 0 found in the store, 5 of 8 still to run: run the same command again to continue."
    assert main(args) == 0
    assert "trials: 5 run now, 3 from the store" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0"], "argument --seeds: 0 < 1, must be >= 1"),
    (["--tuning-seeds", "x"], "argument --tuning-seeds: 'x' is not an integer"),
    (["--workers", "two"], "argument --workers: 'two' is not an integer"),
    (["--executor", "dask"], "argument --executor: invalid choice: 'dask'"),
    (["--set", "epochs"], "argument --set: 'epochs' is not KEY=VALUE"),
    (["--threshold", "abc"], "argument --threshold: 'abc' is not a number"),
])
def test_cli_usage_errors_exit_2(args, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["study", "fake", *args])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0]


@pytest.mark.parametrize("args, message", [
    (["nope"], "StudyError: Unknown workload 'nope'. Possible values are: 'fake'."),
    (["fake", "--recipes", "x"], "StudyError: Unknown recipe 'x' for workload 'fake'. Possible values are: "),
    (["fake", "--ray-address", "h:1"], "StudyError: ray_address == 'h:1' needs executor='ray'"),
    (["fake", "extra"], "StudyError: unexpected argument 'extra': DIR is only for `algoeff study rescore DIR`."),
    (["fake", "--threshold", "0.5"], "StudyError: --threshold, --rule and --baseline-charge are for"),
])
def test_cli_bad_values_are_one_line_exit_1(fake_registry, tmp_path, args, message, capsys):
    assert main(["study", *args, "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)
    assert not (tmp_path / "out").exists()


def test_cli_unknown_workload_lists_the_real_ones(tmp_path, capsys):
    assert main(["study", "nope", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("StudyError: Unknown workload 'nope'. Possible values are: 'mnist1d', 'digits'")
    assert os.listdir(tmp_path) == []


def test_outputs_through_a_symlinked_out_keep_the_link(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    run_study(FakeWorkload(), seeds=2, tuning_seeds=1, workers=1, out=tmp_path / "link", recipes="mid-2015",
              max_configs=1)
    run_study(FakeWorkload(), seeds=2, tuning_seeds=1, workers=1, out=tmp_path / "link", recipes="new-2019",
              max_configs=1)
    assert (tmp_path / "link").is_symlink() and (real / "results.json").is_file() and (real / "study.sqlite").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "real"]
