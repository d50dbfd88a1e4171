"""Compute-to-target for PyTorch Lightning: one callback.

    trainer = L.Trainer(callbacks=[ComputeToTarget(Target("val_acc", 0.9), store="runs.db")])

Each training batch (one micro-batch under ``accumulate_grad_batches``) is one
``ComputeTracker.step()`` block from ``on_train_batch_start`` to
``on_train_batch_end``: the forward and backward that automatic optimization
runs inside ``optimizer.step(closure)`` and the optimizer's own work are counted
once, as in a bare loop. Validation batches are counted apart (sanity-check
batches too: they are compute spent, but they never make a point). At the end
of each validation the target metric is read from ``trainer.callback_metrics``
and recorded; ``algoeff/*`` figures go to every logger of the trainer.

The counted module is the LightningModule, so ``training_step`` must call it
(``self(x)``); if it calls a submodule instead, pass ``model=`` (the submodule).
Under DDP (and the other strategies that wrap the module) Lightning reaches
``training_step`` and ``validation_step`` through the wrapper's forward, which
calls the LightningModule with ``(batch, batch_idx)``: that call is skipped
(``_redirected``), so the step's signature is the ``self(x)`` inside it, as in
a single process, and steps are looked up, not recounted.
"""

from __future__ import annotations

from algoeff.errors import TrackError

from .common import CallbackSettings, TrackedRun, check_version, device_peak_flops

try:
    import lightning.pytorch as pl
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "algoeff.integrations.lightning needs lightning: pip install 'lightning>=2.4,<3'"
    ) from err

__all__ = ["ComputeToTarget", "SUPPORTED"]

SUPPORTED = ("2.4", "3")  # lightning >=2.4,<3

# hooks Lightning calls at every training batch that this callback does not use. Lightning dispatches
# each hook to every callback, a no-op too, through its profiler (``trainer/call.py``,
# ``_call_callback_hooks``), about 10 us a call here; an attribute that is not callable it skips
_UNUSED_BATCH_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step", "on_before_zero_grad")


def _precision(trainer) -> str:
    """The hardware catalog's precision for the trainer's precision setting."""
    import torch

    setting = str(trainer.precision)
    if "bf16" in setting:
        return "bf16"
    if "16" in setting:
        return "fp16"
    if "64" in setting:
        return "fp64"
    return "fp32" if torch.get_float32_matmul_precision() == "highest" else "tf32"


def _redirected(module, args, kwargs) -> bool:
    """Whether this forward call is Lightning's forward redirection, not a call of the network.

    The strategy patches the wrapped module's ``forward`` with a function of its
    own for that one call (``lightning.pytorch.strategies.strategy._ForwardRedirection``)
    and puts the bound method back inside it; otherwise ``forward`` is the class's.
    """
    forward = module.__dict__.get("forward")
    return (forward is not None and getattr(forward, "__self__", None) is not module
            and getattr(forward, "__module__", "").startswith("lightning."))


def _skip(trainer):
    """``_redirected`` where the strategy may wrap the module; None (nothing to check a call) where it does not."""
    from lightning.pytorch.strategies import SingleDeviceStrategy

    return None if type(trainer.strategy) is SingleDeviceStrategy else _redirected


def _log_step(trainer) -> int:
    # the step Lightning gives its own metrics (batches that stepped, counted after validation), so
    # algoeff/* share val_acc's rows and x-axis; no public name for it, global_step if it moves
    return getattr(getattr(trainer.fit_loop, "epoch_loop", None), "_batches_that_stepped", trainer.global_step)


class ComputeToTarget(CallbackSettings, pl.Callback):
    """Count a Lightning run's training compute until it reaches ``target``.

    Parameters
    ----------
    target : algoeff.Target
        The metric as the LightningModule logs it (``self.log("val_acc", ...)``)
        and the threshold.
    store : path, RunStore or None
        The algoeff run store to write the run to (rank 0 only).
    run_name : str or None
        Saved with the run.
    stop_on_target : bool
        Stop training (``trainer.should_stop``) at the first validation that reaches the target.
    model : torch.nn.Module or None
        The module ``training_step`` calls; default: the LightningModule itself.
    policy, causal, recount
        Passed to ``algoeff.ComputeTracker``.

    After ``fit``: ``tracker`` (the ComputeTracker) and ``summary`` (its summary).
    """

    def __init__(self, target, *, store=None, run_name: str | None = None, stop_on_target: bool = False,
                 model=None, policy: str = "matmul", causal: str = "full", recount: bool = False):
        check_version("lightning", *SUPPORTED, where="algoeff.integrations.lightning")
        self._settings(target, store=store, run_name=run_name, stop_on_target=stop_on_target, policy=policy,
                       causal=causal, recount=recount)
        self.model = model
        self._step_at_start = 0
        for name in _UNUSED_BATCH_HOOKS:
            if getattr(type(self), name) is getattr(pl.Callback, name):  # a subclass's own hook stays
                setattr(self, name, None)

    # -- start and end ------------------------------------------------------------

    def on_fit_start(self, trainer, pl_module):
        mine = [cb for cb in trainer.callbacks if isinstance(cb, ComputeToTarget)]
        if len(mine) > 1:
            raise TrackError(
                f"ComputeToTarget is attached {len(mine)} times to this Trainer; attach it once "
                "(each copy would count every step)."
            )
        import torch

        model = self.model if self.model is not None else pl_module
        peak = None
        if pl_module.device.type == "cuda":
            peak = device_peak_flops(torch.cuda.get_device_name(pl_module.device), _precision(trainer))
        config = {
            "framework": "lightning",
            "lightning": pl.__version__,
            "module": type(pl_module).__name__,
            "precision": str(trainer.precision),
            "accumulate_grad_batches": trainer.accumulate_grad_batches,
            "max_epochs": trainer.max_epochs,
            "max_steps": trainer.max_steps,
            "world_size": trainer.world_size,
            "hparams": dict(pl_module.hparams) if pl_module.hparams else {},
        }
        self.run = TrackedRun(model, self.target, store=self.store, run_name=self.run_name, config=config,
                              policy=self.policy, causal=self.causal, recount=self.recount,
                              peak_flops=peak, world_size=trainer.world_size, skip=_skip(trainer))
        self.summary = None

    def on_fit_end(self, trainer, pl_module):
        if self.run is not None:
            self.summary = self.run.finish()
            self._log(trainer)

    def on_exception(self, trainer, pl_module, exception):
        if self.run is not None and self.run.tracker.status == "running":
            self.run.abort(exception)
            stopped = isinstance(exception, KeyboardInterrupt)
            self.summary = self.run.finish("stopped" if stopped else "failed")

    # -- training -----------------------------------------------------------------

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if self.run is not None:
            self._step_at_start = self.run.tracker.steps
            # the batch: under trainer.fit(torch.compile(module)) the forward runs inside the compiled
            # training_step, where a step of a new input signature could not be counted
            self.run.begin_train(batch)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.run is None:
            return
        self.run.end_train()
        tracker = self.run.tracker
        if tracker.steps == 1 and self._step_at_start == 0 and tracker.counter.last.forward == 0:
            model = type(self.model if self.model is not None else pl_module).__name__
            raise TrackError(
                f"ComputeToTarget counted no forward pass of {model} in training_step; call the module "
                "itself there (self(x)), or pass model=<the submodule training_step calls>."
            )
        # every logger of the trainer, every log_every_n_steps optimizer steps; straight to the loggers,
        # as pl_module.log costs more than the counting (milliseconds a call, measured in the benchmark)
        # (under DDP the all-ranks total is known as of the last validation)
        every = max(1, trainer.log_every_n_steps)
        if tracker.steps > self._step_at_start and tracker.steps % every == 0:
            for logger in trainer.loggers:
                logger.log_metrics({"algoeff/train_flops": float(tracker.total_flops)}, step=_log_step(trainer))

    # -- validation ---------------------------------------------------------------

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if self.run is not None and trainer.state.fn == "fit":
            self.run.begin_eval(batch)

    def on_validation_batch_end(self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0):
        if self.run is not None:
            self.run.end_eval()

    def on_validation_end(self, trainer, pl_module):
        if self.run is None or trainer.sanity_checking or trainer.state.fn != "fit":
            return
        reached = self.run.record(dict(trainer.callback_metrics), where="by this LightningModule at validation")
        self._log(trainer)
        if self.stop_on_target and reached:
            # every rank must agree, as EarlyStopping does
            trainer.should_stop = trainer.should_stop or trainer.strategy.reduce_boolean_decision(reached, all=False)

    def _log(self, trainer):
        metrics = self.run.logged()
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=_log_step(trainer))
