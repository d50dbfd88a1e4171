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


class _GroupedAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(4, 4)

    def forward(self, x, kv):
        return torch.nn.functional.scaled_dot_product_attention(self.q(x), kv, kv, is_causal=True, enable_gqa=True)


@pytest.mark.parametrize("device", [None, "meta"])
def test_grouped_query_attention_causal_half(device):
    x, kv = torch.randn(2, 8, 16, 4), torch.randn(2, 2, 16, 4)  # 8 query heads, 2 key/value heads
    report = count_flops(_GroupedAttention(), (x, kv), causal="half", train=True, device=device)
    # projection 2 * (2 * 8 * 16) * 4 * 4 = 8192; scores 16 * 17 / 2 = 136 per (batch, query head):
    # 2 * 2 * 8 * 136 * (4 + 4) = 34816 (on meta before the fix: the full 2 * 2 * 8 * 256 * 8 = 65536)
    assert report.forward == 8192 + 34816
    # attention backward 4 * 2 * 8 * 136 * 8 = 69632; the projection's weight grad 8192
    assert report.backward == 69632 + 8192


@pytest.mark.parametrize("device", [None, "meta"])
def test_meta_keeps_input_requires_grad_and_warm_optimizer_state(device):
    torch.manual_seed(0)
    model = nn.Linear(8, 8)
    x = torch.randn(32, 8, requires_grad=True)
    # weight grad 2 * 32 * 8 * 8 = 4096 and the input's grad 4096 (meta before the fix: 4096)
    assert count_flops(model, x, train=True, device=device).backward == 8192
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(4, 8)).sum().backward()
    optimizer.step()  # the momentum buffers now exist
    report = count_flops(model, torch.randn(32, 8), train=True, optimizer=optimizer, policy="all", device=device)
    # warm momentum SGD: buf * 0.9 + grad 2, p - lr * buf 2, on 8 * 8 + 8 = 72 parameters: 288
    # (meta before the fix: rebuilt cold, p - lr * grad only: 144)
    assert report.optimizer == 4 * 72
    assert torch.is_tensor(optimizer.state[model.weight]["momentum_buffer"])  # the user's state untouched
    assert optimizer.state[model.weight]["momentum_buffer"].device.type == "cpu"


class _Cond(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(64, 64), nn.Linear(64, 64)

    def forward(self, x):
        return torch.cond(x.sum() > 0, lambda x: self.b(self.a(x)), lambda x: self.a(x), (x,))


def test_torch_cond_counts_one_branch():
    x = torch.randn(8, 64).abs()
    # one Linear(64, 64) on 8 rows: 2 * 8 * 64 * 64 = 65536; the true branch runs two, the false one
    # (before the fix both branches were summed: 196608)
    assert count_flops(_Cond(), x).forward == 2 * 65536
    assert count_flops(_Cond(), -x).forward == 65536
    # meta cannot know the predicate: the larger branch, FlopCounterMode's upper bound
    assert count_flops(_Cond(), -x, device="meta").forward == 2 * 65536
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as reference, torch.no_grad():
        _Cond()(x)
    assert reference.get_total_flops() == 2 * 65536


class _Apply(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn
        self.anchor = nn.Parameter(torch.zeros(()))  # so that train=True has a parameter

    def forward(self, *inputs):
        return self.fn(*inputs) + self.anchor


@pytest.mark.parametrize("device", [None, "meta"])
def test_mv_dot_addbmm_bilinear_formulas(device):
    a, v = torch.randn(8, 16, requires_grad=True), torch.randn(16, requires_grad=True)
    report = count_flops(_Apply(torch.mv), (a, v), train=True, device=device)
    # [8, 16] @ [16]: 2 * 8 * 16 = 256; backward: a^T @ grad for v 256 (a's grad, an outer product, is
    # elementwise: counted under "all" only). Before the fix: 0 and mv uncounted.
    assert (report.forward, report.backward, report.uncounted_ops) == (256, 256, {})
    u = torch.randn(16)
    # 16 multiply-adds
    assert count_flops(_Apply(torch.dot), (u, u), device=device).forward == 32
    bias, b1, b2 = torch.randn(4, 5), torch.randn(3, 4, 6), torch.randn(3, 6, 5)
    # sum over 3 of [4, 6] @ [6, 5]: 2 * 3 * 4 * 6 * 5 = 720; "all" adds the bias add, 4 * 5 = 20
    assert count_flops(_Apply(torch.addbmm), (bias, b1, b2), device=device).forward == 720
    assert count_flops(_Apply(torch.addbmm), (bias, b1, b2), device=device, policy="all").forward >= 720 + 20
    bilinear = count_flops(nn.Bilinear(6, 7, 5), (torch.randn(10, 6), torch.randn(10, 7)), train=True, device=device)
    # y[n, o] = x1[n] W[o] x2[n]: 2 * N * O * I * J = 2 * 10 * 5 * 6 * 7 = 4200; backward: W's grad only, 4200
    assert (bilinear.forward, bilinear.backward, bilinear.uncounted_ops) == (4200, 4200, {})


def test_in_place_views_are_free():
    def views(x):
        y = x.clone()
        y.transpose_(0, 1)
        y.as_strided_((4, 8), (1, 4))
        return y

    report = count_flops(_Apply(views), torch.randn(8, 4), policy="all")
    # only the anchor's add, 32 elements (before the fix: transpose_ and as_strided_ listed as uncounted)
    assert report.uncounted_ops == {} and report.forward == 32


def _attention(fused):
    def attend(q, k, v):
        if fused:
            return torch.nn.functional.scaled_dot_product_attention(q, k, v)
        return torch.softmax(q @ k.transpose(-1, -2) * q.shape[-1] ** -0.5, -1) @ v
    return attend


@pytest.mark.parametrize("device", [None, "meta"])
def test_fused_attention_counts_softmax_as_eager_does(device):
    def inputs():  # fresh leaves: a held .grad would add an accumulation
        return tuple(torch.randn(2, 4, 16, 8, requires_grad=True) for _ in range(3))

    fused, eager = (count_flops(_Apply(_attention(f)), inputs(), train=True, policy="all", device=device)
                    for f in (True, False))
    # scores 2 * 4 * 16 * 16 = 2048: matmuls 2 * 2048 * (8 + 8) = 65536, scale 2048, softmax 5 * 2048,
    # the anchor's add 2 * 4 * 16 * 8 = 1024 and the default loss's sum 1024
    # (before the fix the fused kernel counted no softmax or scale: 11,264 less)
    assert fused.forward == eager.forward == 65536 + 2048 + 5 * 2048 + 1024 + 1024
    # matmuls 2 * 65536; softmax backward 4 * 2048 + the scale's 2048; the anchor's grad, a sum of 1024
    assert fused.backward == eager.backward == 2 * 65536 + 5 * 2048 + 1024


def test_transformer_encoder_with_padding_mask_in_eval():
    torch.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, batch_first=True)
    encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=True)
    x = torch.randn(3, 6, 16)
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[0, 4:] = mask[1, 2:] = True
    # per layer, b=3, s=6, e=16, 2 heads of 8, ff 32: projections 4 * 2 * 3 * 6 * 16 * 16 = 36864,
    # attention 2 * 3 * 2 * 6 * 6 * (8 + 8) = 6912, feed-forward 2 * 2 * 3 * 6 * 16 * 32 = 36864;
    # two layers: 2 * 80640 = 161280. The padding is counted as the padded batch computes it
    # (before the fix: CountError, the fused layer's formula could not read the nested input)
    with pytest.warns(UserWarning):  # torch: nested tensors are a prototype
        report = count_flops(encoder, {"src": x, "src_key_padding_mask": mask})
    assert report.forward == 161280 == count_flops(encoder, x).forward
    assert report.uncounted_ops == {}


@pytest.mark.parametrize("outer", [torch.no_grad, torch.inference_mode])
def test_train_step_under_an_outer_no_grad_or_inference_mode(outer):
    model = nn.Linear(4, 4)
    with outer():
        x = torch.randn(2, 4)  # an inference tensor under inference_mode
        # before the fix: CountError "no floating-point tensor that requires grad" (a raw RuntimeError earlier)
        report = count_flops(model, x, train=True)
    # forward 2 * 2 * 4 * 4 = 64; the weight grad 64
    assert (report.forward, report.backward) == (64, 64)
    assert model.weight.grad is None
