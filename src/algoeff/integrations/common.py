"""What both callbacks share: the version check, the device's peak, and a tracked run.

A framework calls back at the edges of each batch instead of running a
``with`` block, so ``TrackedRun`` opens and closes ``ComputeTracker.step()``
and ``evaluate()`` by hand, one block per micro-batch: a block never spans a
validation that the framework runs between micro-batches, and the last, shorter
accumulation window of an epoch is counted as it ran.
"""

from __future__ import annotations

import importlib.metadata
import math
import numbers
import re
import time

from algoeff.errors import CountError, TrackError
from algoeff.flops.mode import check_policy
from algoeff.track import ComputeTracker, Target
from algoeff.track.store import POINT_COLUMNS

__all__ = ["CallbackSettings", "TrackedRun", "check_target", "check_version", "device_peak_flops"]


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


def check_version(package: str, low: str, high: str, *, where: str, version: str | None = None) -> str:
    """The installed ``package`` version, or a TrackError if it is outside [low, high)."""
    if version is None:
        version = importlib.metadata.version(package)
    found = _version_tuple(version)
    if not _version_tuple(low) <= found < _version_tuple(high):
        raise TrackError(
            f"{where} supports {package} >={low},<{high}; found {package} {version}. "
            f"Install a supported version: pip install '{package}>={low},<{high}'."
        )
    return version


def device_peak_flops(device_name: str, precision: str, catalog=None) -> float | None:
    """Dense peak FLOP/s of a device from the hardware catalog, or None if it is not there.

    CUDA names its devices "NVIDIA H100 80GB HBM3" or "Tesla V100-PCIE-16GB": the
    longest catalog name that starts the normalised device name is taken, so a
    variant missing from the catalog (H100 PCIe) gets its family's peak (H100 SXM).
    """
    from algoeff.estimate.hardware import _norm, load_catalog

    catalog = catalog if catalog is not None else load_catalog()
    name = _norm(device_name)
    best = None
    for device in catalog:
        for alias in (device.name, *device.aliases):
            key = _norm(alias)
            if key and name.startswith(key) and (best is None or len(key) > len(best[0])):
                best = (key, device)
    if best is None or precision not in best[1].peak_tflops:
        return None
    return best[1].peak_flops(precision)


def _scalar(value):
    """A metric as a float, or None for anything that is not one number."""
    if hasattr(value, "numel") and hasattr(value, "item"):
        if value.numel() != 1:
            return None
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value)


def check_target(target) -> Target:
    if not isinstance(target, Target):
        raise TrackError(f"target == {target!r}, must be an algoeff.Target, e.g. Target('val_acc', 0.9).")
    return target


class CallbackSettings:
    """The settings both callbacks take, validated where the user passes them.

    A mixin: each callback subclasses its framework's base class too and calls
    ``_settings`` from its constructor.
    """

    def _settings(self, target, *, store, run_name, stop_on_target, policy, causal, recount):
        self.target = check_target(target)
        if not isinstance(stop_on_target, bool):
            raise TrackError(f"stop_on_target == {stop_on_target!r}, must be True or False.")
        if run_name is not None and not isinstance(run_name, str):
            raise TrackError(f"run_name == {run_name!r}, must be a string.")
        if not isinstance(recount, bool):
            raise TrackError(f"recount == {recount!r}, must be True or False.")
        try:
            check_policy(policy, causal)
        except CountError as err:  # at construction, not when training starts
            raise TrackError(str(err)) from None
        self.store = store
        self.run_name = run_name
        self.stop_on_target = stop_on_target
        self.policy, self.causal, self.recount = policy, causal, recount
        self.run: TrackedRun | None = None
        self.summary: dict | None = None

    @property
    def tracker(self):
        """The run's ComputeTracker (None before training starts)."""
        return None if self.run is None else self.run.tracker


class TrackedRun:
    """A ComputeTracker driven from a framework's hooks instead of ``with`` blocks."""

    def __init__(self, model, target: Target, *, store, run_name, config, policy, causal, recount,
                 peak_flops: float | None, world_size: int = 1, skip=None):
        self.tracker = ComputeTracker(model, target, store=store, run_name=run_name, config=config,
                                      policy=policy, causal=causal, recount=recount, skip=skip)
        self._counter = self.tracker.counter
        self.target = target
        self.peak_flops = peak_flops  # one device's, None where the catalog has none
        self.world_size = world_size
        self.train_seconds = 0.0  # inside training blocks, this rank
        # a training block is open: entered and left through the tracker's own step() enter and exit,
        # with ends_step=None (the step ends in it if an optimizer steps in it, else it is a micro-batch)
        self._train = False
        self._eval = None  # the open evaluate() block
        self._began = 0.0
        # create the evaluation counter now, so its model hook exists before any evaluation forward
        self.begin_eval()
        self.end_eval()

    @property
    def in_train(self) -> bool:
        return self._train

    @property
    def in_eval(self) -> bool:
        return self._eval is not None

    def begin_train(self, batch=None):
        """Open a training block; ``batch``, where the framework gives it, lets a compiled step be counted."""
        if self._eval is not None:
            self.end_eval()
        if not self._train:
            if batch is not None:
                self._counter.expect(batch)
            self.tracker._enter_step()
            self._train = True
            self._began = time.perf_counter()

    def end_train(self):
        if self._train:
            self._train = False
            self.train_seconds += time.perf_counter() - self._began
            self.tracker._exit_step(False, None, None)

    def begin_eval(self, batch=None):
        if self._train:
            raise TrackError("an evaluation began inside an open training block; this is a bug in the callback.")
        if self._eval is None:
            if batch is not None:
                self.tracker._eval_counter.expect(batch)
            self._eval = self.tracker.evaluate()
            self._eval.__enter__()

    def end_eval(self):
        if self._eval is not None:
            block, self._eval = self._eval, None
            block.__exit__(None, None, None)

    def abort(self, exc: BaseException | None):
        """Drop open blocks without counting them (training raised)."""
        if self._train:
            self._train = False
            self.tracker._exit_step(True, None, None)
        if self._eval is not None:
            block, self._eval = self._eval, None
            err = exc if exc is not None else RuntimeError("aborted")
            try:
                block.__exit__(type(err), err, None)
            except BaseException:  # noqa: BLE001 -- the block re-raises what it is given
                pass

    def record(self, metrics: dict, *, where: str) -> bool:
        """Record one evaluation from the framework's metrics; True once the target is reached."""
        values = {}
        for name, value in metrics.items():
            if name.startswith("algoeff/") or name in POINT_COLUMNS or name == "metrics":
                continue
            number = _scalar(value)
            if number is not None:
                values[str(name)] = number
        metric = self.target.metric
        if metric not in values:
            logged = ", ".join(sorted(values)) or "none"
            hint = ""
            for guess in (f"eval_{metric}", f"val_{metric}", f"{metric}_epoch"):
                if guess in values:
                    hint = f" Did you mean Target({guess!r}, ...)?"
                    break
            raise TrackError(f"the target's metric {metric!r} was not logged {where}; logged: {logged}.{hint}")
        return self.tracker.record(**values)

    def mfu(self) -> float | None:
        """Training FLOPs over training time x peak x devices; None without a catalog peak."""
        if self.peak_flops is None or self.train_seconds <= 0:
            return None
        return self.tracker.total_flops / (self.train_seconds * self.peak_flops * self.world_size)

    def logged(self) -> dict:
        """The algoeff/* figures for the framework's loggers."""
        t = self.tracker
        out = {"algoeff/train_flops": float(t.total_flops), "algoeff/eval_flops": float(t.eval_flops)}
        if t.compute_to_target is not None:
            out["algoeff/compute_to_target"] = float(t.compute_to_target)
        if t.compute_to_target_interpolated is not None:
            out["algoeff/compute_to_target_interpolated"] = float(t.compute_to_target_interpolated)
        mfu = self.mfu()
        if mfu is not None and math.isfinite(mfu):
            out["algoeff/mfu"] = mfu
        return out

    def finish(self, status: str | None = None) -> dict:
        if self.tracker.status != "running":
            return self.tracker.summary()
        self.end_eval()
        if self._train:
            # a micro-batch after the last optimizer step (training stopped mid-window) still ran
            self.end_train()
        summary = self.tracker.finish(status)
        summary["train_seconds"] = self.train_seconds
        summary["mfu"] = self.mfu()
        return summary
