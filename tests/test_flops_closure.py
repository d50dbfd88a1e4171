"""optimizer.step(closure): forward and backward inside the closure count once, in their phases (issue 15, case 10)."""

import warnings

import pytest
import torch
from torch import nn

from algoeff import StepCounter

torch.set_num_threads(1)

# nn.Linear(32, 32) -> ReLU -> nn.Linear(32, 4) on a batch of 32, policy "matmul":
# forward 2 * 32 * (32 * 32 + 32 * 4) = 73,728
# backward: weight grads of both layers 73,728 + input grad of the second 2 * 32 * 32 * 4 = 8,192 -> 81,920
# plain SGD under "matmul": 0; step 155,648 (before the fix a closure step reported 311,296)
FORWARD, BACKWARD = 73_728, 81_920


def _mlp(device="cpu"):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4)).to(device)


def _closure(model, optimizer, x):
    def closure():
        optimizer.zero_grad()
        loss = model(x).sum()
        loss.backward()
        return loss
    return closure


def _plain(model, optimizer, x):
    optimizer.zero_grad()
    model(x).sum().backward()
    optimizer.step()


@pytest.mark.parametrize("device", ["cpu", "meta"])
def test_closure_step_counts_forward_and_backward_once(device):
    model = _mlp(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    counter = StepCounter(model)
    x = torch.randn(32, 32, device=device)
    with counter.step():
        optimizer.step(_closure(model, optimizer, x))
    assert (counter.last.forward, counter.last.backward, counter.last.optimizer) == (FORWARD, BACKWARD, 0)
    # the first layer: forward 2 * 32 * 32 * 32 = 65,536, its weight grad as much again
    assert counter.last.by_module["Sequential.0"] == 2 * 65_536
    with counter.step():
        optimizer.step(closure=_closure(model, optimizer, x))  # as Lightning passes it
    assert counter.last.total == FORWARD + BACKWARD
    assert (counter.misses, counter.hits) == (1, 1)


def test_closure_and_plain_steps_are_cached_apart():
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    counter = StepCounter(model)
    x = torch.randn(32, 32)
    with counter.step():
        optimizer.step(_closure(model, optimizer, x))
    with counter.step():
        _plain(model, optimizer, x)
    # a plain step with the same first forward call is its own entry, not served from the closure step
    assert counter.last.total == FORWARD + BACKWARD and counter.misses == 2
    with counter.step():
        optimizer.step(_closure(model, optimizer, x))
    assert counter.last.total == FORWARD + BACKWARD and counter.hits == 1


def test_closure_step_matches_plain_step_under_all_with_warm_momentum():
    x = torch.randn(32, 32)
    reports = []
    for closure in (False, True):
        model = _mlp()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        counter = StepCounter(model, policy="all")
        for _ in range(3):  # cold, warm (counted), warm (cached)
            with counter.step():
                if closure:
                    optimizer.step(_closure(model, optimizer, x))
                else:
                    _plain(model, optimizer, x)
        reports.append(counter.last)
    plain, closed = reports
    assert (closed.forward, closed.backward, closed.optimizer) == (plain.forward, plain.backward, plain.optimizer)
    # warm momentum SGD: buf * momentum + grad, then p - lr * buf: 4 per parameter,
    # (32 * 32 + 32) + (32 * 4 + 4) = 1,188 parameters -> 4,752
    assert closed.optimizer == 4 * 1188


def test_lbfgs_counts_every_evaluation_and_every_step():
    model = _mlp()
    optimizer = torch.optim.LBFGS(model.parameters(), lr=0.1, max_iter=4)
    counter = StepCounter(model)
    x = torch.randn(32, 32)
    state = optimizer.state[next(model.parameters())]
    for step in range(3):
        before = state.get("func_evals", 0)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            with counter.step():
                optimizer.step(_closure(model, optimizer, x))
        evaluations = state["func_evals"] - before
        # each evaluation is one forward and one backward of the model
        assert evaluations > 1
        assert counter.last.forward == evaluations * FORWARD
        assert counter.last.backward == evaluations * BACKWARD
    # LBFGS's own work depends on the data: every step is counted
    assert counter.misses == 3 and counter.hits == 0


def test_closure_that_raises_leaves_no_mode_behind():
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    counter = StepCounter(model)

    def broken():
        model(torch.randn(32, 32)).sum().backward()
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        with counter.step():
            optimizer.step(broken)
    with counter.step():
        optimizer.step(_closure(model, optimizer, torch.randn(32, 32)))
    assert counter.last.total == FORWARD + BACKWARD
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack
    assert _get_current_dispatch_mode_stack() == []


def test_a_cached_step_runs_its_closure_outside_the_counting_mode(monkeypatch):
    # warm momentum's first step is new to the counter, the model's is not: counting the optimizer
    # used to run the closure's forward and backward under the mode too, at several times their cost
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    from algoeff.flops import step as step_module

    # with torch.compile in use (an earlier test), a step that may be new is counted from its start
    monkeypatch.setattr(step_module._torch_private, "compile_in_use", lambda: False)

    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    counter = StepCounter(model, policy="all")
    x = torch.randn(32, 32)
    modes_in_closure = []

    def closure():
        modes_in_closure.append(len(_get_current_dispatch_mode_stack()))
        return _closure(model, optimizer, x)()

    for _ in range(3):  # cold (model and optimizer new), warm (optimizer new), warm (cached)
        with counter.step():
            optimizer.step(closure)
    assert modes_in_closure == [0, 0, 0]
    assert counter.last.optimizer == 4 * 1188 and counter.last.forward + counter.last.backward > 0
    assert (counter.misses, counter.hits) == (2, 1)
    assert _get_current_dispatch_mode_stack() == []
