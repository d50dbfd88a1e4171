"""StepCounter on a model that is or becomes compiled (issue 15, case 1).

torch.compile on CPU builds C++ kernels with gcc: a tiny MLP keeps each test to seconds.
"""

import warnings

import pytest
import torch
from torch import nn

from algoeff import StepCounter

torch.set_num_threads(1)
pytestmark = pytest.mark.slow

# Linear(32, 32) -> ReLU -> Linear(32, 4), batch 32, policy "all", SGD with momentum 0.9:
# matmul forward 2 * 32 * (32 * 32 + 32 * 4) = 73,728, backward 81,920 (as in test_flops_closure.py);
# the elementwise work is compared with the same step counted eagerly.


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))


def _eager_reference(steps=3):
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    counter = StepCounter(model, policy="all")
    reports = []
    for _ in range(steps):
        with counter.step():
            optimizer.zero_grad()
            model(torch.randn(32, 32)).sum().backward()
            optimizer.step()
        reports.append(counter.last)
    counter.close()
    return [(r.forward, r.backward, r.optimizer) for r in reports]


def _phases(counter):
    return counter.last.forward, counter.last.backward, counter.last.optimizer


@pytest.fixture(scope="module")
def reference():
    eager = _eager_reference()
    # matmul work alone would be 73,728 / 81,920; "all" adds bias adds, relu, sums and the update
    assert eager[0][0] > 73_728 and eager[0][1] > 81_920 and eager[1][2] > 0
    return eager


@pytest.mark.parametrize("how", ["counter-then-torch.compile", "module.compile", "compile-the-counted"])
def test_compiled_model(how, reference):
    torch._dynamo.reset()
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    if how == "counter-then-torch.compile":
        # before the fix: backward 0 on every step
        counter = StepCounter(model, policy="all")
        call = torch.compile(model)
    elif how == "module.compile":
        model.compile()
        counter = StepCounter(model, policy="all", recount=True)  # before the fix: backward 0
        call = model
    else:
        call = torch.compile(model)
        counter = StepCounter(call, policy="all")
    got = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*global hooks on modules.*")
        for _ in range(3):
            with counter.step():
                optimizer.zero_grad()
                call(torch.randn(32, 32)).sum().backward()
                optimizer.step()
            got.append(_phases(counter))
    counter.close()
    assert got == reference


def test_compiled_step_function(reference):
    torch._dynamo.reset()
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    counter = StepCounter(model, policy="all")

    @torch.compile
    def train_step(x):
        optimizer.zero_grad()
        model(x).sum().backward()
        optimizer.step()

    got = []
    for _ in range(3):
        with counter.step():
            train_step(torch.randn(32, 32))
        got.append(_phases(counter))
    assert got == reference
    # the second step starts with held gradients (a new state under "all"): counted, eagerly; the
    # third is served from the cache and runs compiled
    assert (counter.misses, counter.hits) == (2, 1)


def test_a_new_input_shape_inside_a_compiled_call_warns_then_counts(reference):
    torch._dynamo.reset()
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    counter = StepCounter(model, policy="all")
    model.compile()

    def step(batch):
        with counter.step():
            optimizer.zero_grad()
            model(torch.randn(batch, 32)).sum().backward()
            optimizer.step()
        return _phases(counter)

    assert [step(32), step(32)] == reference[:2]
    # a new batch size reaches the counter inside the compiled call: it cannot be counted there
    # (before the fix: forward 37,952, backward 512, optimizer 0, silently, and cached)
    with pytest.warns(RuntimeWarning, match="ran inside compiled code"):
        assert step(16) == (0, 0, 0)
    forward, backward, update = reference[1]
    # the next one is counted eagerly from its start: every term is per row but the update's
    assert step(16) == (forward // 2, backward // 2, update)
    assert step(32) == reference[1] and step(16) == (forward // 2, backward // 2, update)
    assert counter.hits == 2
