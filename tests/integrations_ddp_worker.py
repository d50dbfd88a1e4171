"""One rank of the DDP integration tests (tests/test_integrations_ddp.py); not collected by pytest.

    python tests/integrations_ddp_worker.py lightning OUT       # Lightning launches rank 1 itself
    torchrun --standalone --nproc-per-node 2 tests/integrations_ddp_worker.py transformers OUT

Each rank runs three fits: one to a target it reaches (stop_on_target=True), one
with a target metric the module never logs, and one of two epochs with gradient
accumulation over 2 micro-batches (a target never reached); it writes what it saw
to OUT/<framework>-rank<r>.json and ends itself (see _end).
"""

import json
import os
import sys

import torch
from torch import nn

from algoeff import Target, TrackError
from trainer_toys import KeywordClassifier, Pairs, accuracy  # beside this script: torchrun runs it from tests/

LOCAL_BATCH = 32  # per rank: a global batch of 64
LR = 0.003


def data():
    # two Gaussian classes in 8 dimensions: 256 training and 128 validation examples
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (384,), generator=g)
    x = torch.randn(384, 8, generator=g) + 1.5 * (2 * y[:, None] - 1) * torch.linspace(1, 0, 8)
    return (x[:256], y[:256]), (x[256:], y[256:])


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Linear(32, 2))


def _end(code=0):
    # Ending the interpreter normally after gloo can abort ("terminate called without an active
    # exception", issue 17): sync, tear the group down, flush, and skip finalization.
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _result(callback, step, error=None):
    tracker = callback.tracker
    return {
        "error": error,
        "summary": callback.summary,
        "global_step": step,
        "local_flops": tracker.local_flops,
        "curve": [p.to_dict() for p in tracker.curve],
        "eval_counter": {"hits": tracker._eval_counter.hits, "misses": tracker._eval_counter.misses},
    }


def lightning(out):
    import lightning.pytorch as L

    from algoeff.integrations.lightning import ComputeToTarget
    from lightning_toys import Classifier  # beside this script, as trainer_toys

    (x, y), (xv, yv) = data()

    results = {}
    for case, target in (("target", Target("val_acc", 0.95)), ("unlogged", Target("val_accuracy", 0.9)),
                         ("accumulate", Target("val_acc", 1.01))):
        train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=LOCAL_BATCH)
        # two validation batches of 32 per rank
        val = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xv, yv), batch_size=32)
        callback = ComputeToTarget(target, store=os.path.join(out, f"lightning-{case}.db"), run_name="ddp",
                                   stop_on_target=True)
        accumulate = case == "accumulate"
        trainer = L.Trainer(callbacks=[callback], accelerator="cpu", devices=2, strategy="ddp",
                            max_epochs=2 if accumulate else 10, accumulate_grad_batches=2 if accumulate else 1,
                            val_check_interval=2,
                            logger=False, enable_checkpointing=False, enable_progress_bar=False,
                            enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=1)
        error = None
        try:
            trainer.fit(Classifier(net(), lr=LR, optimizer_class=torch.optim.Adam, sync_dist=True), train, val)
        except TrackError as err:
            error = str(err)
        results[case] = _result(callback, trainer.global_step, error)
        results["rank"] = trainer.global_rank
        results["world_size"] = trainer.world_size
    with open(os.path.join(out, f"lightning-rank{results['rank']}.json"), "w") as f:
        json.dump(results, f)
    _end()


def transformers(out):
    from transformers import Trainer, TrainingArguments

    from algoeff.integrations.transformers import ComputeToTarget

    (x, y), (xv, yv) = data()
    results = {}
    for case, target in (("target", Target("eval_accuracy", 0.95)), ("unlogged", Target("accuracy", 0.9)),
                         ("accumulate", Target("eval_accuracy", 1.01))):
        callback = ComputeToTarget(target, store=os.path.join(out, f"transformers-{case}.db"), run_name="ddp",
                                   stop_on_target=True)
        args = TrainingArguments(
            output_dir=os.path.join(out, "hf"), per_device_train_batch_size=LOCAL_BATCH,
            per_device_eval_batch_size=32, num_train_epochs=2 if case == "accumulate" else 10,
            gradient_accumulation_steps=2 if case == "accumulate" else 1, eval_strategy="steps", eval_steps=2,
            logging_steps=2, report_to="none", use_cpu=True, ddp_backend="gloo", save_strategy="no",
            disable_tqdm=True, learning_rate=LR, seed=0, dataloader_num_workers=0, optim="adamw_torch",
            lr_scheduler_type="constant")
        trainer = Trainer(model=KeywordClassifier(net()), args=args, train_dataset=Pairs(x, y),
                          eval_dataset=Pairs(xv, yv), compute_metrics=accuracy, callbacks=[callback])
        error = None
        try:
            trainer.train()
        except TrackError as err:
            error = str(err)
        results[case] = _result(callback, trainer.state.global_step, error)
        results["rank"] = args.process_index
        results["world_size"] = args.world_size
    with open(os.path.join(out, f"transformers-rank{results['rank']}.json"), "w") as f:
        json.dump(results, f)
    _end()


if __name__ == "__main__":
    torch.set_num_threads(1)
    {"lightning": lightning, "transformers": transformers}[sys.argv[1]](sys.argv[2])
