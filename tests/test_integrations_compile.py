"""The callbacks on a model the framework compiles: counts, curve and crossing equal the eager run's.

Backends: "eager" for Lightning (dynamo captures and guards every frame, graph breaks
and resumes included, then runs each graph as it is, so the curve is bit for bit the
eager one and a test takes seconds) and "aot_eager" for the Hugging Face Trainer
(AOTAutograd too: the backward runs as a compiled graph, as under inductor). What
the counter has to get right is dynamo's: which code runs compiled, and when a
counting mode can see it. One short Hugging Face run uses inductor itself (gcc builds
its kernels: 12 to 26 s here), its counts checked against count_flops.

Batches of 48 from 256 examples: five of 48 and a shorter last one of 16 an epoch,
a new input signature in the middle of a compiled run.
"""

import warnings

import pytest
import torch
from torch import nn

from algoeff import StepCounter, Target, count_flops

L = pytest.importorskip("lightning.pytorch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("accelerate")
from torch._dynamo.eval_frame import OptimizedModule  # noqa: E402
from torch._dynamo.utils import counters  # noqa: E402
from transformers import Trainer, TrainingArguments  # noqa: E402

from algoeff.integrations import lightning as pl_cb  # noqa: E402
from algoeff.integrations import transformers as hf_cb  # noqa: E402
import lightning_toys  # noqa: E402
from trainer_toys import KeywordClassifier, Pairs, accuracy  # noqa: E402

pytestmark = pytest.mark.slow
torch.set_num_threads(1)

BATCH = 48


def _data(n):
    # two Gaussian classes in 8 dimensions, made here: 256 training examples, the rest for validation
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (n,), generator=g)
    x = torch.randn(n, 8, generator=g) + 1.5 * (2 * y[:, None] - 1) * torch.linspace(1, 0, 8)
    return (x[:256], y[:256]), (x[256:], y[256:])


def _net():
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))


def _train_flops(x, y):
    """count_flops of one training step of the network on (x, y), the bare-loop figure."""
    return count_flops(_net(), x, train=True, loss_fn=lambda out: nn.functional.cross_entropy(out, y)).total


def _epoch_flops(x, y):
    # under "matmul" the optimizer adds nothing: per step, forward and backward of its batch
    return sum(_train_flops(x[i:i + BATCH], y[i:i + BATCH]) for i in range(0, len(x), BATCH))


def _lost_step_warnings(caught):
    return [str(w.message) for w in caught if str(w.message).startswith("StepCounter")]


def _curve(callback):
    # every metric but the Trainer's timings (eval_runtime, eval_samples_per_second, ...)
    return [{k: v for k, v in p.metrics.items() if "runtime" not in k and "per_second" not in k}
            for p in callback.tracker.curve]


def _same_run(compiled, eager):
    """The assertions every compiled case makes against its eager run."""
    got, want = compiled.summary, eager.summary
    for key in ("steps", "total_flops", "eval_flops", "examples", "points", "steps_to_target",
                "compute_to_target", "compute_to_target_interpolated"):
        assert got[key] == want[key], key
    assert _curve(compiled) == _curve(eager)
    assert got["reached"]


# -- Lightning ---------------------------------------------------------------------

(X, Y), (XV, YV) = _data(384)


def test_a_named_batch_lets_a_compiled_step_of_a_new_shape_be_counted():
    """What the Lightning callback relies on: StepCounter.expect(batch) before a compiled training_step."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = _net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    counter = StepCounter(model)

    @torch.compile(backend="eager")
    def training_step(batch):  # the model's forward runs inside compiled code, as under Lightning
        x, y, _names = batch
        return nn.functional.cross_entropy(model(x), y)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for n, tag in ((48, "a"), (48, "b"), (16, "c"), (48, "d"), (16, "e")):
            batch = (X[:n], Y[:n], [f"{tag}{i}" for i in range(n)])  # file names differ in every batch
            counter.expect(batch)
            with counter.step():
                loss = training_step(batch)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            assert counter.last.total == _train_flops(X[:n], Y[:n]), n
    assert _lost_step_warnings(caught) == []
    # counted eagerly: the first batch of 48 and the first of 16; the names make no batch new
    assert (counter.misses, counter.hits) == (2, 3)


class Classifier(lightning_toys.Classifier):
    def __init__(self, compile_net=None):
        torch.manual_seed(0)
        super().__init__(_net())
        self.compile_net = compile_net
        if compile_net == "__init__":
            self.net = torch.compile(self.net, backend="eager")

    def configure_model(self):
        if self.compile_net == "configure_model" and not isinstance(self.net, OptimizedModule):
            self.net = torch.compile(self.net, backend="eager")


def _fit(module, callback=True):
    callback = pl_cb.ComputeToTarget(Target("val_acc", 0.95)) if callback else None
    trainer = L.Trainer(callbacks=[callback] if callback else [], max_epochs=2, val_check_interval=2,
                        accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=BATCH)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(XV, YV), batch_size=BATCH)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.fit(module, train, val)
    return callback, trainer, caught


@pytest.fixture(scope="module")
def lightning_eager():
    torch._dynamo.reset()
    callback, trainer, _ = _fit(Classifier())
    # 2 epochs of 6 optimizer steps (the sixth on 16 examples); validation every 2 batches
    assert callback.summary["steps"] == trainer.global_step == 12
    assert callback.summary["total_flops"] == 2 * _epoch_flops(X, Y)
    # 128 validation examples in batches of 48, 48 and 32
    validation = sum(count_flops(_net(), XV[i:i + BATCH]).total for i in range(0, len(XV), BATCH))
    assert callback.summary["eval_flops"] == validation * callback.summary["points"]
    return callback


@pytest.mark.parametrize("how", ["fit(torch.compile(module))", "configure_model"])
def test_lightning_compiled_counts_as_eager(how, lightning_eager):
    torch._dynamo.reset()
    counters.clear()
    if how == "configure_model":
        module = Classifier(compile_net="configure_model")
        callback, trainer, caught = _fit(module)
        assert isinstance(module.net, OptimizedModule)
    else:
        module = Classifier()
        callback, trainer, caught = _fit(torch.compile(module, backend="eager"))
        assert module._compiler_ctx is not None  # Lightning unwrapped it and compiled its steps
    assert counters["frames"]["ok"] > 0 and counters["stats"]["unique_graphs"] > 0  # it did compile
    assert _lost_step_warnings(caught) == []
    _same_run(callback, lightning_eager)
    assert callback.summary["total_flops"] == 2 * _epoch_flops(X, Y)


# -- Hugging Face Trainer ------------------------------------------------------------

(HX, HY), (HXV, HYV) = _data(356)


def Tiny():
    torch.manual_seed(0)
    return KeywordClassifier(_net())


def _train(tmp_path, callback=True, **compile_args):
    callback = hf_cb.ComputeToTarget(Target("eval_accuracy", 0.95)) if callback else None
    args = TrainingArguments(output_dir=str(tmp_path / "out"), per_device_train_batch_size=BATCH,
                             per_device_eval_batch_size=64, num_train_epochs=2, eval_strategy="steps",
                             eval_steps=2, logging_steps=2, report_to="none", use_cpu=True, save_strategy="no",
                             disable_tqdm=True, learning_rate=0.01, seed=0, dataloader_num_workers=0,
                             **compile_args)
    trainer = Trainer(model=Tiny(), args=args, train_dataset=Pairs(HX, HY), eval_dataset=Pairs(HXV, HYV),
                      compute_metrics=accuracy, callbacks=[callback] if callback else [])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer.train()
    return callback, trainer, caught


def _hf_eval_flops():
    # 100 evaluation examples in batches of 64 and 36, counted eagerly (the Trainer evaluates uncompiled)
    return sum(count_flops(Tiny(), {"x": HXV[i:i + 64], "labels": HYV[i:i + 64]}).total for i in (0, 64))


def test_hf_torch_compile_counts_as_eager(tmp_path):
    torch._dynamo.reset()
    eager, _, _ = _train(tmp_path)
    assert eager.summary["steps"] == 12 and eager.summary["total_flops"] == 2 * _epoch_flops(HX, HY)
    assert eager.summary["eval_flops"] == _hf_eval_flops() * eager.summary["points"]

    torch._dynamo.reset()
    counters.clear()
    callback, trainer, caught = _train(tmp_path, torch_compile=True, torch_compile_backend="aot_eager")
    assert isinstance(trainer.model_wrapped, OptimizedModule)
    assert not trainer.model_wrapped._forward_pre_hooks  # the callback's watch on it ended with the run
    assert counters["frames"]["ok"] > 0 and counters["aot_autograd"]["ok"] > 0
    assert _lost_step_warnings(caught) == []
    _same_run(callback, eager)


def test_hf_torch_compile_inductor_counts_each_batch(tmp_path):
    # inductor's C++ kernels: 7 steps (the sixth on the shorter batch) keep gcc's work to two compiles
    torch._dynamo.reset()
    counters.clear()
    callback, trainer, caught = _train(tmp_path, max_steps=7, torch_compile=True, torch_compile_backend="inductor")
    assert counters["inductor"] and counters["aot_autograd"]["ok"] > 0
    assert _lost_step_warnings(caught) == []
    summary = callback.summary
    per_step = [_train_flops(HX[i:i + BATCH], HY[i:i + BATCH]) for i in range(0, len(HX), BATCH)]
    assert summary["steps"] == 7 and summary["total_flops"] == sum(per_step) + per_step[0]
    assert summary["eval_flops"] == _hf_eval_flops() * summary["points"]
