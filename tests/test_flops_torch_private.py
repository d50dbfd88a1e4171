"""The private torch APIs the counter uses are checked at import, with the torch version in the message."""

import re

import pytest
import torch
from torch.utils import flop_counter

from algoeff import CountError
from algoeff.flops import _torch_private


def test_self_test_passes_on_this_torch():
    _torch_private._self_test()
    assert torch.__version__.startswith(_torch_private.TESTED_TORCH)


def test_a_changed_private_signature_fails_naming_the_torch_version(monkeypatch):
    def moved(self, func, out, args, kwargs, extra):  # a torch that added a parameter
        return out

    monkeypatch.setattr(flop_counter.FlopCounterMode, "_count_flops", moved)
    with pytest.raises(CountError, match=re.escape(f"torch {torch.__version__}: FlopCounterMode._count_flops takes")):
        _torch_private._self_test()


def test_a_changed_kernel_schema_fails_naming_the_op(monkeypatch):
    monkeypatch.setitem(_torch_private._SCHEMAS, "mkldnn_rnn_layer", ("input", "weights"))
    with pytest.raises(CountError, match=r"aten.mkldnn_rnn_layer takes \(input, weight0, \.\.\.\)"):
        _torch_private._self_test()


def test_the_metadata_ops_are_read_from_torchs_own_dispatch():
    ops = _torch_private._METADATA_OPS
    assert torch.ops.aten.size.default in ops and torch.ops.prim.layout.default in ops
    assert torch.ops.aten.mm.default not in ops and len(ops) == 15


def test_a_changed_dispatch_fails_naming_the_torch_version(monkeypatch):
    def rewritten(self, func, types, args=(), kwargs=None):  # a torch whose dispatch no longer decomposes
        return func(*args, **(kwargs or {}))

    monkeypatch.setattr(flop_counter._FlopCounterMode, "__torch_dispatch__", rewritten)
    message = f"torch {torch.__version__}: torch.utils.flop_counter._FlopCounterMode.__torch_dispatch__ changed"
    with pytest.raises(CountError, match=re.escape(message)):
        _torch_private._metadata_ops()


def test_counting_dispatch_counts_what_torchs_own_dispatch_counts(monkeypatch):
    from torch import nn

    from algoeff import count_flops

    def reports():
        torch.manual_seed(0)
        model = nn.Sequential(nn.Conv1d(1, 8, 5, padding=2), nn.BatchNorm1d(8), nn.GELU(), nn.Flatten(),
                              nn.Linear(8 * 40, 10), nn.LayerNorm(10))
        x = torch.randn(16, 1, 40)
        return [count_flops(model, x, train=True, policy=policy) for policy in ("matmul", "all")]

    ours = reports()
    monkeypatch.delattr(_torch_private.CountingDispatch, "__torch_dispatch__")  # torch's, set built per op
    theirs = reports()
    for a, b in zip(ours, theirs):
        assert (a.total, a.by_op, a.by_module, a.uncounted_ops) == (b.total, b.by_op, b.by_module, b.uncounted_ops)
    assert ours[1].total > ours[0].total > 0
