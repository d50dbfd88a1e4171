"""The step signature sees what changes a step's count between two steps (issue 15, case 2)."""

import pytest
import torch
from torch import nn

from algoeff import StepCounter

torch.set_num_threads(1)

# two nn.Linear(64, 64) with Dropout between, batch 32: one layer's forward is 2 * 32 * 64 * 64 = 262,144
LAYER = 262_144


def _model(device):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(64, 64), nn.Dropout(0.5), nn.Linear(64, 64)).to(device)


def _step(counter, model, x, zero_grad=True):
    if zero_grad:
        model.zero_grad()  # .grad = None
    with counter.step():
        model(x).sum().backward()
    return counter.last


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_freezing_a_layer_between_steps_is_a_miss(device):
    model = _model(device)
    counter = StepCounter(model)
    x = torch.randn(32, 64, device=device)
    # both weight grads, and the second layer's input grad: 3 * 262,144
    assert _step(counter, model, x).backward == 3 * LAYER
    model[0].requires_grad_(False)
    # only the second layer's weight grad: nothing upstream needs a gradient (was 786,432 before the fix)
    assert _step(counter, model, x).backward == LAYER
    model[0].requires_grad_(True)
    assert _step(counter, model, x).backward == 3 * LAYER
    assert counter.hits == 1 and counter.misses == 2


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_a_submodule_switched_to_eval_is_a_miss(device):
    model = _model(device)
    counter = StepCounter(model, policy="all")
    x = torch.randn(32, 64, device=device)
    train = _step(counter, model, x).forward
    model[1].eval()
    evaluated = _step(counter, model, x).forward
    # dropout in training: mask * scale, 2 per element of [32, 64] = 4,096 (was equal before the fix)
    assert train - evaluated == 2 * 32 * 64
    assert counter.misses == 2


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_an_input_that_requires_grad_is_a_miss(device):
    model = _model(device)
    counter = StepCounter(model)
    _step(counter, model, torch.randn(32, 64, device=device))
    x = torch.randn(32, 64, device=device, requires_grad=True)
    # the first layer's input gradient too: 4 * 262,144 = 1,048,576 (was 786,432 before the fix)
    assert _step(counter, model, x).backward == 4 * LAYER
    assert counter.misses == 2


def test_a_backward_into_held_gradients_is_a_miss():
    model = _model("cpu")
    counter = StepCounter(model, policy="all")
    x = torch.randn(32, 64)
    fresh = _step(counter, model, x).backward  # .grad was None: backward writes it
    held = _step(counter, model, x, zero_grad=False).backward  # .grad held from the step before: backward adds into it
    # one add per parameter: 2 * (64 * 64 + 64) = 8,320
    assert held - fresh == 8_320
    assert counter.misses == 2


def test_a_stock_layer_switched_to_eval_is_a_hit():
    # Linear and ReLU never read their flag: left out of the signature (a cold read each, in a trainer)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 64))
    counter = StepCounter(model)
    x = torch.randn(32, 64)
    train = _step(counter, model, x).total
    model[0].eval()
    model[1].eval()
    assert _step(counter, model, x).total == train
    assert counter.hits == 1 and counter.misses == 1


def test_a_subclass_of_a_stock_layer_that_reads_its_flag_is_a_miss():
    class AuxLinear(nn.Linear):
        """A Linear with a training-only auxiliary projection: its subclass reads the flag."""

        def forward(self, x):
            y = super().forward(x)
            return y + nn.functional.linear(x, self.weight) if self.training else y

    torch.manual_seed(0)
    model = nn.Sequential(AuxLinear(64, 64), nn.Linear(64, 64))
    counter = StepCounter(model)
    x = torch.randn(32, 64)
    train = _step(counter, model, x).forward
    model[0].eval()
    # the auxiliary matmul is gone: 262,144 fewer forward FLOPs (equal, from the cache, if the
    # signature took the class for a stock Linear)
    assert train - _step(counter, model, x).forward == LAYER
    assert counter.misses == 2


def _names_read(cls) -> set:
    """Every attribute and global name read by the code of ``cls`` and its torch.nn bases."""
    import types

    names, stack = set(), []
    for klass in cls.__mro__:
        if klass in (nn.Module, object):
            continue
        for value in vars(klass).values():
            func = getattr(value, "fget", value)  # properties too
            func = getattr(func, "__func__", func)  # static and class methods
            if isinstance(func, types.FunctionType):
                stack.append(func.__code__)
    while stack:
        code = stack.pop()
        names.update(code.co_names)
        stack.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


def test_no_module_left_out_of_the_signature_reads_its_training_flag():
    from algoeff.flops.step import _TRAIN_INVARIANT

    # the check sees a read where there is one
    for cls in (nn.Dropout, nn.BatchNorm1d, nn.RReLU, nn.MultiheadAttention, nn.LSTM, nn.InstanceNorm1d):
        assert "training" in _names_read(cls), cls
    assert len(_TRAIN_INVARIANT) > 60
    readers = sorted(cls.__name__ for cls in _TRAIN_INVARIANT if "training" in _names_read(cls))
    assert readers == []
