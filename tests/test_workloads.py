"""Workloads: registry, recipes' metadata, models, config validation, MNIST-1D data and one trial's protocol."""

import datetime as dt
import math

import numpy as np
import pytest
import torch

import algoeff
from algoeff.errors import StudyError
from algoeff.track import RunStore, Target
from algoeff.workloads import WORKLOADS, get_workload
from algoeff.workloads import mnist1d as mnist1d_module
from algoeff.workloads.mnist1d import MNIST1D

SMALL = ["mnist1d", "digits"]
RESULT_KEYS = {
    "recipe", "config", "seed", "reached", "compute_to_target_flops", "compute_to_target_interpolated_flops",
    "test_reached", "compute_to_test_target_flops", "total_train_flops", "flops_per_epoch", "steps_per_epoch",
    "eval_flops", "eval_flops_by_split", "final_metric", "final_test_metric", "diverged", "wall_s", "curve",
}
POINT_KEYS = {
    "step", "epoch", "flops", "eval_flops", "examples", "wall_s",
    "validation_accuracy", "validation_loss", "test_accuracy", "test_loss", "train_loss",
}


class EasyMNIST1D(MNIST1D):
    """MNIST-1D with targets any convolutional net passes within an epoch."""

    threshold = 0.3

    @property
    def target(self):
        return Target("validation_accuracy", self.threshold)

    @property
    def test_target(self):
        return Target("test_accuracy", self.threshold)


class ReachedMNIST1D(EasyMNIST1D):
    """A target reached at the first evaluation."""

    threshold = 0.0


# -- registry and metadata --------------------------------------------------------


def test_registry_names():
    assert list(WORKLOADS) == ["mnist1d", "digits", "cifar10", "imagenet"]


def test_unknown_workload_lists_the_known_ones():
    with pytest.raises(StudyError, match=r"Unknown workload 'mnist2d'. Possible values are: 'mnist1d', 'digits'"):
        get_workload("mnist2d")


def test_missing_torchvision_breaks_only_the_image_workloads(monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torchvision" else find_spec(name, *a))
    for name in ("cifar10", "imagenet"):
        with pytest.raises(StudyError, match=rf"the {name} workload needs torchvision: pip install 'algoeff\[vision\]'"):
            get_workload(name, data_dir="anywhere")
    assert get_workload("mnist1d").name == "mnist1d" and get_workload("digits").name == "digits"


def test_generated_workload_rejects_a_data_dir(tmp_path):
    with pytest.raises(StudyError, match="data_dir .* is not used"):
        get_workload("mnist1d", data_dir=tmp_path)


@pytest.mark.parametrize("name", SMALL)
def test_recipes_are_dated_in_order_with_one_baseline(name):
    wl = get_workload(name)
    recipes = wl.recipes()
    dates = [r.date for r in recipes]
    assert dates == sorted(dates) and all(isinstance(d, dt.date) for d in dates)
    assert [r.name for r in recipes if r.is_baseline] == ["alexnet-2012"]
    assert wl.baseline.name == "alexnet-2012"
    assert len({r.name for r in recipes}) == len(recipes)
    for recipe in recipes:
        assert recipe.title and recipe.publication and recipe.link.startswith("https://")
        assert recipe.name.endswith(str(recipe.date.year))


def test_mnist1d_lineage_covers_the_paper():
    names = [r.name for r in get_workload("mnist1d").recipes()]
    for family in ("mlp", "alexnet", "inception", "resnet", "mobilenet", "shufflenet", "efficientnet"):
        assert any(n.startswith(family) for n in names), family
    assert len(names) >= 8  # and a later training-method recipe


@pytest.mark.parametrize("name", SMALL)
def test_targets_are_fixed_numbers_on_validation_and_test(name):
    wl = get_workload(name)
    assert wl.target.metric == "validation_accuracy" and wl.target.higher_is_better
    assert wl.test_target.metric == "test_accuracy" and wl.test_target.higher_is_better
    assert 0.5 < wl.target.threshold < 1 and 0.5 < wl.test_target.threshold < 1


def test_has_reached_target_reads_the_validation_metric():
    wl = get_workload("mnist1d")
    level = wl.target.threshold
    assert wl.has_reached_target({"validation_accuracy": level, "validation_loss": 9.0})
    assert not wl.has_reached_target({"validation_accuracy": level - 0.001, "test_accuracy": 1.0})
    assert not wl.has_reached_target({"test_accuracy": 1.0})  # the test split never scores a run
    assert not wl.has_reached_target({"validation_accuracy": float("nan")})
    assert wl.has_reached_test_target({"test_accuracy": wl.test_target.threshold})
    assert not wl.has_reached_test_target({"validation_accuracy": 1.0})


def test_measure_targets_average_the_baselines_selected_config_on_measurement_seeds(monkeypatch):
    from algoeff.workloads import measure

    wl = get_workload("mnist1d")
    calls = []

    def fake_run_trial(recipe, config, seed, *, full_schedule=False):
        calls.append((recipe, config, seed, full_schedule))
        i = seed - 2000
        return {"config": config, "final_metric": [0.7, 0.8, 0.9][i], "final_test_metric": [0.6, 0.7, 0.8][i],
                "diverged": False, "total_train_flops": 10, "wall_s": 1.0}

    monkeypatch.setattr(wl, "run_trial", fake_run_trial)
    result = measure.measure_targets(wl, seeds=(2000, 2001, 2002), workers=1)
    # the baseline's selected config, its full schedule, the target-measurement seeds
    assert calls == [("alexnet-2012", wl.baseline.selected_config(), seed, True) for seed in (2000, 2001, 2002)]
    assert result["validation"]["finals"] == [0.7, 0.8, 0.9] and result["test"]["finals"] == [0.6, 0.7, 0.8]
    assert math.isclose(result["validation"]["mean"], 0.8) and math.isclose(result["validation"]["stdev"], 0.1)
    assert math.isclose(result["test"]["mean"], 0.7)


def _tuned(ctt, final):
    return {"reached": ctt is not None, "diverged": False, "compute_to_target_flops": ctt, "final_metric": final,
            "final_test_metric": final, "wall_s": 1.0}


def test_selection_rules():
    from algoeff.workloads.measure import select

    configs = [{"lr": 0.05}, {"lr": 0.1}, {"lr": 0.2}]
    results = [
        [_tuned(30, 0.80), _tuned(50, 0.82)],   # median 40, both reach
        [_tuned(20, 0.79), _tuned(None, 0.70)],  # one of two reaches: the lower middle value, 20
        [_tuned(None, 0.60), _tuned(None, 0.65)],  # never reaches
    ]
    by_compute = select(configs, results, rule="compute")
    assert by_compute["selected_index"] == 1 and by_compute["configs"][1]["median_compute_to_target_flops"] == 20
    assert by_compute["configs"][2]["median_compute_to_target_flops"] == math.inf
    # a tie in compute goes to the earlier configuration
    tie = [[_tuned(20, 0.8), _tuned(20, 0.8)], [_tuned(20, 0.8), _tuned(None, 0.8)]]
    assert select(configs[:2], tie, rule="compute")["selected_index"] == 0
    assert select(configs[:2], tie[::-1], rule="compute")["selected_index"] == 0
    # the baseline: the highest median final validation accuracy, compute aside
    assert select(configs, results, rule="final")["selected_index"] == 0
    # nothing reaches: the highest median final accuracy
    assert select(configs[1:], results[2:] + [[_tuned(None, 0.7), _tuned(None, 0.72)]], rule="compute")["selected_index"] == 1


def test_tuning_stops_other_recipes_at_the_given_target_and_trains_the_baseline_in_full(monkeypatch):
    from algoeff.workloads import measure

    wl = get_workload("mnist1d")
    seen = []

    def fake(self, recipe, config, seed, *, full_schedule=False):
        seen.append((recipe, seed, full_schedule, self.target.threshold))
        return {"recipe": recipe, "seed": seed, **_tuned(10.0 * config["lr"], config["lr"])}

    monkeypatch.setattr(MNIST1D, "run_trial", fake)
    tuned = measure.tune(wl, wl.recipe("resnet-2015"), target=Target("validation_accuracy", 0.5))
    assert len(seen) == 24 and {s[1] for s in seen} == {1000, 1001}
    assert all(not full and level == 0.5 for _, _, full, level in seen)
    assert tuned["selected"] == {"width": 8, "lr": 0.05, "epochs": 5}  # the least compute, the first in grid order
    seen.clear()
    base = measure.tune(wl, wl.baseline)
    assert all(full for _, _, full, _ in seen) and base["rule"] == "final"
    assert base["selected"]["lr"] == max(wl.baseline.grid["lr"])  # the fake's final accuracy grows with lr


def test_measurement_seeds_are_disjoint_from_tuning_and_report_seeds():
    from algoeff.workloads import measure

    tuning, targets = set(measure.TUNING_SEEDS), set(measure.TARGET_SEEDS)
    assert tuning == {1000, 1001} and targets == set(range(2000, 2005))
    assert not tuning & targets
    assert min(tuning | targets) >= 1000  # report seeds are 0..N-1 for any N the study allows (< 1000)


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(StudyError, match=r"Unknown recipe 'vgg-2014' for workload 'mnist1d'. Possible values are: 'mlp-1986', 'alexnet-2012'"):
        get_workload("mnist1d").recipe("vgg-2014")


@pytest.mark.parametrize("name", SMALL)
def test_grids_are_full_valid_configs_and_quick_is_the_selected_one(name):
    wl = get_workload(name)
    for recipe in wl.recipes():
        full, quick = recipe.sweep(), recipe.sweep(quick=True)
        assert quick == [recipe.selected_config()] and quick[0] in full, recipe.name
        assert recipe.selection  # how it was chosen is recorded
        for config in full:
            assert set(config) == set(recipe.defaults)
            assert wl.resolve_config(recipe, config) == config


@pytest.mark.parametrize("name", [*SMALL, "cifar10", "imagenet"])
def test_every_recipe_gets_the_same_tuning_budget(name):
    from algoeff.workloads.recipes import load_workload_file

    recipes = load_workload_file(name)["recipes"]
    # the same number of configurations, over the same knobs, with the same number of values per knob
    assert len({len(r.sweep()) for r in recipes}) == 1
    assert len({tuple(sorted((k, len(v)) for k, v in r.grid.items())) for r in recipes}) == 1


@pytest.mark.parametrize("name", SMALL)
def test_grids_search_every_kind_of_tuning_knob(name):
    wl = get_workload(name)
    knobs = {key for keys in wl.TUNING_KNOBS.values() for key in keys}
    assert set(wl.TUNING_KNOBS) == {"size", "learning rate", "schedule length"}
    for recipe in wl.recipes():
        assert set(recipe.grid) == knobs, recipe.name
        assert all(len(values) >= 2 for values in recipe.grid.values()), recipe.name
        assert knobs <= set(wl.CONFIG_KEYS)


@pytest.mark.parametrize("name", SMALL)
def test_roles(name):
    recipes = get_workload(name).recipes()
    roles = {r.name: r.role for r in recipes}
    assert [n for n, role in roles.items() if role == "baseline"] == ["alexnet-2012"]
    assert roles["mlp-1986"] == "floor"
    controls = [r for r in recipes if r.role == "control"]
    assert len(controls) >= 2 and all(r.date.year == 2012 for r in controls)
    # 2012 ideas only: no batch norm, residual, grouped or depthwise convolution, no global pooling
    wl = get_workload(name)
    for recipe in controls:
        model = wl.build_model(recipe.selected_config())
        for module in model.modules():
            assert not isinstance(module, torch.nn.modules.batchnorm._BatchNorm), recipe.name
            if isinstance(module, (torch.nn.Conv1d, torch.nn.Conv2d)):
                assert module.groups == 1, recipe.name
    assert all(r.is_baseline == (r.role == "baseline") for r in recipes)


def test_recipe_role_is_checked_and_consistent():
    from algoeff.workloads import Recipe

    base = dict(name="x-2012", title="t", publication="p", link="https://example.org", date=dt.date(2012, 1, 1))
    assert Recipe(**base).role == "recipe" and Recipe(**base, is_baseline=True).role == "baseline"
    with pytest.raises(StudyError, match=r"recipe 'x-2012' role == 'teacher'. Possible values are: 'baseline', 'control'"):
        Recipe(**base, role="teacher")
    with pytest.raises(StudyError, match=r"is_baseline == False but role == 'baseline'"):
        Recipe(**base, role="baseline")
    with pytest.raises(StudyError, match=r"selected key 'lr' is not a key of its grid"):
        Recipe(**base, grid={"width": [1, 2]}, selected={"lr": 0.1})


def test_definition_hash_follows_what_is_trained():
    from dataclasses import replace

    recipe = get_workload("mnist1d").recipe("resnet-2015")
    digest = recipe.definition_hash()
    assert len(digest) == 12 and int(digest, 16) >= 0
    assert replace(recipe).definition_hash() == digest
    assert replace(recipe, notes="reworded", title="renamed").definition_hash() == digest
    assert replace(recipe, defaults={**recipe.defaults, "lr": 0.3}).definition_hash() != digest
    assert replace(recipe, selected={**recipe.selected, "lr": 0.2}).definition_hash() != digest
    assert replace(recipe, grid={**recipe.grid, "lr": [0.1]}).definition_hash() != digest
    assert len({r.definition_hash() for r in get_workload("mnist1d").recipes()}) == len(get_workload("mnist1d").recipes())


# -- models -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SMALL)
def test_every_recipe_builds_and_trains_one_step(name):
    wl = get_workload(name)
    torch.manual_seed(0)
    x = torch.randn(4, *wl.input_shape)
    y = torch.tensor([0, 1, 2, 3])
    for recipe in wl.recipes():
        model = wl.build_model(wl.resolve_config(recipe, None))
        logits = model(x)
        assert logits.shape == (4, 10), recipe.name
        torch.nn.functional.cross_entropy(logits, y).backward()
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), recipe.name
        assert any(g.abs().sum() > 0 for g in grads), recipe.name


@pytest.mark.parametrize("name", SMALL)
@pytest.mark.parametrize("width", [8, 12, 16])
def test_alexnet_keeps_alexnets_proportions_a_small_fc_head(name, width):
    # the real AlexNet: 58.6M of 724M forward multiply-adds in its FC head, 8%
    wl = get_workload(name)
    model = wl.build_model(wl.resolve_config(wl.recipe("alexnet-2012"), {"width": width})).eval()
    report = algoeff.count_flops(model, torch.zeros(1, *wl.input_shape))
    head = report.by_module["AlexNet.classifier"] / report.total
    assert 0.03 < head < 0.10
    convs = [m for m in model.features if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))]
    assert [m.out_channels for m in convs] == [width, round(8 * width / 3), 4 * width, 4 * width, round(8 * width / 3)]


def test_channel_shuffle_interleaves_groups():
    from algoeff.workloads.models import _ChannelShuffle

    x = torch.arange(6.0).reshape(1, 6, 1)
    # groups of 2 channels x 3: [0 1 2 | 3 4 5] -> [0 3 1 4 2 5]
    assert _ChannelShuffle(2)(x).flatten().tolist() == [0, 3, 1, 4, 2, 5]


# -- config validation ----------------------------------------------------------------


@pytest.mark.parametrize(
    "config, message",
    [
        ({"lr": 0}, r"lr == 0, must be > 0\."),
        ({"lr": float("nan")}, r"lr == nan, must be > 0\."),
        ({"epochs": 0}, r"epochs == 0, must be an integer >= 1\."),
        ({"epochs": 2.5}, r"epochs == 2.5, must be an integer >= 1\."),
        ({"batch_size": True}, r"batch_size == True, must be an integer >= 1\."),
        ({"momentum": 1.0}, r"momentum == 1.0, must be in \[0, 1\)\."),
        ({"weight_decay": -1}, r"weight_decay == -1, must be >= 0\."),
        ({"label_smoothing": 1}, r"label_smoothing == 1, must be in \[0, 1\)\."),
        ({"optimizer": "lamb"}, r"Unknown optimizer 'lamb'. Possible values are: 'sgd', 'adamw'\."),
        ({"schedule": "cosine"}, r"Unknown schedule 'cosine'. Possible values are: 'step', 'onecycle', 'constant'\."),
        ({"model": "vgg"}, r"Unknown model 'vgg'. Possible values are: 'mlp', 'alexnet'"),
        ({"width": 0}, r"width == 0, must be an integer >= 1\."),
        ({"dropout": 1.5}, r"dropout == 1.5, must be in \[0, 1\)\."),
        ({"lr_decay": 0.1}, r"Unknown config key 'lr_decay' for recipe 'resnet-2015'. Possible keys are: 'model'"),
        ([("lr", 0.1)], r"config == \[\('lr', 0.1\)\], must be a dict\."),
    ],
)
def test_bad_config_is_a_one_line_study_error(config, message):
    wl = get_workload("mnist1d")
    with pytest.raises(StudyError, match=message) as err:
        wl.run_trial("resnet-2015", config, 0)
    assert "\n" not in str(err.value)


def test_bad_seed():
    with pytest.raises(StudyError, match=r"seed == -1, must be an integer >= 0\."):
        get_workload("mnist1d").run_trial("resnet-2015", {"epochs": 1}, -1)


# -- data -----------------------------------------------------------------------------


def test_mnist1d_shapes_and_splits():
    wl = get_workload("mnist1d")
    splits = wl.arrays()
    assert wl.splits == {"train": 3500, "validation": 500, "test": 1000}
    assert {k: tuple(x.shape) for k, (x, _) in splits.items()} == {
        "train": (3500, 1, 40), "validation": (500, 1, 40), "test": (1000, 1, 40)}
    for _, y in splits.values():
        assert set(y.tolist()) == set(range(10))
    everything = torch.cat([x for x, _ in splits.values()])
    assert abs(float(everything.mean())) < 1e-3  # make_dataset standardises


def _rows(x):
    return {row.tobytes() for row in x.reshape(len(x), -1).numpy()}


@pytest.mark.parametrize("name", SMALL)
def test_splits_are_disjoint_by_index_and_content(name):
    from algoeff.workloads.splits import carve_validation

    wl = get_workload(name)
    x, y, x_test, _ = wl._base_arrays()
    train, validation = carve_validation(y, wl.validation_size, wl.split_seed)
    # by index: a partition of the dataset's training examples
    assert len(set(train) & set(validation)) == 0 and len(train) + len(validation) == len(y)
    assert sorted([*train, *validation]) == list(range(len(y)))
    # by content: no example of one split appears in another
    splits = wl.arrays()
    rows = {k: _rows(v[0]) for k, v in splits.items()}
    assert all(len(rows[k]) == len(splits[k][0]) for k in rows)  # no duplicates inside a split either
    assert not rows["train"] & rows["validation"]
    assert not rows["train"] & rows["test"] and not rows["validation"] & rows["test"]
    # validation is carved from the dataset's training data, the test split is the dataset's own
    assert rows["validation"] <= _rows(torch.tensor(x, dtype=torch.float32))
    assert rows["test"] == _rows(torch.tensor(x_test, dtype=torch.float32))


@pytest.mark.parametrize("name", SMALL)
def test_the_split_is_the_same_for_every_trial_seed(name):
    wl = get_workload(name)
    config = wl.resolve_config(wl.recipe("mlp-1986"), None)
    torch.manual_seed(0)
    probe = wl.build_model(config).eval()  # one fixed model: its metrics can only differ if the data do
    train_rows = _rows(wl.arrays()["train"][0])
    metrics = []
    for seed in (0, 1000, 2000):
        _, batches, _, evaluators = wl._prepare(config, seed)
        assert set(evaluators) == {"validation", "test"}
        assert _rows(next(batches)[0]) <= train_rows  # training batches come from the train split only
        with torch.no_grad():
            metrics.append({split: evaluate(probe) for split, evaluate in evaluators.items()})
    assert metrics[0] == metrics[1] == metrics[2]
    assert set(metrics[0]["validation"]) == {"validation_accuracy", "validation_loss"}


def test_carve_validation_is_stratified_and_fixed_by_its_seed():
    from algoeff.workloads.splits import carve_validation

    labels = np.repeat(np.arange(4), [40, 30, 20, 10])
    train, validation = carve_validation(labels, 10, seed=0)
    # each class gives its share: 4, 3, 2, 1
    assert np.bincount(labels[validation]).tolist() == [4, 3, 2, 1]
    again, other = carve_validation(labels, 10, seed=0), carve_validation(labels, 10, seed=1)
    assert again[1].tolist() == validation.tolist() and other[1].tolist() != validation.tolist()
    with pytest.raises(StudyError, match=r"validation size == 100, must be in \[1, 99\] for 100 training examples\."):
        carve_validation(labels, 100, seed=0)


def test_mnist1d_is_generated_once_then_read_from_the_disk_cache(tmp_path, monkeypatch):
    import mnist1d.data

    arrays = mnist1d_module.mnist1d_arrays()
    calls = []

    def fake_make_dataset(args):
        calls.append(args)
        return dict(zip(("x", "y", "x_test", "y_test"), arrays))

    monkeypatch.setenv("ALGOEFF_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(mnist1d.data, "make_dataset", fake_make_dataset)
    monkeypatch.setattr(mnist1d_module, "_MEMORY", {})
    first = mnist1d_module.mnist1d_arrays()
    assert len(calls) == 1 and calls[0].num_samples == 5000 and calls[0].final_seq_length == 40
    assert len(list(tmp_path.glob("mnist1d-*.npz"))) == 1
    monkeypatch.setattr(mnist1d_module, "_MEMORY", {})
    second = mnist1d_module.mnist1d_arrays()
    assert len(calls) == 1  # read back from disk, not generated again
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_digits_splits():
    wl = get_workload("digits")
    assert wl.splits == {"train": 1047, "validation": 300, "test": 450}
    splits = wl.arrays()
    assert splits["train"][0].shape == (1047, 1, 8, 8) and splits["test"][0].shape == (450, 1, 8, 8)
    # standardised with the statistics of the dataset's training data (train and validation together)
    assert abs(float(torch.cat([splits["train"][0], splits["validation"][0]]).mean())) < 1e-5


# -- one trial ------------------------------------------------------------------------


def test_trial_stops_at_the_target_and_reports_the_trackers_compute(tmp_path):
    wl = EasyMNIST1D()
    points = []
    store = tmp_path / "runs.db"
    result = wl.run_trial("resnet-2015", {"epochs": 2}, 0, store=store, run_key="k0", on_eval=points.append)
    assert set(result) == RESULT_KEYS
    assert result["reached"] and not result["diverged"]
    curve = result["curve"]
    assert points == curve and all(set(p) == POINT_KEYS for p in curve)
    # the first evaluation at or above the validation target is where it stopped
    scores = [p["validation_accuracy"] for p in curve]
    assert scores[-1] >= 0.3 and all(s < 0.3 for s in scores[:-1])
    assert result["compute_to_target_flops"] == curve[-1]["flops"] == result["total_train_flops"]
    assert curve[0]["flops"] <= result["compute_to_target_interpolated_flops"] <= result["compute_to_target_flops"]
    assert result["final_metric"] == scores[-1] and result["final_test_metric"] == curve[-1]["test_accuracy"]
    # evaluation compute: both splits, apart from training compute and from each other
    by_split = result["eval_flops_by_split"]
    assert set(by_split) == {"validation", "test"} and sum(by_split.values()) == result["eval_flops"]
    # the test split (1,000) is twice the validation split (500): one forward pass of each per evaluation
    assert by_split["test"] == 2 * by_split["validation"] > 0
    assert curve[-1]["eval_flops"] == result["eval_flops"]
    # curve points: steps, epochs (3,500 // 128 = 27 steps per epoch) and the training loss
    assert result["steps_per_epoch"] == 27
    assert [p["epoch"] for p in curve] == [p["step"] / 27 for p in curve]
    assert all(p["train_loss"] > 0 for p in curve)
    # the store holds the same run and figures
    with RunStore(store) as runs:
        run = runs.find_run("k0")
        assert run["status"] == "finished"
        assert run["summary"]["compute_to_target"] == result["compute_to_target_flops"]
        assert runs.points(run["id"])["flops"].tolist() == [p["flops"] for p in curve]


def test_full_schedule_trains_every_step_and_charges_all_of_it():
    wl = ReachedMNIST1D()
    result = wl.run_trial("mlp-1986", {"epochs": 2, "batch_size": 500}, 1, full_schedule=True)
    # 3500 // 500 = 7 steps per epoch; evaluated every round(7 / evals_per_epoch) steps and after the last
    every = max(1, round(7 / wl.evals_per_epoch))
    steps = [s for s in range(1, 15) if s % every == 0 or s == 14]
    curve = result["curve"]
    assert [p["step"] for p in curve] == steps
    assert [p["examples"] for p in curve] == [500 * s for s in steps]
    assert [p["epoch"] for p in curve] == [s / 7 for s in steps] and curve[-1]["epoch"] == 2.0
    assert result["total_train_flops"] == curve[-1]["flops"]
    per_step = result["total_train_flops"] / 14
    assert [p["flops"] for p in curve] == [per_step * s for s in steps]
    assert result["flops_per_epoch"] == 7 * per_step == result["total_train_flops"] / 2
    # reached (both targets) at the first evaluation, trained on to the end
    assert result["reached"] and result["compute_to_target_flops"] == curve[0]["flops"]
    assert result["test_reached"] and result["compute_to_test_target_flops"] == curve[0]["flops"]


def test_test_target_is_scored_from_the_curve_apart_from_the_validation_target():
    class SplitTargets(EasyMNIST1D):
        @property
        def test_target(self):
            return Target("test_accuracy", 0.99)  # out of reach

    result = SplitTargets().run_trial("resnet-2015", {"epochs": 2}, 0, full_schedule=True)
    assert result["reached"] and not result["test_reached"]
    assert result["compute_to_test_target_flops"] is None


def test_trials_are_reproducible_per_seed_and_differ_across_seeds():
    wl = EasyMNIST1D()
    config = {"epochs": 1, "batch_size": 1000}
    a = wl.run_trial("mlp-1986", config, 3, full_schedule=True)
    b = wl.run_trial("mlp-1986", config, 3, full_schedule=True)
    c = wl.run_trial("mlp-1986", config, 4, full_schedule=True)
    assert a["curve"] and [p["validation_accuracy"] for p in a["curve"]] == [p["validation_accuracy"] for p in b["curve"]]
    assert [p["test_accuracy"] for p in a["curve"]] == [p["test_accuracy"] for p in b["curve"]]
    assert [p["validation_accuracy"] for p in a["curve"]] != [p["validation_accuracy"] for p in c["curve"]]


def test_trial_restores_the_thread_count():
    threads = torch.get_num_threads()
    EasyMNIST1D().run_trial("mlp-1986", {"epochs": 1, "batch_size": 2000}, 0)
    assert torch.get_num_threads() == threads


def test_diverged_trial_is_marked_and_never_reaches():
    result = EasyMNIST1D().run_trial("alexnet-2012", {"epochs": 1, "lr": 1e30, "batch_size": 1000}, 0)
    assert result["diverged"] and not result["reached"]
    assert result["compute_to_target_flops"] is None and not result["test_reached"]
    assert len(result["curve"]) == 1  # stopped at the first evaluation
    point = result["curve"][0]
    assert None in (point["validation_loss"], point["train_loss"])  # non-finite values are None


def test_digits_trial_reaches_an_easy_target():
    class EasyDigits(type(get_workload("digits"))):
        @property
        def target(self):
            return Target("validation_accuracy", 0.5)

    result = EasyDigits().run_trial("resnet-2015", {"epochs": 5, "batch_size": 128}, 0)
    assert result["reached"] and result["compute_to_target_flops"] > 0
    assert math.isclose(result["compute_to_target_flops"], result["curve"][-1]["flops"])


def test_public_names():
    assert algoeff.get_workload is get_workload
