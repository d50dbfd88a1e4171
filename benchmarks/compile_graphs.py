"""Does the callback change what dynamo compiles? Frames, graphs, graph breaks, with and without it.

Not a timing: dynamo's own counters (torch._dynamo.utils.counters) after the same
compiled run (3 epochs of the tests' data, batches of 48, a shorter last batch,
validation every 2 batches) with and without ComputeToTarget. "frames at epoch ends"
is dynamo's frame count after each epoch: flat once no step recompiles.

    PYTHONPATH=src python benchmarks/compile_graphs.py
"""

import sys
import warnings

import torch

sys.path.insert(0, "tests")
import test_integrations_compile as t  # noqa: E402
from torch._dynamo.utils import counters  # noqa: E402

import lightning.pytorch as L  # noqa: E402
from transformers import TrainerCallback  # noqa: E402


EPOCHS = 3


def _snapshot():
    breaks = {}
    for reason, n in counters["graph_break"].items():
        short = reason.split("\n")[0][:70]
        breaks[short] = breaks.get(short, 0) + n
    return {"frames": counters["frames"]["total"], "ok": counters["frames"]["ok"],
            "graphs": counters["stats"]["unique_graphs"], "breaks": sum(breaks.values()), "reasons": breaks}


class EpochFramesPL(L.Callback):
    def __init__(self):
        self.at = []

    def on_train_epoch_end(self, trainer, pl_module):
        self.at.append(counters["frames"]["total"])


class EpochFramesHF(TrainerCallback):
    def __init__(self):
        self.at = []

    def on_epoch_end(self, args, state, control, **kwargs):
        self.at.append(counters["frames"]["total"])


def lightning(how, with_callback):
    torch._dynamo.reset()
    counters.clear()
    epochs = EpochFramesPL()
    module = t.Classifier(compile_net="configure_model" if how == "configure_model" else None)
    model = torch.compile(module, backend="eager") if how == "fit(torch.compile(module))" else module
    callbacks = [epochs] + ([t.pl_cb.ComputeToTarget(t.Target("val_acc", 1.01))] if with_callback else [])
    trainer = L.Trainer(callbacks=callbacks, max_epochs=EPOCHS, val_check_interval=2, accelerator="cpu", devices=1,
                        logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0)
    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(t.X, t.Y), batch_size=t.BATCH)
    val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(t.XV, t.YV), batch_size=t.BATCH)
    trainer.fit(model, train, val)
    return _snapshot(), epochs.at


def hf(backend, with_callback, tmp):
    from transformers import Trainer, TrainingArguments

    torch._dynamo.reset()
    counters.clear()
    epochs = EpochFramesHF()
    callbacks = [epochs] + ([t.hf_cb.ComputeToTarget(t.Target("eval_accuracy", 1.01))] if with_callback else [])
    args = TrainingArguments(output_dir=tmp, per_device_train_batch_size=t.BATCH, per_device_eval_batch_size=64,
                             num_train_epochs=EPOCHS, eval_strategy="steps", eval_steps=2, logging_steps=2,
                             report_to="none", use_cpu=True, save_strategy="no", disable_tqdm=True,
                             learning_rate=0.01, seed=0, dataloader_num_workers=0, torch_compile=True,
                             torch_compile_backend=backend)
    Trainer(model=t.Tiny(), args=args, train_dataset=t.Pairs(t.HX, t.HY), eval_dataset=t.Pairs(t.HXV, t.HYV),
            compute_metrics=t._accuracy, callbacks=callbacks).train()
    return _snapshot(), epochs.at


def main():
    import tempfile

    warnings.simplefilter("ignore")
    cases = [("lightning fit(torch.compile(module)), eager", lambda cb: lightning("fit(torch.compile(module))", cb)),
             ("lightning configure_model, eager", lambda cb: lightning("configure_model", cb))]
    with tempfile.TemporaryDirectory() as tmp:
        cases.append(("hf torch_compile=True, aot_eager", lambda cb: hf("aot_eager", cb, tmp)))
        for name, run in cases:
            for cb in (False, True):
                snap, at = run(cb)
                reasons = "; ".join(f"{n} x {r}" for r, n in sorted(snap["reasons"].items()))
                print(f"{name:45s} callback={str(cb):5s} frames={snap['frames']:3d} (ok {snap['ok']:3d}) "
                      f"graphs={snap['graphs']:3d} breaks={snap['breaks']:3d} frames at epoch ends={at}"
                      f"{' | ' + reasons if reasons else ''}")


if __name__ == "__main__":
    main()
