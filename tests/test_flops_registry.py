"""Formulas registered after the first count are honoured (issue 15, case 7)."""

import torch
from torch import nn
from torch.utils.flop_counter import flop_registry, register_flop_formula

from algoeff import count_flops
from algoeff.flops import registry
from algoeff.flops.registry import formula

aten = torch.ops.aten


class _Apply(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def test_an_algoeff_formula_registered_after_the_first_count_is_used():
    count_flops(nn.Linear(4, 4), torch.randn(2, 4), policy="all")  # builds the "all" table
    try:
        @formula(aten.cosh, policy="all")
        def cosh_flop(x, out_shape=None, **kwargs):
            return 7 * x[0] * x[1]  # 7 per element of [2, 4] = 56

        report = count_flops(_Apply(torch.cosh), torch.randn(2, 4), policy="all")
        # before the fix: 0 and cosh listed as uncounted
        assert report.forward == 56 and report.uncounted_ops == {}
    finally:
        registry._REGISTRY.pop(aten.cosh, None)
        registry._TABLES.clear()


def test_a_torch_formula_registered_after_the_first_count_is_used():
    count_flops(nn.Linear(4, 4), torch.randn(2, 4))  # builds the "matmul" table
    try:
        @register_flop_formula(aten.sinh)
        def sinh_flop(x, out_shape=None, **kwargs):
            return 5

        report = count_flops(_Apply(torch.sinh), torch.randn(2, 4))
        assert report.forward == 5 and report.uncounted_ops == {}
    finally:
        flop_registry.pop(aten.sinh, None)
    assert count_flops(_Apply(torch.sinh), torch.randn(2, 4)).uncounted_ops == {"aten.sinh": 1}
