"""Wall-time overhead of ComputeTracker on a small training loop (target: tracked / untracked <= 1.02).

A 1-D CNN on MNIST-1D (examples/track_mnist1d.py's model and data), trained
for --steps steps with an evaluation point every --eval-every steps, timed
five ways, interleaved so that drift in the machine's load hits all alike:

    untracked       the plain loop
    control         the plain loop again: how far two identical loops differ here (the floor)
    tracked         with tracker.step() around every step, tracker.record() at each evaluation
    tracked+store   the same, every point committed to a SQLite run store
    flopcounter     torch.utils.flop_counter.FlopCounterMode around every step (recounting each time)

Reports the median of --repeats runs of each and the ratios to untracked.
On a shared machine whole-loop times drift by tens of percent between runs, so
the script also times single steps interleaved (an untracked, a tracked and a
FlopCounterMode step in turn, each on its own copy of the model) and reports
the ratio of median step times, and the median cost of one record() with and
without a store, spread over an evaluation interval.

    python benchmarks/bench_tracker_overhead.py [--steps 300] [--repeats 21] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import pathlib
import statistics
import tempfile
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import algoeff

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _example():
    spec = importlib.util.spec_from_file_location("track_mnist1d", ROOT / "examples" / "track_mnist1d.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(mode: str, x, y, make_model, steps: int, eval_every: int, batch_size: int, store_dir) -> float:
    torch.manual_seed(0)
    model = make_model()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batches = [torch.randint(0, len(x), (batch_size,)) for _ in range(steps)]
    tracker = None
    if mode.startswith("tracked"):
        store = None
        if mode == "tracked+store":
            store = pathlib.Path(store_dir) / "runs.db"
        tracker = algoeff.ComputeTracker(model, algoeff.Target("loss", 0.0, higher_is_better=False), store=store)

    def train_step(batch):
        loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss

    start = time.perf_counter()
    for step, batch in enumerate(batches, 1):
        if tracker is not None:
            with tracker.step():
                loss = train_step(batch)
        elif mode == "flopcounter":
            with FlopCounterMode(display=False):
                loss = train_step(batch)
        else:
            loss = train_step(batch)
        if step % eval_every == 0:
            value = loss.item()  # the same sync point in every mode
            if tracker is not None:
                tracker.record(loss=value)
    elapsed = time.perf_counter() - start
    if tracker is not None:
        tracker.finish()
    return elapsed


def interleaved(x, y, make_model, steps: int, batch_size: int, store_dir) -> dict:
    """Median seconds per step of each mode, steps taken in turn; and record() costs."""
    modes = ("untracked", "control", "tracked", "flopcounter")
    models, optimizers, times = {}, {}, {mode: [] for mode in modes}
    for mode in modes:
        torch.manual_seed(0)
        models[mode] = make_model()
        optimizers[mode] = torch.optim.Adam(models[mode].parameters(), lr=1e-2)
    tracker = algoeff.ComputeTracker(models["tracked"], algoeff.Target("loss", 0.0, higher_is_better=False))

    def train_step(mode, batch):
        loss = nn.functional.cross_entropy(models[mode](x[batch]), y[batch])
        optimizers[mode].zero_grad()
        loss.backward()
        optimizers[mode].step()

    for i in range(steps + 10):
        batch = torch.randint(0, len(x), (batch_size,))
        for mode in modes[i % len(modes):] + modes[: i % len(modes)]:
            start = time.perf_counter()
            if mode == "tracked":
                with tracker.step():
                    train_step(mode, batch)
            elif mode == "flopcounter":
                with FlopCounterMode(display=False):
                    train_step(mode, batch)
            else:
                train_step(mode, batch)
            if i >= 10:  # the first steps warm up allocators and count the step
                times[mode].append(time.perf_counter() - start)
    step_medians = {mode: statistics.median(t) for mode, t in times.items()}

    record = {}
    stored = algoeff.ComputeTracker(
        models["tracked"], algoeff.Target("loss", 0.0, higher_is_better=False),
        store=pathlib.Path(store_dir) / "record.db",
    )
    for name, t in (("memory", tracker), ("store", stored)):
        costs = []
        for i in range(50):
            start = time.perf_counter()
            t.record(loss=1.0 / (i + 1))
            costs.append(time.perf_counter() - start)
        record[name] = statistics.median(costs)
    return {"median_step_seconds": step_medians,
            "step_ratio_to_untracked": {m: step_medians[m] / step_medians["untracked"] for m in modes},
            "median_record_seconds": record}


def tracker_step_cost(n: int = 20000) -> float:
    """Seconds one tracker.step() adds around a trivial model call: the fixed per-step cost,
    free of the run-to-run drift that blurs whole-loop ratios of a fast step."""
    tiny = nn.Linear(2, 2)
    tracker = algoeff.ComputeTracker(tiny, algoeff.Target("loss", 0.0, higher_is_better=False))
    x = torch.randn(1, 2)
    for _ in range(3):  # the miss, then hits
        with tracker.step():
            tiny(x)
    bare, tracked = [], []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(n):
            tiny(x)
        bare.append((time.perf_counter() - start) / n)
        start = time.perf_counter()
        for _ in range(n):
            with tracker.step():
                tiny(x)
        tracked.append((time.perf_counter() - start) / n)
    return statistics.median(tracked) - statistics.median(bare)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    example = _example()
    (x, y), _ = example.mnist1d(4000, 0)
    # "control": the untracked loop again; its ratio is the floor of the others' on this machine
    modes = ["untracked", "control", "tracked", "tracked+store", "flopcounter"]
    times = {mode: [] for mode in modes}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in modes:  # warm-up: allocator, first-step counting
            run(mode, x, y, example.cnn, args.eval_every, args.eval_every, args.batch_size, tmp)
        for repeat in range(args.repeats):
            order = modes[repeat % len(modes):] + modes[: repeat % len(modes)]
            for mode in order:
                times[mode].append(
                    run(mode, x, y, example.cnn, args.steps, args.eval_every, args.batch_size, tmp)
                )
        per_step = interleaved(x, y, example.cnn, args.steps, args.batch_size, tmp)
    step_cost = tracker_step_cost()
    medians = {mode: statistics.median(t) for mode, t in times.items()}
    untracked_step = per_step["median_step_seconds"]["untracked"]
    # a tracked loop's expected ratio: per-step overhead plus one record() per evaluation interval
    expected = {
        name: per_step["step_ratio_to_untracked"]["tracked"]
        + cost / (args.eval_every * untracked_step)
        for name, cost in per_step["median_record_seconds"].items()
    }
    result = {
        "steps": args.steps,
        "eval_every": args.eval_every,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "threads": args.threads,
        "torch": torch.__version__,
        "median_seconds": medians,
        "ratio_to_untracked": {mode: medians[mode] / medians["untracked"] for mode in modes},
        # every mode runs once per repeat: the ratio within a repeat cancels drift between repeats
        "paired_ratio_to_untracked": {
            mode: statistics.median(t / u for t, u in zip(times[mode], times["untracked"])) for mode in modes
        },
        "seconds": times,
        "interleaved": per_step,
        "interleaved_loop_ratio": {"tracked": expected["memory"], "tracked+store": expected["store"]},
        "tracker_step_seconds": step_cost,
        "fixed_cost_loop_ratio": 1 + step_cost / untracked_step,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"{args.steps} steps, batch {args.batch_size}, median of {args.repeats} runs, "
          f"{args.threads} thread(s), torch {torch.__version__}")
    print(f"{'mode':<15} {'median s':>9} {'ratio':>7} {'paired ratio':>13}")
    for mode in modes:
        print(f"{mode:<15} {medians[mode]:>9.3f} {result['ratio_to_untracked'][mode]:>7.3f} "
              f"{result['paired_ratio_to_untracked'][mode]:>13.3f}")
    print(f"interleaved single steps ({args.steps} of each), median ms per step and ratio:")
    for mode, seconds in per_step["median_step_seconds"].items():
        print(f"{mode:<15} {1e3 * seconds:>9.3f} {per_step['step_ratio_to_untracked'][mode]:>7.3f}")
    for name, seconds in per_step["median_record_seconds"].items():
        print(f"record() {name:<7} {1e3 * seconds:>8.3f} ms")
    print("loop ratio from interleaved figures (steps + one record per eval interval): "
          f"tracked {expected['memory']:.3f}, tracked+store {expected['store']:.3f}")
    print(f"one tracker.step() alone: {1e6 * step_cost:.1f} us = {100 * step_cost / untracked_step:.2f}% "
          f"of an untracked step (loop ratio from it: {result['fixed_cost_loop_ratio']:.4f})")
    return result


if __name__ == "__main__":
    main()
