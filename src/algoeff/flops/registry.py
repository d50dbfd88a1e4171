"""One registry of per-op FLOP formulas, keyed by aten op and policy.

A formula is a small pure function of an op's argument *shapes* (tensors are
replaced by their shapes before the call, as in ``torch.utils.flop_counter``),
registered with ``@formula(ops, policy=...)``. Policies nest: ``matmul``
formulas (matmul, convolution, attention, recurrent cells) count under both
policies; ``all`` formulas (elementwise, normalization, softmax, pooling,
reductions, embedding, optimizer arithmetic) add to them under ``all``.

PyTorch's own formulas (``flop_registry``: mm, addmm, bmm, baddbmm,
convolution and its backward, the CUDA attention kernels) are the base of the
``matmul`` policy; an op registered here for ``matmul`` replaces PyTorch's
formula for that op (attention, to honour ``causal="half"``).

Ops that every policy treats as free (views, copies, fills, allocation,
random numbers, communication) are listed in ``FREE``; an op that runs with
neither a formula nor a place in ``FREE`` is reported in ``uncounted_ops``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import flop_registry as _torch_registry
from torch.utils.flop_counter import shape_wrapper

__all__ = ["CAUSAL", "FREE", "POLICIES", "Formula", "formula", "is_free", "known_ops", "table"]

POLICIES = ("matmul", "all")
CAUSAL = ("full", "half")

aten = torch.ops.aten


@dataclass(frozen=True)
class Formula:
    fn: object  # (*args, out_shape=..., **kwargs) -> int, args as shapes unless raw
    policy: str  # "matmul" or "all"
    raw: bool  # the formula needs tensors (requires_grad), not only shapes
    causal: bool  # the formula takes causal="full"|"half"


_REGISTRY: dict[object, dict[str, Formula]] = {}
_TABLES: dict = {}  # (policy, causal) -> (fingerprint of both registries, table)


def formula(ops, *, policy: str, raw: bool = False, causal: bool = False):
    """Register ``fn`` as the ``policy`` formula of each op in ``ops`` (an error if already there)."""
    if policy not in POLICIES:
        raise ValueError(f"policy == {policy!r}, must be one of {POLICIES}.")
    ops = ops if isinstance(ops, (list, tuple)) else [ops]

    def register(fn):
        for op in ops:
            if not isinstance(op, torch._ops.OpOverloadPacket):
                raise TypeError(f"formula target {op!r} must be an OpOverloadPacket (torch.ops.aten.NAME).")
            slot = _REGISTRY.setdefault(op, {})
            if policy in slot:
                raise RuntimeError(f"duplicate {policy!r} formula for {op}")
            slot[policy] = Formula(fn, policy, raw, causal)
        _TABLES.clear()
        return fn

    return register


def _free_ops() -> frozenset:
    names = [
        # views and aliases: no arithmetic, no data movement
        "view", "_unsafe_view", "_reshape_alias", "reshape", "as_strided", "alias", "detach", "t",
        "transpose", "permute", "expand", "squeeze", "unsqueeze", "select", "slice", "split",
        "split_with_sizes", "unsafe_split", "unbind", "chunk", "narrow", "view_as_real",
        "view_as_complex", "lift_fresh", "_conj", "conj", "resolve_conj", "resolve_neg", "unfold",
        "diagonal", "flatten", "as_strided_", "transpose_", "t_", "squeeze_", "unsqueeze_", "swapaxes_",
        "swapdims_", "detach_", "select_backward", "slice_backward", "unfold_backward",
        "diagonal_backward", "as_strided_scatter", "slice_scatter", "select_scatter", "movedim", "numpy_T", "real", "_nested_tensor_size",
        "_nested_tensor_from_mask", "_nested_tensor_from_mask_left_aligned", "to_padded_tensor",
        # copies and data movement: bytes, not FLOPs
        "clone", "copy_", "_to_copy", "contiguous", "cat", "stack", "index", "index_select",
        "gather", "constant_pad_nd", "reflection_pad2d", "replication_pad2d", "roll", "flip",
        "repeat", "masked_fill", "masked_fill_", "index_put_", "index_put", "scatter", "scatter_",
        "_copy_from", "_copy_from_and_resize", "pin_memory", "_pin_memory", "set_", "resize_",
        "channel_shuffle", "pixel_shuffle", "native_channel_shuffle", "tril", "triu",
        "embedding",  # a table lookup; its backward (index adds) is counted under "all"
        # allocation and fills
        "empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided", "zeros",
        "zeros_like", "ones", "ones_like", "full", "full_like", "new_zeros", "new_ones", "new_full",
        "fill_", "fill", "zero_", "scalar_tensor", "arange", "linspace", "eye", "_foreach_zero_",
        "_foreach_copy_", "lift_fresh_copy",
        # random numbers (dropout masks): generation is not arithmetic on the data
        "bernoulli_", "bernoulli", "uniform_", "normal_", "randn", "rand", "randint",
        "randperm", "randn_like", "rand_like", "native_dropout_mask",
        # host transfers and metadata
        "_local_scalar_dense", "item", "is_nonzero", "is_same_size", "_has_compatible_shallow_copy_type",
        "sym_size", "sym_stride", "_assert_async", "_assert_tensor_metadata", "_functional_assert_async",
        "record_stream", "_nested_get_values",
    ]
    ops = set()
    for name in names:
        packet = getattr(aten, name, None)
        if packet is not None:
            ops.add(packet)
    return frozenset(ops)


FREE = _free_ops()


def is_free(op) -> bool:
    # collective communication (DDP's gradient all-reduce) moves data; it is not arithmetic
    return op in FREE or getattr(op, "_qualified_op_name", "").startswith(("c10d", "_c10d_functional", "prim", "profiler"))


def known_ops() -> frozenset:
    """Every op with a formula under some policy (PyTorch's and ours)."""
    return frozenset(_torch_registry) | frozenset(_REGISTRY)


def table(policy: str, causal: str) -> dict:
    """op -> tuple of (is_matmul, callable(*args, out_val=..., **kwargs) -> int) for ``policy``.

    Every known op is a key, with an empty tuple when the policy does not count it,
    so that "known but not counted under this policy" is apart from "unknown".
    Built once per policy and rebuilt when a formula is registered later, here
    or with torch's ``register_flop_formula`` (which has no hook: its registry is
    fingerprinted, a few dozen entries, once per counting mode).
    """
    fingerprint = tuple(map(id, _torch_registry.values()))
    cached = _TABLES.get((policy, causal))
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    _TABLES[(policy, causal)] = (fingerprint, _build(policy, causal))
    return _TABLES[(policy, causal)][1]


def _build(policy: str, causal: str) -> dict:
    result: dict = {}
    for op in known_ops():
        calls = []
        mine = _REGISTRY.get(op, {})
        if "matmul" in mine:
            calls.append((True, _bind(mine["matmul"], causal)))
        elif op in _torch_registry:
            calls.append((True, _torch_registry[op]))
        if policy == "all" and "all" in mine:
            calls.append((False, _bind(mine["all"], causal)))
        result[op] = tuple(calls)
    return result


def _bind(entry: Formula, causal: str):
    fn = functools.partial(entry.fn, causal=causal) if entry.causal else entry.fn
    return fn if entry.raw else shape_wrapper(fn)
