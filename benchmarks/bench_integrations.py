"""Wall-time overhead of the ComputeToTarget callbacks (target: with / without <= 1.02).

The MNIST-1D CNN of examples/lightning_mnist1d.py and examples/hf_mnist1d.py,
trained for --steps optimizer steps with a validation every --eval-every steps,
in paired runs whose order rotates each repeat so drift in the machine's load
hits every mode alike:

    lightning  plain       Trainer.fit without algoeff
    lightning  control     the same again: how far two identical runs differ here (the floor)
    lightning  callback    with algoeff.integrations.lightning.ComputeToTarget
    lightning  throughput  with Lightning's ThroughputMonitor (flops_per_batch from measure_flops)
    hf         plain, control, callback    the same for transformers.Trainer.train

Each run's time is its training loop alone (on_train_start to on_train_end,
taken by the same small timing callback in every mode, so set-up is left
out). Reports the median time of each mode and the median over repeats of
the paired ratio mode / plain.

    python benchmarks/bench_integrations.py [--steps 200] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import statistics
import tempfile
import time
import warnings

import torch
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def lightning_run(mode, example, train, val, args, tmp) -> float:
    import lightning.pytorch as L
    from lightning.fabric.utilities.throughput import measure_flops
    from lightning.pytorch.callbacks import ThroughputMonitor

    from algoeff import Target
    from algoeff.integrations.lightning import ComputeToTarget

    class Timer(L.Callback):
        def on_train_start(self, trainer, pl_module):
            self.start = time.perf_counter()

        def on_train_end(self, trainer, pl_module):
            self.seconds = time.perf_counter() - self.start

    timer = Timer()
    callbacks = [timer]
    L.seed_everything(0, verbose=False)
    module = example.CNN(1e-2)
    if mode == "callback":
        callbacks.append(ComputeToTarget(Target("val_acc", 2.0)))  # never reached: every run takes --steps
    elif mode == "throughput":
        with torch.device("meta"):
            meta = example.CNN(1e-2)
            x = torch.randn(args.batch_size, 1, 40)
        flops = measure_flops(meta, lambda: meta(x), lambda out: out.sum())
        callbacks.append(ThroughputMonitor(batch_size_fn=lambda batch: batch[0].size(0)))
        module.flops_per_batch = flops  # ThroughputMonitor reads it from the module
    trainer = L.Trainer(max_steps=args.steps, val_check_interval=args.eval_every, check_val_every_n_epoch=None,
                        callbacks=callbacks, logger=L.loggers.CSVLogger(tmp, name=mode), accelerator="cpu",
                        devices=1, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=50)
    trainer.fit(module, torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True),
                torch.utils.data.DataLoader(val, batch_size=len(val)))
    return timer.seconds


def hf_run(mode, example, train, val, args, tmp) -> float:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from algoeff import Target
    from algoeff.integrations.transformers import ComputeToTarget

    class Timer(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.start = time.perf_counter()

        def on_train_end(self, *a, **k):
            self.seconds = time.perf_counter() - self.start

    timer = Timer()
    callbacks = [timer]
    if mode == "callback":
        callbacks.append(ComputeToTarget(Target("eval_accuracy", 2.0)))
    torch.manual_seed(0)
    training = TrainingArguments(
        output_dir=str(tmp), per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=len(val),
        learning_rate=1e-2, max_steps=args.steps, eval_strategy="steps", eval_steps=args.eval_every,
        logging_steps=50, save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True, seed=0,
    )
    trainer = Trainer(model=example.CNN(), args=training, train_dataset=train, eval_dataset=val,
                      compute_metrics=example.accuracy, callbacks=callbacks)
    trainer.train()
    return timer.seconds


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--frameworks", default="lightning,hf")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import logging

    for name in ("lightning", "lightning.pytorch", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)

    plans = {
        "lightning": (lightning_run, "lightning_mnist1d", ("plain", "control", "callback", "throughput")),
        "hf": (hf_run, "hf_mnist1d", ("plain", "control", "callback")),
    }
    results = {"steps": args.steps, "eval_every": args.eval_every, "batch_size": args.batch_size,
               "repeats": args.repeats, "torch_threads": 1}
    with tempfile.TemporaryDirectory() as tmp:
        for framework in args.frameworks.split(","):
            run, name, modes = plans[framework]
            example = _example(name)
            train, val = example.mnist1d(args.samples, 0)
            run(modes[0], example, train, val, args, pathlib.Path(tmp) / "warm")  # imports, allocator warm-up
            times = {mode: [] for mode in modes}
            for repeat in range(args.repeats):
                order = modes[repeat % len(modes):] + modes[: repeat % len(modes)]
                for mode in order:
                    times[mode].append(run(mode, example, train, val, args, pathlib.Path(tmp) / f"{framework}{repeat}"))
            medians = {mode: statistics.median(t) for mode, t in times.items()}
            ratios = {mode: statistics.median(t / p for t, p in zip(times[mode], times["plain"]))
                      for mode in modes if mode != "plain"}
            results[framework] = {"median_seconds": medians, "median_paired_ratio": ratios, "seconds": times}
            if not args.json:
                print(f"{framework}: {args.steps} steps, validation every {args.eval_every}, "
                      f"median of {args.repeats} paired runs")
                for mode in modes:
                    ratio = "" if mode == "plain" else f"  {ratios[mode]:.3f}x plain"
                    print(f"  {mode:<11}{medians[mode]:8.3f} s  {1e3 * medians[mode] / args.steps:6.2f} ms/step{ratio}")
    if args.json:
        print(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
