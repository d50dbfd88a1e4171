"""Overhead of the ComputeToTarget callbacks (target: a run with the callback / without <= 1.02).

The MNIST-1D CNN of examples/lightning_mnist1d.py and examples/hf_mnist1d.py,
trained for --steps optimizer steps with a validation every --eval-every
steps. Three measurements, because on a shared machine identical whole runs
differ by more than the 2% being measured:

1. Whole runs in lockstep pairs (``lockstep.py``): a run with each mode and a
   plain run, in two fresh processes on one CPU that take turns of --turn
   batches (10; each validation is a turn too), so both see the same machine
   throughout; the turn order swaps each repeat. A turn of one batch would
   leave every batch cold from the partner's (a switch of process), which
   charges the callbacks more than a run alone does:

       lightning  control     Trainer.fit without algoeff, against the same: the method's floor
       lightning  callback    with algoeff.integrations.lightning.ComputeToTarget
       lightning  throughput  with Lightning's ThroughputMonitor (flops_per_batch from measure_flops)
       hf         control, callback    the same for transformers.Trainer.train

   Each worker first makes a short plain warm-up run (imports, the allocator,
   the frameworks' lazy set-up), then its measured run, timed whole (the
   fit()/train() call: set-up, training, validation) and for its training loop
   alone (on_train_start to on_train_end) in process CPU time (its wall clock
   holds its partner's turns). Reported: the median over pairs of each paired
   ratio mode / plain, with its order-statistic interval. Runs made one after
   the other instead differ here by more than the 2% being measured (identical
   runs 0.86-1.01x in the medians of paired ratios).

2. Alternating steps inside the framework: one run in which the callback is
   among the trainer's callbacks on odd batches only (a callback before it puts
   it in and takes it out at each batch's start), so the figure holds the
   framework's dispatch of every hook to the callback as well as the
   callback's own work. Adjacent batches see the same machine, so the median
   of (odd batch) / (mean of its two even neighbours) resolves the callback's
   cost a step far below the whole runs' noise; batches next to a validation
   and the first --skip batches are left out. The same statistic on a plain
   run as long (nothing differs between odd and even batches there) is printed beside
   it as the method's floor, and for Lightning, ThroughputMonitor's cost a
   batch measured the same way. The hooks algoeff leaves on the model and
   the optimizers between batches are taken off for the even batches too
   (``_Hooks``), so nothing of algoeff's runs in an even batch. An empty
   callback alternated the same way gives the framework's own price of one
   more callback, which no callback can go below: for Lightning one with
   the two batch hooks ComputeToTarget uses, as no-ops, and the four it
   does not use set to None, as ComputeToTarget does; for the HF Trainer a
   bare TrainerCallback (its CallbackHandler calls every event of every
   callback). The callback's cost less the empty one's is algoeff's own.

3. One-time costs: the callback's set-up hook (tracker and run store made,
   environment read); the counted steps among the alternating run's first
   --first batches, each against the plain batch after it; and the excess of
   the callback's runs over their plain partners in the batches that contain a
   validation (the evaluation counted once, then looked up).

From 2 and 3 the script projects the whole-run ratio at this run's length and
at 1,000 and 10,000 steps: 1 + (one-time + steps x cost a step) / plain run
(the plain run scaled as set-up + steps x its time a step), to set beside the
lockstep figure at this length. --channels 48 and 128 make each step about two
and four times longer.

    python benchmarks/bench_integrations.py [--steps 300] [--repeats 7] [--channels 16] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import pathlib
import statistics
import tempfile
import time
import warnings

import torch

import lockstep

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _example(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _net(channels: int):
    """The examples' CNN with ``channels`` channels (16 in the examples): a larger step at 64."""
    from torch import nn

    return nn.Sequential(
        nn.Conv1d(1, channels, 5, padding=2), nn.ReLU(),
        nn.Conv1d(channels, channels, 5, stride=2, padding=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(channels * 20, 10),
    )


def _model(example, channels: int, *args):
    model = example.CNN(*args)
    if channels != 16:
        model.net = _net(channels)
    return model


def _clock():
    return time.perf_counter(), time.process_time()


# in a lockstep worker's measured run, the batches a turn (0: not in one). Every validation is a turn too.
_TURNS = [0]


class Periods:
    """Batch start times (wall, CPU) and which batches contain a validation."""

    def __init__(self):
        self.starts, self.validated = [], set()
        self.loop = None

    def batch(self):
        if _TURNS[0] and len(self.starts) % _TURNS[0] == 0:
            lockstep.handoff()
        self.starts.append(_clock())

    def validation(self):
        if _TURNS[0]:
            lockstep.handoff()
        self.validated.add(len(self.starts) - 1)

    def to_dict(self) -> dict:
        return {"starts": self.starts, "validated": sorted(self.validated), "loop": self.loop}

    @classmethod
    def from_dict(cls, d: dict) -> "Periods":
        p = cls()
        p.starts, p.validated, p.loop = [tuple(s) for s in d["starts"]], set(d["validated"]), d["loop"]
        return p

    def durations(self, clock: int) -> list[float]:
        return [b[clock] - a[clock] for a, b in zip(self.starts, self.starts[1:])]


# -- the two frameworks ----------------------------------------------------------------


def lightning_run(mode, example, data, args, tmp) -> dict:
    import lightning.pytorch as L
    from lightning.fabric.utilities.throughput import measure_flops
    from lightning.pytorch.callbacks import ThroughputMonitor

    from algoeff import Target
    from algoeff.integrations.lightning import ComputeToTarget

    periods = Periods()

    class Timer(L.Callback):
        """First in the trainer's callbacks; in an alternating run it puts ``alternated`` there on odd batches only."""

        alternated = hooks = None

        def on_train_start(self, trainer, pl_module):
            self.start = _clock()

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            periods.batch()
            if self.alternated is not None:
                # Lightning reads trainer.callbacks at every hook and walks the list as it stands, so the
                # callback put in here runs this batch's hooks from this one on, and a removed one none
                self.hooks = self.hooks or _Hooks(pl_module)
                _present(trainer.callbacks, self, batch_idx % 2 == 1)

        def on_validation_start(self, trainer, pl_module):
            periods.validation()
            if self.alternated is not None:  # validations see the callback always (their batches are left out)
                _present(trainer.callbacks, self, True)

        def on_train_end(self, trainer, pl_module):
            periods.batch()  # the last batch's end
            periods.loop = tuple(b - a for a, b in zip(self.start, _clock()))

    timer = Timer()
    callbacks, setup = [timer], {}
    L.seed_everything(0, verbose=False)
    module = _model(example, args.channels, 1e-2)
    if mode in ("callback", "alternating"):
        callback = _timed_hook(ComputeToTarget(Target("val_acc", 2.0)), "on_fit_start", setup)  # never reached
        callbacks.append(callback)
    elif mode == "alternating-empty":
        callbacks.append(_empty_lightning_callback(L))
    elif mode in ("throughput", "alternating-throughput"):
        with torch.device("meta"):
            meta = _model(example, args.channels, 1e-2)
            x = torch.randn(args.batch_size, 1, 40)
        module.flops_per_batch = measure_flops(meta, lambda: meta(x), lambda out: out.sum())
        callbacks.append(ThroughputMonitor(batch_size_fn=lambda batch: batch[0].size(0)))
    if mode.startswith("alternating"):
        timer.alternated = callbacks[-1]
        timer.hooks = _Hooks(None) if mode in ("alternating-throughput", "alternating-empty") else None
    trainer = L.Trainer(max_steps=args.steps, val_check_interval=args.eval_every, check_val_every_n_epoch=None,
                        callbacks=callbacks, logger=L.loggers.CSVLogger(tmp, name=mode), accelerator="cpu",
                        devices=1, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=50)
    train, val = data
    start = _clock()
    trainer.fit(module, torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True),
                torch.utils.data.DataLoader(val, batch_size=len(val)))
    return {"run": tuple(b - a for a, b in zip(start, _clock())), "loop": periods.loop, "periods": periods,
            "setup": setup.get("seconds")}


def _empty_lightning_callback(L):
    """A callback that Lightning dispatches to as it does to ComputeToTarget, and that does nothing."""
    from algoeff.integrations.lightning import _UNUSED_BATCH_HOOKS

    class Empty(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            pass

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            pass

    empty = Empty()
    for name in _UNUSED_BATCH_HOOKS:
        setattr(empty, name, None)
    return empty


def hf_run(mode, example, data, args, tmp) -> dict:
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from algoeff import Target
    from algoeff.integrations.transformers import ComputeToTarget

    periods = Periods()

    class Timer(TrainerCallback):
        """Before the callback among the Trainer's; in an alternating run it puts ``alternated`` there on odd steps."""

        alternated = hooks = None

        def on_train_begin(self, *a, **k):
            self.start = _clock()

        def on_step_begin(self, args, state, control, **k):
            periods.batch()
            if self.alternated is not None:
                # the CallbackHandler walks its list as it stands: as for Lightning above
                self.hooks = self.hooks or _Hooks(self.handler.model)
                _present(self.handler.callbacks, self, state.global_step % 2 == 1)

        def on_step_end(self, args, state, control, **k):
            if self.alternated is not None and (control.should_evaluate or control.should_log):
                # evaluations and logging see the callback always (their steps are left out)
                _present(self.handler.callbacks, self, True)

        def on_evaluate(self, *a, **k):
            periods.validation()

        def on_train_end(self, *a, **k):
            periods.batch()
            periods.loop = tuple(b - a for a, b in zip(self.start, _clock()))

    timer = Timer()
    callbacks, setup = [timer], {}
    if mode in ("callback", "alternating"):
        callbacks.append(_timed_hook(ComputeToTarget(Target("eval_accuracy", 2.0)), "on_train_begin", setup))
    elif mode == "alternating-empty":
        callbacks.append(TrainerCallback())
    torch.manual_seed(0)
    training = TrainingArguments(
        output_dir=str(tmp), per_device_train_batch_size=args.batch_size, per_device_eval_batch_size=len(data[1]),
        learning_rate=1e-2, max_steps=args.steps, eval_strategy="steps", eval_steps=args.eval_every,
        logging_steps=50, save_strategy="no", report_to="none", disable_tqdm=True, use_cpu=True, seed=0,
    )
    trainer = Trainer(model=_model(example, args.channels), args=training, train_dataset=data[0], eval_dataset=data[1],
                      compute_metrics=example.accuracy, callbacks=callbacks)
    if mode.startswith("alternating"):
        timer.handler, timer.alternated = trainer.callback_handler, callbacks[-1]
        timer.hooks = _Hooks(None) if mode == "alternating-empty" else None  # None: made at the first batch
    start = _clock()
    trainer.train()
    return {"run": tuple(b - a for a, b in zip(start, _clock())), "loop": periods.loop, "periods": periods,
            "setup": setup.get("seconds")}


def _present(callbacks: list, timer, wanted: bool):
    """Put ``timer.alternated`` in the list right after ``timer`` (the hook running now), or take it out.

    ``timer.hooks`` go on or off with it.
    """
    callback = timer.alternated
    if (callback in callbacks) != wanted:
        if wanted:
            callbacks.insert(callbacks.index(timer) + 1, callback)
        else:
            callbacks.remove(callback)
    timer.hooks.present(wanted)


class _Hooks:
    """The hooks left installed between batches, on the model and on every optimizer, off and back on.

    In the benchmark they are algoeff's alone (the callbacks' and the tracker's
    forward pre-hooks, the counter's process-wide optimizer hook pair): their
    tables are copied while the callback is in place, emptied for a batch
    without it and refilled in the same order.
    """

    def __init__(self, model):
        import torch.optim.optimizer as optimizer

        # None: none of them (ThroughputMonitor's run: the optimizer pair is algoeff's, left from earlier runs)
        self.tables = [] if model is None else [
            model._forward_pre_hooks, model._forward_pre_hooks_with_kwargs,
            optimizer._global_optimizer_pre_hooks, optimizer._global_optimizer_post_hooks]
        self.copies = [dict(table) for table in self.tables]
        self.on = True

    def present(self, on: bool):
        if on != self.on:
            self.on = on
            for table, copy in zip(self.tables, self.copies):
                table.clear()
                if on:
                    table.update(copy)


def _timed_hook(callback, name, into: dict):
    """The callback with its hook ``name`` timed (CPU seconds) into ``into['seconds']``."""
    hook = getattr(callback, name)

    def timed(*args, **kwargs):
        began = time.process_time()
        try:
            return hook(*args, **kwargs)
        finally:
            into["seconds"] = time.process_time() - began

    setattr(callback, name, timed)
    return callback


# -- the three measurements ------------------------------------------------------------------


def odd_against_even(periods: list[Periods], skip: int, clock: int) -> tuple[list, list, list]:
    """Per odd batch: its time over the mean of its two even neighbours, the difference, and the even times."""
    ratios, extra, evens = [], [], []
    for p in periods:
        d = p.durations(clock)
        for k in range(max(skip, 1) | 1, len(d) - 1, 2):
            if {k - 1, k, k + 1} & p.validated:
                continue
            neighbours = (d[k - 1] + d[k + 1]) / 2
            ratios.append(d[k] / neighbours)
            extra.append(d[k] - neighbours)
            evens.append(d[k - 1])
    return ratios, extra, evens


def alternating(alternated: Periods, plain: list[Periods], skip: int) -> dict:
    """The callback's cost a batch from a run in which it works on odd batches only, beside a plain run.

    Medians with their 95% order-statistic intervals (exact binomial coverage).
    """
    out = {}
    for clock, name in ((0, "wall"), (1, "cpu")):
        ratios, extra, evens = odd_against_even([alternated], skip, clock)
        floor, _, _ = odd_against_even(plain, skip, clock)
        out[name] = {"ratio": _median_interval(ratios), "us_per_step": _median_interval([1e6 * e for e in extra]),
                     "plain_step_ms": 1e3 * statistics.median(evens), "pairs": len(ratios),
                     "plain_runs_ratio": _median_interval(floor), "plain_runs_pairs": len(floor)}
    return out


def one_time(pairs: list[tuple[dict, dict]], alternated: Periods, first: int) -> dict:
    """CPU seconds of the callback's one-time work: set-up, the first counted steps, the validations.

    The first steps (counted, not yet looked up) from the alternating run: each
    odd batch before ``first`` against the plain batch after it. The
    validations (the first one counted) from the lockstep pairs: the batches
    that contain one, callback run against its plain partner.
    """
    d = alternated.durations(1)
    first_excess = sum(d[k] - d[k + 1] for k in range(1, min(first, len(d) - 1), 2))
    validation_excess = []
    for plain, callback in pairs:
        cv, pv = ([p.durations(1)[k] for k in sorted(p.validated) if k < len(p.durations(1))]
                  for p in (callback["periods"], plain["periods"]))
        validation_excess.append(sum(cv) - sum(pv))
    return {"setup_s": statistics.median(callback["setup"] for _, callback in pairs),
            f"first_{first}_batches_s": first_excess, "validations_s": statistics.median(validation_excess),
            "validations": len(pairs[0][1]["periods"].validated)}


def block_cost(repeats: int = 7, calls: int = 3000) -> dict:
    """CPU microseconds of opening and closing one training block around a tiny forward, in a tight loop.

    The callbacks' per-batch work with warm caches: a lower bound on its cost
    inside a framework step, where the work between blocks evicts it.
    """
    from torch import nn

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


def _flops_per_step(batch_size: int, channels: int) -> dict:
    """One training step as algoeff counts it and as ThroughputMonitor is told it by measure_flops."""
    from lightning.fabric.utilities.throughput import measure_flops
    from torch import nn

    from algoeff import count_flops

    example = _example("lightning_mnist1d")
    x, y = torch.randn(batch_size, 1, 40), torch.randint(0, 10, (batch_size,))
    ours = count_flops(_net(channels), x, train=True, loss_fn=lambda out: nn.functional.cross_entropy(out, y)).total
    with torch.device("meta"):
        meta = _model(example, channels)
        xm = torch.randn(batch_size, 1, 40)
    return {"algoeff": int(ours), "measure_flops": int(measure_flops(meta, lambda: meta(xm), lambda out: out.sum()))}


# -- driver ----------------------------------------------------------------------------------------


_FRAMEWORKS = {
    "lightning": (lightning_run, "lightning_mnist1d", ("plain", "control", "callback", "throughput")),
    "hf": (hf_run, "hf_mnist1d", ("plain", "control", "callback")),
}


def _median_interval(values: list[float]) -> dict:
    """The median with the narrowest order-statistic interval covering at least 95% (exact binomial).

    As algoeff.track.stats.median_interval, for values of any sign: where even
    [min, max] covers less (fewer than 6 values), [min, max] with its coverage.
    """
    from algoeff.track.stats import order_statistic_coverage, order_statistic_rank

    x = sorted(values)
    n = len(x)
    rank = order_statistic_rank(n, 0.95)
    return {"median": statistics.median(x), "low": x[rank - 1], "high": x[n - rank],
            "coverage": order_statistic_coverage(n, rank), "n": n}


def _worker_command(framework: str, mode: str, args) -> list[str]:
    import sys

    return [sys.executable, str(pathlib.Path(__file__).resolve()), "--worker", f"{framework}:{mode}",
            "--steps", str(args.steps), "--eval-every", str(args.eval_every), "--batch-size", str(args.batch_size),
            "--channels", str(args.channels), "--samples", str(args.samples), "--turn", str(args.turn)]


def work(args):
    """A lockstep worker: a short plain warm-up run, then one measured run, in turns of --turn batches."""
    framework, mode = args.worker.split(":")
    lockstep.worker(args.lockstep, args.cpu)
    run, name, _ = _FRAMEWORKS[framework]
    example = _example(name)
    data = example.mnist1d(args.samples, 0)
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        # imports, the allocator, the frameworks' lazy set-up: the same in both workers (algoeff's own
        # first use is left in the measured run, as a user's run pays it)
        warm = argparse.Namespace(**{**vars(args), "steps": 20})
        run("plain", example, data, warm, pathlib.Path(tmp) / "warm")
        lockstep.handoff()  # the first turn: both workers are set up
        _TURNS[0] = args.turn
        result = run(mode, example, data, args, pathlib.Path(tmp) / "run")
        _TURNS[0] = 0
    lockstep.report({"run": result["run"], "loop": result["loop"], "setup": result["setup"],
                     "periods": result["periods"].to_dict()})


def _pair(framework: str, modes: tuple[str, str], args, tmp) -> dict:
    """One lockstep pair of whole runs (in that turn order): mode -> {run, loop, setup, periods}."""
    cpu = max(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    reports = lockstep.run_pair([_worker_command(framework, mode, args) for mode in modes], cpu=cpu,
                                out_dir=str(tmp))
    out = {}
    for mode, report in zip(modes, reports):
        report["periods"] = Periods.from_dict(report["periods"])
        out[mode] = report
    return out


def measure(framework: str, args, tmp) -> dict:
    run, name, modes = _FRAMEWORKS[framework]
    pairs = {mode: [] for mode in modes[1:]}  # mode -> [(plain run, its partner)]
    for repeat in range(args.repeats):
        for mode in modes[1:]:
            order = ("plain", mode) if repeat % 2 == 0 else (mode, "plain")
            pair = _pair(framework, order, args, tmp)
            pairs[mode].append((pair["plain"], pair[mode]))
            if args.progress:
                print(f"  {framework} pair {repeat + 1}/{args.repeats} {mode}: "
                      f"{pair[mode]['run'][1] / pair['plain']['run'][1]:.3f}x", flush=True)
    example = _example(name)
    data = example.mnist1d(args.samples, 0)
    with contextlib.redirect_stdout(io.StringIO()):
        run("callback", example, data, args, tmp / f"{framework}-warm")  # imports, allocator warm-up
        long = argparse.Namespace(**{**vars(args), "steps": args.alternating_steps})
        alternated = run("alternating", example, data, long, tmp / f"{framework}-alt")
        empty = run("alternating-empty", example, data, long, tmp / f"{framework}-alt-empty")
        floor = run("plain", example, data, long, tmp / f"{framework}-alt-plain")
        if framework == "lightning":  # ThroughputMonitor's cost a batch, by the same method
            throughput = run("alternating-throughput", example, data, long, tmp / f"{framework}-alt-tp")

    whole = {}
    plains = [plain for ps in pairs.values() for plain, _ in ps]
    for span in ("run", "loop"):  # CPU seconds: a lockstep worker's wall clock holds its partner's turns
        whole[f"{span}_cpu"] = {
            "median_seconds": {"plain": statistics.median(p[span][1] for p in plains),
                               **{mode: statistics.median(m[span][1] for _, m in ps) for mode, ps in pairs.items()}},
            "paired_ratio": {mode: _median_interval([m[span][1] / p[span][1] for p, m in ps])
                             for mode, ps in pairs.items()},
        }
    step = alternating(alternated["periods"], [floor["periods"]], args.skip)
    step["empty_callback"] = alternating(empty["periods"], [floor["periods"]], args.skip)["cpu"]
    if framework == "lightning":
        step["throughput_monitor"] = alternating(throughput["periods"], [floor["periods"]], args.skip)["cpu"]
    fixed = one_time(pairs["callback"], alternated["periods"], args.first)
    plain_run = whole["run_cpu"]["median_seconds"]["plain"]
    once = fixed["setup_s"] + fixed[f"first_{args.first}_batches_s"]
    per_validation = fixed["validations_s"] / max(1, fixed["validations"])
    per_step = step["cpu"]["us_per_step"]["median"] * 1e-6
    # the plain run as set-up plus steps (validations in them), to scale it to other lengths
    plain_step = (whole["loop_cpu"]["median_seconds"]["plain"]) / args.steps
    plain_setup = plain_run - whole["loop_cpu"]["median_seconds"]["plain"]
    projected = {}
    for steps in sorted({args.steps, 1_000, 10_000}):
        extra = once + steps // args.eval_every * per_validation + steps * per_step
        projected[steps] = {"ratio": 1 + extra / (plain_setup + steps * plain_step), "extra_s": extra}
    return {"whole": whole, "alternating": step, "one_time": fixed, "projected": projected}


def _print(framework: str, result: dict, args):
    whole = result["whole"]
    print(f"{framework}: {args.steps} steps, validation every {args.eval_every}; {args.repeats} lockstep pairs "
          f"(a run with each mode against a plain run, turns of {args.turn} batches on one CPU); CPU seconds, and the "
          "median paired ratio to the plain partner (95% order-statistic interval)")
    modes = list(whole["run_cpu"]["median_seconds"])
    for span, label in (("run", "whole fit/train call"), ("loop", "training loop alone")):
        print(f"  {label}:")
        for mode in modes:
            cpu = whole[f"{span}_cpu"]
            line = f"    {mode:<11}{cpu['median_seconds'][mode]:7.3f} s"
            if mode != "plain":
                r = cpu["paired_ratio"][mode]
                line += f"  {r['median']:.4f}x ({r['low']:.4f}-{r['high']:.4f}, {100 * r['coverage']:.1f}%)"
            print(line)
    step = result["alternating"]
    print(f"  alternating batches ({args.alternating_steps} steps, the callback on odd batches; {step['cpu']['pairs']} "
          "odd batches against their two neighbours; medians, 95% order-statistic intervals):")
    for clock in ("wall", "cpu"):
        s = step[clock]
        r, us, f = s["ratio"], s["us_per_step"], s["plain_runs_ratio"]
        print(f"    {clock:<5}{r['median']:.4f}x a batch ({r['low']:.4f}-{r['high']:.4f}), {us['median']:+.0f} us "
              f"({us['low']:+.0f} to {us['high']:+.0f}) on a {s['plain_step_ms']:.2f} ms batch; plain runs "
              f"{f['median']:.4f}x ({f['low']:.4f}-{f['high']:.4f}, {s['plain_runs_pairs']} batches of a plain run)")
    r, us = step["empty_callback"]["ratio"], step["empty_callback"]["us_per_step"]
    print(f"    an empty callback on odd batches, the same way (CPU; the framework's price of one more callback): "
          f"{r['median']:.4f}x a batch ({r['low']:.4f}-{r['high']:.4f}), {us['median']:+.0f} us "
          f"({us['low']:+.0f} to {us['high']:+.0f}); ComputeToTarget less it: "
          f"{step['cpu']['us_per_step']['median'] - us['median']:+.0f} us a batch")
    if "throughput_monitor" in step:
        r, us = step["throughput_monitor"]["ratio"], step["throughput_monitor"]["us_per_step"]
        print(f"    ThroughputMonitor on odd batches, the same way (CPU): {r['median']:.4f}x a batch "
              f"({r['low']:.4f}-{r['high']:.4f}), {us['median']:+.0f} us ({us['low']:+.0f} to {us['high']:+.0f})")
    fixed = result["one_time"]
    print(f"  one-time (CPU): set-up {1e3 * fixed['setup_s']:.1f} ms; first {args.first} batches "
          f"{1e3 * fixed[f'first_{args.first}_batches_s']:+.1f} ms; {fixed['validations']} validations "
          f"{1e3 * fixed['validations_s']:+.1f} ms")
    print("  projected whole run (one-time + validations + steps x cost a step, over the plain run scaled to "
          "that length, CPU): " + "; ".join(f"{steps} steps {p['ratio']:.4f}x ({1e3 * p['extra_s']:.0f} ms)"
                                             for steps, p in result["projected"].items()))


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=16, help="the CNN's channels (16 in the examples)")
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--alternating-steps", type=int, default=1200, help="length of the alternating run")
    parser.add_argument("--skip", type=int, default=20, help="first batches left out of the alternating comparison")
    parser.add_argument("--first", type=int, default=10, help="first batches charged to the one-time cost")
    parser.add_argument("--turn", type=int, default=10,
                        help="batches a lockstep turn (each switch of process leaves the next batch cold)")
    parser.add_argument("--frameworks", default="lightning,hf")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # framework:mode, a lockstep worker
    parser.add_argument("--lockstep", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.progress = not args.json
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    import logging

    with contextlib.suppress(ImportError):
        import lightning.pytorch  # noqa: F401 -- it sets its loggers' levels when imported
    for name in ("lightning", "lightning.pytorch", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    if args.worker:
        return work(args)

    results = {"steps": args.steps, "eval_every": args.eval_every, "batch_size": args.batch_size,
               "channels": args.channels, "alternating_steps": args.alternating_steps,
               "repeats": args.repeats, "torch_threads": 1, "load_average_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        for framework in args.frameworks.split(","):
            results[framework] = measure(framework, args, pathlib.Path(tmp))
            if not args.json:
                _print(framework, results[framework], args)
    results["block"] = block_cost()
    results["load_average_after"] = os.getloadavg()[0]
    if "lightning" in results:
        results["lightning"]["flops_per_step"] = _flops_per_step(args.batch_size, args.channels)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        block = results["block"]
        print(f"one block in a tight loop (CPU, warm caches): {block['block_us']:.1f} us around a "
              f"{block['forward_us']:.1f} us Linear forward")
        print(f"load average {results['load_average_before']:.1f} before, {results['load_average_after']:.1f} after")
        if "lightning" in results:
            figures = results["lightning"]["flops_per_step"]
            print(f"FLOPs a step: algoeff {figures['algoeff']:,}; ThroughputMonitor's measure_flops "
                  f"{figures['measure_flops']:,} (forward and backward on meta)")
    return results


if __name__ == "__main__":
    main()
