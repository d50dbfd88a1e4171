"""Both callbacks under DDP: two gloo ranks on CPU, each counting its own half, totals all-reduced, rank 0 writing.

The ranks run tests/integrations_ddp_worker.py: Lightning as a user runs it
(``python script.py`` with ``Trainer(accelerator="cpu", devices=2, strategy="ddp")``;
Lightning's launcher starts rank 1 by re-running the script), the Hugging Face
Trainer under ``torch.distributed.run``. Each launch runs three fits, one to a
target, one with a target metric the module never logs and one with gradient
accumulation, so the frameworks are imported once per rank, not once per case.
"""

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import algoeff
from algoeff import ComputeTracker, RunStore, Target, count_flops

pytest.importorskip("lightning.pytorch")
pytest.importorskip("transformers")
pytest.importorskip("accelerate")

import integrations_ddp_worker as worker  # noqa: E402  (tests/ is on sys.path under pytest)

WORLD = 2
(X, Y), (XV, YV) = worker.data()
TARGETS = {"lightning": Target("val_acc", 0.95), "transformers": Target("eval_accuracy", 0.95)}
UNLOGGED = {
    "lightning": "the target's metric 'val_accuracy' was not logged by this LightningModule at validation; "
                 "logged: train_loss, val_acc.",
    "transformers": "the target's metric 'accuracy' was not logged by the Trainer at evaluation; logged: epoch, "
                    "eval_accuracy, eval_loss, eval_runtime, eval_samples_per_second, eval_steps_per_second. "
                    "Did you mean Target('eval_accuracy', ...)?",
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(framework, tmp):
    script = str(Path(worker.__file__))
    if framework == "lightning":
        command = [sys.executable, script, framework, str(tmp)]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(WORLD),
                   script, framework, str(tmp)]
    src = str(Path(algoeff.__file__).resolve().parents[1])  # the algoeff under test, in every rank
    path = os.environ.get("PYTHONPATH")
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MASTER_ADDR="127.0.0.1",
               MASTER_PORT=str(_free_port()), PYTHONPATH=src if not path else src + os.pathsep + path)
    for name in ("LOCAL_RANK", "RANK", "WORLD_SIZE", "NODE_RANK"):  # as if from a fresh shell
        env.pop(name, None)
    # a session of its own: if a rank hangs, every rank (Lightning's rank 1 is a grandchild) is killed with it
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        # the pipes close when the last rank exits, so this waits for Lightning's rank 1 too
        _, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, stderr[-3000:]
    return [json.loads((tmp / f"{framework}-rank{rank}.json").read_text()) for rank in range(WORLD)]


@pytest.fixture(scope="module", params=[pytest.param("lightning", marks=pytest.mark.slow),
                                        pytest.param("transformers", marks=pytest.mark.slow)])
def run(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(request.param)
    return request.param, _launch(request.param, tmp), tmp


def _per_local_step(framework, *, optimizer=True):
    # one rank's micro-batch: forward, loss, backward and (Lightning's, optimizer=True) Adam's step,
    # counted on its own
    if framework == "lightning":
        return count_flops(worker.net(), X[:worker.LOCAL_BATCH], train=True,
                           loss_fn=lambda out: nn.functional.cross_entropy(out, Y[:worker.LOCAL_BATCH]),
                           optimizer=torch.optim.Adam(worker.net().parameters()) if optimizer else None).total
    batch = {"x": X[:worker.LOCAL_BATCH], "labels": Y[:worker.LOCAL_BATCH]}
    return count_flops(worker.KeywordClassifier(worker.net()), batch, train=True, loss_fn=lambda out: out["loss"]).total


def _per_local_evaluation():
    # each rank evaluates its half of the 128 validation examples in two batches of 32
    return 2 * count_flops(worker.net(), XV[:32]).total


def test_every_rank_reports_the_global_total(run):
    framework, ranks, _ = run
    per_step = _per_local_step(framework)
    for rank, result in enumerate(ranks):
        summary = result["target"]["summary"]
        assert result["rank"] == rank and result["world_size"] == summary["world_size"] == WORLD
        assert summary["total_flops"] == per_step * summary["steps"] * WORLD == ranks[0]["target"]["summary"][
            "total_flops"]
        assert result["target"]["local_flops"] * WORLD == summary["total_flops"]
        assert summary["examples"] == worker.LOCAL_BATCH * WORLD * summary["steps"]
        # evaluation apart: never in total_flops, all-reduced like it
        assert summary["eval_flops"] == _per_local_evaluation() * WORLD * summary["points"]
        assert [p["flops"] for p in result["target"]["curve"]] == [
            per_step * WORLD * p["step"] for p in result["target"]["curve"]]


def test_steps_are_looked_up_not_recounted(run):
    framework, ranks, _ = run
    for result in ranks:
        summary = result["target"]["summary"]
        # Adam's cold and warm first steps are the only two counted (as in a single process), the
        # rest cache hits; before the fix Lightning's redirected call made every step a miss
        assert summary["counter"]["misses"] == 2
        assert summary["counter"]["hits"] == summary["steps"] - 2 >= 8
        assert result["target"]["eval_counter"]["misses"] == 1
        assert result["target"]["eval_counter"]["hits"] == 2 * summary["points"] - 1


def test_stop_on_target_stops_both_ranks_at_the_same_step(run):
    framework, ranks, _ = run
    steps = [r["target"]["global_step"] for r in ranks]
    summary = ranks[0]["target"]["summary"]
    assert summary["reached"] and steps[0] == steps[1] == summary["steps"] == summary["steps_to_target"]
    assert steps[0] < 40  # 10 epochs of 4 steps: stopped by the target, not by max_epochs
    # the same points on both ranks: counts and the all-reduced target metric (a rank's own train_loss
    # and wall time differ)
    metric = TARGETS[framework].metric
    points = [[(p["step"], p["flops"], p["examples"], p["eval_flops"], p["metrics"][metric])
               for p in r["target"]["curve"]] for r in ranks]
    assert points[0] == points[1] and len(points[0]) == summary["points"]


def test_only_rank_zero_wrote_the_run(run):
    framework, ranks, tmp = run
    summary = ranks[0]["target"]["summary"]
    store = RunStore(tmp / f"{framework}-target.db")
    runs = store.runs()
    assert len(runs) == 1
    stored = store.run(int(runs["id"].iloc[0]))
    assert stored["status"] == "finished" and stored["config"]["world_size"] == WORLD
    assert stored["summary"]["total_flops"] == summary["total_flops"]
    assert stored["summary"]["compute_to_target"] == summary["compute_to_target"]
    points = store.points(stored["id"])
    assert list(points["step"]) == [p["step"] for p in ranks[0]["target"]["curve"]]
    assert list(points["flops"]) == [p["flops"] for p in ranks[0]["target"]["curve"]]
    # rank 1 has no run id: it never started one
    assert summary["run_id"] is not None and ranks[1]["target"]["summary"]["run_id"] is None


def test_crossing_equals_a_bare_tracker_on_the_same_curve(run):
    framework, ranks, _ = run
    summary = ranks[0]["target"]["summary"]
    target = TARGETS[framework]
    curve = {p["step"]: p["metrics"][target.metric] for p in ranks[0]["target"]["curve"]}
    assert list(curve) == list(range(2, summary["steps"] + 1, 2))
    # one process, the global batch of 64 a step, recording the same scores at the same steps
    model = worker.net()
    optimizer = torch.optim.Adam(model.parameters(), lr=worker.LR)
    tracker = ComputeTracker(model, target)
    for step in range(1, summary["steps"] + 1):
        with tracker.step():
            loss = nn.functional.cross_entropy(model(X[:64]), Y[:64])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if step in curve and tracker.record(**{target.metric: curve[step]}):
            break
    bare = tracker.finish()
    assert bare["reached"] and bare["steps_to_target"] == summary["steps_to_target"]
    assert summary["compute_to_target"] == bare["compute_to_target"]
    assert summary["compute_to_target_interpolated"] == bare["compute_to_target_interpolated"]


def test_unlogged_target_fails_cleanly_on_both_ranks(run):
    framework, ranks, tmp = run
    for result in ranks:
        case = result["unlogged"]
        assert case["error"] == UNLOGGED[framework]
        assert case["global_step"] == 2  # at the first validation, on every rank
        assert case["summary"]["status"] == "failed" and case["summary"]["points"] == 0
    store = RunStore(tmp / f"{framework}-unlogged.db")
    runs = store.runs()
    assert len(runs) == 1
    assert store.run(int(runs["id"].iloc[0]))["status"] == "failed"


def test_gradient_accumulation_counts_each_micro_batch_on_every_rank(run):
    framework, ranks, _ = run
    # a rank's micro-batch without the optimizer, and the optimizer's share of a step (Adam's
    # elementwise work: none under policy "matmul", counted once a step whatever it is)
    micro = _per_local_step(framework, optimizer=False)
    optimizer = _per_local_step(framework) - micro
    for result in ranks:
        case = result["accumulate"]
        summary = case["summary"]
        # 2 epochs of 4 micro-batches a rank, in windows of 2: 4 optimizer steps, none reaching the target
        assert case["error"] is None and case["global_step"] == summary["steps"] == 4
        assert summary["total_flops"] == (8 * micro + 4 * optimizer) * WORLD
        assert case["local_flops"] * WORLD == summary["total_flops"]
        assert summary["examples"] == worker.LOCAL_BATCH * 8 * WORLD
        assert summary["status"] == "finished" and not summary["reached"] and summary["points"] >= 2
        # counted: the first micro-batch, and the blocks of Adam's cold and warm first steps; the other
        # five looked up, under DDP's no_sync micro-batches as under the synced ones
        assert (summary["counter"]["misses"], summary["counter"]["hits"]) == (3, 5)


class _Wrapper(nn.Module):
    """What DistributedDataParallel does with a call: pass it on to the wrapped module."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


def test_redirected_training_step_is_looked_up_in_one_process():
    # Lightning's own forward redirection, as its DDP strategy uses it, without the processes
    import lightning.pytorch as L
    from lightning.pytorch.strategies.strategy import _ForwardRedirection

    from algoeff.integrations.lightning import _redirected

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = worker.net()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, batch_idx):
            return self(batch).square().mean()  # a bare tensor batch: its examples must count once

    module = Module()
    wrapper = _Wrapper(module)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    tracker = ComputeTracker(module, Target("val_acc", 0.9), skip=_redirected)
    for batch_idx in range(6):
        with tracker.step():
            loss = _ForwardRedirection()(wrapper, module, "training_step", X[:32], batch_idx)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    counter = tracker.counter
    assert (counter.misses, counter.hits) == (1, 5)  # without skip: 6 misses, one per batch_idx
    assert tracker.examples == 6 * 32
    per_step = count_flops(worker.net(), X[:32], train=True, loss_fn=lambda out: out.square().mean()).total
    assert tracker.total_flops == 6 * per_step
    # outside a redirection (after it, the module's forward is its own bound method again) nothing is skipped
    assert not _redirected(module, (X[:32],), {}) and not _redirected(worker.net(), (X[:32],), {})


def test_skip_must_be_a_function():
    from algoeff.errors import CountError
    from algoeff.flops import StepCounter

    with pytest.raises(CountError, match=r"skip == 3, must be None or a function"):
        StepCounter(worker.net(), skip=3)
