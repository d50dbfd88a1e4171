"""Closed-form FLOP counts: the hand arithmetic is on the line above each expected number.

A multiply-add is 2 FLOPs. In a training step the first layer's input needs no
gradient, so its backward is the weight gradient only.
"""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from algoeff import StepCounter, count_flops

torch.set_num_threads(1)


def test_grouped_and_depthwise_conv():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(4, 8, 3, padding=1, groups=2), nn.Conv2d(8, 8, 3, padding=1, groups=8))
    report = count_flops(model, torch.randn(2, 4, 6, 6), train=True)
    # grouped: 2 * (2 * 8 * 6 * 6 outputs) * (4 / 2 * 3 * 3) = 20736; depthwise: 2 * (2 * 8 * 36) * 9 = 10368
    assert report.forward == 20736 + 10368
    # grouped: weight grad 20736; depthwise: input grad 10368 + weight grad 10368
    assert report.backward == 20736 + 2 * 10368
    # 31104 / 2
    assert report.macs == 15552


def test_transposed_conv():
    model = nn.ConvTranspose2d(4, 8, 3, stride=2)
    report = count_flops(model, torch.randn(2, 4, 5, 5), train=True)
    # every input element times every weight of its group: 2 * (2 * 4 * 5 * 5) * (8 * 3 * 3) = 28800
    assert report.forward == 28800
    # weight grad only (the input is the first layer's)
    assert report.backward == 28800


class SelfAttention(nn.Module):
    def __init__(self, causal):
        super().__init__()
        self.causal = causal
        self.qkv = nn.Linear(8, 24, bias=False)

    def forward(self, x):
        b, s, _ = x.shape
        q, k, v = self.qkv(x).view(b, s, 3, 2, 4).permute(2, 0, 3, 1, 4)  # [b, h=2, s, d=4] each
        return F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)


@pytest.mark.parametrize("device", [None, "meta"])
def test_attention_causal_full_and_half(device):
    x = torch.randn(2, 6, 8)
    # projection: 2 * (2 * 6) * 8 * 24 = 4608 forward, and the same for its weight grad
    projection = 4608
    # scores and weighted sum: 2 * b * h * s * s * (d + d) = 2 * 2 * 2 * 36 * 8 = 2304
    full = 2304
    # causal "half": 6 * 7 / 2 = 21 scores per head: 2 * 2 * 2 * 21 * 8 = 1344
    half = 1344
    plain = count_flops(SelfAttention(False), x, train=True, causal="half", device=device)
    assert plain.forward == projection + full and plain.causal == "half"
    # backward of attention is twice its forward (dQ, dK, dV, dP)
    assert plain.backward == projection + 2 * full
    causal_full = count_flops(SelfAttention(True), x, train=True, causal="full", device=device)
    assert (causal_full.forward, causal_full.backward) == (projection + full, projection + 2 * full)
    causal_half = count_flops(SelfAttention(True), x, train=True, causal="half", device=device)
    assert (causal_half.forward, causal_half.backward) == (projection + half, projection + 2 * half)


def test_multihead_attention_fast_path_and_encoder_layer():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 8)
    mha = nn.MultiheadAttention(8, 2, batch_first=True)
    fast = count_flops(mha, (x, x, x))  # eval, no_grad: aten._native_multi_head_attention
    assert "aten._native_multi_head_attention" in fast.by_op
    # q, k, v and out projections 4 * 2 * (2 * 6) * 8 * 8 = 6144; attention 2 * 2 * 2 * 36 * 8 = 2304
    assert fast.forward == 6144 + 2304
    slow = count_flops(mha, (x, x, x), train=True)
    assert slow.forward == fast.forward
    layer = nn.TransformerEncoderLayer(8, 2, dim_feedforward=16, batch_first=True)
    fast = count_flops(layer, x)
    assert "aten._transformer_encoder_layer_fwd" in fast.by_op
    # attention 8448 + feed-forward 2 * 2 * (2 * 6) * 8 * 16 = 6144
    assert fast.forward == 8448 + 6144
    assert count_flops(layer, x, train=True).forward == fast.forward


@pytest.mark.parametrize("device", [None, "meta"])
def test_lstm(device):
    x = torch.randn(5, 3, 4)  # T=5, B=3, I=4; H=8, 4 gates
    report = count_flops(nn.LSTM(4, 8), x, train=True, device=device)
    # 2 * (T * B) * 4H * (I + H) = 2 * 15 * 32 * 12 = 11520
    assert report.forward == 11520 and report.uncounted_ops == {}
    # dW_ih 2 * 15 * 32 * 4 = 3840; dW_hh 2 * 15 * 32 * 8 = 7680;
    # dh_{t-1} for t >= 1: 2 * (4 * 3) * 32 * 8 = 6144; no dX, no dh_{-1}
    assert report.backward == 3840 + 7680 + 6144


@pytest.mark.parametrize("device", [None, "meta"])
def test_gru(device):
    x = torch.randn(5, 3, 4)
    report = count_flops(nn.GRU(4, 8), x, train=True, device=device)
    # 2 * 15 * 3H * (I + H) = 2 * 15 * 24 * 12 = 8640
    assert report.forward == 8640
    # dW_ih 2 * 15 * 24 * 4 = 2880; dW_hh 2 * 15 * 24 * 8 = 5760; dh 2 * 12 * 24 * 8 = 4608
    assert report.backward == 2880 + 5760 + 4608


def _linear_steps(make_optimizer, steps):
    torch.manual_seed(0)
    model = nn.Linear(8, 4)  # 8 * 4 + 4 = 36 parameters in 2 tensors
    optimizer = make_optimizer(model.parameters())
    counter = StepCounter(model, policy="all")
    reports = []
    for _ in range(steps):
        with counter.step():
            loss = model(torch.randn(16, 8)).sum()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        reports.append(counter.last)
    return reports, counter


@pytest.mark.parametrize("impl", [{}, {"foreach": True}, {"fused": True}])
def test_sgd_momentum_step(impl):
    reports, counter = _linear_steps(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, **impl), 3)
    # first step: buffer = clone(grad) (free); param -= lr * buf: 2 * 36 = 72
    assert reports[0].optimizer == 72
    # later: buf = 0.9 * buf + grad (2) and param -= lr * buf (2): 4 * 36 = 144
    assert reports[1].optimizer == reports[2].optimizer == 144
    # the third step is a lookup
    assert counter.hits == 1


@pytest.mark.parametrize("impl", [{}, {"foreach": True}, {"fused": True}])
def test_adam_and_adamw_step(impl):
    reports, _ = _linear_steps(lambda p: torch.optim.Adam(p, **impl), 2)
    # per element: m lerp 3, v mul 1 + addcmul 3, denom sqrt/div/add 3, update addcdiv 3 = 13;
    # step counts += 1 per tensor: 13 * 36 + 2 = 470
    assert reports[0].optimizer == reports[1].optimizer == 470
    reports, _ = _linear_steps(lambda p: torch.optim.AdamW(p, weight_decay=0.01, **impl), 1)
    # AdamW adds param *= 1 - lr * wd: 14 * 36 + 2 = 506
    assert reports[0].optimizer == 506


def test_matmul_policy_counts_no_optimizer_arithmetic():
    model = nn.Linear(8, 4)
    report = count_flops(model, torch.randn(16, 8), train=True, optimizer=torch.optim.Adam(model.parameters()))
    # forward 2 * 16 * 8 * 4 = 1024; weight grad 1024; Adam has no matmul
    assert (report.forward, report.backward, report.optimizer) == (1024, 1024, 0)
    assert report.uncounted_ops == {}
