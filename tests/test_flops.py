"""count_flops and StepCounter: closed-form counts, phases, the signature cache."""

import pytest
import torch
from torch import nn

from algoeff import CountError, FlopReport, StepCounter, count_flops

torch.set_num_threads(1)


def _mlp():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))


def _train_step(model, optimizer, x):
    loss = nn.functional.cross_entropy(model(x), torch.zeros(x.shape[0], dtype=torch.long))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()


def test_mlp_forward_backward_closed_form():
    model = _mlp()
    report = count_flops(model, torch.randn(32, 8), train=True)
    # forward: 2 * 32 * (8 * 16 + 16 * 4) = 12288
    assert report.forward == 12288
    # macs: 32 * (8 * 16 + 16 * 4) = 6144
    assert report.macs == 6144
    # backward: weight grads of both layers 2 * 32 * (8 * 16 + 16 * 4) = 12288,
    # input grad of the second layer only 2 * 32 * 16 * 4 = 4096 -> 16384
    assert report.backward == 16384
    assert report.optimizer == 0 and report.total == 12288 + 16384
    assert report.by_module["Sequential.0"] == 2 * 32 * 8 * 16 * 2  # forward + weight grad
    assert report.by_op == {"aten.mm": 16384, "aten.addmm": 12288}


def test_eval_forward_only_and_model_untouched():
    model = _mlp()
    model.train()
    report = count_flops(model, torch.randn(32, 8))
    assert (report.forward, report.backward, report.optimizer) == (12288, 0, 0)
    assert model.training and all(p.grad is None for p in model.parameters())


def test_step_counter_caches_by_signature():
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    counter = StepCounter(model)
    totals = []
    for batch in (32, 32, 32, 16, 32, 16):
        with counter.step():
            _train_step(model, optimizer, torch.randn(batch, 8))
        totals.append(counter.last.total)
        assert isinstance(counter.last, FlopReport)
    # 3 * 2 * 32 * 192 - 2 * 32 * 8 * 16 = 28672 (no input grad for the first layer)
    assert totals == [28672, 28672, 28672, 14336, 28672, 14336]
    assert (counter.misses, counter.hits) == (2, 4)


def test_step_counter_matches_count_flops_and_recount():
    model = _mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    counter = StepCounter(model, recount=True)
    for _ in range(3):
        with counter.step():
            _train_step(model, optimizer, torch.randn(32, 8))
    assert counter.misses == 3 and counter.hits == 0
    expected = count_flops(model, torch.randn(32, 8), train=True, optimizer=optimizer)
    assert counter.last.total == expected.total


def test_step_counter_eval_mode_is_a_separate_signature():
    model = _mlp()
    counter = StepCounter(model)
    with counter.step(), torch.no_grad():
        model.eval()
        model(torch.randn(100, 8))
    # 2 * 100 * (8 * 16 + 16 * 4) = 38400
    assert counter.last.total == 38400 and counter.last.backward == 0
    model.train()
    with counter.step():
        model(torch.randn(100, 8)).sum().backward()
    assert counter.last.forward == 38400 and counter.last.backward > 0
    assert counter.misses == 2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"policy": "fast"}, "Unknown policy 'fast'. Possible values are: 'matmul', 'all'."),
        ({"causal": "quarter"}, "Unknown causal 'quarter'. Possible values are: 'full', 'half'."),
        ({"train": 1}, r"train == 1, must be True or False."),
        ({"loss_fn": len}, "optimizer and loss_fn count only with train=True."),
        ({"device": "nowhere"}, "device == 'nowhere'"),
    ],
)
def test_count_flops_bad_options(kwargs, match):
    with pytest.raises(CountError, match=match):
        count_flops(_mlp(), torch.randn(2, 8), **kwargs)


def test_count_flops_bad_model_and_inputs():
    with pytest.raises(CountError, match="model == str, must be a torch.nn.Module."):
        count_flops("resnet", torch.randn(2, 8))
    with pytest.raises(CountError, match=r"Sequential failed on inputs of shape \[\(2, 9\)\]"):
        count_flops(_mlp(), torch.randn(2, 9))
    with pytest.raises(CountError, match="model == int"):
        StepCounter(3)
