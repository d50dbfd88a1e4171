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
