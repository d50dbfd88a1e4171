"""Study layer: planning, aggregation (the protocol), resume, outputs and the CLI, on a fake workload.

The fake workload has analytic learning curves (no training), so every figure the
study reports is recomputed here from the curves by hand. The real workloads run
end to end in tests/test_study_e2e.py.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import sys

import pytest

from algoeff.cli import main
from algoeff.errors import StudyError
from algoeff.ledger import load_ledger
from algoeff.track import RunStore, Target, median_compute_to_target
from algoeff.trend import fit_trend
from algoeff.study import plan_trials, run_study
from algoeff.workloads.spec import Recipe

# -- the fake workload ------------------------------------------------------------------

STEP_FLOPS = 1_000_000  # training FLOPs between evaluations
EVAL_FLOPS = 10_000  # per evaluation
TARGET = 0.9


def _recipe(name, year, *, baseline=False, lrs=(0.1,), quick_lrs=None, **defaults):
    return Recipe(
        name=name, title=f"{name} title", publication=f"{name} publication", link=f"https://example.org/{name}",
        date=dt.date(year, 6, 1), is_baseline=baseline,
        defaults={"lr": lrs[0], "epochs": 20, **defaults},
        grid={"lr": list(lrs)}, quick_grid={"lr": list(quick_lrs or lrs[:1])},
    )


# scale (in STEP_FLOPS) of each recipe at lr 0.1; cap = the best accuracy it can reach
RECIPES = [
    _recipe("floor-1990", 1990, scale=4.0, cap=0.95),  # dated before the baseline: a floor
    _recipe("base-2012", 2012, baseline=True, scale=7.0, cap=0.99),
    _recipe("mid-2015", 2015, lrs=(0.1, 0.3), scale=4.0, cap=0.97),
    _recipe("never-2017", 2017, scale=2.0, cap=0.6),
    _recipe("new-2019", 2019, lrs=(0.1, 0.3), quick_lrs=(0.3,), scale=2.0, cap=0.99),
    # reaches fast with one seed in three at lr 0.3 (flaky), slowly but surely at lr 0.1
    _recipe("flaky-2020", 2020, lrs=(0.1, 0.3), scale=3.0, cap=0.99),
]


def scale_of(recipe: Recipe, config: dict, seed: int) -> float:
    scale = config["scale"] * (0.1 / config["lr"]) ** 0.5 * (1 + 0.1 * seed)
    return scale


def cap_of(recipe: Recipe, config: dict, seed: int) -> float:
    if recipe.name == "flaky-2020" and config["lr"] == 0.3:
        return 0.99 if seed == 0 else 0.5
    return config["cap"]


def curve(recipe: Recipe, config: dict, seed: int, full_schedule: bool):
    """[(flops, accuracy)] as run_trial evaluates them, stopping at the target unless full_schedule."""
    scale, cap = scale_of(recipe, config, seed), cap_of(recipe, config, seed)
    points = []
    for k in range(1, config["epochs"] + 1):
        acc = cap * (1 - math.exp(-k / scale))
        points.append((k * STEP_FLOPS, acc))
        if acc >= TARGET and not full_schedule:
            break
    return points


class FakeWorkload:
    name = "fake"
    title = "Fake workload (analytic curves)"
    target = Target("test_accuracy", TARGET)

    def __init__(self, recipes=None):
        self._recipes = list(recipes or RECIPES)
        self.calls = []

    def recipes(self):
        return list(self._recipes)

    def recipe(self, name):
        for recipe in self._recipes:
            if recipe.name == name:
                return recipe
        raise StudyError(f"Unknown recipe {name!r} for workload 'fake'. Possible values are: "
                         f"{', '.join(repr(r.name) for r in self._recipes)}.")

    def run_trial(self, recipe_name, config=None, seed=0, *, store=None, run_key=None,
                  full_schedule=False, on_eval=None):
        recipe = self.recipe(recipe_name)
        cfg = {**recipe.defaults, **(config or {})}
        self.calls.append((recipe_name, cfg["lr"], seed))
        points = curve(recipe, cfg, seed, full_schedule)
        reached_at = next((f for f, a in points if a >= TARGET), None)
        return {
            "recipe": recipe_name, "config": cfg, "seed": seed,
            "reached": reached_at is not None,
            "compute_to_target_flops": reached_at,
            "compute_to_target_interpolated_flops": None,
            "total_train_flops": points[-1][0],
            "eval_flops": EVAL_FLOPS * len(points),
            "final_metric": points[-1][1],
            "diverged": False,
            "wall_s": 0.0,
            "curve": [{"flops": f, "examples": f // 1000, "wall_s": 0.0, "test_accuracy": a} for f, a in points],
        }


def charged(recipe, config, seed):
    """What the protocol charges one trial: the baseline its whole schedule, others up to the target."""
    points = curve(recipe, config, seed, recipe.is_baseline)
    if recipe.is_baseline:
        return points[-1][0]
    return next((f for f, a in points if a >= TARGET), None)


def by_recipe(data):
    return {e["recipe"]: e for e in data["entries"]}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    wl = FakeWorkload()
    result = run_study(wl, seeds=3, workers=1, out=out)
    return wl, result


# -- planning ---------------------------------------------------------------------------


def test_plan_is_recipes_x_configs_x_seeds_with_stable_unique_keys():
    wl = FakeWorkload()
    trials = plan_trials(wl, seeds=3)
    configs = sum(len(r.sweep(False)) for r in RECIPES)  # 1 + 1 + 2 + 1 + 2 + 2 = 9
    assert len(trials) == configs * 3
    assert len({t.run_key for t in trials}) == len(trials)
    assert [t.run_key for t in plan_trials(FakeWorkload(), seeds=3)] == [t.run_key for t in trials]
    assert {t.recipe for t in trials if t.full_schedule} == {"base-2012"}
    assert [t.recipe for t in trials][::3] == [r.name for r in RECIPES for _ in r.sweep(False)]


def test_plan_limits_recipes_and_configs_and_always_keeps_the_baseline():
    trials = plan_trials(FakeWorkload(), seeds=2, recipes="mid-2015,new-2019", max_configs=1)
    assert [(t.recipe, t.config_index, t.seed) for t in trials] == [
        ("base-2012", 0, 0), ("base-2012", 0, 1), ("mid-2015", 0, 0), ("mid-2015", 0, 1),
        ("new-2019", 0, 0), ("new-2019", 0, 1)]


def test_quick_sweep_shares_trials_with_the_default_one():
    quick = {t.run_key for t in plan_trials(FakeWorkload(), quick=True, seeds=2)}
    full = {t.run_key for t in plan_trials(FakeWorkload(), seeds=2)}
    assert quick <= full
    # new-2019's quick sweep is lr 0.3, the second point of its default sweep
    assert any("new-2019" in key for key in quick)


def test_run_key_changes_with_the_target_and_the_overrides():
    keys = {t.run_key for t in plan_trials(FakeWorkload(), seeds=1)}
    other = FakeWorkload()
    other.target = Target("test_accuracy", 0.8)
    assert keys.isdisjoint(t.run_key for t in plan_trials(other, seeds=1))
    overridden = plan_trials(FakeWorkload(), seeds=1, overrides={"lr": 0.2})
    assert keys.isdisjoint(t.run_key for t in overridden)
    # overriding the swept key leaves one configuration per recipe
    assert len(overridden) == len(RECIPES)
    assert all(t.config["lr"] == 0.2 for t in overridden)


@pytest.mark.parametrize("kwargs, message", [
    ({"seeds": 0}, r"seeds == 0, must be >= 1\."),
    ({"seeds": 1.5}, r"seeds == 1\.5, must be an integer >= 1\."),
    ({"seeds": 2, "max_configs": 0}, r"max_configs == 0, must be >= 1\."),
    ({"seeds": 2, "recipes": "nope"}, r"Unknown recipe 'nope' .* Possible values are: 'floor-1990', "),
    ({"seeds": 2, "overrides": [1]}, r"overrides == \[1\], must be a dict"),
])
def test_plan_rejects_bad_options(kwargs, message):
    with pytest.raises(StudyError, match=message):
        plan_trials(FakeWorkload(), **kwargs)


# -- the protocol -----------------------------------------------------------------------


def test_baseline_is_charged_its_full_schedule(study):
    _, result = study
    base = by_recipe(result.data)["base-2012"]
    recipe = RECIPES[1]
    totals = [charged(recipe, recipe.defaults, s) for s in range(3)]
    assert totals == [20 * STEP_FLOPS] * 3
    assert base["compute_to_target_flops"] == 20 * STEP_FLOPS
    assert base["reduction_factor"] == 1.0
    # seeds 0 and 1 end above the target, seed 2 below it
    assert (base["seeds_reached"], base["seeds"], base["reached"]) == (2, 3, True)


def test_best_config_is_the_lowest_median_among_configs_where_half_the_seeds_reach(study):
    _, result = study
    entries = by_recipe(result.data)
    base = entries["base-2012"]["compute_to_target_flops"]
    for name in ("mid-2015", "new-2019", "flaky-2020"):
        recipe = next(r for r in RECIPES if r.name == name)
        configs = recipe.sweep(False)
        values = [[charged(recipe, c, s) for s in range(3)] for c in configs]
        medians = [median_compute_to_target(v).median for v in values]
        eligible = [i for i, v in enumerate(values) if 2 * sum(x is not None for x in v) >= 3]
        best = min(eligible, key=lambda i: medians[i])
        entry = entries[name]
        assert entry["best_config_index"] == best
        assert entry["best_config"] == configs[best]
        assert entry["compute_to_target_flops"] == medians[best]
        assert entry["compute_by_seed_flops"] == values[best]
        ci = median_compute_to_target(values[best])
        assert entry["ci95_flops"] == [ci.ci_low, ci.ci_high]
        assert entry["reduction_factor"] == pytest.approx(base / medians[best])
        assert entry["trials"] == 3 * len(configs)
        assert entry["tuning_compute_flops"] == sum(
            curve(recipe, c, s, False)[-1][0] for c in configs for s in range(3))
    # flaky-2020 at lr 0.3: seed 0 is the fastest trial of all, but 1 seed in 3 is not half
    assert entries["flaky-2020"]["best_config"]["lr"] == 0.1
    assert entries["mid-2015"]["best_config"]["lr"] == 0.3


def test_a_recipe_that_never_reaches_has_no_compute(study):
    _, result = study
    never = by_recipe(result.data)["never-2017"]
    assert never["reached"] is False and never["seeds_reached"] == 0
    assert never["compute_to_target_flops"] is None
    assert never["ci95_flops"] is None and never["reduction_factor"] is None
    assert never["tuning_compute_flops"] == 3 * 20 * STEP_FLOPS


def test_reduction_factor_ci_brackets_the_factor(study):
    _, result = study
    for e in result.data["entries"]:
        if e["reduction_factor"] is None or e["is_baseline"]:
            continue
        low, high = e["reduction_factor_ci95"]
        assert low is None or low <= e["reduction_factor"] * (1 + 1e-9)
        assert high is None or e["reduction_factor"] <= high * (1 + 1e-9)


def test_total_compute_includes_every_trial(study):
    _, result = study
    expected = sum(curve(r, c, s, r.is_baseline)[-1][0] for r in RECIPES for c in r.sweep(False) for s in range(3))
    assert result.data["total_compute_flops"] == expected
    assert result.data["total_compute_flops"] > result.data["best_configs_compute_flops"]


def test_ledger_and_doubling_time_come_from_the_ledger_and_trend_layers(study):
    _, result = study
    ledger = load_ledger(result.out / "ledger.csv")
    entries = ledger.for_benchmark("fake")
    # baseline first; the floor (dated before it) and the recipe that never reached are left out
    assert [e.publication for e in entries] == [
        "base-2012 publication", "mid-2015 publication", "new-2019 publication", "flaky-2020 publication"]
    assert {e.method for e in entries} == {"measured"}
    by_pub = {e["publication"]: e for e in result.data["entries"]}
    for e in entries:
        assert e.compute_flops == by_pub[e.publication]["compute_to_target_flops"]
        assert e.date == dt.date.fromisoformat(by_pub[e.publication]["date"])
    fit = fit_trend(entries)
    assert result.data["doubling_time_months"] == pytest.approx(fit.doubling_time_months)
    # an open upper bound (the slope's interval reaches 0) is null in JSON
    assert result.data["doubling_time_ci95_months"] == pytest.approx(fit.to_dict()["doubling_time_ci95_months"])
    assert result.data["frontier"] == [e.publication.removesuffix(" publication") for e in fit.frontier]
    bench = ledger.benchmark("fake")
    assert (bench.threshold, bench.direction, bench.metric) == (TARGET, "higher", "test_accuracy")


def test_outputs_are_written(study):
    _, result = study
    out = result.out
    data = json.loads((out / "results.json").read_text())
    assert data["entries"] == result.data["entries"]
    for key in ("workload", "target", "doubling_time_months", "total_compute_flops", "frontier", "curves"):
        assert key in data
    assert data["target"] == {"metric": "test_accuracy", "threshold": TARGET, "higher_is_better": True}
    for name in data["plots"].values():
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (out / "table.md").read_text()
    assert "| mid-2015 | 2015-06-01 |" in table and "| never-2017 | 2017-06-01 | - | - | 0/3 | - |" in table
    assert "best configuration: the lowest median compute-to-target" in table
    assert (out / "benchmarks.toml").is_file()
    assert not list(out.glob(".*.tmp"))
    # the best configuration's curves are flagged, one per seed
    best = [c for c in data["curves"] if c["recipe"] == "mid-2015" and c["best"]]
    assert [c["seed"] for c in best] == [0, 1, 2] and {c["config"]["lr"] for c in best} == {0.3}


def test_every_trial_is_a_run_in_the_store(study):
    _, result = study
    store = RunStore(result.store)
    runs = store.runs()
    assert len(runs) == result.planned == 27
    assert set(runs["status"]) == {"finished"}
    trial = plan_trials(FakeWorkload(), seeds=3)[5]
    run = store.find_run(trial.run_key, status="finished")
    assert run["config"]["recipe"] == trial.recipe and run["config"]["seed"] == trial.seed
    points = store.points(run["id"])
    assert list(points["flops"]) == [p["flops"] for p in run["summary"]["curve"]]


# -- resume -----------------------------------------------------------------------------


def _stable(data):
    return {k: v for k, v in data.items() if k not in ("created", "trials", "store")}


def test_same_command_on_the_same_store_runs_nothing_again(study, tmp_path):
    _, first = study
    wl = FakeWorkload()
    again = run_study(wl, seeds=3, workers=1, out=tmp_path, store=first.store)
    assert wl.calls == []
    assert (again.ran, again.reused) == (0, 27)
    assert _stable(again.data) == _stable(first.data)


def test_max_trials_runs_in_chunks_and_ends_with_the_same_results(study, tmp_path):
    _, first = study
    wl = FakeWorkload()
    part = run_study(wl, seeds=3, workers=1, out=tmp_path, max_trials=10)
    assert (part.ran, part.pending, part.complete) == (10, 17, False)
    assert not (tmp_path / "results.json").exists()
    rest = run_study(wl, seeds=3, workers=1, out=tmp_path)
    assert (rest.ran, rest.reused) == (17, 10)
    assert len(wl.calls) == 27 == len(set(wl.calls))
    assert _stable(rest.data) == _stable(first.data)


def test_a_trial_left_running_is_trained_again(tmp_path):
    wl = FakeWorkload()
    trials = plan_trials(wl, seeds=2, recipes="mid-2015", max_configs=1)
    store = RunStore(tmp_path / "study.sqlite")
    store.start_run(key=trials[0].run_key)  # a study killed while this trial ran
    result = run_study(wl, seeds=2, workers=1, out=tmp_path, recipes="mid-2015", max_configs=1)
    assert result.ran == 4 and ("base-2012", 0.1, 0) in wl.calls


# -- run_study's options ----------------------------------------------------------------


@pytest.mark.parametrize("kwargs, message", [
    ({"workers": 0}, r"workers == 0, must be >= 1\."),
    ({"executor": "dask"}, r"Unknown executor 'dask'\. Possible values are: 'local', 'ray'\."),
    ({"ray_address": "1.2.3.4:6379"}, r"ray_address == '1\.2\.3\.4:6379' needs executor='ray'"),
    ({"max_trials": 0}, r"max_trials == 0, must be >= 1\."),
])
def test_run_study_rejects_bad_options(tmp_path, kwargs, message):
    with pytest.raises(StudyError, match=message):
        run_study(FakeWorkload(), seeds=2, out=tmp_path, **kwargs)


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
    result = run_study(FakeWorkload(), seeds=1, workers=1, out=tmp_path, recipes="mid-2015", max_configs=1)
    mid = by_recipe(result.data)["mid-2015"]
    assert mid["ci95_flops"] is None and mid["reduction_factor_ci95"] is None
    assert mid["compute_to_target_flops"] == charged(RECIPES[2], RECIPES[2].sweep(False)[0], 0)
    # two frontier points fit exactly: a doubling time, no CI
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


def test_cli_prints_the_table_doubling_time_and_paths(fake_registry, tmp_path, capsys):
    assert main(["study", "fake", "--seeds", "3", "--workers", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Fake workload (analytic curves)"
    assert out[1].startswith("target: test_accuracy >= 0.9 (the base-2012 baseline's level)")
    assert out[2].split() == ["recipe", "date", "compute-to-target", "95%", "CI", "seeds", "reduction"]
    rows = {line.split()[0]: line.split() for line in out[3:9]}
    assert rows["base-2012"][1:4] == ["*", "2012-06-01", "2e+07"]
    assert rows["never-2017"][1:] == ["2017-06-01", "-", "-", "0/3", "-"]
    assert rows["mid-2015"][-2:] == ["3/3", f"{20 / 7:.2f}x"]  # 20e6 / median(7e6, 7e6, 8e6)
    data = json.loads((tmp_path / "results.json").read_text())
    ci = data["doubling_time_ci95_months"]
    high = "unbounded" if ci[1] is None else f"{ci[1]:.1f}"
    assert f"doubling time: {data['doubling_time_months']:.1f} months (95% CI {ci[0]:.1f} to {high} months)" in out
    assert any(line.startswith("  rule: OLS fit of log2(baseline compute / compute)") for line in out)
    for name in ("table.md", "accuracy_vs_compute.png", "compute_vs_date.png", "ledger.csv", "results.json"):
        assert any(line.endswith(str(tmp_path / name)) for line in out)


def test_cli_json(fake_registry, tmp_path, capsys):
    assert main(["study", "fake", "--seeds", "2", "--workers", "1", "--out", str(tmp_path), "--json",
                 "--recipes", "new-2019", "--max-configs", "1"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["workload"] == "fake"
    assert data["target"]["metric"] == "test_accuracy" and data["target"]["threshold"] == TARGET
    assert [e["recipe"] for e in data["entries"]] == ["base-2012", "new-2019"]
    for e in data["entries"]:
        for key in ("recipe", "date", "compute_to_target_flops", "ci95_flops", "seeds_reached", "seeds",
                    "reduction_factor"):
            assert key in e
        dt.date.fromisoformat(e["date"])
    assert data["doubling_time_months"] > 0 and data["total_compute_flops"] > 0


def test_cli_max_trials_says_how_to_continue(fake_registry, tmp_path, capsys):
    args = ["study", "fake", "--seeds", "2", "--workers", "1", "--out", str(tmp_path), "--recipes", "mid-2015"]
    assert main(args + ["--max-trials", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "3 trials run now, 0 found in the store, 3 of 6 still to run: run the same command again to continue."
    assert main(args) == 0
    assert "trials: 3 run now, 3 from the store" in capsys.readouterr().out


@pytest.mark.parametrize("args, message", [
    (["--seeds", "0"], "argument --seeds: 0 < 1, must be >= 1"),
    (["--workers", "two"], "argument --workers: 'two' is not an integer"),
    (["--executor", "dask"], "argument --executor: invalid choice: 'dask'"),
    (["--set", "epochs"], "argument --set: 'epochs' is not KEY=VALUE"),
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
])
def test_cli_bad_values_are_one_line_exit_1(fake_registry, tmp_path, args, message, capsys):
    assert main(["study", *args, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message)


def test_cli_unknown_workload_lists_the_real_ones(tmp_path, capsys):
    assert main(["study", "nope", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == "StudyError: Unknown workload 'nope'. Possible values are: 'mnist1d', 'digits', 'cifar10', 'imagenet'."
