"""count_flops: one forward pass, or one training step, counted by the dispatcher."""

from __future__ import annotations

import copy
import inspect

import torch
from torch.utils._pytree import tree_flatten

from algoeff.errors import CountError
from algoeff.flops import _torch_private
from algoeff.flops.mode import CountingMode, check_policy
from algoeff.flops.report import FlopReport

__all__ = ["count_flops", "to_meta"]


def to_meta(model, optimizer=None):
    """A copy of ``model`` (and ``optimizer``) on the meta device, without copying any data."""
    return _shadow(model, optimizer, lambda t: torch.empty_like(t, device="meta"), "the meta device")


def _shadow(model, optimizer, convert, where):
    memo = {}
    for tensor in list(model.parameters()) + list(model.buffers()):
        if id(tensor) in memo:
            continue
        meta = convert(tensor)
        if isinstance(tensor, torch.nn.Parameter):
            meta = torch.nn.Parameter(meta, requires_grad=tensor.requires_grad)
        memo[id(tensor)] = meta
    meta_model = copy.deepcopy(model, memo)
    if optimizer is None:
        return meta_model, None
    groups = []
    for group in optimizer.param_groups:
        group = dict(group)
        group["params"] = [memo[id(p)] for p in group["params"]]
        groups.append(group)
    # each group carries every hyperparameter; pass on the defaults the constructor takes
    accepted = inspect.signature(type(optimizer).__init__).parameters
    defaults = {k: v for k, v in optimizer.defaults.items() if k in accepted}
    try:
        meta_optimizer = type(optimizer)(groups, **defaults)
    except (TypeError, ValueError, RuntimeError) as err:
        raise CountError(f"cannot rebuild {type(optimizer).__name__} on {where}: {err}") from err
    # a warm optimizer does other work than a cold one (SGD-momentum updates its buffer
    # instead of cloning the gradient): carry the state over, param-shaped tensors as meta
    for param, state in optimizer.state.items():
        if id(param) in memo:
            meta_optimizer.state[memo[id(param)]] = {k: _meta_state(v, param, convert) for k, v in state.items()}
    return meta_model, meta_optimizer


def _meta_state(value, param, convert):
    if isinstance(value, torch.Tensor):
        if value.shape == param.shape:
            return convert(value)
        return value.clone()  # step counts and scalars: read with .item() by some optimizers
    return copy.deepcopy(value)


def _as_args(inputs):
    if isinstance(inputs, dict):
        return (), dict(inputs)
    if isinstance(inputs, (tuple, list)):
        return tuple(inputs), {}
    return (inputs,), {}


def _move(value, device):
    if isinstance(value, torch.Tensor):
        if device.type == "meta":
            # an input that requires grad gets an input gradient: keep the flag
            return torch.empty_like(value, device="meta").requires_grad_(value.requires_grad)
        return value.to(device)
    if isinstance(value, (tuple, list)):
        return type(value)(_move(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _move(v, device) for k, v in value.items()}
    return value


def _default_loss(out):
    tensors = [t for t in tree_flatten(out)[0]
               if isinstance(t, torch.Tensor) and t.is_floating_point() and t.requires_grad]
    if not tensors:
        raise CountError("train=True: the model's output has no floating-point tensor that requires grad; "
                         "pass loss_fn.")
    loss = tensors[0].sum()
    for tensor in tensors[1:]:
        loss = loss + tensor.sum()
    return loss


def _first_line(err) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def count_flops(model, inputs, *, loss_fn=None, optimizer=None, train: bool = False, policy: str = "matmul",
                causal: str = "full", device=None) -> FlopReport:
    """Count one forward pass (``train=False``, under no_grad, eval mode) or one training step.

    Parameters
    ----------
    model : torch.nn.Module
    inputs : Tensor, tuple of positional arguments, or dict of keyword arguments
    loss_fn : callable(output) -> scalar, optional
        Train mode only; default: the sum of the output's floating-point tensors.
    optimizer : torch.optim.Optimizer, optional
        Train mode only; its step is counted as the optimizer phase.
    train : bool
        Count forward, backward and (with ``optimizer``) the optimizer step.
    policy : {"matmul", "all"}
    causal : {"full", "half"}
    device : None, "meta", "fake" or a device
        ``"meta"`` counts shapes only: nothing is allocated or computed.
        ``"fake"`` counts on fake tensors (``FakeTensorMode``): no data either,
        the model's own device kept, and a model that reads a scalar
        (``.item()``, as Hugging Face models do with ``use_cache=False``) runs
        where meta cannot go. The
        user's model, gradients and optimizer state are never changed: a train
        step on real tensors runs on a copy.
    """
    if not isinstance(model, torch.nn.Module):
        raise CountError(f"model == {type(model).__name__}, must be a torch.nn.Module.")
    check_policy(policy, causal)
    if not isinstance(train, bool):
        raise CountError(f"train == {train!r}, must be True or False.")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise CountError(f"optimizer == {type(optimizer).__name__}, must be a torch.optim.Optimizer.")
    if not train and (optimizer is not None or loss_fn is not None):
        raise CountError("optimizer and loss_fn count only with train=True.")
    if loss_fn is not None and not callable(loss_fn):
        raise CountError(f"loss_fn == {loss_fn!r}, must be callable.")
    if device == "fake":
        device = _FAKE
    elif device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as err:
            raise CountError(f"device == {device!r}: {_first_line(err)}") from err

    args, kwargs = _as_args(inputs)
    if not train:
        return _count(model, args, kwargs, loss_fn, optimizer, train, policy, causal, device)
    # a training step needs autograd, whatever the caller's no_grad or inference_mode says
    with torch.inference_mode(False), torch.enable_grad():
        args, kwargs = _outside_inference(args), _outside_inference(kwargs)
        return _count(model, args, kwargs, loss_fn, optimizer, train, policy, causal, device)


def _outside_inference(value):
    # an inference tensor cannot be saved for backward; a clone made outside inference mode can
    if isinstance(value, torch.Tensor):
        return value.clone() if value.is_inference() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_outside_inference(v) for v in value)
    if isinstance(value, dict):
        return {k: _outside_inference(v) for k, v in value.items()}
    return value


_FAKE = "fake"


def _count(model, args, kwargs, loss_fn, optimizer, train, policy, causal, device):
    if device is _FAKE:
        return _count_fake(model, args, kwargs, loss_fn, optimizer, train, policy, causal)
    if device is not None and device.type == "meta":
        model, optimizer = to_meta(model, optimizer)
        args, kwargs = _move(args, device), _move(kwargs, device)
    else:
        if train:  # leave the user's weights, gradients and optimizer state alone
            model, optimizer = copy.deepcopy((model, optimizer))
        if device is not None:
            if not train:
                model = copy.deepcopy(model)
            model = model.to(device)
            args, kwargs = _move(args, device), _move(kwargs, device)
    if train:
        for param in model.parameters():
            param.grad = None

    flags = {module: module.training for module in model.modules()}
    model.train(train)
    mode = CountingMode(policy, causal, meta=device is not None and device.type == "meta")
    try:
        with mode:
            if train:
                _train_step(model, args, kwargs, loss_fn, optimizer, mode)
            else:
                with torch.no_grad():
                    _call(model, args, kwargs)
    finally:
        for module, flag in flags.items():
            module.training = flag
    return FlopReport.from_tallies([mode.tally], policy=policy, causal=causal)


def _count_fake(model, args, kwargs, loss_fn, optimizer, train, policy, causal):
    # fake tensors keep the real device (the CPU's attention kernels, so CPU counts) and
    # carry no data; unlike meta they let a model read a scalar (HF's .item() checks)
    fake = _torch_private.fake_mode()
    def convert(tensor):
        return fake.from_tensor(tensor, static_shapes=True)

    model, optimizer = _shadow(model, optimizer, convert, "fake tensors")
    args, kwargs = _fake_inputs(args, fake), _fake_inputs(kwargs, fake)
    flags = {module: module.training for module in model.modules()}
    model.train(train)
    mode = CountingMode(policy, causal)
    with fake, mode:
        if train:
            _train_step(model, args, kwargs, loss_fn, optimizer, mode)
        else:
            with torch.no_grad():
                _call(model, args, kwargs)
    return FlopReport.from_tallies([mode.tally], policy=policy, causal=causal)


def _fake_inputs(value, fake):
    if isinstance(value, torch.Tensor):
        return fake.from_tensor(value, static_shapes=True)
    if isinstance(value, (tuple, list)):
        return type(value)(_fake_inputs(v, fake) for v in value)
    if isinstance(value, dict):
        return {k: _fake_inputs(v, fake) for k, v in value.items()}
    return value


def _call(model, args, kwargs):
    try:
        return model(*args, **kwargs)
    except (RuntimeError, TypeError, ValueError, IndexError) as err:
        if isinstance(err, CountError):
            raise
        shapes = [tuple(a.shape) for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        raise CountError(f"{type(model).__name__} failed on inputs of shape {shapes}: {_first_line(err)}") from err


def _train_step(model, args, kwargs, loss_fn, optimizer, mode):
    out = _call(model, args, kwargs)
    loss = loss_fn(out) if loss_fn is not None else _default_loss(out)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise CountError(f"loss_fn returned {type(loss).__name__} "
                         f"{tuple(getattr(loss, 'shape', ()))}, must be a scalar tensor.")
    loss.backward()
    if optimizer is not None:
        mode.in_optimizer = True
        try:
            optimizer.step()
        finally:
            mode.in_optimizer = False
