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

Then single steps of the same model, plain and inside the callbacks' blocks,
taken in turn (the callbacks' own cost a step, without framework noise), and
the CPU cost of one block alone around a tiny forward.

Each run's time is its training loop alone (on_train_start to on_train_end,
taken by the same small timing callback in every mode, so set-up is left
out), on the wall clock and in process CPU time (on a shared machine the
wall clock also counts waiting for a core; CPU time does not). Reports the
median time of each mode and the median over repeats of the paired ratio
mode / plain.

    python benchmarks/bench_integrations.py [--steps 200] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import importlib.util
import json
import os
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


def lightning_run(mode, example, train, val, args, tmp) -> tuple[float, float]:
    import lightning.pytorch as L
    from lightning.fabric.utilities.throughput import measure_flops
    from lightning.pytorch.callbacks import ThroughputMonitor

    from algoeff import Target
    from algoeff.integrations.lightning import ComputeToTarget

    class Timer(L.Callback):
        def on_train_start(self, trainer, pl_module):
            self.start = (time.perf_counter(), time.process_time())

        def on_train_end(self, trainer, pl_module):
            self.seconds = (time.perf_counter() - self.start[0], time.process_time() - self.start[1])

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


def hf_run(mode, example, train, val, args, tmp) -> tuple[float, float]:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from algoeff import Target
    from algoeff.integrations.transformers import ComputeToTarget

    class Timer(TrainerCallback):
        def on_train_begin(self, *a, **k):
            self.start = (time.perf_counter(), time.process_time())

        def on_train_end(self, *a, **k):
            self.seconds = (time.perf_counter() - self.start[0], time.process_time() - self.start[1])

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


def interleaved_steps(batch_size: int, steps: int) -> dict:
    """Median CPU seconds of one closure step, plain and inside the callbacks' blocks, taken in turn.

    The callbacks' own work on each step (opening and closing the tracker's
    block, the counter's hooks and cache lookup) on the examples' model, with
    Lightning's way of stepping (optimizer.step(closure)); without the
    framework around it, so the ratio is an upper bound on the callbacks' share
    of a framework step.
    """
    from algoeff import Target
    from algoeff.integrations.common import TrackedRun

    example = _example("lightning_mnist1d")
    models = {mode: example.CNN() for mode in ("plain", "control", "callback")}
    optimizers = {mode: torch.optim.Adam(m.parameters(), lr=1e-2) for mode, m in models.items()}
    run = TrackedRun(models["callback"], Target("val_acc", 2.0), store=None, run_name=None, config={},
                     policy="matmul", causal="full", recount=False, peak_flops=None)
    x, y = torch.randn(batch_size, 1, 40), torch.randint(0, 10, (batch_size,))
    times = {mode: [] for mode in models}
    modes = tuple(models)
    for i in range(steps + 10):
        for mode in modes[i % 3:] + modes[: i % 3]:
            model, optimizer = models[mode], optimizers[mode]

            def closure():
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(model(x), y)
                loss.backward()
                return loss

            start = time.process_time()
            if mode == "callback":
                run.begin_train()
                optimizer.step(closure)
                run.end_train()
            else:
                optimizer.step(closure)
            if i >= 10:  # the first steps warm up and count the step
                times[mode].append(time.process_time() - start)
    run.finish()
    medians = {mode: statistics.median(t) for mode, t in times.items()}
    return {"median_step_seconds": medians,
            "ratio": {mode: medians[mode] / medians["plain"] for mode in ("control", "callback")},
            "callback_us_per_step": 1e6 * (medians["callback"] - medians["plain"])}


def block_cost(repeats: int = 7, calls: int = 3000) -> dict:
    """CPU microseconds of the callbacks' per-batch work alone: open and close a block around one forward.

    A tiny Linear forward with and without the TrackedRun block around it
    (the counter's cache hit, the tracker's and the callbacks' bookkeeping),
    median of ``repeats`` loops of ``calls``: small enough to time on a busy machine.
    """
    from algoeff import Target
    from algoeff.integrations.common import TrackedRun

    model = nn.Linear(4, 2)
    run = TrackedRun(model, Target("val_acc", 2.0), store=None, run_name=None, config={},
                     policy="matmul", causal="full", recount=False, peak_flops=None)
    x = torch.randn(2, 4)

    def per_call(fn):
        loops = []
        for _ in range(repeats):
            start = time.process_time()
            for _ in range(calls):
                fn()
            loops.append((time.process_time() - start) / calls)
        return statistics.median(loops)

    def in_block():
        run.begin_train()
        model(x)
        run.end_train()

    with torch.no_grad():
        in_block()  # the one counted step
        plain, blocked = per_call(lambda: model(x)), per_call(in_block)
    run.finish()
    return {"forward_us": 1e6 * plain, "forward_in_block_us": 1e6 * blocked, "block_us": 1e6 * (blocked - plain)}


def _flops_per_step(batch_size: int) -> dict:
    """One training step as algoeff counts it and as ThroughputMonitor is told it by measure_flops."""
    from lightning.fabric.utilities.throughput import measure_flops

    from algoeff import count_flops

    example = _example("lightning_mnist1d")
    x, y = torch.randn(batch_size, 1, 40), torch.randint(0, 10, (batch_size,))
    ours = count_flops(example.CNN().net, x, train=True, loss_fn=lambda out: nn.functional.cross_entropy(out, y)).total
    with torch.device("meta"):
        meta = example.CNN()
        xm = torch.randn(batch_size, 1, 40)
    return {"algoeff": int(ours), "measure_flops": int(measure_flops(meta, lambda: meta(xm), lambda out: out.sum()))}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--frameworks", default="lightning,hf")
    parser.add_argument("--interleaved-steps", type=int, default=500, help="single steps per mode, taken in turn")
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
               "repeats": args.repeats, "torch_threads": 1, "load_average_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        for framework in args.frameworks.split(","):
            run, name, modes = plans[framework]
            example = _example(name)
            train, val = example.mnist1d(args.samples, 0)
            with contextlib.redirect_stdout(io.StringIO()):  # imports, allocator warm-up
                run(modes[0], example, train, val, args, pathlib.Path(tmp) / "warm")
            times = {clock: {mode: [] for mode in modes} for clock in ("wall", "cpu")}
            for repeat in range(args.repeats):
                order = modes[repeat % len(modes):] + modes[: repeat % len(modes)]
                for mode in order:
                    with contextlib.redirect_stdout(io.StringIO()):  # the frameworks' banners and log lines
                        wall, cpu = run(mode, example, train, val, args, pathlib.Path(tmp) / f"{framework}{repeat}")
                    times["wall"][mode].append(wall)
                    times["cpu"][mode].append(cpu)
            results[framework] = {}
            for clock, by_mode in times.items():
                medians = {mode: statistics.median(t) for mode, t in by_mode.items()}
                ratios = {mode: statistics.median(t / p for t, p in zip(by_mode[mode], by_mode["plain"]))
                          for mode in modes if mode != "plain"}
                results[framework][clock] = {"median_seconds": medians, "median_paired_ratio": ratios,
                                             "seconds": by_mode}
            if not args.json:
                print(f"{framework}: {args.steps} steps, validation every {args.eval_every}, "
                      f"median of {args.repeats} paired runs (wall clock | process CPU time)")
                wall, cpu = results[framework]["wall"], results[framework]["cpu"]
                for mode in modes:
                    line = f"  {mode:<11}{wall['median_seconds'][mode]:7.3f} s"
                    line += "" if mode == "plain" else f" {wall['median_paired_ratio'][mode]:6.3f}x"
                    line = f"{line:<30}| {cpu['median_seconds'][mode]:7.3f} s"
                    line += "" if mode == "plain" else f" {cpu['median_paired_ratio'][mode]:6.3f}x"
                    print(line)
    results["interleaved"] = interleaved_steps(args.batch_size, args.interleaved_steps)
    results["block"] = block_cost()
    results["load_average_after"] = os.getloadavg()[0]
    if "lightning" in results:
        results["lightning"]["flops_per_step"] = _flops_per_step(args.batch_size)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        inter = results["interleaved"]
        print("interleaved single steps (optimizer.step(closure), no framework), CPU time, "
              f"median of {args.interleaved_steps}:")
        for mode, seconds in inter["median_step_seconds"].items():
            ratio = "" if mode == "plain" else f"  {inter['ratio'][mode]:.3f}x plain"
            print(f"  {mode:<11}{1e3 * seconds:8.3f} ms/step{ratio}")
        print(f"  the callbacks' own work: {inter['callback_us_per_step']:.0f} us a step")
        block = results["block"]
        print(f"one block alone (CPU): {block['block_us']:.1f} us around a {block['forward_us']:.1f} us Linear forward")
        print(f"load average {results['load_average_before']:.1f} before, {results['load_average_after']:.1f} after")
        if "lightning" in results:
            figures = results["lightning"]["flops_per_step"]
            print(f"FLOPs a step: algoeff {figures['algoeff']:,}; ThroughputMonitor's measure_flops "
                  f"{figures['measure_flops']:,} (forward and backward on meta)")
    return results


if __name__ == "__main__":
    main()
