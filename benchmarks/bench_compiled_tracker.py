"""Wall-time overhead of ComputeTracker on a compiled model's loop (target: tracked / untracked <= 1.02).

An MLP (784 -> 512 -> 512 -> 10, Adam) compiled with ``model.compile()``,
trained for --steps steps on random data, timed four ways, each on its own
compiled copy of the model:

    untracked     the compiled loop
    control       the compiled loop again: how far two identical loops differ here (the floor)
    tracked       ComputeTracker.step() around every step (the first step is counted, eagerly;
                  later steps are cache hits and run compiled)
    flopcounter   torch.utils.flop_counter.FlopCounterMode around every step: dynamo does not
                  run compiled code under a dispatch mode, so every step runs eagerly

Each repeat runs the four loops in a rotated order; the script reports, per
mode, the median over repeats of its time divided by the untracked time of the
same repeat (paired ratio), and the median seconds. On a shared machine whole
loops drift by more than the 2% target, so it also times single steps taken in
turn across the four modes and reports the ratio of median step times.
Compilation happens in a warm-up loop before timing.

    python benchmarks/bench_compiled_tracker.py [--steps 200] [--repeats 7] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import algoeff

MODES = ("untracked", "control", "tracked", "flopcounter")


def _model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10))


def _setup(mode):
    model = _model()
    model.compile()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    tracker = None
    if mode == "tracked":
        tracker = algoeff.ComputeTracker(model, algoeff.Target("loss", 0.0, higher_is_better=False),
                                         examples_per_step=1)
    return model, optimizer, tracker


def _loop(mode, model, optimizer, tracker, batches):
    def train_step(x, y):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    start = time.perf_counter()
    for x, y in batches:
        if tracker is not None:
            with tracker.step():
                train_step(x, y)
        elif mode == "flopcounter":
            with FlopCounterMode(display=False):
                train_step(x, y)
        else:
            train_step(x, y)
    return time.perf_counter() - start


def _interleaved(setups, batches) -> dict:
    """Median seconds of single steps taken in turn (each mode on its own compiled copy):
    load drift on a shared machine hits every mode alike, unlike whole-loop times."""
    times = {mode: [] for mode in MODES}
    for i, (x, y) in enumerate(batches):
        for mode in MODES[i % len(MODES):] + MODES[: i % len(MODES)]:
            times[mode].append(_loop(mode, *setups[mode], [(x, y)]))
    medians = {mode: statistics.median(t) for mode, t in times.items()}
    return {"median_step_seconds": medians,
            "step_ratio_to_untracked": {mode: medians[mode] / medians["untracked"] for mode in MODES}}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*global hooks on modules.*")

    torch.manual_seed(1)
    batches = [(torch.randn(args.batch_size, 784), torch.randint(0, 10, (args.batch_size,)))
               for _ in range(args.steps)]
    setups = {mode: _setup(mode) for mode in MODES}
    for mode in MODES:  # compile, and count the tracked loop's first step
        _loop(mode, *setups[mode], batches[:5])
    times = {mode: [] for mode in MODES}
    for repeat in range(args.repeats):
        for mode in MODES[repeat % len(MODES):] + MODES[: repeat % len(MODES)]:
            times[mode].append(_loop(mode, *setups[mode], batches))
    per_step = _interleaved(setups, batches * max(1, args.repeats // 2))
    tracker = setups["tracked"][2]
    counter = tracker.counter
    flops = tracker.total_flops if hasattr(tracker, "total_flops") else None
    result = {
        "steps": args.steps,
        "batch_size": args.batch_size,
        "repeats": args.repeats,
        "threads": args.threads,
        "torch": torch.__version__,
        "median_seconds": {mode: statistics.median(t) for mode, t in times.items()},
        "paired_ratio_to_untracked": {
            mode: statistics.median(t / u for t, u in zip(times[mode], times["untracked"])) for mode in MODES
        },
        "counter": {"hits": counter.hits, "misses": counter.misses,
                    "step_flops": counter.last.total, "forward": counter.last.forward,
                    "backward": counter.last.backward, "optimizer": counter.last.optimizer},
        "tracker_total_flops": flops,
        "interleaved": per_step,
        "seconds": times,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"compiled MLP, {args.steps} steps, batch {args.batch_size}, {args.repeats} paired repeats, "
          f"{args.threads} thread(s), torch {torch.__version__}")
    print(f"{'mode':<12} {'median s':>9} {'paired ratio':>13}")
    for mode in MODES:
        print(f"{mode:<12} {result['median_seconds'][mode]:>9.3f} {result['paired_ratio_to_untracked'][mode]:>13.3f}")
    ratios = per_step["step_ratio_to_untracked"]
    print("interleaved single steps, ratio of median step times: "
          + ", ".join(f"{mode} {ratios[mode]:.3f}" for mode in MODES))
    c = result["counter"]
    print(f"tracked step: {c['step_flops']:,} FLOPs (forward {c['forward']:,}, backward {c['backward']:,}, "
          f"optimizer {c['optimizer']:,}); counter hits {c['hits']}, misses {c['misses']}")
    return result


if __name__ == "__main__":
    main()
