"""Compute-to-target for the Hugging Face Trainer: one callback.

    trainer = Trainer(..., callbacks=[ComputeToTarget(Target("eval_accuracy", 0.9), store="runs.db")])

Each micro-batch is one ``ComputeTracker.step()`` block: the first of an
optimizer step opens at ``on_step_begin``, each later one at the
``on_substep_end`` before it, and the last closes at ``on_step_end`` with the
optimizer's work inside, so ``gradient_accumulation_steps`` micro-batches are
counted once each and the optimizer once per step. Evaluation is counted apart,
one block per batch: it opens at the model's first forward call outside
training and closes at ``on_prediction_step``. The target metric is read from
the evaluation's logs (``eval_`` + what ``compute_metrics`` returns).

``algoeff/*`` figures are added to each ``on_log`` call's logs and to
``state.log_history``. The Trainer calls its ``report_to`` integrations before
callbacks passed in ``callbacks=``, so those see them only if they come after
this callback: ``report_to="none"`` and the reporting callback listed after
ComputeToTarget (docs/integrations.md).
"""

from __future__ import annotations

from algoeff.errors import TrackError

from .common import CallbackSettings, TrackedRun, check_version, device_peak_flops

try:
    import transformers
    from transformers import TrainerCallback
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "algoeff.integrations.transformers needs transformers and accelerate: "
        "pip install 'transformers>=4.44,<6' 'accelerate>=1.0,<2'"
    ) from err

__all__ = ["ComputeToTarget", "SUPPORTED"]

SUPPORTED = ("4.44", "6")  # transformers >=4.44,<6

_MARK = "_algoeff_compute_to_target"  # set on the TrainerState by the callback tracking it


def _compiled_wrapper(model):
    """The torch.compile wrapper the Trainer trains instead of ``model``, or None.

    Callbacks are not given the Trainer, but ``on_train_begin`` is called from its
    training loop, whose ``self`` is the Trainer: ``model_wrapped`` is the model it
    calls (accelerate compiles last, so a compiled wrapper is the outermost).
    """
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        trainer = frame.f_locals.get("self")
        if isinstance(trainer, transformers.Trainer):
            wrapped = getattr(trainer, "model_wrapped", None)
            return wrapped if wrapped is not model and hasattr(wrapped, "_orig_mod") else None
        frame = frame.f_back
    return None


def _precision(args) -> str:
    import torch

    if args.bf16:
        return "bf16"
    if args.fp16:
        return "fp16"
    return "fp32" if torch.get_float32_matmul_precision() == "highest" and not args.tf32 else "tf32"


class ComputeToTarget(CallbackSettings, TrainerCallback):
    """Count a Trainer run's training compute until it reaches ``target``.

    Parameters
    ----------
    target : algoeff.Target
        The metric as the Trainer logs it (``eval_accuracy`` for a ``compute_metrics``
        that returns ``accuracy``) and the threshold.
    store : path, RunStore or None
        The algoeff run store to write the run to (rank 0 only).
    run_name : str or None
        Saved with the run.
    stop_on_target : bool
        Stop training (``control.should_training_stop``) at the first evaluation that reaches the target.
    policy, causal, recount
        Passed to ``algoeff.ComputeTracker``.

    After ``train()``: ``tracker`` (the ComputeTracker) and ``summary`` (its summary).
    """

    def __init__(self, target, *, store=None, run_name: str | None = None, stop_on_target: bool = False,
                 policy: str = "matmul", causal: str = "full", recount: bool = False):
        check_version("transformers", *SUPPORTED, where="algoeff.integrations.transformers")
        self._settings(target, store=store, run_name=run_name, stop_on_target=stop_on_target, policy=policy,
                       causal=causal, recount=recount)
        self._hook = None
        self._recorded = False  # the current evaluation was recorded from its logs
        self._reached = False

    # -- start and end ------------------------------------------------------------

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        other = getattr(state, _MARK, None)
        if other is not None and other.run is not None and other.run.tracker.status == "running":
            if other.run.tracker.steps == 0 and not other.run.in_train:
                other._close("failed")
                raise TrackError(
                    "ComputeToTarget is attached more than once to this Trainer; attach it once "
                    "(each copy would count every step)."
                )
            other._close("failed")  # left running by an earlier train() that raised
        if model is None:
            raise TrackError("ComputeToTarget got no model from the Trainer at on_train_begin.")
        import torch

        peak = None
        if args.device.type == "cuda":
            peak = device_peak_flops(torch.cuda.get_device_name(args.device), _precision(args))
        config = {
            "framework": "transformers",
            "transformers": transformers.__version__,
            "model": type(model).__name__,
            "per_device_train_batch_size": args.per_device_train_batch_size,
            "gradient_accumulation_steps": args.gradient_accumulation_steps,
            "learning_rate": args.learning_rate,
            "max_steps": args.max_steps,
            "num_train_epochs": args.num_train_epochs,
            "bf16": args.bf16,
            "fp16": args.fp16,
            "seed": args.seed,
            "world_size": args.world_size,
        }
        self.run = TrackedRun(model, self.target, store=self.store, run_name=self.run_name, config=config,
                              policy=self.policy, causal=self.causal, recount=self.recount,
                              peak_flops=peak, world_size=args.world_size)
        if args.torch_compile:
            # the model's own hooks run inside the compiled call, where a step of a new input signature
            # (an epoch's shorter last batch) cannot be counted; the wrapper's run before it
            wrapper = _compiled_wrapper(model)
            if wrapper is not None:
                self.run.tracker.counter.watch(wrapper)
        # first among the model's hooks, so an evaluation block is open before the counters look
        self._hook = model.register_forward_pre_hook(self._before_forward, prepend=True)
        self.summary = None
        setattr(state, _MARK, self)

    def on_train_end(self, args, state, control, **kwargs):
        self._close(None)
        if getattr(state, _MARK, None) is self:
            setattr(state, _MARK, None)

    def _close(self, status):
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self.run is not None and self.run.tracker.status == "running":
            if status == "failed":
                self.run.abort(None)
            self.summary = self.run.finish(status)

    # -- training -----------------------------------------------------------------

    def on_step_begin(self, args, state, control, **kwargs):
        if self.run is not None:
            self.run.begin_train()

    def on_substep_end(self, args, state, control, **kwargs):
        if self.run is not None:
            self.run.end_train()
            self.run.begin_train()  # the next micro-batch of this optimizer step

    def on_step_end(self, args, state, control, **kwargs):
        if self.run is not None:
            self.run.end_train()

    # -- evaluation ---------------------------------------------------------------

    def _before_forward(self, module, args):
        # every training forward passes here: the module's flag first, the cheapest test
        if not module.training and self.run is not None and not self.run.in_train and not self.run.in_eval:
            self.run.begin_eval()

    def on_prediction_step(self, args, state, control, **kwargs):
        if self.run is not None:
            self.run.end_eval()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.run is None or self.run.tracker.status != "running" or logs is None:
            return
        if self.target.metric in logs:  # an evaluation's metrics, logged before on_evaluate
            self.run.end_eval()
            self._reached = self.run.record(logs, where="by the Trainer at evaluation")
            self._recorded = True
        figures = self.run.logged()
        logs.update(figures)
        if state.log_history and all(state.log_history[-1].get(k) == v for k, v in logs.items()
                                     if k not in figures):
            state.log_history[-1].update(figures)

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        if self.run is None or self.run.tracker.status != "running":
            return
        self.run.end_eval()
        if not self._recorded:
            try:
                # raises naming the metrics the evaluation did log
                self._reached = self.run.record(metrics or {}, where="by the Trainer at evaluation")
            except TrackError:
                # the Trainer has no exception hook: close the run as failed here, or the store keeps it
                # running (under DDP every rank gets here, as every rank logs the same metrics)
                self._close("failed")
                raise
        self._recorded = False
        if self.stop_on_target and self._reached:
            control.should_training_stop = True
