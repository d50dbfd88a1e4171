"""Wall-time overhead of StepCounter on a small CNN training loop (target: counted / uncounted <= 1.02).

Four loops, timed side by side and interleaved so that drift in the machine's
load hits all alike:

    uncounted     the plain loop (forward, cross-entropy, backward, Adam step)
    control       the plain loop again, on its own model: the noise floor of every ratio
    stepcounter   the same inside ``with counter.step():`` (one count, then cache hits)
    flopcounter   torch.utils.flop_counter.FlopCounterMode around every step

Reports the median of --repeats runs of --steps steps each, the ratios of the
medians and the median of the ratios within a repeat (paired: every mode runs
once per repeat, back to back, so drift between repeats cancels); and, because
whole-loop times on a shared machine drift by more than the effect, the median
of single steps timed in turn (one of each mode per round, each on its own
model), plus the cost of one cache hit measured alone.

    python benchmarks/bench_flops_overhead.py [--steps 100] [--repeats 21] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from algoeff.flops import StepCounter

# "control" is a second uncounted loop on its own model: how far two identical loops differ
# on this machine (model placement in memory, order), the floor under any ratio here
MODES = ("uncounted", "control", "stepcounter", "flopcounter")


def small_cnn():
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 10),
    )


class Loop:
    def __init__(self, mode: str, batch: int):
        torch.manual_seed(0)
        self.mode = mode
        self.model = small_cnn()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.counter = StepCounter(self.model) if mode == "stepcounter" else None
        self.x = torch.randn(batch, 1, 28, 28)
        self.y = torch.randint(0, 10, (batch,))

    def _body(self):
        loss = nn.functional.cross_entropy(self.model(self.x), self.y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()

    def step(self):
        if self.mode == "stepcounter":
            with self.counter.step():
                self._body()
        elif self.mode == "flopcounter":
            with FlopCounterMode(display=False):
                self._body()
        else:
            self._body()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    loops = {mode: Loop(mode, args.batch) for mode in MODES}
    for loop in loops.values():  # warm-up: allocator, the counter's one miss
        for _ in range(5):
            loop.step()

    whole = {mode: [] for mode in MODES}
    for repeat in range(args.repeats):
        # rotated: a mode never always follows the same one (FlopCounterMode leaves garbage behind)
        for mode in MODES[repeat % len(MODES):] + MODES[:repeat % len(MODES)]:
            loop = loops[mode]
            start = time.perf_counter()
            for _ in range(args.steps):
                loop.step()
            whole[mode].append(time.perf_counter() - start)

    single = {mode: [] for mode in MODES}
    for i in range(args.steps * 2):
        for mode in MODES[i % len(MODES):] + MODES[:i % len(MODES)]:
            start = time.perf_counter()
            loops[mode].step()
            single[mode].append(time.perf_counter() - start)

    # one cache hit alone: the block and a forward pre-hook around a trivial model call
    tiny = nn.Linear(2, 2)
    counter = StepCounter(tiny)
    x = torch.randn(1, 2)
    with counter.step():
        tiny(x)
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        tiny(x)
    bare = (time.perf_counter() - start) / n
    start = time.perf_counter()
    for _ in range(n):
        with counter.step():
            tiny(x)
    hit = (time.perf_counter() - start) / n - bare

    median = {mode: statistics.median(v) for mode, v in whole.items()}
    step_median = {mode: statistics.median(v) for mode, v in single.items()}
    result = {
        "steps": args.steps, "repeats": args.repeats, "batch": args.batch, "threads": 1,
        "loop_seconds_median": median,
        "loop_ratio": {mode: median[mode] / median["uncounted"] for mode in MODES},
        # each repeat runs every mode once, back to back: a ratio within a repeat cancels the
        # drift between repeats, so the median of these is the figure to quote
        "paired_loop_ratio": {mode: statistics.median(t / u for t, u in zip(whole[mode], whole["uncounted"]))
                              for mode in MODES},
        "step_ms_median": {mode: 1e3 * v for mode, v in step_median.items()},
        "step_ratio": {mode: step_median[mode] / step_median["uncounted"] for mode in MODES},
        "cache_hit_us": 1e6 * hit,
        "hit_share_of_step": hit / step_median["uncounted"],
        "counter": {"hits": loops["stepcounter"].counter.hits, "misses": loops["stepcounter"].counter.misses},
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"small CNN, batch {args.batch}, 1 thread; {args.repeats} repeats of {args.steps} steps per mode")
    print("  mode         loop median    ratio  paired ratio   single step  ratio")
    for mode in MODES:
        print(f"  {mode:<12} {median[mode]:9.3f} s  x{result['loop_ratio'][mode]:.3f}      "
              f"x{result['paired_loop_ratio'][mode]:.3f}   {1e3 * step_median[mode]:8.2f} ms  "
              f"x{result['step_ratio'][mode]:.3f}")
    print(f"  one cache hit: {1e6 * hit:.1f} us = {100 * result['hit_share_of_step']:.2f}% of an uncounted step")
    print(f"  counter: {result['counter']['misses']} miss(es), {result['counter']['hits']} hits")
    return result


if __name__ == "__main__":
    main()
