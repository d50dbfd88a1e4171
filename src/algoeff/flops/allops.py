"""``all``-policy formulas: a per-element cost for the work that is not a matmul.

Costs are FLOPs per output element unless a comment says otherwise. An add,
multiply, compare, max or min is 1; a transcendental (exp, log, sqrt, tanh,
sigmoid, erf) is also 1, as in the literature's convention; a fused op costs the
arithmetic steps of its definition (``addcmul``: self + value * t1 * t2 = 3).
An add or subtract with ``alpha != 1`` is 2 (the scaling is a multiply).
The bias adds inside ``addmm`` and ``convolution`` are 1 per output element.
"""

from __future__ import annotations

from math import prod

import torch

from algoeff.flops.registry import formula

__all__ = ["COSTS"]

aten = torch.ops.aten


def _numel(shape) -> int:
    return prod(shape) if shape is not None else 0


def _first(shape):
    """The first output's shape of a multi-output op."""
    return shape[0] if shape and isinstance(shape[0], (tuple, list, torch.Size)) else shape


# op name -> FLOPs per output element (in-place variants share the cost)
COSTS = {
    # arithmetic, comparisons, selection: 1
    **dict.fromkeys(
        ["mul", "div", "neg", "reciprocal", "abs", "sign", "maximum", "minimum", "clamp", "clamp_min",
         "clamp_max", "where", "eq", "ne", "lt", "le", "gt", "ge", "relu", "threshold",
         "threshold_backward", "hardtanh", "hardtanh_backward", "leaky_relu", "leaky_relu_backward",
         "floor", "ceil", "round", "trunc", "logical_not", "logical_and", "logical_or", "square",
         "remainder", "fmod", "isnan", "isinf", "nan_to_num", "bitwise_not", "heaviside", "masked_scale"], 1),
    # transcendentals: 1 (one library call per element)
    **dict.fromkeys(["exp", "exp2", "expm1", "log", "log2", "log1p", "sqrt", "rsqrt", "sigmoid", "tanh",
                     "sin", "cos", "erf", "erfinv", "pow", "softplus", "atan", "asin", "acos"], 1),
    "silu": 2,  # x * sigmoid(x)
    "mish": 3,  # x * tanh(softplus(x))
    "elu": 3,  # alpha * (exp(x) - 1) where x < 0
    "hardsigmoid": 3,  # clamp(x / 6 + 1/2, 0, 1)
    "hardswish": 4,  # x * hardsigmoid(x)
    "gelu": 5,  # 0.5 * x * (1 + erf(x / sqrt(2)))
    "sigmoid_backward": 3,  # g * y * (1 - y)
    "tanh_backward": 3,  # g * (1 - y * y)
    "silu_backward": 5,  # g * s * (1 + x * (1 - s)), s = sigmoid(x)
    "hardsigmoid_backward": 2,  # g / 6 inside the ramp
    "hardswish_backward": 4,  # g * (x / 3 + 1/2) inside the ramp
    "gelu_backward": 8,  # g * (Phi(x) + x * phi(x)): erf, exp, 6 arithmetic
    "elu_backward": 3,
    "softplus_backward": 3,
    "mish_backward": 8,
    "addcmul": 3,  # self + value * t1 * t2
    "addcdiv": 3,  # self + value * t1 / t2
    "lerp": 3,  # self + weight * (end - self)
    "native_dropout_backward": 2,  # g * mask * scale
}


def _register_elementwise(name: str, cost: int):
    ops = [getattr(aten, n) for n in (name, name + "_") if hasattr(aten, n)]

    @formula(ops, policy="all")
    def elementwise_flop(*args, out_shape=None, **kwargs) -> int:
        return cost * _numel(_first(out_shape) if out_shape is not None else args[0])

    elementwise_flop.__name__ = f"{name}_flop"


for _name, _cost in COSTS.items():
    _register_elementwise(_name, _cost)


@formula([aten.add, aten.add_, aten.sub, aten.sub_, aten.rsub], policy="all")
def add_flop(self, other=None, *args, alpha=1, out_shape=None, **kwargs) -> int:
    # self + alpha * other: the multiply only when alpha != 1
    return (1 if alpha == 1 else 2) * _numel(out_shape)


@formula(aten.addmm, policy="all")
def addmm_bias_flop(bias, mat1, mat2, *args, out_shape=None, **kwargs) -> int:
    # the bias add fused into the matmul: 1 per output element
    return _numel(out_shape)


@formula([aten.addbmm, aten.addmv], policy="all")
def addbmm_bias_flop(bias, *args, out_shape=None, **kwargs) -> int:
    return _numel(out_shape)


@formula([aten.convolution, aten._convolution], policy="all")
def conv_bias_flop(x, weight, bias, *args, out_shape=None, **kwargs) -> int:
    return _numel(out_shape) if bias is not None else 0


@formula(aten.convolution_backward, policy="all")
def conv_bias_backward_flop(grad_output, *args, out_shape=None, **kwargs) -> int:
    # the bias gradient sums grad_output over batch and space
    return _numel(grad_output) if args[-1][2] else 0


# -- normalization, softmax, dropout ---------------------------------------------

# batch/layer/group norm, per input element: mean 1 + variance 3 ((x - m)^2, add)
# + normalize 2 ((x - m) * rstd) + affine 2 = 8 when statistics are computed,
# 4 with running statistics (eval); backward 10: dbeta 1, dgamma 2, x-hat 2, dx 5.
_NORM, _NORM_EVAL, _NORM_BACKWARD = 8, 4, 10


@formula([aten.native_batch_norm, aten._native_batch_norm_legit, aten._native_batch_norm_legit_functional],
         policy="all")
def batch_norm_flop(x, weight, bias, *args, out_shape=None, **kwargs) -> int:
    training = next((a for a in args if isinstance(a, bool)), True)
    return (_NORM if training else _NORM_EVAL) * _numel(x)


@formula(aten._native_batch_norm_legit_no_training, policy="all")
def batch_norm_eval_flop(x, *args, out_shape=None, **kwargs) -> int:
    return _NORM_EVAL * _numel(x)


@formula([aten.native_layer_norm, aten.native_group_norm], policy="all")
def layer_norm_flop(x, *args, out_shape=None, **kwargs) -> int:
    return _NORM * _numel(x)


@formula([aten.native_batch_norm_backward, aten.native_layer_norm_backward, aten.native_group_norm_backward,
          aten.cudnn_batch_norm_backward, aten.miopen_batch_norm_backward], policy="all")
def norm_backward_flop(grad_out, *args, out_shape=None, **kwargs) -> int:
    return _NORM_BACKWARD * _numel(grad_out)


@formula([aten._softmax, aten._log_softmax, aten._safe_softmax], policy="all")
def softmax_flop(x, *args, out_shape=None, **kwargs) -> int:
    # max 1, subtract 1, exp 1, sum 1, divide (or subtract the log) 1
    return 5 * _numel(x)


@formula([aten._softmax_backward_data, aten._log_softmax_backward_data], policy="all")
def softmax_backward_flop(grad, *args, out_shape=None, **kwargs) -> int:
    # softmax: y * (g - sum(g * y)); log-softmax: g - exp(y) * sum(g): 4 either way
    return 4 * _numel(grad)


@formula(aten.native_dropout, policy="all")
def dropout_flop(x, p, train=None, *, out_shape=None, **kwargs) -> int:
    # keep-mask compare 1, x * mask * scale 2 (the random draw itself is free)
    return 3 * _numel(x) if train is not False else 0


# -- pooling -------------------------------------------------------------------


def _window(kernel_size) -> int:
    return prod(kernel_size) if isinstance(kernel_size, (list, tuple)) else kernel_size ** 2


@formula([aten.max_pool2d_with_indices, aten.max_pool3d_with_indices, aten.max_pool2d], policy="all")
def max_pool_flop(x, kernel_size, *args, out_shape=None, **kwargs) -> int:
    # one compare per window element per output
    return _window(kernel_size) * _numel(_first(out_shape))


@formula([aten.max_pool2d_with_indices_backward, aten.max_pool3d_with_indices_backward], policy="all")
def max_pool_backward_flop(grad_output, *args, out_shape=None, **kwargs) -> int:
    # each output's gradient is added into the input it came from
    return _numel(grad_output)


@formula([aten.avg_pool2d, aten.avg_pool3d], policy="all")
def avg_pool_flop(x, kernel_size, *args, out_shape=None, **kwargs) -> int:
    # window - 1 adds and one divide per output
    return _window(kernel_size) * _numel(out_shape)


@formula([aten.avg_pool2d_backward, aten.avg_pool3d_backward], policy="all")
def avg_pool_backward_flop(grad_output, x, kernel_size, *args, out_shape=None, **kwargs) -> int:
    # each output's gradient divided once and added into every window element
    return _window(kernel_size) * _numel(grad_output)


@formula([aten._adaptive_avg_pool2d, aten._adaptive_avg_pool3d, aten.adaptive_max_pool2d], policy="all")
def adaptive_pool_flop(x, output_size, *args, out_shape=None, **kwargs) -> int:
    # every input element read into a sum (or compare), one divide per output
    return _numel(x) + _numel(_first(out_shape))


@formula([aten._adaptive_avg_pool2d_backward, aten._adaptive_avg_pool3d_backward,
          aten.adaptive_max_pool2d_backward], policy="all")
def adaptive_pool_backward_flop(grad_output, x, *args, out_shape=None, **kwargs) -> int:
    return _numel(x)


# -- reductions, losses, embedding ---------------------------------------------------


@formula([aten.sum, aten.mean, aten.amax, aten.amin, aten.max, aten.min, aten.prod, aten.argmax, aten.argmin,
          aten.cumsum, aten.logsumexp, aten.any, aten.all, aten.nansum], policy="all")
def reduction_flop(x, *args, out_shape=None, **kwargs) -> int:
    # one add (compare, multiply) per input element
    return _numel(x)


@formula([aten.var, aten.std, aten.var_mean, aten.std_mean], policy="all")
def variance_flop(x, *args, out_shape=None, **kwargs) -> int:
    # mean 1, then (x - m)^2 summed 3
    return 3 * _numel(x)


@formula([aten.linalg_vector_norm, aten.norm], policy="all")
def norm_flop(x, *args, out_shape=None, **kwargs) -> int:
    # square and add per element; the root per output is negligible
    return 2 * _numel(x)


@formula([aten.nll_loss_forward, aten.nll_loss2d_forward], policy="all")
def nll_loss_flop(x, target, *args, out_shape=None, **kwargs) -> int:
    # pick and add one log-probability per target
    return _numel(target)


@formula([aten.nll_loss_backward, aten.nll_loss2d_backward], policy="all")
def nll_loss_backward_flop(grad_output, x, target, *args, out_shape=None, **kwargs) -> int:
    return _numel(target)


@formula(aten.mse_loss, policy="all")
def mse_loss_flop(x, target, *args, out_shape=None, **kwargs) -> int:
    # subtract, square, add
    return 3 * _numel(x)


@formula(aten.mse_loss_backward, policy="all")
def mse_loss_backward_flop(grad_output, x, target, *args, out_shape=None, **kwargs) -> int:
    # 2 * (x - t) * g / n
    return 3 * _numel(x)


@formula(aten.embedding_dense_backward, policy="all")
def embedding_backward_flop(grad_output, indices, *args, out_shape=None, **kwargs) -> int:
    # each looked-up row's gradient is added into the table
    return _numel(grad_output)


# -- optimizers: foreach lists and fused kernels ------------------------------------

_FOREACH = {**{n: 1 for n in ["mul", "div", "neg", "sqrt", "rsqrt", "reciprocal", "exp", "log", "abs", "sign",
                              "maximum", "minimum", "clamp_min", "clamp_max", "pow", "sigmoid", "tanh"]},
            "addcmul": 3, "addcdiv": 3, "lerp": 3}


def _list_numel(shapes) -> int:
    return sum(_numel(s) for s in shapes)


def _register_foreach(name: str, cost: int):
    ops = [getattr(aten, n) for n in (f"_foreach_{name}", f"_foreach_{name}_") if hasattr(aten, n)]

    @formula(ops, policy="all")
    def foreach_flop(self, *args, out_shape=None, **kwargs) -> int:
        return cost * _list_numel(self)

    foreach_flop.__name__ = f"foreach_{name}_flop"


for _name, _cost in _FOREACH.items():
    _register_foreach(_name, _cost)


@formula([aten._foreach_add, aten._foreach_add_, aten._foreach_sub, aten._foreach_sub_], policy="all")
def foreach_add_flop(self, other=None, *args, alpha=1, out_shape=None, **kwargs) -> int:
    return (1 if alpha == 1 else 2) * _list_numel(self)


@formula(aten._foreach_norm, policy="all")
def foreach_norm_flop(self, *args, out_shape=None, **kwargs) -> int:
    return 2 * _list_numel(self)


def adam_element_cost(*, weight_decay: float, decoupled: bool, amsgrad: bool, maximize: bool) -> int:
    """FLOPs per parameter element of one Adam/AdamW update (as the single-tensor path counts)."""
    cost = 1 if maximize else 0  # grad = -grad
    if weight_decay:
        cost += 1 if decoupled else 2  # AdamW: param *= 1 - lr * wd; Adam: grad += wd * param
    cost += 3  # m.lerp_(grad, 1 - beta1)
    cost += 1 + 3  # v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
    cost += 1 if amsgrad else 0  # max_v = maximum(max_v, v)
    cost += 3  # denom = v.sqrt() / sqrt(bias_correction2) + eps
    cost += 3  # param.addcdiv_(m, denom, value=-step_size)
    return cost


def sgd_element_cost(*, weight_decay: float, momentum: float, dampening: float, nesterov: bool,
                     maximize: bool, first_step: bool) -> int:
    """FLOPs per parameter element of one SGD update (as the single-tensor path counts)."""
    cost = 1 if maximize else 0
    if weight_decay:
        cost += 2  # grad += wd * param
    if momentum:
        if not first_step:
            cost += 1 + (1 if dampening == 0 else 2)  # buf.mul_(momentum).add_(grad, alpha=1 - dampening)
        if nesterov:
            cost += 2  # grad += momentum * buf
    return cost + 2  # param -= lr * grad


@formula([aten._fused_adam_, aten._fused_adam], policy="all")
def fused_adam_flop(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, weight_decay=0.0,
                    amsgrad=False, maximize=False, out_shape=None, **kwargs) -> int:
    per = adam_element_cost(weight_decay=weight_decay, decoupled=False, amsgrad=amsgrad, maximize=maximize)
    return per * _list_numel(params)


@formula([aten._fused_adamw_, aten._fused_adamw], policy="all")
def fused_adamw_flop(params, grads, exp_avgs, exp_avg_sqs, max_exp_avg_sqs, state_steps, *, weight_decay=0.0,
                     amsgrad=False, maximize=False, out_shape=None, **kwargs) -> int:
    per = adam_element_cost(weight_decay=weight_decay, decoupled=True, amsgrad=amsgrad, maximize=maximize)
    return per * _list_numel(params)


@formula([aten._fused_sgd_, aten._fused_sgd], policy="all")
def fused_sgd_flop(params, grads, momentum_buffer_list, *, weight_decay=0.0, momentum=0.0, dampening=0.0,
                   nesterov=False, maximize=False, is_first_step=False, out_shape=None, **kwargs) -> int:
    per = sgd_element_cost(weight_decay=weight_decay, momentum=momentum, dampening=dampening,
                           nesterov=nesterov, maximize=maximize, first_step=is_first_step)
    return per * _list_numel(params)


# -- fused attention: the softmax and scaling eager attention counts -----------------

# eager attention is softmax(q @ k^T * scale) @ v: per score, scale 1 + softmax 5 forward,
# softmax backward 4 + the scale's backward 1; a fused kernel does the same arithmetic
_SDPA_FORWARD, _SDPA_BACKWARD = 6, 5


def _register_sdpa(name: str, per: int):
    from algoeff.flops.matmul import scores

    packet = getattr(aten, name, None)
    if packet is None:
        return
    names = [a.name for a in packet.default._schema.arguments]
    iq, ik, ic = names.index("query"), names.index("key"), names.index("is_causal")

    @formula(packet, policy="all", causal=True)
    def sdpa_softmax_flop(*args, causal, out_shape=None, **kwargs) -> int:
        q, k = args[iq], args[ik]
        is_causal = args[ic] if len(args) > ic else kwargs.get("is_causal", False)
        batch = prod(q[:-2])  # batch * heads
        return per * batch * scores(q[-2], k[-2], bool(is_causal), causal)

    sdpa_softmax_flop.__name__ = f"{name}_softmax_flop"


for _kernel in ("_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
                "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention"):
    _register_sdpa(_kernel, _SDPA_FORWARD)
    _register_sdpa(_kernel + "_backward", _SDPA_BACKWARD)
