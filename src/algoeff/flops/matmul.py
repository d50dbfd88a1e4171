"""``matmul``-policy formulas PyTorch lacks: attention on every backend, fused MHA and
encoder-layer fast paths, and recurrent layers (LSTM, GRU) on CPU and cuDNN.

Conventions: a multiply-add is 2 FLOPs; shape comments give the product counted.
Attention with ``is_causal`` counts every score under ``causal="full"`` (what a
dense kernel computes) and only the unmasked ones under ``causal="half"``
(query row i sees keys 0..i, PyTorch's top-left alignment). An explicit
``attn_mask`` is always counted in full: its pattern is data.
"""

from __future__ import annotations

import torch

from algoeff.flops._torch_private import nested_padded_shape
from algoeff.flops.registry import formula

__all__ = ["attention_flops", "attention_backward_flops", "scores"]

aten = torch.ops.aten

# mode numbers of the cuDNN / oneDNN RNN enums -> gates per cell
_GATES = {0: 1, 1: 1, 2: 4, 3: 3}  # RNN_RELU, RNN_TANH, LSTM, GRU


def scores(s_q: int, s_k: int, is_causal: bool, causal: str) -> int:
    """Attention scores computed per (batch, head)."""
    if not (is_causal and causal == "half"):
        return s_q * s_k
    # row i sees min(i + 1, s_k) keys: a triangle, then full rows once i >= s_k
    tri = min(s_q, s_k)
    return tri * (tri + 1) // 2 + max(s_q - s_k, 0) * s_k


def attention_flops(b, h, s_q, s_k, d_qk, d_v, is_causal=False, causal="full") -> int:
    n = scores(s_q, s_k, is_causal, causal)
    # q @ k^T: [b, h, s_q, d_qk] @ [b, h, d_qk, s_k] ; p @ v: [b, h, s_q, s_k] @ [b, h, s_k, d_v]
    return 2 * b * h * n * (d_qk + d_v)


def attention_backward_flops(b, h, s_q, s_k, d_qk, d_v, is_causal=False, causal="full") -> int:
    n = scores(s_q, s_k, is_causal, causal)
    # dV = P^T dO and dP = dO V^T (d_v each); dQ = dS K and dK = dS^T Q (d_qk each)
    return 4 * b * h * n * (d_qk + d_v)


def _bhsd(q, k, v):
    *batch, h, s_q, d_qk = q
    b = 1
    for size in batch:
        b *= size
    return b, h, s_q, k[-2], d_qk, v[-1]


# -- scaled_dot_product_attention kernels ([b, h, s, d] layouts) ------------------


@formula(aten._scaled_dot_product_flash_attention_for_cpu, policy="matmul", causal=True)
def sdpa_cpu_flop(q, k, v, dropout_p=0.0, is_causal=False, *, causal, out_shape=None, **kwargs) -> int:
    return attention_flops(*_bhsd(q, k, v), is_causal, causal)


@formula(aten._scaled_dot_product_flash_attention_for_cpu_backward, policy="matmul", causal=True)
def sdpa_cpu_backward_flop(grad_out, q, k, v, out, lse, dropout_p, is_causal, *, causal,
                           out_shape=None, **kwargs) -> int:
    return attention_backward_flops(*_bhsd(q, k, v), is_causal, causal)


@formula(aten._scaled_dot_product_flash_attention, policy="matmul", causal=True)
def sdpa_flash_flop(q, k, v, dropout_p=0.0, is_causal=False, *args, causal, out_shape=None, **kwargs) -> int:
    return attention_flops(*_bhsd(q, k, v), is_causal, causal)


@formula(aten._scaled_dot_product_flash_attention_backward, policy="matmul", causal=True)
def sdpa_flash_backward_flop(grad_out, q, k, v, out, lse, cq, ck, mq, mk, dropout_p, is_causal, *args,
                             causal, out_shape=None, **kwargs) -> int:
    return attention_backward_flops(*_bhsd(q, k, v), is_causal, causal)


@formula([aten._scaled_dot_product_efficient_attention, aten._scaled_dot_product_cudnn_attention],
         policy="matmul", causal=True)
def sdpa_efficient_flop(q, k, v, attn_bias, lse, dropout_p=0.0, is_causal=False, *args, causal,
                        out_shape=None, **kwargs) -> int:
    return attention_flops(*_bhsd(q, k, v), is_causal, causal)


@formula(aten._scaled_dot_product_efficient_attention_backward, policy="matmul", causal=True)
def sdpa_efficient_backward_flop(grad_out, q, k, v, bias, out, lse, seed, offset, dropout_p, mask,
                                 is_causal=False, *, causal, out_shape=None, **kwargs) -> int:
    return attention_backward_flops(*_bhsd(q, k, v), is_causal, causal)


@formula(aten._scaled_dot_product_cudnn_attention_backward, policy="matmul", causal=True)
def sdpa_cudnn_backward_flop(grad_out, q, k, v, out, lse, seed, offset, bias, cq, ck, mq, mk, dropout_p,
                             is_causal, *, causal, out_shape=None, **kwargs) -> int:
    return attention_backward_flops(*_bhsd(q, k, v), is_causal, causal)


# -- nn.MultiheadAttention / nn.TransformerEncoderLayer inference fast paths --------


def _mha_flops(b, s_q, s_k, e, heads) -> int:
    # q projection [b, s_q, e] @ [e, e]; k and v projections [b, s_k, e] @ [e, e]; out projection
    projections = 2 * b * s_q * e * e + 2 * (2 * b * s_k * e * e) + 2 * b * s_q * e * e
    return projections + attention_flops(b, heads, s_q, s_k, e // heads, e // heads)


@formula(aten._native_multi_head_attention, policy="matmul")
def native_mha_flop(query, key, value, embed_dim, num_head, *args, out_shape=None, **kwargs) -> int:
    b, s_q, _ = query if len(query) == 3 else (1, *query)
    s_k = key[-2]
    return _mha_flops(b, s_q, s_k, embed_dim, num_head)


@formula(aten._transformer_encoder_layer_fwd, policy="matmul", raw=True)
def encoder_layer_flop(src, embed_dim, num_heads, qkv_w, qkv_b, proj_w, proj_b, use_gelu, norm_first, eps,
                       nw1, nb1, nw2, nb2, ffn_w1, *args, out_val=None, **kwargs) -> int:
    # nn.TransformerEncoder in eval with a padding mask passes a nested tensor (the
    # padded batch's rows, each its own length); the padding is counted as the
    # padded batch computes it, as an explicit mask is, so that every path agrees
    b, s, _ = nested_padded_shape(src) if src.is_nested else (src.shape if src.dim() == 3 else (1, *src.shape))
    ff = ffn_w1.shape[0]
    # feed-forward: [b, s, e] @ [e, ff] then [b, s, ff] @ [ff, e]
    return _mha_flops(b, s, s, embed_dim, num_heads) + 2 * (2 * b * s * embed_dim * ff)


# -- matrix-vector, dot, batched sums, bilinear ---------------------------------------


@formula([aten.mv, aten.addmv], policy="matmul")
def mv_flop(*args, out_shape=None, **kwargs) -> int:
    # [n, m] @ [m]: n * m multiply-adds (addmv's bias add is counted under "all")
    matrix = args[0] if len(args) == 2 else args[1]
    return 2 * matrix[0] * matrix[1]


@formula([aten.dot, aten.vdot], policy="matmul")
def dot_flop(a, b, out_shape=None, **kwargs) -> int:
    return 2 * a[0]


@formula(aten.addbmm, policy="matmul")
def addbmm_flop(bias, batch1, batch2, *args, out_shape=None, **kwargs) -> int:
    # sum over b of [n, k] @ [k, m]: the sum over the batch is the multiply-adds' own accumulation
    b, n, k = batch1
    return 2 * b * n * k * batch2[-1]


@formula(aten._trilinear, policy="matmul")
def trilinear_flop(i1, i2, i3, expand1, expand2, expand3, sumdim, *args, out_shape=None, **kwargs) -> int:
    # nn.Bilinear's kernel: sum over sumdim of i1 * i2 * i3, each unsqueezed at its expand dims;
    # one multiply-add per element of the broadcast product ([N, O, I, J] for Bilinear: 2 * N*O*I*J)
    def full(shape, expand):
        dims = list(shape)
        for d in sorted(expand):
            dims.insert(d, 1)
        return dims

    sizes = [max(d) for d in zip(full(i1, expand1), full(i2, expand2), full(i3, expand3))]
    total = 1
    for size in sizes:
        total *= size
    return 2 * total


# -- recurrent layers --------------------------------------------------------------


def _rnn_dims(input_shape, batch_sizes, batch_first):
    if batch_sizes:  # packed sequence: rows are (time, batch) pairs
        return sum(batch_sizes), len(batch_sizes)
    t, b = (input_shape[1], input_shape[0]) if batch_first else (input_shape[0], input_shape[1])
    return t * b, t


@formula(aten.mkldnn_rnn_layer, policy="matmul")
def mkldnn_rnn_flop(x, w_ih, w_hh, b_ih, b_hh, hx, cx, reverse, batch_sizes, mode, hidden_size, *args,
                    out_shape=None, **kwargs) -> int:
    # oneDNN's layer ops get the input time-major even when the module is batch_first
    rows, _ = _rnn_dims(x, batch_sizes, False)
    gates = w_ih[0]  # gate count * hidden
    # every (time, batch) row: x_t @ W_ih^T [I -> G*H] and h_{t-1} @ W_hh^T [H -> G*H]
    return 2 * rows * gates * (w_ih[1] + w_hh[1])


@formula(aten.mkldnn_rnn_layer_backward, policy="matmul", raw=True)
def mkldnn_rnn_backward_flop(x, w_ih, w_hh, b_ih, b_hh, hx, cx, output, hy, cy, grad_output, grad_hy, grad_cy,
                             reverse, mode, hidden_size, num_layers, has_biases, train, bidirectional,
                             batch_sizes, batch_first, *args, out_val=None, **kwargs) -> int:
    # Counted as the decomposed (math) path computes it, so that CPU and meta agree:
    # an input gradient only when the input needs one, and the recurrent gradient
    # into h_{-1} only when the initial state needs one.
    # x is time-major here whatever batch_first says (aten transposes before the layers)
    rows, steps = _rnn_dims(tuple(x.shape), batch_sizes, False)
    gates, i_size, h_size = w_ih.shape[0], w_ih.shape[1], w_hh.shape[1]
    batch = rows // max(steps, 1)
    flops = 0
    if x.requires_grad:
        flops += 2 * rows * gates * i_size  # dX = dG @ W_ih
    if w_ih.requires_grad:
        flops += 2 * rows * gates * i_size  # dW_ih = dG^T @ X
    if w_hh.requires_grad:
        flops += 2 * rows * gates * h_size  # dW_hh = dG^T @ H_{t-1}
    recurrent_rows = rows if hx.requires_grad else rows - batch
    flops += 2 * recurrent_rows * gates * h_size  # dH_{t-1} = dG @ W_hh
    return flops


def _cudnn_layers(weight, weight_stride0, num_layers, bidirectional):
    """(w_ih, w_hh) shapes per layer and direction from cuDNN's flat weight list."""
    dirs = 2 if bidirectional else 1
    return [(weight[i * weight_stride0], weight[i * weight_stride0 + 1]) for i in range(num_layers * dirs)]


@formula(aten._cudnn_rnn, policy="matmul")
def cudnn_rnn_flop(x, weight, weight_stride0, weight_buf, hx, cx, mode, hidden_size, proj_size, num_layers,
                   batch_first, dropout, train, bidirectional, batch_sizes, *args, out_shape=None,
                   **kwargs) -> int:
    rows, _ = _rnn_dims(x, batch_sizes, batch_first)
    return sum(2 * rows * w_ih[0] * (w_ih[1] + w_hh[1])
               for w_ih, w_hh in _cudnn_layers(weight, weight_stride0, num_layers, bidirectional))


@formula(aten._cudnn_rnn_backward, policy="matmul")
def cudnn_rnn_backward_flop(x, weight, weight_stride0, weight_buf, hx, cx, output, grad_output, grad_hy,
                            grad_cy, mode, hidden_size, proj_size, num_layers, batch_first, dropout, train,
                            bidirectional, batch_sizes, dropout_state, reserve, output_mask, *args,
                            out_shape=None, **kwargs) -> int:
    # cuDNN computes the data gradients in one call (input one if output_mask[0])
    # and the weight gradients when output_mask[3]: twice the forward, less dX.
    rows, _ = _rnn_dims(x, batch_sizes, batch_first)
    flops = 0
    for layer, (w_ih, w_hh) in enumerate(_cudnn_layers(weight, weight_stride0, num_layers, bidirectional)):
        gates = w_ih[0]
        first = layer < (2 if bidirectional else 1)
        if output_mask[0] or not first:
            flops += 2 * rows * gates * w_ih[1]
        flops += 2 * rows * gates * w_hh[1]
        if output_mask[3]:
            flops += 2 * rows * gates * (w_ih[1] + w_hh[1])
    return flops


# -- convolution backward ----------------------------------------------------------


@formula(aten.convolution_backward, policy="matmul")
def conv_backward_flop(grad_out, x, w, bias_sizes, stride, padding, dilation, transposed, output_padding, groups,
                       output_mask, *, out_shape=None, **kwargs) -> int:
    # PyTorch's own formula treats a grouped weight as dense in the weight gradient
    # (a depthwise conv's backward comes out channels-times too large). Each of the
    # input and weight gradients is one convolution with the forward's multiply-adds:
    # batch * prod(w) per output position, w = [c_out, c_in / groups, *kernel].
    from torch.utils.flop_counter import conv_flop_count

    forward = conv_flop_count(x, w, grad_out, transposed=transposed)
    return forward * (int(bool(output_mask[0])) + int(bool(output_mask[1])))
