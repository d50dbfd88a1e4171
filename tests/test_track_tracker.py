"""ComputeTracker on small models: counting, crossings, divergence, bad input, the store."""

import copy
import math

import pytest
import torch
from torch import nn

from algoeff import ComputeTracker, RunStore, Target, TrackError
from algoeff.flops import StepCounter

torch.set_num_threads(1)
ACC = Target("accuracy", 0.9)


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def _train_step(model, optimizer, batch=32):
    x = torch.randn(batch, 8)
    loss = nn.functional.cross_entropy(model(x), torch.randint(0, 4, (batch,)))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss


def _per_step_flops(model, batch=32):
    """One step counted by a fresh StepCounter on a copy of the model."""
    model = copy.deepcopy(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    counter = StepCounter(model)
    with counter.step():
        _train_step(model, optimizer, batch)
    return counter.last.total


def test_total_is_per_step_count_times_steps_and_eval_is_apart():
    model = _model()
    per_step = _per_step_flops(model)
    # forward + backward of two linear layers, multiply-add = 2:
    # 3 * 2 * 32 * (8 * 16 + 16 * 4) = 36864 before any input-gradient savings
    assert 0 < per_step <= 36864
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = ComputeTracker(model, ACC)
    for _ in range(5):
        with tracker.step():
            _train_step(model, optimizer)
    assert tracker.total_flops == 5 * per_step
    assert tracker.counter.misses == 1 and tracker.counter.hits == 4
    with tracker.evaluate(), torch.no_grad():
        model(torch.randn(100, 8))
    # forward only: 2 * 100 * (8 * 16 + 16 * 4) = 38400
    assert tracker.eval_flops == 38400
    assert tracker.total_flops == 5 * per_step
    assert not tracker.record(accuracy=0.5)
    point = tracker.curve[-1]
    assert (point.step, point.flops, point.eval_flops, point.examples) == (5, 5 * per_step, 38400, 160)


def test_crossing_conservative_and_interpolated():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = ComputeTracker(model, ACC)
    results = []
    for accuracy in (0.5, 0.8, 1.0, 0.95):
        with tracker.step():
            _train_step(model, optimizer)
        results.append(tracker.record(accuracy=accuracy))
    assert results == [False, False, True, True]
    per_step = tracker.flops_per_step
    assert tracker.compute_to_target == 3 * per_step
    # 0.8 -> 1.0 between 2 and 3 steps of compute; 0.9 is half way in log compute
    assert tracker.compute_to_target_interpolated == pytest.approx(math.sqrt(2 * 3) * per_step)
    summary = tracker.finish()
    assert summary["reached"] and summary["steps_to_target"] == 3
    assert summary["compute_to_target"] == 3 * per_step and summary["status"] == "finished"


def test_lower_is_better_reached_on_first_evaluation():
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = ComputeTracker(model, Target("loss", 5.0, higher_is_better=False))
    with tracker.step():
        loss = _train_step(model, optimizer)
    assert tracker.record(loss=loss)  # a 0-d tensor is accepted
    assert tracker.compute_to_target == tracker.compute_to_target_interpolated == tracker.total_flops


def test_never_reached():
    model = _model()
    tracker = ComputeTracker(model, ACC)
    with tracker.step():
        _train_step(model, torch.optim.SGD(model.parameters(), lr=0.1))
    assert not tracker.record(accuracy=0.2)
    summary = tracker.finish()
    assert tracker.compute_to_target is None and summary["compute_to_target"] is None
    assert summary["best_metric"] == 0.2 and not summary["reached"]


def test_nan_loss_marks_run_diverged_without_crashing(tmp_path):
    model = _model()
    store = RunStore(tmp_path / "runs.db")
    tracker = ComputeTracker(model, ACC, store=store)
    assert not tracker.record(accuracy=0.3, loss=1.2)
    assert not tracker.record(accuracy=0.95, loss=math.nan)
    assert tracker.diverged
    # a diverged model cannot reach the target afterwards
    assert not tracker.record(accuracy=0.99, loss=0.1)
    assert tracker.compute_to_target is None
    summary = tracker.finish()
    assert summary["status"] == "diverged" and summary["diverged"]
    assert store.run(tracker.run_id)["status"] == "diverged"
    points = store.points(tracker.run_id)
    assert len(points) == 3 and math.isnan(points.loc[1, "loss"])


def test_inf_metric_marks_diverged_after_reaching():
    tracker = ComputeTracker(_model(), ACC)
    assert tracker.record(accuracy=0.95)
    assert not tracker.record(accuracy=math.inf)
    assert tracker.diverged and tracker.reached and tracker.compute_to_target == 0


def test_points_and_summary_in_store(tmp_path):
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    store = RunStore(tmp_path / "runs.db")
    tracker = ComputeTracker(model, ACC, store=store, run_name="mlp", run_key="cell-7",
                             config={"lr": 0.1}, examples_per_step=50)
    for accuracy in (0.5, 0.92):
        with tracker.step():
            _train_step(model, optimizer)
        tracker.record(accuracy=accuracy)
    summary = tracker.finish()
    run = store.find_run("cell-7")
    assert run["id"] == tracker.run_id and run["config"] == {"lr": 0.1}
    assert run["summary"]["compute_to_target"] == summary["compute_to_target"] == tracker.total_flops
    assert run["target"] == {"metric": "accuracy", "threshold": 0.9, "higher_is_better": True}
    assert run["environment"]["torch"] == torch.__version__ and run["environment"]["device"] == "cpu"
    points = store.points(tracker.run_id)
    assert list(points["examples"]) == [50, 100]
    assert list(points["flops"]) == [p.flops for p in tracker.curve]


def test_failed_step_is_not_counted_and_context_manager_marks_failed(tmp_path):
    model = _model()
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(RuntimeError, match="boom"):
        with ComputeTracker(model, ACC, store=store) as tracker:
            with tracker.step():
                raise RuntimeError("boom")
    assert tracker.steps == 0 and tracker.total_flops == 0
    assert tracker.status == "failed" and store.run(tracker.run_id)["status"] == "failed"


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda t: t.record(loss=0.3), r"record\(\) got no 'accuracy' \(the target's metric\); got: loss"),
        (lambda t: t.record(), r"record\(\) got no metrics"),
        (lambda t: t.record(accuracy="high"), r"metric 'accuracy' == 'high', must be a real number"),
        (lambda t: t.record(accuracy=torch.ones(3)), r"tensor of shape \(3,\), must be one number"),
        (lambda t: t.record(accuracy=0.5, flops=3), r"metric name 'flops' is reserved"),
        (lambda t: t.step(examples=-3).__enter__(), r"examples == -3, must be >= 0"),
        (lambda t: t.finish(status="done"), r"Unknown run status 'done'. Possible values are: 'finished'"),
    ],
)
def test_bad_calls_are_track_errors(call, message):
    tracker = ComputeTracker(_model(), ACC)
    with pytest.raises(TrackError, match=message):
        call(tracker)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"examples_per_step": -1}, r"examples_per_step == -1, must be >= 0"),
        ({"examples_per_step": 2.5}, r"examples_per_step == 2.5, must be a non-negative integer"),
        ({"config": [1]}, r"config == \[1\], must be a dict"),
        ({"run_key": 3}, r"run_key == 3, must be a string"),
    ],
)
def test_bad_options_are_track_errors(kwargs, message):
    with pytest.raises(TrackError, match=message):
        ComputeTracker(_model(), ACC, **kwargs)


def test_bad_model_and_target():
    with pytest.raises(TrackError, match="model == str, must be a torch.nn.Module"):
        ComputeTracker("model", ACC)
    with pytest.raises(TrackError, match="target == 0.9, must be an algoeff.Target"):
        ComputeTracker(_model(), 0.9)


def test_no_use_after_finish_and_no_hooks_left():
    model = _model()
    tracker = ComputeTracker(model, ACC)
    with tracker.evaluate(), torch.no_grad():
        model(torch.randn(2, 8))
    # one hook a forward for the training and the evaluation counters (and the examples): it forwards
    # to whichever block is open
    assert len(model._forward_pre_hooks) == 1
    tracker.finish()
    assert not model._forward_pre_hooks
    with pytest.raises(TrackError, match=r"record\(\) after finish\(\) \(run status 'finished'\)"):
        tracker.record(accuracy=1.0)
    with pytest.raises(TrackError, match=r"finish\(\) after finish\(\)"):
        tracker.finish()


def test_a_store_in_a_missing_folder_is_refused_and_nothing_created(tmp_path):
    path = tmp_path / "no" / "such" / "runs.db"
    with pytest.raises(TrackError, match="folder .* does not exist; create it first"):
        ComputeTracker(_model(), ACC, store=str(path))
    assert not (tmp_path / "no").exists()


def test_a_training_step_inside_evaluate_is_refused(tmp_path):
    model = _model()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = ComputeTracker(model, ACC)
    with pytest.raises(TrackError, match=r"step\(\) entered inside evaluate\(\)"):
        with tracker.evaluate():
            with tracker.step():
                _train_step(model, optimizer)
    assert tracker.steps == 0 and tracker.total_flops == 0
    # the tracker still works afterwards
    with tracker.step():
        _train_step(model, optimizer)
    assert tracker.steps == 1
    tracker.finish()
