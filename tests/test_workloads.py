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
    "total_train_flops", "eval_flops", "final_metric", "diverged", "wall_s", "curve",
}


class EasyMNIST1D(MNIST1D):
    """MNIST-1D with a target any convolutional net passes within an epoch."""

    threshold = 0.3

    @property
    def target(self):
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
def test_target_is_a_fixed_number_from_the_data_file(name):
    wl = get_workload(name)
    assert wl.target.metric == "test_accuracy" and wl.target.higher_is_better
    assert 0.5 < wl.target.threshold < 1


def test_has_reached_target_reads_the_target_metric():
    wl = get_workload("mnist1d")
    level = wl.target.threshold
    assert wl.has_reached_target({"test_accuracy": level, "test_loss": 9.0})
    assert not wl.has_reached_target({"test_accuracy": level - 0.001})
    assert not wl.has_reached_target({"test_loss": 0.1})  # no accuracy: not reached
    assert not wl.has_reached_target({"test_accuracy": float("nan")})


def test_measure_target_averages_the_baselines_final_accuracy(monkeypatch):
    from algoeff.workloads import measure

    wl = get_workload("mnist1d")
    calls = []

    def fake_run_trial(recipe, config, seed, *, full_schedule=False):
        calls.append((recipe, config, seed, full_schedule))
        return {"config": {"lr": 0.1}, "final_metric": [0.7, 0.8, 0.9][seed], "total_train_flops": 10, "wall_s": 1.0}

    monkeypatch.setattr(wl, "run_trial", fake_run_trial)
    monkeypatch.setattr(measure, "get_workload", lambda name: wl)
    result = measure.measure_target("mnist1d", seeds=3)
    # the baseline's defaults (config None), its full schedule, seeds 0-2
    assert calls == [("alexnet-2012", None, seed, True) for seed in range(3)]
    assert result["final_metrics"] == [0.7, 0.8, 0.9]
    assert math.isclose(result["mean"], 0.8) and math.isclose(result["stdev"], 0.1)


def test_unknown_recipe_lists_the_known_ones():
    with pytest.raises(StudyError, match=r"Unknown recipe 'vgg-2014' for workload 'mnist1d'. Possible values are: 'mlp-1986', 'alexnet-2012'"):
        get_workload("mnist1d").recipe("vgg-2014")


@pytest.mark.parametrize("name", SMALL)
def test_sweeps_are_full_valid_configs_and_quick_is_smaller(name):
    wl = get_workload(name)
    for recipe in wl.recipes():
        full, quick = recipe.sweep(), recipe.sweep(quick=True)
        assert 1 <= len(quick) < len(full)
        assert all(c in full for c in quick)
        assert recipe.defaults in full or recipe.defaults in quick
        for config in full:
            assert set(config) == set(recipe.defaults)
            assert wl.resolve_config(recipe, config) == config


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


def test_mnist1d_shapes_and_split():
    x, y, x_test, y_test = get_workload("mnist1d").arrays()
    assert x.shape == (4000, 1, 40) and x_test.shape == (1000, 1, 40)
    assert y.shape == (4000,) and y_test.shape == (1000,)
    assert set(y.tolist()) == set(range(10))
    assert abs(float(torch.cat([x, x_test]).mean())) < 1e-3  # make_dataset standardises


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


def test_digits_split():
    x, y, x_test, y_test = get_workload("digits").arrays()
    assert x.shape == (1347, 1, 8, 8) and x_test.shape == (450, 1, 8, 8)
    assert abs(float(x.mean())) < 1e-5


# -- one trial ------------------------------------------------------------------------


def test_trial_stops_at_the_target_and_reports_the_trackers_compute(tmp_path):
    wl = EasyMNIST1D()
    points = []
    store = tmp_path / "runs.db"
    result = wl.run_trial("resnet-2015", {"epochs": 2}, 0, store=store, run_key="k0", on_eval=points.append)
    assert set(result) == RESULT_KEYS
    assert result["reached"] and not result["diverged"]
    curve = result["curve"]
    assert points == curve
    # the first evaluation at or above the target is where it stopped
    scores = [p["test_accuracy"] for p in curve]
    assert scores[-1] >= 0.3 and all(s < 0.3 for s in scores[:-1])
    assert result["compute_to_target_flops"] == curve[-1]["flops"] == result["total_train_flops"]
    assert curve[0]["flops"] <= result["compute_to_target_interpolated_flops"] <= result["compute_to_target_flops"]
    assert result["eval_flops"] > 0 and result["final_metric"] == scores[-1]
    # the store holds the same run and figures
    with RunStore(store) as runs:
        run = runs.find_run("k0")
        assert run["status"] == "finished"
        assert run["summary"]["compute_to_target"] == result["compute_to_target_flops"]
        assert runs.points(run["id"])["flops"].tolist() == [p["flops"] for p in curve]


def test_full_schedule_trains_every_step_and_charges_all_of_it():
    wl = ReachedMNIST1D()
    result = wl.run_trial("mlp-1986", {"epochs": 2, "batch_size": 500}, 1, full_schedule=True)
    # 4000 // 500 = 8 steps per epoch; evaluated every 8 / 4 = 2 steps: 8 points
    assert len(result["curve"]) == 8
    assert [p["examples"] for p in result["curve"]] == [1000 * i for i in range(1, 9)]
    assert result["total_train_flops"] == result["curve"][-1]["flops"]
    per_step = result["total_train_flops"] / 16
    assert [p["flops"] for p in result["curve"]] == [per_step * 2 * i for i in range(1, 9)]
    # reached at the first evaluation, trained on to the end
    assert result["reached"] and result["compute_to_target_flops"] == result["curve"][0]["flops"]


def test_trials_are_reproducible_per_seed_and_differ_across_seeds():
    wl = EasyMNIST1D()
    config = {"epochs": 1, "batch_size": 1000}
    a = wl.run_trial("mlp-1986", config, 3, full_schedule=True)
    b = wl.run_trial("mlp-1986", config, 3, full_schedule=True)
    c = wl.run_trial("mlp-1986", config, 4, full_schedule=True)
    assert [p["test_accuracy"] for p in a["curve"]] == [p["test_accuracy"] for p in b["curve"]]
    assert [p["test_accuracy"] for p in a["curve"]] != [p["test_accuracy"] for p in c["curve"]]


def test_trial_restores_the_thread_count():
    threads = torch.get_num_threads()
    EasyMNIST1D().run_trial("mlp-1986", {"epochs": 1, "batch_size": 2000}, 0)
    assert torch.get_num_threads() == threads


def test_diverged_trial_is_marked_and_never_reaches():
    result = EasyMNIST1D().run_trial("alexnet-2012", {"epochs": 1, "lr": 1e30, "batch_size": 1000}, 0)
    assert result["diverged"] and not result["reached"]
    assert result["compute_to_target_flops"] is None
    assert len(result["curve"]) == 1  # stopped at the first evaluation


def test_digits_trial_reaches_an_easy_target():
    class EasyDigits(type(get_workload("digits"))):
        @property
        def target(self):
            return Target("test_accuracy", 0.5)

    result = EasyDigits().run_trial("resnet-2015", {"epochs": 5}, 0)
    assert result["reached"] and result["compute_to_target_flops"] > 0
    assert math.isclose(result["compute_to_target_flops"], result["curve"][-1]["flops"])


def test_public_names():
    assert algoeff.get_workload is get_workload
