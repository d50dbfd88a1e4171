"""Corners where a count was silently wrong (issue 15, cases 3-9): each against its hand arithmetic."""

import pytest
import torch
from torch import nn

from algoeff import count_flops

torch.set_num_threads(1)


@pytest.mark.parametrize("device", [None, "meta"])
def test_lstm_batch_first_backward(device):
    x = torch.randn(3, 5, 4)  # batch_first: B=3, T=5, I=4; H=8, 4 gates
    report = count_flops(nn.LSTM(4, 8, batch_first=True), x, train=True, device=device)
    # 2 * (T * B) * 4H * (I + H) = 2 * 15 * 32 * 12 = 11520
    assert report.forward == 11520
    # dW_ih 3840 + dW_hh 7680 + dh_{t-1} for t >= 1: 2 * (4 * 3) * 32 * 8 = 6144
    # (on CPU before the fix: T and B swapped, dh over (3 - 1) * 5 rows: 2 * 10 * 32 * 8 = 5120)
    assert report.backward == 3840 + 7680 + 6144
