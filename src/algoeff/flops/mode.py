"""The counting mode: FlopCounterMode with policies, phases and uncounted ops.

Phases are read off the dispatcher, not the user's code: an op that runs
while the autograd engine executes a graph (``_current_graph_task_id() != -1``)
is backward; an op inside ``Optimizer.step`` (global step hooks) is optimizer;
anything else in the counted span is forward (the loss included).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from algoeff.errors import CountError
from algoeff.flops import _torch_private
from algoeff.flops import allops as _allops  # noqa: F401  (registers the "all" formulas)
from algoeff.flops import matmul as _matmul  # noqa: F401  (registers attention, RNN formulas)
from algoeff.flops.registry import CAUSAL, POLICIES, is_free, table
from algoeff.flops.report import Tally

__all__ = ["CountingMode", "check_policy"]


def check_policy(policy, causal):
    if policy not in POLICIES:
        raise CountError(f"Unknown policy {policy!r}. Possible values are: {', '.join(map(repr, POLICIES))}.")
    if causal not in CAUSAL:
        raise CountError(f"Unknown causal {causal!r}. Possible values are: {', '.join(map(repr, CAUSAL))}.")
    return policy, causal


class CountingMode(FlopCounterMode):
    """Counts into ``self.tally``; swap the tally to split a span (the optimizer step)."""

    def __init__(self, policy: str = "matmul", causal: str = "full", *, meta: bool = False):
        super().__init__(display=False)
        self._meta_sdpa = _MetaAttention() if meta else None
        self._formulas = table(policy, causal)
        # every known op, so that decomposition is decided the same way under both policies
        self.flop_registry = self._formulas
        self.tally = Tally()
        self.in_optimizer = False

    def __enter__(self):
        if self._meta_sdpa is not None:
            self._meta_sdpa.__enter__()
        return _torch_private.enter(self)

    def __exit__(self, *exc):
        try:
            return super().__exit__(*exc)
        finally:
            if self._meta_sdpa is not None:
                self._meta_sdpa.__exit__(*exc)

    def _count_flops(self, func_packet, out, args, kwargs):
        calls = self._formulas.get(func_packet)
        if calls is None:
            if not is_free(func_packet):
                self.tally.uncounted[str(func_packet)] += 1
            return out
        if not calls:
            return out
        flops = mac = 0
        for is_mac, fn in calls:
            try:
                n = int(fn(*args, **kwargs, out_val=out))
            except Exception as err:  # a formula that cannot read these arguments
                raise CountError(f"FLOP formula for {func_packet} failed: {err}") from err
            flops += n
            if is_mac:
                mac += n
        if not flops:
            return out
        tally = self.tally
        if self.in_optimizer:
            phase = "optimizer"
        elif _torch_private.graph_task_id() != -1:
            phase = "backward"
        else:
            phase = "forward"
            tally.mac_flops += mac
        tally.phases[phase] += flops
        tally.by_op[str(func_packet)] += flops
        for parent in set(self.mod_tracker.parents):
            if parent != "Global":
                tally.by_module[parent] += flops
        return out


class _MetaAttention(TorchFunctionMode):
    """On meta tensors, send scaled_dot_product_attention to the kernel the CPU picks.

    The meta device has no fused-attention choice, so SDPA falls back to the math
    path, whose explicit causal mask hides ``is_causal`` from the formulas. Where
    the CPU would run its flash kernel (4-D inputs, equal head dims, equal heads
    or grouped-query heads, no dropout), call that kernel's meta function instead, so that meta and CPU
    counts agree, ``causal="half"`` included.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            routed = _cpu_flash(*args, **kwargs)
            if routed is not None:
                return routed
        return func(*args, **kwargs)


def _cpu_flash(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None, enable_gqa=False):
    if not (query.device.type == "meta" and query.dim() == key.dim() == value.dim() == 4):
        return None
    heads, kv_heads = query.shape[1], key.shape[1]
    # the CPU flash kernel takes grouped-query attention as is (fewer key/value heads)
    grouped = enable_gqa and kv_heads == value.shape[1] and kv_heads and heads % kv_heads == 0
    if dropout_p or (heads != kv_heads and not grouped) or not (query.shape[-1] == key.shape[-1] == value.shape[-1]):
        return None
    return torch.ops.aten._scaled_dot_product_flash_attention_for_cpu(
        query, key, value, 0.0, is_causal, attn_mask=attn_mask, scale=scale)[0]
