"""The Hugging Face Trainer callback: exact per-step counts, the bare tracker's crossing, logs, the store."""

import csv
import importlib.metadata

import pytest
import torch
from torch import nn

from algoeff import ComputeTracker, RunStore, Target, TrackError, count_flops

transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")
from transformers import Trainer, TrainerCallback, TrainingArguments  # noqa: E402

from algoeff.integrations.transformers import ComputeToTarget  # noqa: E402
from trainer_toys import KeywordClassifier, Pairs, accuracy  # noqa: E402

BATCH, EVAL_BATCH = 32, 64


def _data():
    # two Gaussian classes in 8 dimensions, made here: 256 training and 100 evaluation examples
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (356,), generator=g)
    x = torch.randn(356, 8, generator=g) + 1.5 * (2 * y[:, None] - 1) * torch.linspace(1, 0, 8)
    return (x[:256], y[:256]), (x[256:], y[256:])


(X, Y), (XV, YV) = _data()


def Tiny():
    torch.manual_seed(0)
    return KeywordClassifier(nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2)))


class CSVLog(TrainerCallback):
    """A logging callback: every on_log call's logs as a row of a CSV file."""

    def __init__(self, path):
        self.path, self.rows = path, []

    def on_log(self, args, state, control, logs=None, **kwargs):
        self.rows.append({"step": state.global_step, **logs})

    def on_train_end(self, args, state, control, **kwargs):
        columns = sorted({k for row in self.rows for k in row})
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, columns)
            writer.writeheader()
            writer.writerows(self.rows)


def _trainer(tmp_path, callbacks, **overrides):
    options = dict(output_dir=str(tmp_path / "out"), per_device_train_batch_size=BATCH,
                   per_device_eval_batch_size=EVAL_BATCH, num_train_epochs=4, eval_strategy="steps",
                   eval_steps=2, logging_steps=2, report_to="none", use_cpu=True, save_strategy="no",
                   disable_tqdm=True, learning_rate=0.05, seed=0, dataloader_num_workers=0)
    options.update(overrides)
    return Trainer(model=Tiny(), args=TrainingArguments(**options), train_dataset=Pairs(X, Y),
                   eval_dataset=Pairs(XV, YV), compute_metrics=accuracy, callbacks=callbacks)


def _per_micro_batch():
    return count_flops(Tiny(), {"x": X[:BATCH], "labels": Y[:BATCH]}, train=True, loss_fn=lambda out: out["loss"]).total


def _per_evaluation():
    # 100 evaluation examples in batches of 64 and 36
    return count_flops(Tiny(), {"x": XV[:64], "labels": YV[:64]}).total + count_flops(
        Tiny(), {"x": XV[64:], "labels": YV[64:]}).total


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hf")
    callback = ComputeToTarget(Target("eval_accuracy", 0.9), store=tmp / "runs.db", run_name="blobs",
                               stop_on_target=True)
    log = CSVLog(tmp / "log.csv")
    trainer = _trainer(tmp, [callback, log])
    trainer.train()
    return callback, trainer, tmp


def test_counts_equal_count_flops_times_steps(run):
    callback, trainer, _ = run
    summary = callback.summary
    per_step = _per_micro_batch()
    assert summary["steps"] == trainer.state.global_step
    assert summary["total_flops"] == per_step * summary["steps"]
    assert summary["compute_to_target"] == per_step * summary["steps_to_target"]
    assert summary["examples"] == BATCH * summary["steps"]
    assert summary["eval_flops"] == _per_evaluation() * summary["points"]


def test_stops_at_target_and_crossing_equals_a_bare_tracker_loop(run):
    callback, trainer, _ = run
    summary = callback.summary
    assert summary["reached"] and trainer.state.global_step == summary["steps_to_target"] < 32
    curve = {p.step: p.metrics["eval_accuracy"] for p in callback.tracker.curve}
    assert list(curve) == list(range(2, trainer.state.global_step + 1, 2))

    # a bare ComputeTracker loop over the same steps, recording the same accuracies at the same steps
    model = Tiny()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.05)
    tracker = ComputeTracker(model, Target("eval_accuracy", 0.9))
    for step in range(1, trainer.state.global_step + 1):
        with tracker.step():
            loss = model(X[:BATCH], labels=Y[:BATCH])["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if step in curve and tracker.record(eval_accuracy=curve[step]):
            break
    bare = tracker.finish()
    assert summary["compute_to_target"] == bare["compute_to_target"]
    assert summary["compute_to_target_interpolated"] == bare["compute_to_target_interpolated"]


def test_figures_reach_the_logs_and_log_history(run):
    callback, trainer, tmp = run
    with open(tmp / "log.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {"algoeff/train_flops", "algoeff/eval_flops", "algoeff/compute_to_target", "eval_accuracy"} <= set(rows[0])
    crossings = [float(r["algoeff/compute_to_target"]) for r in rows if r["algoeff/compute_to_target"]]
    assert crossings and crossings[0] == callback.summary["compute_to_target"]
    # the evaluation that reached the target carries its crossing in the Trainer's own history
    reached = [h for h in trainer.state.log_history if "algoeff/compute_to_target" in h and "eval_accuracy" in h]
    assert reached[0]["eval_accuracy"] >= 0.9 and reached[0]["step"] == callback.summary["steps_to_target"]
    assert all("algoeff/mfu" not in h for h in trainer.state.log_history)  # CPU: no catalog peak


def test_run_is_in_the_store(run):
    callback, _, tmp = run
    store = RunStore(tmp / "runs.db")
    runs = store.runs()
    assert len(runs) == 1
    stored = store.run(int(runs["id"].iloc[0]))
    assert stored["status"] == "finished" and stored["config"]["framework"] == "transformers"
    assert stored["summary"]["compute_to_target"] == callback.summary["compute_to_target"]
    assert len(store.points(stored["id"])) == callback.summary["points"]


def test_gradient_accumulation_counts_each_micro_batch(tmp_path):
    callback = ComputeToTarget(Target("eval_accuracy", 1.01))
    trainer = _trainer(tmp_path, [callback], num_train_epochs=2, gradient_accumulation_steps=3, eval_steps=3)
    trainer.train()
    summary = callback.summary
    # 8 micro-batches an epoch in windows of 3, 3 and 2: 3 optimizer steps an epoch
    assert trainer.state.global_step == summary["steps"] == 6
    assert summary["total_flops"] == _per_micro_batch() * 16
    assert summary["examples"] == 2 * 256


def test_unlogged_target_metric_names_the_logged_ones(tmp_path):
    trainer = _trainer(tmp_path, [ComputeToTarget(Target("accuracy", 0.9))], max_steps=2)
    with pytest.raises(TrackError, match=r"'accuracy' was not logged .*eval_accuracy, eval_loss.*"
                                         r"Did you mean Target\('eval_accuracy', \.\.\.\)\?"):
        trainer.train()


@pytest.mark.parametrize("twice", ["same", "two"])
def test_attached_twice_is_an_error(tmp_path, twice):
    first = ComputeToTarget(Target("eval_accuracy", 0.9))
    second = first if twice == "same" else ComputeToTarget(Target("eval_accuracy", 0.9))
    trainer = _trainer(tmp_path, [first], max_steps=2)
    trainer.callback_handler.callbacks.append(second)  # add_callback only warns about a repeated class
    with pytest.raises(TrackError, match="attached more than once"):
        trainer.train()


def test_version_outside_the_supported_range(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "version", lambda name: "4.30.2")
    with pytest.raises(TrackError, match=r"supports transformers >=4.44,<6; found transformers 4.30.2"):
        ComputeToTarget(Target("eval_accuracy", 0.9))


def test_evaluate_after_train_is_left_alone(tmp_path):
    callback = ComputeToTarget(Target("eval_accuracy", 1.01))
    trainer = _trainer(tmp_path, [callback], max_steps=2)
    trainer.train()
    summary = dict(callback.summary)
    assert summary["points"] == 1 and summary["eval_flops"] == _per_evaluation()
    trainer.evaluate()  # after train(): not part of the run, and the model keeps no algoeff hook
    assert callback.summary == summary and callback.tracker.status == "finished"


def test_mixed_precision_counts_the_same_step(tmp_path):
    dtypes = set()
    callback = ComputeToTarget(Target("eval_accuracy", 1.01))  # never reached: one whole epoch
    trainer = _trainer(tmp_path, [callback], bf16=True, num_train_epochs=1)
    trainer.model.net[0].register_forward_hook(lambda module, args, out: dtypes.add(out.dtype))
    trainer.train()
    assert torch.bfloat16 in dtypes  # the Trainer ran it under autocast
    # FLOPs are shapes' arithmetic: autocast changes dtypes, not the count
    assert trainer.state.global_step == callback.summary["steps"] == 8
    assert callback.summary["total_flops"] == _per_micro_batch() * 8
