"""Every private torch API the counter leans on, in one place, checked at import.

The counter rides on internals that torch may change in any release:

- ``FlopCounterMode._count_flops(func_packet, out, args, kwargs)``, overridden
  to count into a tally by phase;
- ``FlopCounterMode.__enter__`` building its inner dispatch mode
  (``torch.utils.flop_counter._FlopCounterMode(counter)``), replaced here by a
  subclass that takes one branch of ``torch.cond`` and checks the metadata ops
  that ``__torch_dispatch__`` skips (read from its source) against a set built once;
- ``ModuleTracker._fw_pre_hook(module, args)``, called for a module whose call
  began before the counting mode was entered;
- ``torch._C._current_graph_task_id()``, -1 outside the autograd engine;
- dynamo's ``eval_frame.cached_backends`` and its ``compile_wrapper`` frame
  (whether torch.compile is in use, and whether a hook runs inside compiled code);
- ``Tensor._nested_tensor_size()`` (the fused encoder layer's nested input);
- aten kernel signatures that the formulas unpack by position.

If one of these assumptions breaks, importing ``algoeff.flops`` fails with a
message naming the torch version, instead of counting wrong numbers.
"""

from __future__ import annotations

import inspect
import re
import sys

import torch
from torch.utils import flop_counter as _flop_counter
from torch.utils.module_tracker import ModuleTracker

from algoeff.errors import CountError

__all__ = ["TESTED_TORCH", "CountingDispatch", "enter", "graph_task_id", "compile_in_use", "fake_mode", "leave_dropped", "mode_on_stack",
           "module_entered", "nested_padded_shape"]

TESTED_TORCH = ("2.14",)  # torch versions the test suite has run against

aten = torch.ops.aten

# aten op -> the leading argument names its formula unpacks by position
_SCHEMAS = {
    "_scaled_dot_product_flash_attention_for_cpu": ("query", "key", "value", "dropout_p", "is_causal"),
    "_scaled_dot_product_flash_attention_for_cpu_backward": (
        "grad_out", "query", "key", "value", "out", "logsumexp", "dropout_p", "is_causal"),
    "_scaled_dot_product_flash_attention": ("query", "key", "value", "dropout_p", "is_causal"),
    "_scaled_dot_product_flash_attention_backward": (
        "grad_out", "query", "key", "value", "out", "logsumexp", "cum_seq_q", "cum_seq_k", "max_q", "max_k",
        "dropout_p", "is_causal"),
    "_scaled_dot_product_efficient_attention": (
        "query", "key", "value", "attn_bias", "compute_log_sumexp", "dropout_p", "is_causal"),
    "_scaled_dot_product_efficient_attention_backward": (
        "grad_out_", "query", "key", "value", "attn_bias", "out", "logsumexp", "philox_seed", "philox_offset",
        "dropout_p", "grad_input_mask", "is_causal"),
    "_scaled_dot_product_cudnn_attention": (
        "query", "key", "value", "attn_bias", "compute_log_sumexp", "dropout_p", "is_causal"),
    "_scaled_dot_product_cudnn_attention_backward": (
        "grad_out", "query", "key", "value", "out", "logsumexp", "philox_seed", "philox_offset", "attn_bias",
        "cum_seq_q", "cum_seq_k", "max_q", "max_k", "dropout_p", "is_causal"),
    "_native_multi_head_attention": ("query", "key", "value", "embed_dim", "num_head"),
    "_transformer_encoder_layer_fwd": (
        "src", "embed_dim", "num_heads", "qkv_weight", "qkv_bias", "proj_weight", "proj_bias", "use_gelu",
        "norm_first", "eps", "norm_weight_1", "norm_bias_1", "norm_weight_2", "norm_bias_2", "ffn_weight_1"),
    "mkldnn_rnn_layer": (
        "input", "weight0", "weight1", "weight2", "weight3", "hx_", "cx_", "reverse", "batch_sizes", "mode",
        "hidden_size"),
    "mkldnn_rnn_layer_backward": (
        "input", "weight1", "weight2", "weight3", "weight4", "hx_", "cx_tmp", "output", "hy_", "cy_",
        "grad_output", "grad_hy", "grad_cy", "reverse", "mode", "hidden_size", "num_layers", "has_biases",
        "train", "bidirectional", "batch_sizes", "batch_first"),
    "_cudnn_rnn": (
        "input", "weight", "weight_stride0", "weight_buf", "hx", "cx", "mode", "hidden_size", "proj_size",
        "num_layers", "batch_first", "dropout", "train", "bidirectional", "batch_sizes"),
    "_cudnn_rnn_backward": (
        "input", "weight", "weight_stride0", "weight_buf", "hx", "cx", "output", "grad_output", "grad_hy",
        "grad_cy", "mode", "hidden_size", "proj_size", "num_layers", "batch_first", "dropout", "train",
        "bidirectional", "batch_sizes", "dropout_state", "reserve", "output_mask"),
    "convolution_backward": (
        "grad_output", "input", "weight", "bias_sizes", "stride", "padding", "dilation", "transposed",
        "output_padding", "groups", "output_mask"),
    "_trilinear": ("i1", "i2", "i3", "expand1", "expand2", "expand3", "sumdim"),
    "addbmm": ("self", "batch1", "batch2"),
}


def _broken(what: str) -> CountError:
    return CountError(
        f"torch {torch.__version__}: {what}. algoeff's FLOP counter uses this private torch API and is "
        f"tested with torch {', '.join(v + '.*' for v in TESTED_TORCH)}; install one of those.")


def _self_test():
    params = list(inspect.signature(_flop_counter.FlopCounterMode._count_flops).parameters)
    if len(params) != 5:  # called positionally by torch: only the count matters
        raise _broken(f"FlopCounterMode._count_flops takes {params}, expected (self, func_packet, out, args, kwargs)")
    inner = getattr(_flop_counter, "_FlopCounterMode", None)
    if inner is None or not hasattr(inner, "_handle_higher_order_ops"):
        raise _broken("torch.utils.flop_counter._FlopCounterMode._handle_higher_order_ops is missing")
    if list(inspect.signature(inner.__init__).parameters) != ["self", "counter"]:
        raise _broken("torch.utils.flop_counter._FlopCounterMode(counter) changed its constructor")
    hook = getattr(ModuleTracker, "_fw_pre_hook", None)
    if hook is None or len(inspect.signature(hook).parameters) != 3:
        raise _broken("ModuleTracker._fw_pre_hook(module, input) is missing or changed")
    task = getattr(torch._C, "_current_graph_task_id", None)
    if task is None or task() != -1:
        raise _broken("torch._C._current_graph_task_id() is missing or not -1 outside backward")
    for name, expected in _SCHEMAS.items():
        packet = getattr(aten, name, None)
        if packet is None:
            continue  # a kernel this build lacks is never dispatched
        got = tuple(a.name for a in packet.default._schema.arguments[: len(expected)])
        if got != expected:
            raise _broken(f"aten.{name} takes ({', '.join(got)}, ...), its formula expects ({', '.join(expected)}, ...)")


_self_test()

graph_task_id = torch._C._current_graph_task_id


def nested_padded_shape(tensor) -> tuple:
    """(rows, longest row, features) of a strided nested tensor: the shape of its padded form."""
    sizes = tensor._nested_tensor_size()  # [rows, dims], one row's shape per row
    if sizes.numel() == 0:
        return (0, 0, 0)
    longest = sizes.max(dim=0).values.tolist()
    return (sizes.shape[0], *longest)


def compile_in_use() -> bool:
    """Whether torch.compile has been called in this process (a module or function, compiled yet or not).

    Every torch.compile registers its backend in dynamo's ``eval_frame.cached_backends``;
    ``torch.compiler.disable`` registers ``None`` there. If that table is gone, assume yes.
    """
    if _COMPILE_SEEN[1]:
        return True  # once in use, in use
    backends = _BACKENDS[0]
    if backends is None:
        # looked up once and kept (dynamo clears the table, never rebinds it): two lookups in
        # sys.modules cost more than the rest of the check
        eval_frame = sys.modules.get("torch._dynamo.eval_frame")
        if eval_frame is None:
            return False
        backends = getattr(eval_frame, "cached_backends", None)
        if not isinstance(backends, dict):
            return True
        _BACKENDS[0] = backends
    # asked at every block: entries are only added (or all cleared by a reset), so its length says
    # whether the table changed since it was last read
    if len(backends) != _COMPILE_SEEN[0]:
        _COMPILE_SEEN[:] = [len(backends), any(backend is not None for backend in list(backends.values()))]
    return _COMPILE_SEEN[1]


_COMPILE_SEEN = [-1, False]  # (length of dynamo's cached_backends when last read, the answer)
_BACKENDS = [None]  # dynamo's cached_backends, once it is loaded


def in_compiled_call() -> bool:
    """Whether the caller runs inside code torch.compile compiled (not merely with dynamo loaded).

    Compiled functions and modules run below dynamo's ``compile_wrapper`` in
    ``torch/_dynamo/eval_frame.py`` (only a frame walk, on a step that needs counting).
    """
    import sys

    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code.co_name == "compile_wrapper" and code.co_filename.endswith(_EVAL_FRAME):
            return True
        frame = frame.f_back
    return False


_EVAL_FRAME = "_dynamo/eval_frame.py".replace("/", __import__("os").sep)


def fake_mode():
    """A FakeTensorMode (private in torch: ``torch._subclasses``) that lets a model read scalars."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    return FakeTensorMode(allow_non_fake_inputs=True, shape_env=ShapeEnv())


def mode_on_stack(mode) -> bool:
    """Whether ``mode`` (a FlopCounterMode) is still on the dispatch-mode stack."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode_stack

    return any(m is mode.mode for m in _get_current_dispatch_mode_stack())


def leave_dropped(mode):
    """Close a FlopCounterMode whose dispatch mode something else took off the stack."""
    mode.mod_tracker.__exit__()
    mode.mode = None


def module_entered(mode, module, args):
    """Tell ``mode``'s module tracker that ``module``'s call began before the mode was entered."""
    mode.mod_tracker._fw_pre_hook(module, args)


def _metadata_ops() -> frozenset:
    """The ops ``_FlopCounterMode.__torch_dispatch__`` hands back unhandled, read from its source.

    It builds that set anew at every op it sees (fifteen attribute chains and as
    many Python-level hashes of OpOverloads): 0.85 ms of a 7.5 ms counted step
    of a small CNN. ``CountingDispatch`` checks the same set, built once.
    """
    source = inspect.getsource(_flop_counter._FlopCounterMode.__torch_dispatch__)
    head = source.split("return NotImplemented", 1)[0]
    names = re.findall(r"torch\.ops\.(\w+)\.(\w+)\.(\w+)", head)
    if not names or "func.decompose(*args, **kwargs)" not in source or (
            "self.counter._count_flops(func._overloadpacket, out, args, kwargs)" not in source):
        raise _broken("torch.utils.flop_counter._FlopCounterMode.__torch_dispatch__ changed")
    return frozenset(getattr(getattr(getattr(torch.ops, ns), op), overload) for ns, op, overload in names)


_METADATA_OPS = _metadata_ops()
_PRIM_DEVICE = torch.ops.prim.device.default


class CountingDispatch(_flop_counter._FlopCounterMode):
    """FlopCounterMode's inner dispatch mode, counting one branch of ``torch.cond``.

    Both branches run (that is how the mode sees their ops); the counter keeps
    the tally of the branch that executes when the predicate is a concrete
    value, and of the larger branch (FlopCounterMode's upper bound) when it is
    not (meta, fake tensors).
    """

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        # torch's own, step for step, with its set of metadata ops built once (``_metadata_ops``)
        kwargs = kwargs if kwargs else {}
        if func in _METADATA_OPS:
            return NotImplemented
        if isinstance(func, torch._ops.HigherOrderOperator):
            return self._handle_higher_order_ops(func, types, args, kwargs)
        counter = self.counter
        if func not in counter.flop_registry and func is not _PRIM_DEVICE:
            with self:
                r = func.decompose(*args, **kwargs)
                if r is not NotImplemented:
                    return r
        out = func(*args, **kwargs)
        return counter._count_flops(func._overloadpacket, out, args, kwargs)

    def _handle_higher_order_ops(self, func, types, args, kwargs):
        if func is not torch.ops.higher_order.cond:
            return super()._handle_higher_order_ops(func, types, args, kwargs)
        pred, true_branch, false_branch, operands = args
        counter = self.counter
        outer = counter.tally
        results, tallies = [], []
        for branch in (true_branch, false_branch):
            counter.tally = type(outer)()
            try:
                with self:
                    results.append(branch(*operands))
            finally:
                tallies.append(counter.tally)
                counter.tally = outer
        if any(r is NotImplemented for r in results):
            return NotImplemented
        taken = _concrete(pred)
        if taken is None:
            index = 0 if sum(tallies[0].phases.values()) >= sum(tallies[1].phases.values()) else 1
        else:
            index = 0 if taken else 1
        outer.add(tallies[index])
        return results[index]


def _concrete(pred):
    if isinstance(pred, bool):
        return pred
    if isinstance(pred, torch.Tensor):
        if pred.device.type == "meta" or type(pred) is not torch.Tensor:
            return None
        return bool(pred)  # inside the dispatch mode's handler: the mode is off the stack
    return None


def enter(mode):
    """``FlopCounterMode.__enter__`` with ``CountingDispatch`` as the inner mode."""
    mode.flop_counts.clear()
    mode.mod_tracker.__enter__()
    mode.mode = CountingDispatch(mode)
    mode.mode.__enter__()
    return mode
