"""StepCounter inside user loops: structure changes, several forward calls, errors, DDP."""

import warnings

import pytest
import torch
import torch.distributed as dist
from torch import nn

from algoeff import CountError, StepCounter, count_flops

torch.set_num_threads(1)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def _step(model, optimizer, batch=32):
    loss = model(torch.randn(batch, 8)).sum()
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_structure_change_is_a_miss():
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    counter = StepCounter(model)
    with counter.step():
        _step(model, optimizer)
    before = counter.last.total
    model.append(nn.Linear(4, 4))  # a new submodule: the structure version moves
    with counter.step():
        _step(model, optimizer)
    # the extra layer: forward 2 * 32 * 4 * 4 = 1024, weight and input grads 2 * 1024
    assert counter.last.total == before + 3 * 1024
    assert counter.misses == 2 and counter.hits == 0


def test_phases_of_a_user_step_with_gradient_accumulation():
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    counter = StepCounter(model, policy="all")
    for _ in range(3):
        with counter.step():
            optimizer.zero_grad()
            for _ in range(2):  # two micro-batches, one optimizer step
                model(torch.randn(16, 8)).sum().backward()
            optimizer.step()
    reference = count_flops(model, torch.randn(16, 8), train=True, policy="all")
    assert counter.last.forward == 2 * reference.forward
    # the second micro-batch's gradients are added into .grad: 1 per parameter,
    # 8 * 16 + 16 + 16 * 4 + 4 = 212
    assert counter.last.backward == 2 * reference.backward + 212
    # momentum SGD, warm: 4 * 212 = 848
    assert counter.last.optimizer == 848
    assert counter.hits == 1


def test_changed_later_forward_calls_warn_and_recount():
    model = _mlp()
    counter = StepCounter(model)
    with counter.step(), torch.no_grad():
        model(torch.randn(10, 8))
        model(torch.randn(10, 8))
    with pytest.warns(RuntimeWarning, match="forward calls in this step differed"):
        with counter.step(), torch.no_grad():
            model(torch.randn(10, 8))
            model(torch.randn(5, 8))
    with counter.step(), torch.no_grad():
        model(torch.randn(10, 8))
        model(torch.randn(5, 8))
    # 2 * 15 * (8 * 16 + 16 * 4) = 5760
    assert counter.last.total == 5760 and counter.misses == 2


def test_error_inside_the_step_leaves_no_mode_behind():
    model = _mlp()
    counter = StepCounter(model)
    with pytest.raises(RuntimeError):
        with counter.step():
            model(torch.randn(4, 9))
    with counter.step(), torch.no_grad():
        model(torch.randn(4, 8))
    # 2 * 4 * 192 = 1536
    assert counter.last.total == 1536
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with counter.step():
            pass  # the model never ran: nothing to count
    assert counter.last.total == 0
    with pytest.raises(CountError, match="inside another step"):
        with counter.step():
            counter.step()


def test_two_counters_on_one_model_count_only_their_own_blocks():
    model = _mlp()
    train, evaluate = StepCounter(model), StepCounter(model)
    with train.step():
        model(torch.randn(4, 8)).sum().backward()
    with evaluate.step(), torch.no_grad():
        model(torch.randn(100, 8))
    # 2 * 100 * 192 = 38400
    assert evaluate.last.total == 38400 and train.misses == evaluate.misses == 1


def test_distributed_data_parallel_wrapper(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1)
    try:
        model = _mlp()
        ddp = nn.parallel.DistributedDataParallel(model)
        optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
        counter = StepCounter(ddp)
        for _ in range(3):
            with counter.step():
                _step(ddp, optimizer)
    finally:
        dist.destroy_process_group()
    plain = count_flops(_mlp(), torch.randn(32, 8), train=True)
    assert counter.last.total == plain.total and counter.last.uncounted_ops == {}
    assert counter.misses == 1 and counter.hits == 2
    assert "DistributedDataParallel.module.0" in counter.last.by_module


def test_a_step_where_the_model_itself_never_runs_warns(monkeypatch):
    from algoeff.flops import step as step_module

    # with torch.compile in use in the process (an earlier test) only blocks in which an optimizer
    # steps are checked: compiled code guards on the global hook the check needs
    monkeypatch.setattr(step_module._torch_private, "compile_in_use", lambda: False)
    model = _mlp()
    counter = StepCounter(model)
    # before the fix: total 0, silently
    with pytest.warns(RuntimeWarning, match="forward never ran in this step"):
        with counter.step():
            model[0](torch.randn(4, 8)).sum().backward()  # a submodule, not the model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.warns(RuntimeWarning, match="forward never ran"):
        with counter.step():
            model.forward(torch.randn(4, 8)).sum().backward()  # .forward skips the hooks
            optimizer.step()


def test_a_bypass_after_steps_that_ran_the_model_is_still_caught(monkeypatch):
    from algoeff.flops import step as step_module

    monkeypatch.setattr(step_module._torch_private, "compile_in_use", lambda: False)
    model = _mlp()
    counter = StepCounter(model)
    for _ in range(3):  # steady state: the watch is off after a block in which the model ran
        with counter.step():
            model(torch.randn(4, 8)).sum().backward()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):  # the first bypass turns the watch back on for the second
            with counter.step():
                model[0](torch.randn(4, 8)).sum().backward()
    assert [w for w in caught if "forward never ran" in str(w.message)]


def test_two_counters_in_one_block_is_an_error():
    model = _mlp()
    outer, inner = StepCounter(model), StepCounter(model)
    # before the fix both counted the block and a caller summing them double counted
    with pytest.raises(CountError, match="inside another StepCounter's step"):
        with outer.step(), inner.step():
            model(torch.randn(4, 8))
    with inner.step(), torch.no_grad():  # nothing left open
        model(torch.randn(4, 8))
    # 2 * 4 * (8 * 16 + 16 * 4) = 1536
    assert inner.last.total == 1536


def test_examples_are_every_forward_calls_leading_dimension_and_skipped_calls_add_none():
    model = nn.Linear(4, 2)
    counter = StepCounter(model, skip=lambda module, args, kwargs: kwargs.get("skip", False))
    model.forward = lambda x, skip=False: nn.Linear.forward(model, x)
    with counter.step():
        model(torch.randn(5, 4))                 # the fast path: one tensor
        model(x=torch.randn(3, 4))               # the keyword fast path: tensors only
        model(torch.randn(2, 4), skip=False)     # the general path
        model(torch.randn(7, 4), skip=True)      # skipped: no examples, no signature
    assert counter.examples == 10
    with counter.step():
        model(torch.randn(2, 4))
    assert counter.examples == 2  # the block's, not the counter's total
    counter.close()
    assert not model._forward_pre_hooks
