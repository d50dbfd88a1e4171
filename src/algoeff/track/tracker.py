"""ComputeTracker: count a real training loop's FLOPs until it reaches a target.

    tracker = ComputeTracker(model, Target("accuracy", 0.9), store="runs.db")
    for batch in loader:
        with tracker.step():                      # forward, backward, optimizer.step()
            ...
        if step % eval_every == 0:
            with tracker.evaluate():              # counted apart, never in compute_to_target
                accuracy = evaluate(model)
            if tracker.record(accuracy=accuracy):  # True once the target is reached
                break
    tracker.finish()

Each step's FLOPs come from ``algoeff.flops.StepCounter`` (counted once per
distinct step signature, then looked up), so tracking costs a dictionary
lookup per step, not a FLOP count.

Under torch.distributed each rank counts its own work; record() and finish()
are collectives that all-reduce the counts, so every rank reports the global
total. Only rank 0 writes to the store. Pass the same metrics on every rank
(reduce them first): each rank decides "reached" from what it is given.
"""

from __future__ import annotations

import contextlib
import math
import os
import numbers
import time
from dataclasses import dataclass, field

from algoeff.errors import TrackError

from .crossing import interpolated_crossing
from .env import environment
from .store import POINT_COLUMNS, RUN_STATUSES, RunStore
from .target import Target

__all__ = ["ComputeTracker", "CurvePoint"]


class _Step:
    """What ``ComputeTracker.step()`` returns: a plain context manager, entered once per training step."""

    __slots__ = ("tracker", "examples", "ends_step")

    def __init__(self, tracker, examples, ends_step):
        self.tracker, self.examples, self.ends_step = tracker, examples, ends_step

    def __enter__(self):
        self.tracker._enter_step()
        return self.tracker

    def __exit__(self, exc_type, exc, tb):
        self.tracker._exit_step(exc_type is not None, self.examples, self.ends_step)
        return False


@dataclass(frozen=True)
class CurvePoint:
    """One evaluation: where training stood and what it measured."""

    step: int  # training steps taken before this evaluation
    flops: int  # cumulative training FLOPs, all ranks
    examples: int  # cumulative training examples, all ranks
    wall: float  # seconds since the tracker was created
    eval_flops: int  # cumulative evaluation FLOPs, all ranks (not in flops)
    metrics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "step": self.step,
            "flops": self.flops,
            "examples": self.examples,
            "wall": self.wall,
            "eval_flops": self.eval_flops,
            "metrics": {k: _json_number(v) for k, v in self.metrics.items()},
        }


def _json_number(value: float):
    return value if math.isfinite(value) else None


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TrackError(f"{name} == {value!r}, must be a non-negative integer.")
    if value < 0:
        raise TrackError(f"{name} == {value!r}, must be >= 0.")
    return int(value)


def _metric(name: str, value) -> float:
    if hasattr(value, "numel") and hasattr(value, "item"):  # a torch tensor
        if value.numel() != 1:
            raise TrackError(
                f"record() metric {name!r} is a tensor of shape {tuple(value.shape)}, must be one number."
            )
        value = value.item()
    elif hasattr(value, "item") and getattr(value, "shape", None) == ():  # a numpy scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TrackError(f"record() metric {name!r} == {value!r}, must be a real number.")
    return float(value)


def _distributed():
    """(world_size, rank, device for collectives) or None outside torch.distributed."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return None
    device = "cpu"
    if "nccl" in str(dist.get_backend()).lower():
        device = torch.device("cuda", torch.cuda.current_device())
    return dist.get_world_size(), dist.get_rank(), device


class ComputeTracker:
    """Cumulative training FLOPs, evaluation points and the compute to reach ``target``.

    Parameters
    ----------
    model : torch.nn.Module
        The model trained inside ``step()``.
    target : Target
        The capability to reach.
    store : RunStore, path or None
        Where runs and points are kept; None keeps them in memory only.
    run_name, run_key, config
        Saved with the run; ``run_key`` identifies it for resuming (``store.find_run``).
    policy, causal, recount
        Passed to ``algoeff.flops.StepCounter``.
    examples_per_step : int or None
        Training examples per step on this rank; None counts the leading
        dimension of the first tensor passed to ``model``, summed over the
        model's forward calls in the step (every micro-batch of gradient
        accumulation counts).
    skip : callable or None
        Passed to ``algoeff.flops.StepCounter``; a skipped forward call adds no examples either.
    """

    def __init__(
        self,
        model,
        target: Target,
        *,
        store=None,
        run_name: str | None = None,
        run_key: str | None = None,
        config: dict | None = None,
        policy: str = "matmul",
        causal: str = "full",
        recount: bool = False,
        examples_per_step: int | None = None,
        skip=None,
    ):
        import torch

        from algoeff.flops import StepCounter

        if not isinstance(model, torch.nn.Module):
            raise TrackError(f"model == {type(model).__name__}, must be a torch.nn.Module.")
        if not isinstance(target, Target):
            raise TrackError(f"target == {target!r}, must be an algoeff.Target.")
        if examples_per_step is not None:
            examples_per_step = _count(examples_per_step, "examples_per_step")
        if config is not None and not isinstance(config, dict):
            raise TrackError(f"config == {config!r}, must be a dict.")
        for name, value in (("run_name", run_name), ("run_key", run_key)):
            if value is not None and not isinstance(value, str):
                raise TrackError(f"{name} == {value!r}, must be a string.")
        if isinstance(store, (str, os.PathLike)) and not os.path.isdir(os.path.dirname(os.fspath(store)) or "."):
            # a typo in a path must not become a tree of new folders
            raise TrackError(f"store {os.fspath(store)!r}: folder {os.path.dirname(os.fspath(store))!r} does not "
                             "exist; create it first.")
        self.model = model
        self.target = target
        self.run_name = run_name
        self.run_key = run_key
        self.config = dict(config or {})
        self.policy = policy
        self.causal = causal
        self.recount = recount
        self.examples_per_step = examples_per_step
        self._skip = skip
        self._counter = StepCounter(model, policy=policy, causal=causal, recount=recount, skip=skip)
        self._eval_counter = None

        # this rank's counts, and the global counts as of the last sync
        self._local = {"flops": 0, "eval_flops": 0, "examples": 0}
        self._synced_local = dict(self._local)
        self._global = dict(self._local)
        self._dist = _distributed()

        self.steps = 0
        self.curve: list[CurvePoint] = []
        self.diverged = False
        self.status = "running"
        self._reached_at: int | None = None  # index into curve
        self._interpolated = None
        self._in_step = False
        self._in_eval = False
        self._step_flops = 0  # the last ended step's FLOPs, every micro-batch of it
        self._open_step_flops = 0
        self._start = time.perf_counter()

        self.store = None
        self.run_id = None
        if store is not None and (self._dist is None or self._dist[1] == 0):
            self.store = store if isinstance(store, RunStore) else RunStore(store)
            self.run_id = self.store.start_run(
                name=run_name,
                key=run_key,
                config=self.config,
                target=target.to_dict(),
                environment=environment(model),
            )

    # -- counting -----------------------------------------------------------------

    def _check_open(self, what: str):
        if self.status != "running":
            raise TrackError(f"{what} after finish() (run status {self.status!r}).")

    def step(self, *, examples: int | None = None, ends_step: bool | None = True):
        """Count one training step: forward, backward and optimizer.step() inside the block.

        ``ends_step=False`` marks a micro-batch of gradient accumulation whose
        optimizer step comes in a later block: its FLOPs and examples count, the
        step count advances only at the block that ends the step. ``None`` ends
        the step if an optimizer stepped inside the block.
        """
        self._check_open("step()")
        if ends_step is not None and not isinstance(ends_step, bool):
            raise TrackError(f"ends_step == {ends_step!r}, must be True, False or None.")
        if examples is not None:
            examples = _count(examples, "examples")
        return _Step(self, examples, ends_step)

    def _enter_step(self):
        # checked on entry, so one step() object can be entered again (the trainer callbacks do)
        if self.status != "running":
            self._check_open("step()")
        if self._in_step:
            raise TrackError("step() entered inside another step(); count each step once.")
        if self._in_eval:
            raise TrackError("step() entered inside evaluate(); train between evaluations, or its FLOPs "
                             "would count as both training and evaluation.")
        self._counter._enter()
        self._in_step = True

    def _exit_step(self, failed: bool, examples, ends_step):
        self._in_step = False
        counter = self._counter
        counter._exit(failed)
        if failed:
            return
        # only a step that completed is counted
        flops = int(counter.last.total)
        self._local["flops"] += flops
        self._open_step_flops += flops
        if examples is None:
            examples = self.examples_per_step if self.examples_per_step is not None else counter.examples
        self._local["examples"] += examples
        if ends_step or (ends_step is None and counter.optimizer_steps):
            self.steps += 1
            self._step_flops, self._open_step_flops = self._open_step_flops, 0

    @contextlib.contextmanager
    def evaluate(self):
        """Count evaluation FLOPs inside the block apart from training FLOPs."""
        from algoeff.flops import StepCounter

        self._check_open("evaluate()")
        if self._in_step:
            raise TrackError("evaluate() entered inside step(); evaluate between steps.")
        if self._in_eval:
            raise TrackError("evaluate() entered inside another evaluate(); count each evaluation once.")
        if self._eval_counter is None:
            self._eval_counter = StepCounter(
                self.model, policy=self.policy, causal=self.causal, recount=self.recount, skip=self._skip
            )
        self._in_eval = True
        try:
            with self._eval_counter.step():
                yield self
        finally:
            self._in_eval = False
        self._local["eval_flops"] += int(self._eval_counter.last.total)

    def _sync(self):
        """All-reduce this rank's counts since the last sync (a collective under DDP)."""
        if self._dist is None:
            self._global = dict(self._local)
            return
        import torch
        import torch.distributed as dist

        keys = ("flops", "eval_flops", "examples")
        delta = torch.tensor(
            [self._local[k] - self._synced_local[k] for k in keys],
            dtype=torch.int64,
            device=self._dist[2],
        )
        dist.all_reduce(delta)
        for key, value in zip(keys, delta.tolist()):
            self._global[key] += int(value)
        self._synced_local = dict(self._local)

    # -- evaluation points --------------------------------------------------------

    def record(self, **metrics) -> bool:
        """Add an evaluation point; return True once the target is reached (False if diverged).

        A NaN or infinite metric marks the run diverged: the point is kept and
        no later point can reach the target.
        """
        self._check_open("record()")
        if not metrics:
            raise TrackError(
                f"record() got no metrics; pass the target's metric, e.g. "
                f"record({self.target.metric}=...)."
            )
        if self.target.metric not in metrics:
            raise TrackError(
                f"record() got no {self.target.metric!r} (the target's metric); "
                f"got: {', '.join(sorted(metrics))}."
            )
        reserved = sorted(set(metrics) & set(POINT_COLUMNS + ("metrics",)))
        if reserved:
            raise TrackError(
                f"record() metric name {reserved[0]!r} is reserved; reserved names: "
                f"{', '.join(POINT_COLUMNS)}, metrics."
            )
        values = {name: _metric(name, value) for name, value in metrics.items()}
        self._sync()
        point = CurvePoint(
            step=self.steps,
            flops=self._global["flops"],
            examples=self._global["examples"],
            wall=time.perf_counter() - self._start,
            eval_flops=self._global["eval_flops"],
            metrics=values,
        )
        self.curve.append(point)
        if self.store is not None:
            self.store.add_point(
                self.run_id,
                step=point.step,
                flops=point.flops,
                examples=point.examples,
                wall=point.wall,
                eval_flops=point.eval_flops,
                metrics=values,
            )
        was_diverged = self.diverged
        if not all(math.isfinite(v) for v in values.values()):
            self.diverged = True
        elif not was_diverged and self._reached_at is None and self.target.reached(values[self.target.metric]):
            self._reached_at = len(self.curve) - 1
            flops = [p.flops for p in self.curve]
            scores = [p.metrics[self.target.metric] for p in self.curve]
            self._interpolated = interpolated_crossing(flops, scores, self.target)
        return self.reached and not self.diverged

    # -- results ------------------------------------------------------------------

    @property
    def reached(self) -> bool:
        return self._reached_at is not None

    @property
    def total_flops(self) -> int:
        """Training FLOPs so far (all ranks, as of the last record() under DDP)."""
        return self._local["flops"] if self._dist is None else self._global["flops"]

    @property
    def eval_flops(self) -> int:
        """Evaluation FLOPs so far, never part of total_flops or compute_to_target."""
        return self._local["eval_flops"] if self._dist is None else self._global["eval_flops"]

    @property
    def examples(self) -> int:
        return self._local["examples"] if self._dist is None else self._global["examples"]

    @property
    def local_flops(self) -> int:
        """This rank's training FLOPs so far."""
        return self._local["flops"]

    @property
    def flops_per_step(self) -> int | None:
        """The last step's FLOPs on this rank (None before the first step)."""
        return None if self.steps == 0 else self._step_flops

    @property
    def compute_to_target(self) -> int | None:
        """Training FLOPs at the first evaluation at or past the target (conservative); None until then."""
        return None if self._reached_at is None else self.curve[self._reached_at].flops

    @property
    def compute_to_target_interpolated(self) -> float | None:
        """Log-linear estimate between the last evaluation short of the target and the first past it."""
        return self._interpolated

    @property
    def counter(self):
        """The StepCounter behind step() (hits, misses, last)."""
        return self._counter

    def summary(self) -> dict:
        """The run's figures as a JSON-ready dict."""
        at = None if self._reached_at is None else self.curve[self._reached_at]
        last = self.curve[-1] if self.curve else None
        scores = [p.metrics[self.target.metric] for p in self.curve if math.isfinite(p.metrics[self.target.metric])]
        best = None
        if scores:
            best = max(scores) if self.target.higher_is_better else min(scores)
        return {
            "run_id": self.run_id,
            "name": self.run_name,
            "key": self.run_key,
            "status": self.status,
            "target": self.target.to_dict(),
            "reached": self.reached,
            "diverged": self.diverged,
            "compute_to_target": self.compute_to_target,
            "compute_to_target_interpolated": self._interpolated,
            "steps_to_target": None if at is None else at.step,
            "examples_to_target": None if at is None else at.examples,
            "wall_to_target": None if at is None else at.wall,
            "total_flops": self.total_flops,
            "eval_flops": self.eval_flops,
            "steps": self.steps,
            "examples": self.examples,
            "flops_per_step": self.flops_per_step,
            "wall_seconds": time.perf_counter() - self._start,
            "points": len(self.curve),
            "final_metrics": None if last is None else last.to_dict()["metrics"],
            "best_metric": best,
            "policy": self.policy,
            "causal": self.causal,
            "world_size": 1 if self._dist is None else self._dist[0],
            "counter": {"hits": self._counter.hits, "misses": self._counter.misses},
        }

    def finish(self, status: str | None = None) -> dict:
        """Close the run: sync counts, save status and summary; return the summary.

        ``status`` defaults to "diverged" for a diverged run, else "finished".
        Under torch.distributed a "failed" or "stopped" run is closed without a
        collective (a rank that failed alone must not wait on the others): its
        global figures are those of the last record().
        """
        choices = [s for s in RUN_STATUSES if s != "running"]
        if status is not None and status not in choices:
            raise TrackError(
                f"Unknown run status {status!r}. Possible values are: "
                f"{', '.join(repr(s) for s in choices)}."
            )
        self._check_open("finish()")
        if status in (None, "finished", "diverged") or self._dist is None:
            self._sync()
        # else (failed, stopped): no collective. The other ranks may be in one of their own (a gradient
        # all-reduce) that this one would mismatch, killing the process before its error is shown; the
        # run's global figures stay as of the last record()
        self.status = status or ("diverged" if self.diverged else "finished")
        for counter in (self._counter, self._eval_counter):
            if counter is not None:
                counter.close()  # leave no hooks on the model
        summary = self.summary()
        if self.store is not None:
            self.store.finish_run(self.run_id, status=self.status, summary=summary)
        return summary

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.status == "running":
            self.finish("failed" if exc_type is not None else None)
        return False

    def __repr__(self) -> str:
        return (
            f"ComputeTracker(target={str(self.target)!r}, steps={self.steps}, "
            f"total_flops={self.total_flops}, reached={self.reached})"
        )
