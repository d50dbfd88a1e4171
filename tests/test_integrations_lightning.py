"""The Lightning callback: exact per-step counts, the bare tracker's crossing, the loggers, the store."""

import csv
import importlib.metadata

import pytest
import torch
from torch import nn

from algoeff import ComputeTracker, RunStore, Target, TrackError, count_flops

L = pytest.importorskip("lightning.pytorch")
import lightning_toys as toys  # noqa: E402
from algoeff.integrations.lightning import ComputeToTarget  # noqa: E402

BATCH = 32


def _data():
    # two Gaussian classes in 8 dimensions, made here: 256 training and 128 validation examples
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (384,), generator=g)
    x = torch.randn(384, 8, generator=g) + 1.5 * (2 * y[:, None] - 1) * torch.linspace(1, 0, 8)
    return (x[:256], y[:256]), (x[256:], y[256:])


(X, Y), (XV, YV) = _data()


def _net():
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))


class Classifier(toys.Classifier):
    def __init__(self, lr=0.05, through_submodule=False):
        torch.manual_seed(0)
        super().__init__(_net(), lr=lr)
        self.through_submodule = through_submodule

    def logits(self, x):
        return self.net(x) if self.through_submodule else self(x)


def _loaders():
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=BATCH)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(XV, YV), batch_size=len(XV))
    return train, val


def _fit(callback, module=None, **trainer_kwargs):
    options = dict(max_epochs=4, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                   log_every_n_steps=1)
    options.update(trainer_kwargs)
    module = module or Classifier()
    trainer = L.Trainer(callbacks=[callback] if callback is not None else [], **options)
    trainer.fit(module, *_loaders())
    return trainer, module


def _per_micro_batch(batch=BATCH):
    # one step's forward and backward of the same network and batch, counted on their own
    return count_flops(_net(), X[:batch], train=True, loss_fn=lambda out: nn.functional.cross_entropy(out, Y[:batch]),
                       optimizer=torch.optim.SGD(_net().parameters(), lr=0.05)).total


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One Lightning run to the target, shared by the tests that read it."""
    tmp = tmp_path_factory.mktemp("lightning")
    callback = ComputeToTarget(Target("val_acc", 0.95), store=tmp / "runs.db", run_name="blobs",
                               stop_on_target=True)
    trainer, _ = _fit(callback, max_epochs=10, val_check_interval=2,
                      logger=L.loggers.CSVLogger(tmp, name="csv", version=0))
    return callback, trainer, tmp


def test_counts_equal_count_flops_times_steps(run):
    callback, trainer, _ = run
    summary = callback.summary
    per_step = _per_micro_batch()
    # 8 batches of 32 per epoch, one optimizer step each; under "matmul" SGD adds nothing
    assert summary["steps"] == trainer.global_step
    assert summary["total_flops"] == per_step * summary["steps"]
    assert summary["compute_to_target"] == per_step * summary["steps_to_target"]
    assert summary["examples"] == BATCH * summary["steps"]
    # validation: one forward over the 128 validation examples per check, kept apart
    val = count_flops(_net(), XV).total
    assert summary["eval_flops"] == val * summary["points"]


def test_stops_at_target_and_crossing_equals_a_bare_tracker_loop(run):
    callback, trainer, _ = run
    summary = callback.summary
    assert summary["reached"] and trainer.should_stop
    assert trainer.global_step == summary["steps_to_target"] < 80  # stopped before max_epochs=10

    # the same training in a bare loop with ComputeTracker: same init, data order, optimizer, checks
    module = Classifier()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.05)
    tracker = ComputeTracker(module, Target("val_acc", 0.95))
    train, _ = _loaders()
    done = False
    while not done:
        for x, y in train:
            with tracker.step():
                loss = nn.functional.cross_entropy(module(x), y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if tracker.steps % 2 == 0:
                with torch.no_grad():
                    accuracy = (module(XV).argmax(1) == YV).float().mean()
                if tracker.record(val_acc=accuracy):
                    done = True
                    break
    bare = tracker.finish()
    assert [p.metrics["val_acc"] for p in callback.tracker.curve] == [p.metrics["val_acc"] for p in tracker.curve]
    assert summary["compute_to_target"] == bare["compute_to_target"]
    assert summary["compute_to_target_interpolated"] == bare["compute_to_target_interpolated"]


def test_figures_reach_the_csv_logger(run):
    callback, _, tmp = run
    with open(tmp / "csv" / "version_0" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    columns = set(rows[0])
    assert {"algoeff/train_flops", "algoeff/eval_flops", "algoeff/compute_to_target", "val_acc"} <= columns
    crossings = [float(r["algoeff/compute_to_target"]) for r in rows if r["algoeff/compute_to_target"]]
    assert crossings and crossings[-1] == callback.summary["compute_to_target"]
    # on the step Lightning gives the validation that reached the target
    first = next(r for r in rows if r["algoeff/compute_to_target"])
    reached = next(r for r in rows if r["val_acc"] and float(r["val_acc"]) >= 0.95)
    assert first["step"] == reached["step"]
    train_flops = [float(r["algoeff/train_flops"]) for r in rows if r["algoeff/train_flops"]]
    assert max(train_flops) == callback.summary["total_flops"]
    assert "algoeff/mfu" not in columns  # a CPU has no peak in the hardware catalog


def test_run_is_in_the_store(run):
    callback, _, tmp = run
    store = RunStore(tmp / "runs.db")
    runs = store.runs()
    assert len(runs) == 1
    stored = store.run(int(runs["id"].iloc[0]))
    assert stored["name"] == "blobs" and stored["status"] == "finished"
    assert stored["summary"]["compute_to_target"] == callback.summary["compute_to_target"]
    assert stored["config"]["framework"] == "lightning"
    points = store.points(stored["id"])
    assert len(points) == callback.summary["points"]


def test_accumulate_grad_batches_counts_each_micro_batch():
    callback = ComputeToTarget(Target("val_acc", 1.01))  # never reached: runs both epochs
    trainer, _ = _fit(callback, max_epochs=2, accumulate_grad_batches=3)
    summary = callback.summary
    # 8 micro-batches an epoch in windows of 3, 3 and 2: 3 optimizer steps an epoch
    assert trainer.global_step == summary["steps"] == 6
    assert summary["total_flops"] == _per_micro_batch() * 16
    assert summary["examples"] == 2 * 256
    assert summary["status"] == "finished" and not summary["reached"]


def test_mixed_precision_counts_the_same_step():
    dtypes = set()
    module = Classifier()
    module.net[0].register_forward_hook(lambda layer, args, out: dtypes.add(out.dtype))
    callback = ComputeToTarget(Target("val_acc", 1.01))
    trainer, _ = _fit(callback, module, max_epochs=1, precision="bf16-mixed")
    assert torch.bfloat16 in dtypes  # Lightning ran it under autocast
    # FLOPs are shapes' arithmetic: autocast changes dtypes, not the count
    assert callback.summary["total_flops"] == _per_micro_batch() * trainer.global_step == _per_micro_batch() * 8


def test_unlogged_target_metric_names_the_logged_ones():
    callback = ComputeToTarget(Target("val_accuracy", 0.9))
    with pytest.raises(TrackError, match=r"'val_accuracy' was not logged .*logged: train_loss, val_acc\."):
        _fit(callback, max_epochs=1)
    assert callback.summary["status"] == "failed"


def test_attached_twice_is_an_error():
    callback = ComputeToTarget(Target("val_acc", 0.9))
    trainer = L.Trainer(callbacks=[callback, callback], max_epochs=1, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    with pytest.raises(TrackError, match="attached 2 times"):
        trainer.fit(Classifier(), *_loaders())


def test_training_step_that_skips_the_module_says_how_to_fix_it():
    with pytest.raises(TrackError, match=r"no forward pass of Classifier .*pass model="):
        _fit(ComputeToTarget(Target("val_acc", 0.9)), Classifier(through_submodule=True), max_epochs=1)
    module = Classifier(through_submodule=True)
    callback = ComputeToTarget(Target("val_acc", 1.01), model=module.net)
    trainer, _ = _fit(callback, module, max_epochs=1)
    assert callback.summary["total_flops"] == _per_micro_batch() * trainer.global_step


def test_version_outside_the_supported_range(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "1.9.5")
    with pytest.raises(TrackError, match=r"supports lightning >=2.4,<3; found lightning 1.9.5"):
        ComputeToTarget(Target("val_acc", 0.9))


@pytest.mark.parametrize("bad, message", [
    ("val_acc", "must be an algoeff.Target"),
    (Target("val_acc", 0.9), "stop_on_target == 'yes'"),
])
def test_bad_arguments(bad, message):
    kwargs = {"stop_on_target": "yes"} if isinstance(bad, Target) else {}
    with pytest.raises(TrackError, match=message):
        ComputeToTarget(bad, **kwargs)


def test_sanity_check_counts_as_evaluation_and_validate_after_fit_is_left_alone():
    callback = ComputeToTarget(Target("val_acc", 1.01))
    trainer, module = _fit(callback, max_epochs=1, num_sanity_val_steps=1)
    summary = callback.summary
    # the sanity check's one validation batch is compute spent, but it makes no point
    assert summary["points"] == 1
    assert summary["eval_flops"] == count_flops(_net(), XV).total * 2
    trainer.validate(module, _loaders()[1], verbose=False)  # after fit: not part of the run
    assert callback.summary == summary and callback.tracker.status == "finished"


class _Recorder(L.profilers.PassThroughProfiler):
    """Lightning's no-op profiler, keeping the name of every action it is asked to profile."""

    def __init__(self):
        super().__init__()
        self.actions = []

    def start(self, action_name):
        self.actions.append(action_name)


def test_lightning_skips_the_per_batch_hooks_the_callback_does_not_use():
    # Lightning dispatches every hook to every callback through its profiler, no-ops too; those four
    # run at every batch, and a subclass that implements one still gets it
    class WithOwnHook(ComputeToTarget):
        def on_after_backward(self, trainer, pl_module):
            self.backwards = getattr(self, "backwards", 0) + 1

    profiler = _Recorder()
    plain, own = ComputeToTarget(Target("val_acc", 1.01)), WithOwnHook(Target("val_acc", 1.01))
    trainer = L.Trainer(callbacks=[plain], profiler=profiler, max_epochs=1, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                        num_sanity_val_steps=0)
    trainer.fit(Classifier(), *_loaders())
    called = {name.split(".")[-1] for name in profiler.actions if name.startswith("[Callback]ComputeToTarget.")}
    assert {"on_train_batch_start", "on_train_batch_end", "on_validation_end"} <= called
    assert not called & {"on_before_backward", "on_after_backward", "on_before_optimizer_step",
                         "on_before_zero_grad"}
    assert plain.summary["steps"] == trainer.global_step == 8
    _fit(own, max_epochs=1)
    assert own.backwards == 8 and own.summary["steps"] == 8
