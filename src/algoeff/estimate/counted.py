"""Counting a rebuilt model's training step with algoeff's own counter, times the examples it saw.

    estimate_counted(phases, ...) -> Estimate

Each phase is one stretch of a recipe whose step has one shape: a model
(``torchvision:NAME`` or ``package.module:callable`` with keyword ``model_args``),
the shape of one example, whether it trains (forward + backward, counted by
autograd on the meta device, so frozen layers cost no weight gradient) or only
evaluates (forward), and how many examples pass through it: ``examples`` x
``epochs``, or ``batch_size`` x ``steps``. Progressive resizing is a list of
phases at different input shapes. The optimizer step is not counted (the
paper's protocol counts forward and backward only).

The counter counts a multiply-add as 2 FLOPs; ``flops_per_mac=1`` re-expresses
the total as the paper's vision tables count it (halved).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math

from algoeff.errors import CountError, EstimateError

from .result import Estimate, positive, positive_int

__all__ = ["Phase", "estimate_counted", "parse_phases"]

COUNT_BATCH = 2  # examples per counted step; per-example cost = count / 2 (batch norm needs > 1 value)
_PHASE_KEYS = {"label", "model", "model_args", "input_shape", "input_dtype", "examples", "epochs", "batch_size",
               "steps", "train"}
_DTYPES = ("float", "long")


@dataclasses.dataclass(frozen=True)
class Phase:
    label: str
    model: str
    model_args: tuple  # sorted (name, value) pairs, so a phase is hashable
    input_shape: tuple[int, ...]  # one example, without the batch dimension
    examples_seen: float  # examples passed through the step in this phase
    epochs: float | None  # examples_seen / training-set size, when the size is known
    train: bool = True
    input_dtype: str = "float"  # "long" for token ids


def _shape(value, where: str) -> tuple[int, ...]:
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise EstimateError(f"{where}.input_shape == {value!r}, must be a list of whole numbers >= 1 "
                            "(one example, no batch dimension), e.g. [3, 32, 32].")
    return tuple(value)


def parse_phases(inputs: dict) -> list[Phase]:
    """The phases an analysis's [inputs] table describes; top-level keys are every phase's defaults."""
    defaults = {k: v for k, v in inputs.items() if k in _PHASE_KEYS}
    raw = inputs.get("phases")
    if raw is None:
        raw, names = [{}], ["inputs"]
    elif not isinstance(raw, list) or not raw or not all(isinstance(p, dict) for p in raw):
        raise EstimateError("inputs.phases must be a non-empty list of tables ([[inputs.phases]]).")
    else:
        names = [f"inputs.phases[{i}]" for i in range(1, len(raw) + 1)]
    phases = []
    for where, table in zip(names, raw):
        unknown = sorted(set(table) - _PHASE_KEYS)
        if unknown:
            raise EstimateError(f"{where}: unknown key {unknown[0]!r}; possible: {', '.join(sorted(_PHASE_KEYS))}.")
        merged = {**defaults, **table}
        if "model_args" in table and "model_args" in defaults:
            merged["model_args"] = {**defaults["model_args"], **table["model_args"]}
        phases.append(_phase(merged, where))
    return phases


def _phase(p: dict, where: str) -> Phase:
    model = p.get("model")
    if not isinstance(model, str) or ":" not in model:
        raise EstimateError(f"{where}.model == {model!r}, must be torchvision:NAME or package.module:callable.")
    args = p.get("model_args", {})
    if not isinstance(args, dict) or not all(isinstance(v, (bool, int, float, str)) for v in args.values()):
        raise EstimateError(f"{where}.model_args == {args!r}, must be a table of numbers, strings or booleans.")
    shape = _shape(p.get("input_shape"), where)
    train = p.get("train", True)
    if not isinstance(train, bool):
        raise EstimateError(f"{where}.train == {train!r}, must be true or false.")
    dtype = p.get("input_dtype", "float")
    if dtype not in _DTYPES:
        raise EstimateError(f"{where}.input_dtype == {dtype!r}. Possible values are: {', '.join(_DTYPES)}.")
    by_epochs, by_steps = "epochs" in p, ("steps" in p or "batch_size" in p)
    if by_epochs == by_steps:
        raise EstimateError(f"{where}: give how many examples it saw as epochs (x examples) or as steps x "
                            "batch_size, exactly one of the two.")
    examples = positive(f"{where}.examples", p["examples"]) if "examples" in p else None
    if by_epochs:
        if examples is None:
            raise EstimateError(f"{where}: epochs needs examples (the training-set size).")
        epochs = positive(f"{where}.epochs", p["epochs"])
        seen = epochs * examples
    else:
        if "steps" not in p or "batch_size" not in p:
            raise EstimateError(f"{where}: steps and batch_size go together.")
        seen = positive_int(f"{where}.steps", p["steps"]) * positive_int(f"{where}.batch_size", p["batch_size"])
        epochs = seen / examples if examples is not None else None
    label = p.get("label", where)
    return Phase(str(label), model, tuple(sorted(args.items())), shape, seen, epochs, train, dtype)


def _build(spec: str, args: tuple):
    import torch

    from algoeff.flops import load_model

    if not args:
        return load_model(spec, device="meta", source="model")
    kind, _, name = spec.partition(":")
    if kind == "torchvision":
        raise EstimateError(f"model {spec!r}: model_args are for package.module:callable models.")
    try:
        factory = getattr(importlib.import_module(kind), name)
    except (ImportError, AttributeError) as err:
        raise EstimateError(f"model {spec!r}: cannot import it ({err}).") from None
    with torch.device("meta"):
        try:
            return factory(**dict(args))
        except (TypeError, ValueError) as err:
            raise EstimateError(f"model {spec!r} with {dict(args)}: {err}") from None


@functools.lru_cache(maxsize=64)
def _count(spec: str, args: tuple, shape: tuple, train: bool, dtype: str, policy: str):
    """(forward, backward) FLOPs of one example, counted on the meta device."""
    import torch

    from algoeff.flops import count_flops

    model = _build(spec, args)
    size = (COUNT_BATCH, *shape)
    batch = torch.zeros(size, dtype=torch.long, device="meta") if dtype == "long" else torch.empty(size, device="meta")
    try:
        report = count_flops(model, batch, train=train, policy=policy, device="meta")
    except CountError as err:
        raise EstimateError(f"model {spec!r}: {err}") from None
    if report.forward <= 0:
        raise EstimateError(f"model {spec!r}: the counter found no countable operations.")
    return report.forward / COUNT_BATCH, report.backward / COUNT_BATCH, tuple(report.uncounted_ops)


def estimate_counted(phases, *, flops_per_mac: int = 2, models: int = 1, policy: str = "matmul") -> Estimate:
    """Training compute = sum over phases of (counted FLOPs per example) x (examples seen)."""
    if flops_per_mac not in (1, 2):
        raise EstimateError(f"flops_per_mac == {flops_per_mac!r}, must be 1 or 2.")
    models = positive_int("models", models)
    phases = list(phases)
    if not phases:
        raise EstimateError("a counted estimate needs at least one phase.")
    total, rows = 0.0, []
    for ph in phases:
        fwd, bwd, uncounted = _count(ph.model, ph.model_args, ph.input_shape, ph.train, ph.input_dtype, policy)
        per_example = (fwd + bwd) * flops_per_mac / 2  # the counter's 2 FLOPs per multiply-add -> convention
        flops = per_example * ph.examples_seen * models
        total += flops
        rows.append({"label": ph.label, "model": ph.model, "model_args": dict(ph.model_args),
                     "input_shape": list(ph.input_shape), "train": ph.train, "examples_seen": ph.examples_seen,
                     "epochs": ph.epochs, "forward_flops_per_example": fwd, "backward_flops_per_example": bwd,
                     "flops": flops, "uncounted_ops": list(uncounted)})
    trained = [ph for ph in phases if ph.train]
    epochs = sum(ph.epochs for ph in trained) if trained and all(ph.epochs for ph in trained) else None
    inputs = {"counted": True, "policy": policy, "flops_per_mac": flops_per_mac, "models": models,
              "examples_seen": sum(ph.examples_seen for ph in phases if ph.train), "phases": rows}
    if epochs is not None and math.isfinite(epochs):
        inputs["epochs"] = epochs  # training epochs, for the fewer-epochs x fewer-FLOPs-per-epoch split
    return Estimate("counting", total, inputs, flops_per_mac=flops_per_mac, models=models)
