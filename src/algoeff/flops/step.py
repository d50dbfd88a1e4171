"""StepCounter: count a training step once per signature, then look it up.

A step's signature is read at its first forward call of the model (a
forward pre-hook): the input shapes, dtypes and ``requires_grad``, the
train/eval flag of every submodule whose code may read it, whether grad is
enabled, the model's structure and parameter shapes, and per parameter
whether it requires grad and (under policy ``all``) whether it holds a
gradient (a backward into it adds). On a miss the counting mode is entered
from inside that hook and left at the end of the block, so the user's own
forward, loss, backward and optimizer step are counted as they run; on a hit
nothing is instrumented.

The structure part is recomputed only when some module registers a parameter,
buffer or submodule anywhere (global registration hooks bump a version), so a
hit costs a hook call, a tuple of shapes and two dict lookups.

The optimizer's share is cached apart, per optimizer and per whether its state
is initialised (SGD-momentum's first step clones instead of updating the
buffer), and counted inside the optimizer's own step hooks when it is new.

A block has at most one counting mode, whoever starts it (the model's first
forward or the optimizer's step), and its tally is switched between the
model's work and the optimizer's. ``optimizer.step(closure)`` (LBFGS,
Lightning's automatic optimization) runs forward and backward inside the
optimizer's step: the closure is wrapped so that its work counts in its own
phases, once, and a closure step is cached apart from plain steps. An
optimizer that calls the closure more than once per step (LBFGS) does work
that depends on the data, so its steps are counted every time.
"""

from __future__ import annotations

import operator
import warnings
import weakref

import torch
from torch.nn.modules.module import (
    register_module_buffer_registration_hook,
    register_module_forward_pre_hook,
    register_module_module_registration_hook,
    register_module_parameter_registration_hook,
)
from torch.optim.optimizer import register_optimizer_step_post_hook, register_optimizer_step_pre_hook

from algoeff.errors import CountError
from algoeff.flops import _torch_private
from algoeff.flops.mode import CountingMode, check_policy
from algoeff.flops.report import FlopReport, Tally

__all__ = ["StepCounter"]

_STRUCTURE_VERSION = [0]
_ACTIVE = [None]  # the StepCounter whose step() block is open: one at a time in a process
_OPT_HOOKS: list = []  # [kind, pre-hook handle, post-hook handle]: the process-wide optimizer hooks


def _global_pre_optimizer(optimizer, args, kwargs):
    counter = _ACTIVE[0]
    return None if counter is None else counter._pre_optimizer(optimizer, args, kwargs)


def _global_post_optimizer(optimizer, args, kwargs):
    counter = _ACTIVE[0]
    if counter is not None:
        counter._post_optimizer(optimizer, args, kwargs)


def _install_optimizer_hooks(compile_safe: bool):
    """One process-wide pair of optimizer hooks that forwards to the open block's counter.

    Registered once, not around every block: adding and removing hooks each step
    costs more than the cache hit it serves. Once torch.compile is in use the
    pair is replaced, once, by one excluded from compilation: a compiled step
    function traces ``Optimizer.step`` and guards on the global hook tables (hooks
    changing every step would recompile it every step), and a traced hook runs its
    side effects only when traced. The caller checks whether the pair is there already.
    """
    for handle in _OPT_HOOKS[1:]:
        handle.remove()
    pre, post = _global_pre_optimizer, _global_post_optimizer
    if compile_safe:
        pre, post = torch.compiler.disable(pre), torch.compiler.disable(post)
    _OPT_HOOKS[:] = ["compile-safe" if compile_safe else "eager",
                     register_optimizer_step_pre_hook(pre), register_optimizer_step_post_hook(post)]


class _ModelHook:
    """The one forward pre-hook on a model, and how many of its counters use it."""

    __slots__ = ("handle", "compile_safe", "users")

    def __init__(self):
        self.handle, self.compile_safe, self.users = None, False, 0


_MODEL_HOOKS = weakref.WeakKeyDictionary()  # model -> _ModelHook


def _model_pre_forward(module, args, kwargs):
    counter = _ACTIVE[0]
    if counter is not None and counter.model is module:
        counter._pre_forward(module, args, kwargs)


def _hook_model(model, compile_safe: bool) -> _ModelHook:
    """One forward pre-hook on ``model`` for all its counters (a tracker's training and evaluation ones).

    It forwards to the open block's counter: one block is open at a time in a
    process, so one hook call a forward serves every counter of the model.
    Once torch.compile is in use it is replaced, once, by one excluded from
    compilation and first among the model's hooks.
    """
    hook = _MODEL_HOOKS.get(model)
    if hook is None:
        hook = _MODEL_HOOKS[model] = _ModelHook()
    if hook.handle is None or (compile_safe and not hook.compile_safe):
        if hook.handle is not None:
            hook.handle.remove()
        forward = torch.compiler.disable(_model_pre_forward) if compile_safe else _model_pre_forward
        hook.handle = model.register_forward_pre_hook(forward, with_kwargs=True, prepend=compile_safe)
        hook.compile_safe = compile_safe
    return hook


def _unhook_model(model):
    hook = _MODEL_HOOKS.get(model)
    if hook is not None:
        hook.users -= 1
        if hook.users <= 0:
            hook.handle.remove()
            del _MODEL_HOOKS[model]


_REQUIRES_GRAD = operator.attrgetter("requires_grad")
_TRAINING = operator.attrgetter("training")

# torch.nn modules whose code never reads ``self.training``: their train/eval flag cannot change a
# step's work, so the signature leaves them out. Each flag read is a cold object after a training
# step's compute (about 1.8 us each, measured inside a Lightning run on CPU); a model of stock
# layers has a few modules whose flag matters and many whose flag does not. Exact types only: a
# subclass may read the flag. A test reads every listed class's code for a read of ``training``.
_TRAIN_INVARIANT = frozenset(
    getattr(torch.nn, name) for name in (
        "Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d Linear Bilinear Identity "
        "Flatten Unflatten Sequential ModuleList ModuleDict ReLU ReLU6 LeakyReLU PReLU ELU SELU CELU GELU "
        "SiLU Mish Sigmoid Tanh Hardtanh Hardswish Hardsigmoid Softplus Softsign Tanhshrink Softmax "
        "LogSoftmax Softmax2d Softmin LogSigmoid GLU Threshold MaxPool1d MaxPool2d MaxPool3d AvgPool1d "
        "AvgPool2d AvgPool3d AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d "
        "AdaptiveMaxPool2d AdaptiveMaxPool3d LayerNorm GroupNorm RMSNorm LocalResponseNorm Embedding "
        "ZeroPad1d ZeroPad2d ConstantPad1d ConstantPad2d ConstantPad3d ReflectionPad1d ReflectionPad2d "
        "ReplicationPad1d ReplicationPad2d ReplicationPad3d Upsample PixelShuffle PixelUnshuffle"
    ).split() if hasattr(torch.nn, name)
)


def _bump(*args):
    _STRUCTURE_VERSION[0] += 1


# process-wide and cheap: they fire only when a module gains a parameter, buffer or child
register_module_module_registration_hook(_bump)
register_module_parameter_registration_hook(_bump)
register_module_buffer_registration_hook(_bump)


def _sig(value):
    if isinstance(value, torch.Tensor):
        # an input that requires grad gets an input gradient in backward
        return (value.shape, value.dtype, value.requires_grad)
    if isinstance(value, (tuple, list)):
        return tuple(_sig(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _sig(v)) for k, v in value.items())
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return type(value)


def _batch_sig(value):
    """A batch's tensor shapes and dtypes: its other leaves (file names, raw text) differ per batch."""
    if isinstance(value, torch.Tensor):
        return (value.shape, value.dtype)
    if isinstance(value, (tuple, list)):
        return tuple(_batch_sig(v) for v in value)
    if isinstance(value, dict):
        return tuple((k, _batch_sig(v)) for k, v in value.items())
    return None


def _leading_dim(args, kwargs) -> int:
    """The first dimension of a forward call's first argument that has a shape: its examples."""
    for value in (*args, *kwargs.values()):
        shape = getattr(value, "shape", None)
        if shape is not None and len(shape) > 0:
            return int(shape[0])
    return 0


def _on_meta(args, kwargs) -> bool:
    for value in list(args) + list(kwargs.values()):
        if isinstance(value, torch.Tensor):
            return value.device.type == "meta"
    return False


def _optimizer_key(optimizer, closure: bool):
    state = optimizer.state
    warm = bool(state) and bool(next(iter(state.values())))
    return (id(optimizer), type(optimizer), warm, len(optimizer.param_groups), closure)


def _with_closure(args, kwargs, wrapped):
    """``Optimizer.step``'s (args, kwargs) with its closure replaced by ``wrapped``.

    The step hooks see ``args`` with the optimizer first.
    """
    if len(args) > 1 and args[1] is not None:
        return (args[0], wrapped, *args[2:]), kwargs
    return args, {**kwargs, "closure": wrapped}


def _on_meta_params(optimizer) -> bool:
    return _on_meta_params_of(p for group in optimizer.param_groups for p in group["params"])


def _on_meta_params_of(params) -> bool:
    for param in params:
        return param.device.type == "meta"
    return False


class StepCounter:
    """Per-step FLOPs of a training loop, counted once per signature.

    Parameters
    ----------
    model : torch.nn.Module
        The model called inside each step (a DistributedDataParallel wrapper is fine).
    policy : {"matmul", "all"}
        Which ops count (see ``docs/flops.md``).
    causal : {"full", "half"}
        How causal attention counts.
    recount : bool
        Count every step (models whose work depends on the data).
    skip : callable or None
        ``skip(module, args, kwargs) -> bool``: a forward call of the model it
        returns True for is not part of the step's signature (a wrapper's call
        that only leads to the real one: Lightning's forward redirection under DDP
        calls the LightningModule with ``(batch, batch_idx)`` to reach
        ``training_step``, and ``batch_idx`` would make every step new).

    Use ``with counter.step(): ...`` around forward, loss, backward and
    ``optimizer.step()``; afterwards ``counter.last`` is that step's FlopReport.
    """

    def __init__(self, model, *, policy: str = "matmul", causal: str = "full", recount: bool = False,
                 skip=None):
        if not isinstance(model, torch.nn.Module):
            raise CountError(f"model == {type(model).__name__}, must be a torch.nn.Module.")
        if not isinstance(recount, bool):
            raise CountError(f"recount == {recount!r}, must be True or False.")
        if skip is not None and not callable(skip):
            raise CountError(f"skip == {skip!r}, must be None or a function (module, args, kwargs) -> bool.")
        self._skip = skip
        self.policy, self.causal = check_policy(policy, causal)
        self.model = model
        self.recount = recount
        self.hits = 0
        self.misses = 0
        self.last: FlopReport | None = None
        self._cache: dict = {}  # step key -> (model tally, signatures of later forward calls, reports)
        self._opt_cache: dict = {}  # optimizer key -> (Tally, closure calls in the counted step)
        self._opt_unstable: set = set()  # optimizer keys counted every step
        self._unstable: set = set()
        self._structure_version = -1
        self._structure_id = 0
        self._structures: dict = {}
        self._params: list = []
        self._flagged: list = []  # the modules whose train/eval flag is in the signature
        self._module_ids: set = set()
        self._watch = None
        self._active = False
        self._step = _Step(self)
        _hook_model(model, False).users += 1
        self._hooked = True
        self._compile_safe = False
        self._stance = None
        self._started = False
        self._count_next = False
        self._seen: set = set()  # (structure, state, grad mode) of blocks started under the mode
        self._opt_keys: list = []  # optimizer keys of the steps taken in the block
        self._examples = 0  # the block's, read by the tracker (one model hook for both)
        self._watch_next = True  # watch the next block for submodules run without the model
        self._entry = None  # the cache entry of the open block's key
        self._opt_meta = False  # whether the optimizer being counted holds meta parameters
        self._expected = None  # the next block's inputs, as expect() was told
        self._watches: list = []  # hooks on wrappers the loop calls instead of the model

    def step(self):
        """Context manager around one training step."""
        if self._active:
            raise CountError("step() entered inside another step() of the same StepCounter.")
        return self._step

    def close(self):
        """Remove the hook from the model (the last of its counters to close removes it)."""
        if self._hooked:
            self._hooked = False
            _unhook_model(self.model)
        for handle in self._watches:
            handle.remove()
        self._watches = []

    def expect(self, inputs):
        """Name the next block's inputs (a batch) before it begins.

        Read only with torch.compile in use: a block whose batch has tensors of new
        shapes or dtypes is then counted eagerly from its start, also where the
        model's first forward runs inside compiled code (a compiled
        ``training_step``) and could not be.
        """
        self._expected = inputs

    def watch(self, module):
        """Also read a step's signature at ``module``'s forward: a wrapper called instead of the model.

        The wrapper torch.compile returns calls the model from inside its compiled
        call, where a step of a new signature cannot be counted; the wrapper's own
        hooks run before it, so a new step is seen there and counted eagerly.
        """
        self._watches.append(module.register_forward_pre_hook(
            torch.compiler.disable(self._pre_forward), with_kwargs=True, prepend=True))

    @property
    def examples(self) -> int:
        """Examples the model's forward calls took in the last (or the open) block.

        Each call's first argument with a shape gives its first dimension (a
        micro-batch's size); every call counts, the first and the later ones.
        """
        return self._examples

    @property
    def optimizer_steps(self) -> int:
        """Optimizer steps that completed in the last (or the open) block."""
        return len(self._opt_keys)

    # -- signature ---------------------------------------------------------------

    def _structure(self) -> int:
        if _STRUCTURE_VERSION[0] != self._structure_version:
            self._structure_version = _STRUCTURE_VERSION[0]
            shape = tuple(
                (name, type(module).__name__,
                 tuple((n, p.shape) for n, p in module.named_parameters(recurse=False)),
                 tuple((n, b.shape) for n, b in module.named_buffers(recurse=False)))
                for name, module in self.model.named_modules()
            )
            self._structure_id = self._structures.setdefault(shape, len(self._structures))
            self._params = list(self.model.parameters())
            modules = list(self.model.modules())
            self._module_ids = {id(m) for m in modules}
            self._flagged = [m for m in modules if type(m) not in _TRAIN_INVARIANT]
        return self._structure_id

    def _state(self) -> tuple:
        """What changes the count without changing the structure: frozen layers, eval submodules, held grads.

        The train/eval flags are those of the modules outside ``_TRAIN_INVARIANT``.
        """
        # accumulating into a held .grad is an add, counted under "all" only
        held = tuple([p.grad is None for p in self._params]) if self.policy == "all" else ()
        return tuple(map(_REQUIRES_GRAD, self._params)), held, tuple(map(_TRAINING, self._flagged))

    def _watch_hook(self, module, args):
        if self._watch is not None:
            self._watch.remove()
            self._watch = None
        if module is not self.model and id(module) in self._module_ids:
            self._bypassed = True

    def _pre_forward(self, module, args, kwargs):
        if not self._active or (self._skip is not None and self._skip(module, args, kwargs)):
            return None
        # _sig's result, without its recursion for the two common calls (a tenth of the hook's cost)
        if not kwargs and len(args) == 1 and type(args[0]) is torch.Tensor:  # model(x)
            x = args[0]
            shape = x.shape
            sig = (((shape, x.dtype, x.requires_grad),), ())
            examples = shape[0] if shape else 0
        else:
            if not args and all(type(v) is torch.Tensor for v in kwargs.values()):  # model(**batch): HF
                sig = ((), tuple([(k, (v.shape, v.dtype, v.requires_grad)) for k, v in kwargs.items()]))
            else:
                sig = (_sig(args), _sig(kwargs) if kwargs else ())
            examples = _leading_dim(args, kwargs)
        if module is self.model:  # not a watched wrapper's call too
            self._examples += examples
        if self._key is not None:
            self._seq.append(sig)
            return None
        structure = self._structure_id if _STRUCTURE_VERSION[0] == self._structure_version else self._structure()
        key = (sig, torch.is_grad_enabled(), structure, self._state(), self._in_closure)
        self._key = key
        # one hash of the key a step: the entry is kept for the block's end
        self._entry = entry = self._cache.get(key)
        # a mode started at the block's entry (a compiled model) counts this step whatever the key
        if self._started or self.recount or entry is None or (self._unstable and key in self._unstable):
            if self._mode is None and self._compile_safe and _torch_private.in_compiled_call():
                # compiled kernels never reach a dispatch mode: this step cannot be counted
                self._lost = True
                return None
            self._model_tally = Tally()
            if self._mode is None:
                self._eager()
                mode = CountingMode(self.policy, self.causal, meta=_on_meta(args, kwargs))
                mode.__enter__()
                # the tracker's global module hooks start after this module's own call began
                _torch_private.module_entered(mode, module, args)
                self._mode = mode
            self._route()
        return None

    def _start_if_new(self):
        """With torch.compile in use, start counting at the block's entry when the step may be new.

        A compiled model drops a counting mode entered inside its compiled call (at
        the first forward), so a step that may need counting runs eagerly, under
        the mode, from its start. The step's input signature is known only at the
        first forward; what is known here (structure, frozen layers, train flags,
        grad mode, and the inputs if ``expect`` named them) decides; a step whose
        inputs alone are new, unnamed, is caught at the block's end (a warning, and
        the next such step counted from its start).
        """
        pre = (self._structure_id, self._state(), torch.is_grad_enabled(), _batch_sig(self._expected))
        if self.recount or self._count_next or pre not in self._seen:
            self._seen.add(pre)
            self._count_next = False
            self._started = True
            self._eager()
            self._mode = CountingMode(self.policy, self.causal, meta=_on_meta_params_of(self._params))
            self._mode.__enter__()
            self._route()

    def _eager(self):
        """Run the rest of a counted block eagerly: compiled kernels do not pass through the mode."""
        if self._compile_safe and self._stance is None:
            self._stance = torch.compiler.set_stance("force_eager")

    def _route(self):
        """Point the block's mode at the tally of the work now running (callers skip it without a mode)."""
        mode = self._mode
        if self._in_optimizer and not self._in_closure:
            mode.in_optimizer = True
            mode.tally = self._opt_tally if self._opt_tally is not None else Tally()
        else:
            mode.in_optimizer = False
            mode.tally = self._model_tally if self._model_tally is not None else Tally()

    # -- optimizer ---------------------------------------------------------------

    def _pre_optimizer(self, optimizer, args, kwargs):
        closure = args[1] if len(args) > 1 and args[1] is not None else kwargs.get("closure")
        key = _optimizer_key(optimizer, closure is not None)
        self._opt_keys.append(key)
        self._in_optimizer = True
        self._closure_calls = 0
        count = self.recount or (self._opt_unstable and key in self._opt_unstable) or key not in self._opt_cache
        if count or self._mode is not None:
            self._opt_tally = Tally()
            self._opt_counting = key
            if self._mode is None:
                self._eager()
                self._opt_meta = _on_meta_params(optimizer)
                self._mode = CountingMode(self.policy, self.causal, meta=self._opt_meta)
                self._mode.__enter__()
        if self._mode is not None:
            self._route()
        if closure is None:
            return None
        return _with_closure(args, kwargs, self._wrap(closure))

    def _wrap(self, closure):
        def counted_closure(*args, **kwargs):
            self._closure_calls += 1
            outer, self._in_closure = self._in_closure, True
            # a mode opened for a new optimizer step alone is closed while the closure runs: a
            # cached step's forward and backward would run under it for nothing, at several
            # times their cost (a new step's first forward opens a mode of its own)
            paused = self._mode is not None and self._model_tally is None and not self._started
            if paused:
                self._mode.__exit__(None, None, None)
                self._mode = None
            elif self._mode is not None:
                self._route()
            try:
                return closure(*args, **kwargs)
            finally:
                self._in_closure = outer
                if paused and self._mode is None:
                    self._mode = CountingMode(self.policy, self.causal, meta=self._opt_meta)
                    self._mode.__enter__()
                if self._mode is not None:
                    self._route()

        return counted_closure

    def _post_optimizer(self, optimizer, args, kwargs):
        self._in_optimizer = False
        key, calls = self._opt_keys[-1], self._closure_calls
        if self._opt_counting is not None:
            self._opt_cache[key] = (self._opt_tally, calls)
            self._opt_counting = self._opt_tally = None
            self._opt_fresh = True
            if calls > 1:
                # the optimizer re-evaluates (LBFGS): how often, and its own work, depend on the data
                self._opt_unstable.add(key)
        elif self._opt_cache[key][1] != calls:
            self._opt_unstable.add(key)
            warnings.warn(
                "StepCounter: the optimizer called its closure a different number of times than in the "
                "counted step; this step's FLOPs come from that step, and later steps are recounted.",
                RuntimeWarning,
                stacklevel=3,
            )
        if self._model_tally is None and self._mode is not None:
            # the mode was started for the optimizer alone
            self._mode.__exit__(None, None, None)
            self._mode = None
        if self._mode is not None:
            self._route()

    # -- the block ---------------------------------------------------------------

    def _enter(self):
        if _ACTIVE[0] is not None:
            raise CountError(
                "step() entered inside another StepCounter's step(): each counter would count the other's "
                "work too (issue 15, case 9). Use one StepCounter per block, on a module that holds every "
                "model the step runs.")
        _ACTIVE[0] = self
        if not self._compile_safe and _torch_private.compile_in_use():
            # the model may be, or become, compiled: the hook must run eagerly every step (a
            # traced hook would run only when traced), and counted steps must run eagerly too
            if self._hooked:
                _hook_model(self.model, True)
            self._compile_safe = True
        if not _OPT_HOOKS or (self._compile_safe and _OPT_HOOKS[0] != "compile-safe"):
            _install_optimizer_hooks(self._compile_safe)
        if self._compile_safe or self._watch_next:
            self._structure()  # read at the entry by _start_if_new and the watch (else at the first forward)
        self._bypassed = False
        # to tell whether the model's submodules run while the model's own forward never does:
        # a global pre-hook that removes itself at the block's first module call (the model's,
        # normally). Not with torch.compile in use: compiled code guards on the global hooks. Not
        # after a block in which the model ran either: registering it is a large share of a cache
        # hit's cost, a bypass that persists is caught one block later, and one in a block where
        # an optimizer steps is caught by that.
        self._watch = None
        if self._watch_next and not self._compile_safe:
            self._watch = register_module_forward_pre_hook(self._watch_hook)
        self._active = True
        self._started = False
        self._lost = False
        self._key = None
        self._seq = []
        self._mode = None
        self._model_tally = None
        self._opt_tally = None
        self._in_optimizer = False
        self._in_closure = False
        self._closure_calls = 0
        self._opt_keys = []
        self._examples = 0
        self._opt_counting = None
        self._opt_fresh = False
        if self._compile_safe:
            self._start_if_new()
        self._expected = None  # not kept alive past its block

    def _exit(self, failed: bool):
        if self._watch is not None:
            self._watch.remove()
            self._watch = None
        self._active = False
        _ACTIVE[0] = None
        self._watch_next = self._key is None
        if self._stance is not None:
            self._stance.__exit__(None, None, None)  # back to the stance before the block
            self._stance = None
        mode = self._mode
        dropped = mode is not None and not _torch_private.mode_on_stack(mode)
        if mode is not None and not dropped:
            mode.__exit__(None, None, None)
        elif dropped:
            _torch_private.leave_dropped(mode)
        self._mode = None
        model_tally, self._model_tally = self._model_tally, None
        if self._lost and not failed:
            self._count_next = True
            self.misses += 1
            warnings.warn(
                "StepCounter: this step's first forward had a new signature (new input shapes, say) and ran "
                "inside compiled code, which the counting mode cannot see (issue 15, case 1): counter.last "
                "is zero for this step, and the next step is counted eagerly from its start. "
                "StepCounter(torch.compile(model)) and steps of a signature already counted are exact.",
                RuntimeWarning,
                stacklevel=3,
            )
            self.last = FlopReport.from_tallies([], policy=self.policy, causal=self.causal)
            return
        if dropped and not failed:
            # a compiled call took the mode off the stack: backward and optimizer went uncounted
            self._count_next = True
            self.misses += 1
            warnings.warn(
                "StepCounter: the model ran compiled, and its compiled call dropped the counting mode that "
                "its first forward of a new input signature started (issue 15, case 1): this step's "
                "backward and optimizer FLOPs are missing from counter.last; the next step is counted "
                "eagerly from its start. Counting StepCounter(torch.compile(model)) avoids this.",
                RuntimeWarning,
                stacklevel=3,
            )
            parts = [model_tally or Tally()]
            self.last = FlopReport.from_tallies(parts, policy=self.policy, causal=self.causal)
            self._opt_counting = self._opt_tally = None
            return
        if self._opt_counting is not None:  # an optimizer step raised: it has no count
            self._opt_keys.pop()
            self._opt_counting = self._opt_tally = None
        if failed:
            return
        key = self._key
        if key is None:
            # the model never ran inside the block: only optimizer work, if any
            if self._opt_keys or self._bypassed:
                warnings.warn(
                    f"StepCounter: {type(self.model).__name__}'s forward never ran in this step, yet its "
                    "submodules ran or an optimizer stepped (issue 15, case 9): the step counts "
                    "only optimizer work. Call the model StepCounter was given (not a submodule or its "
                    ".forward) inside step(), or give StepCounter the module you call.",
                    RuntimeWarning,
                    stacklevel=3,
                )
            parts = [self._opt_cache[k][0] for k in self._opt_keys]
            self.last = FlopReport.from_tallies(parts, policy=self.policy, causal=self.causal)
            return
        if model_tally is not None:
            self.misses += 1
            if not self.recount:
                self._cache[key] = (model_tally, tuple(self._seq), {})
            parts = [model_tally] + [self._opt_cache[k][0] for k in self._opt_keys]
            self.last = FlopReport.from_tallies(parts, policy=self.policy, causal=self.causal)
            return
        model_tally, seq, reports = self._entry
        if tuple(self._seq) != seq:
            # the calls after the first differed from the counted step: this step is
            # taken from the cache, and later steps with this signature are counted
            self._unstable.add(key)
            warnings.warn(
                "StepCounter: the model's forward calls in this step differed from the counted step "
                "with the same first call; its FLOPs come from that step, and later steps with this "
                "signature are recounted.",
                RuntimeWarning,
                stacklevel=3,
            )
        if self._opt_fresh:
            self.misses += 1
        else:
            self.hits += 1
        opt_keys = tuple(self._opt_keys)
        report = None if self._opt_fresh else reports.get(opt_keys)
        if report is None:
            parts = [model_tally] + [self._opt_cache[k][0] for k in opt_keys]
            report = FlopReport.from_tallies(parts, policy=self.policy, causal=self.causal)
            reports[opt_keys] = report
        self.last = report


class _Step:
    """The object ``StepCounter.step()`` returns: a plain context manager (cheaper than a generator)."""

    __slots__ = ("counter",)

    def __init__(self, counter):
        self.counter = counter

    def __enter__(self):
        self.counter._enter()
        return self.counter

    def __exit__(self, exc_type, exc, tb):
        self.counter._exit(exc_type is not None)
        return False
