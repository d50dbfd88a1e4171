"""Counting operations: per-example cost x (1 + backward factor) x examples x epochs.

The method of Hernandez & Brown 2020 (Appendix B), OpenAI's "AI and Compute"
appendix (method 1) and Sevilla et al. 2022 (Epoch AI). The backward pass costs
about twice the forward one, so the default backward factor is 2 (forward +
backward = 3 x forward). A per-example cost given in multiply-adds becomes FLOPs
at ``flops_per_mac`` (2 in AI and Compute and Epoch; 1 in the paper's vision
tables, which label multiply-adds "GFLOPs").
"""

from __future__ import annotations

from algoeff.errors import EstimateError

from .result import Estimate, positive, positive_int

__all__ = ["FLOPS_PER_MAC_CHOICES", "estimate_ops", "estimate_ops_from_model"]

FLOPS_PER_MAC_CHOICES = (1, 2)


def estimate_ops(*, per_example_flops=None, per_example_gflops=None, per_example_gmacs=None,
                 examples, epochs, backward_factor=2.0, flops_per_mac=2, models=1) -> Estimate:
    """Training compute by counting operations.

    Give the forward cost of one example exactly one way: ``per_example_flops``
    (FLOPs), ``per_example_gflops`` (1e9 FLOPs) or ``per_example_gmacs`` (1e9
    multiply-adds, converted at ``flops_per_mac``). ``epochs`` may be fractional.
    """
    given = {name: value for name, value in (("per_example_flops", per_example_flops),
                                             ("per_example_gflops", per_example_gflops),
                                             ("per_example_gmacs", per_example_gmacs)) if value is not None}
    if len(given) != 1:
        what = "none" if not given else ", ".join(given)
        raise EstimateError("give the per-example forward cost exactly once (per_example_flops, "
                            f"per_example_gflops or per_example_gmacs); got {what}.")
    if flops_per_mac not in FLOPS_PER_MAC_CHOICES:
        raise EstimateError(f"flops_per_mac == {flops_per_mac!r}, must be 1 or 2.")
    (name, value), = given.items()
    cost = positive(name, value)
    if name == "per_example_gmacs":
        per_example = cost * 1e9 * flops_per_mac
    elif name == "per_example_gflops":
        per_example = cost * 1e9
    else:
        per_example = cost
    examples = positive("examples", examples)
    epochs = positive("epochs", epochs)
    backward_factor = positive("backward_factor", backward_factor, allow_zero=True)
    models = positive_int("models", models)
    total = per_example * (1.0 + backward_factor) * examples * epochs * models
    inputs = {name: cost, "per_example_flops": per_example, "flops_per_mac": flops_per_mac,
              "backward_factor": backward_factor, "examples": examples, "epochs": epochs, "models": models}
    return Estimate("counting", total, inputs, flops_per_mac=flops_per_mac, models=models)


def estimate_ops_from_model(model, inputs, *, examples, epochs, backward_factor=2.0, models=1,
                            policy: str = "matmul", flops_per_mac: int = 2) -> Estimate:
    """Counting operations with the forward cost counted from ``model`` by algoeff.flops.

    ``inputs`` is one batch (a tensor or a tuple of tensors); its first dimension
    is the batch, so the per-example cost is the counted forward FLOPs / batch size.
    The counter counts a multiply-add as 2 FLOPs; ``flops_per_mac=1`` expresses
    the estimate in the 1-FLOP convention (half the count) instead.
    """
    if flops_per_mac not in (1, 2):
        raise EstimateError(f"flops_per_mac == {flops_per_mac!r}, must be 1 or 2.")
    from algoeff.flops import count_flops  # torch is imported only here

    first = inputs[0] if isinstance(inputs, (tuple, list)) else inputs
    batch = int(first.shape[0]) if getattr(first, "ndim", 0) else 1
    report = count_flops(model, inputs, policy=policy)
    if report.forward <= 0:
        raise EstimateError(f"the FLOP counter found no countable operations in {type(model).__name__} "
                            f"(uncounted: {', '.join(map(str, report.uncounted_ops)) or 'none'}).")
    estimate = estimate_ops(per_example_flops=report.forward / batch * flops_per_mac / 2, examples=examples,
                            epochs=epochs, backward_factor=backward_factor, flops_per_mac=flops_per_mac,
                            models=models)
    extra = {"model": type(model).__name__, "input_shape": list(first.shape), "counted_forward_flops":
             report.forward, "policy": policy}
    return Estimate("counting", estimate.total_flops, {**extra, **estimate.inputs}, flops_per_mac=flops_per_mac,
                    models=estimate.models)
