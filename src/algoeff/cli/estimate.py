"""``algoeff estimate``: training compute by counting operations or hardware time; effective compute."""

from __future__ import annotations

import json
import sys

from algoeff.errors import CountError, EstimateError
from algoeff.estimate import (
    PRECISIONS,
    effective_compute,
    estimate_hardware,
    estimate_ops,
    estimate_ops_from_model,
    hardware_factor_from_catalog,
    load_catalog,
    load_utilizations,
)
from algoeff.units import format_compute

__all__ = ["register"]


def register(subparsers) -> None:
    parser = subparsers.add_parser("estimate", help="training compute by counting operations or hardware time",
                                   description="The two estimation methods of AI and Compute and Epoch AI, "
                                               "the hardware catalog, and effective compute.")
    sub = parser.add_subparsers(dest="estimate_command", metavar="SUBCOMMAND", parser_class=type(parser))
    sub.required = True

    ops = sub.add_parser("ops", help="per-example cost x (1 + backward factor) x examples x epochs")
    cost = ops.add_mutually_exclusive_group(required=True)
    cost.add_argument("--per-example-gflops", type=float, metavar="X", help="forward FLOPs per example, in 1e9")
    cost.add_argument("--per-example-gmacs", type=float, metavar="X",
                      help="forward multiply-adds per example, in 1e9 (converted at --flops-per-mac)")
    cost.add_argument("--model", metavar="SPEC",
                      help="count the forward pass of a model: torchvision:NAME (weights=None), "
                           "package.module:FACTORY or path/to/file.py:FACTORY (as in `algoeff flops`)")
    ops.add_argument("--model-arg", metavar="NAME=VALUE", action="append", default=[],
                     help="with --model: an argument for FACTORY, VALUE read as a Python literal (else text); "
                          "repeatable (default: none)")
    ops.add_argument("--input-shape", metavar="SHAPE", help="with --model: one batch's shape, e.g. 1x3x224x224 "
                                                            "(or 1,3,224,224; first dimension = batch; required with --model, default: none)")
    ops.add_argument("--examples", type=float, required=True, metavar="N", help="training examples per epoch")
    ops.add_argument("--epochs", type=float, required=True, metavar="E", help="epochs (may be fractional)")
    ops.add_argument("--backward-factor", type=float, default=2.0, metavar="B",
                     help="backward cost / forward cost (default 2: 3 x forward in all)")
    ops.add_argument("--flops-per-mac", type=int, choices=[1, 2], default=2,
                     help="FLOPs per multiply-add of the result: converts --per-example-gmacs, and expresses a "
                          "--model count (counted at 2) in it (default 2; the paper's vision tables use 1)")
    ops.add_argument("--models", type=int, default=1, metavar="K", help="models trained, e.g. an ensemble (default 1)")
    ops.add_argument("--json", action="store_true", help="one JSON object on stdout")
    ops.set_defaults(func=_ops)

    hw = sub.add_parser("hardware", help="devices x time x peak FLOP/s x utilization")
    which = hw.add_mutually_exclusive_group(required=True)
    which.add_argument("--device", metavar="NAME", help="a catalog device (see `algoeff estimate catalog`)")
    which.add_argument("--peak-tflops", type=float, metavar="X", help="peak or sustained TFLOPS per device instead")
    hw.add_argument("--count", type=float, required=True, metavar="K", help="devices")
    time = hw.add_mutually_exclusive_group(required=True)
    time.add_argument("--hours", type=float, metavar="H", help="wall-clock training time in hours (or --days)")
    time.add_argument("--days", type=float, metavar="D", help="wall-clock training time in days (or --hours)")
    hw.add_argument("--precision", choices=PRECISIONS, default=None,
                    help="precision of the peak (default: fp32, or the device's first published precision "
                         "when it has no fp32 peak, e.g. bf16 for TPU v3)")
    hw.add_argument("--utilization", metavar="U",
                    help="fraction of peak, or a named assumption: " + ", ".join(load_utilizations())
                         + " (default: 0.33 for GPUs, 0.40 for TPUs)")
    hw.add_argument("--models", type=int, default=1, metavar="K", help="models trained (default 1)")
    hw.add_argument("--json", action="store_true", help="one JSON object on stdout")
    hw.set_defaults(func=_hardware)

    cat = sub.add_parser("catalog", help="the hardware catalog: peak TFLOPS per precision, with sources")
    cat.add_argument("--json", action="store_true", help="one JSON object on stdout")
    cat.set_defaults(func=_catalog)

    eff = sub.add_parser("effective", help="effective compute: hardware factor x algorithmic factor",
                         description="The algorithmic factor is the benchmark's reduction factor (baseline "
                                     "compute / best frontier compute) over baseline date -> that entry's date; "
                                     "the hardware factor over the same months comes from a doubling time "
                                     "(default 24 months), the catalog, or is given.")
    eff.add_argument("--benchmark", metavar="KEY", required=True, help="benchmark key or alias")
    hwf = eff.add_mutually_exclusive_group()
    hwf.add_argument("--hardware-doubling-months", type=float, metavar="M",
                     help="hardware doubles every M months (default 24)")
    hwf.add_argument("--hardware-catalog", action="store_true",
                     help="peak ratio of the fastest catalog GPU released by the end year vs by the baseline year")
    hwf.add_argument("--hardware-from", metavar="DEVICE",
                     help="peak ratio --hardware-to / --hardware-from from the catalog (default: a 24-month "
                          "doubling time)")
    hwf.add_argument("--hardware-factor", type=float, metavar="X",
                     help="a hardware factor given directly (default: a 24-month doubling time)")
    eff.add_argument("--hardware-to", metavar="DEVICE", help="with --hardware-from: the later device (default: none)")
    eff.add_argument("--precision", choices=PRECISIONS, default="fp32", help="for catalog peaks (default fp32)")
    eff.add_argument("--ledger", metavar="PATH", help="ledger CSV (default: the bundled ledger)")
    eff.add_argument("--normalize", action="store_true",
                     help="put every entry in one convention first (2 FLOPs per multiply-add, no utilization "
                          "discount, single model)")
    eff.add_argument("--json", action="store_true", help="one JSON object on stdout")
    eff.set_defaults(func=_effective)


def _print_estimate(est, args, lines) -> int:
    if args.json:
        print(json.dumps(est.to_dict(), indent=2))
        return 0
    for line in lines:
        print(line)
    print(f"total  {est.total_flops:.3e} FLOPs = {format_compute(est.total_flops, 'tfs-days')} "
          f"= {format_compute(est.total_flops, 'pfs-days')}")
    return 0


def _ops(args) -> int:
    if args.model is not None:
        import torch

        from algoeff.flops import load_model, parse_shape  # imports torch: only when used

        if not args.input_shape:
            raise EstimateError("--model needs --input-shape, e.g. 1x3x224x224 (first dimension = batch).")
        from algoeff.flops.models import parse_model_args

        shape = parse_shape(args.input_shape, source="--input-shape")
        model = load_model(args.model, source="--model", kwargs=parse_model_args(args.model_arg))
        model.eval()
        try:
            est = estimate_ops_from_model(model, torch.zeros(shape), examples=args.examples, epochs=args.epochs,
                                          backward_factor=args.backward_factor, models=args.models,
                                          flops_per_mac=args.flops_per_mac)
        except (CountError, EstimateError):
            raise
        except Exception as err:  # the model rejected the input: one line, not a traceback
            text = (str(err).strip().splitlines() or [""])[0]
            raise CountError(f"--model {args.model} with input shape {'x'.join(map(str, shape))}: "
                             f"{type(err).__name__}: {text}") from None
        est.inputs["model"] = args.model
        head = (f"counting operations: {args.model}, {est.inputs['per_example_flops'] / 1e9:.4g} GFLOPs per example "
                f"(counted at 2 FLOPs per multiply-add" + (", expressed at 1)" if args.flops_per_mac == 1 else ")"))
    else:
        if args.input_shape is not None:
            raise EstimateError("--input-shape is only used with --model.")
        if args.model_arg:
            raise EstimateError("--model-arg is only used with --model.")
        est = estimate_ops(per_example_gflops=args.per_example_gflops, per_example_gmacs=args.per_example_gmacs,
                           examples=args.examples, epochs=args.epochs, backward_factor=args.backward_factor,
                           flops_per_mac=args.flops_per_mac, models=args.models)
        if args.per_example_gmacs is not None:
            head = (f"counting operations: {args.per_example_gmacs:g} G multiply-adds per example x "
                    f"{args.flops_per_mac} FLOP{'s' if args.flops_per_mac == 2 else ''} per multiply-add")
        else:
            head = f"counting operations: {args.per_example_gflops:g} GFLOPs per example"
    i = est.inputs
    lines = [head, f"  x (1 + {i['backward_factor']:g} backward) x {i['examples']:g} examples x {i['epochs']:g} epochs"
             + (f" x {i['models']} models" if i["models"] != 1 else "")]
    return _print_estimate(est, args, lines)


def _hardware(args) -> int:
    peak = None if args.peak_tflops is None else args.peak_tflops * 1e12
    est = estimate_hardware(device=args.device, peak_flops=peak, count=args.count, hours=args.hours, days=args.days,
                            precision=args.precision, utilization=args.utilization, models=args.models)
    i = est.inputs
    what = f"{i['device']} {i['precision']}" if i["device"] else "given peak"
    lines = [f"hardware time: {i['count']:g} x {what} ({i['peak_flops'] / 1e12:g} TFLOPS) x {i['days']:.4g} days "
             f"x utilization {i['utilization']:g}" + (f" x {i['models']} models" if i["models"] != 1 else ""),
             f"  peak: {i['peak_source']}"
             + (f" ({i['precision_source']})" if i.get("precision_source") not in (None, "given", "default (fp32)")
                else ""),
             f"  utilization: {i['utilization_source']}"]
    return _print_estimate(est, args, lines)


def _catalog(args) -> int:
    catalog = load_catalog()
    if args.json:
        print(json.dumps({"unit": "TFLOPS per device, dense", "devices": [d.to_dict() for d in catalog],
                          "utilization": {u.name: vars(u) for u in load_utilizations().values()}}, indent=2))
        return 0
    width = max(len(d.name) for d in catalog)
    print(f"{'device':<{width}}  {'year':>4}  " + "  ".join(f"{p:>7}" for p in PRECISIONS) + "   (peak TFLOPS, dense)")
    for d in catalog:
        cells = "  ".join(f"{d.peak_tflops[p]:>7g}" if p in d.peak_tflops else f"{'-':>7}" for p in PRECISIONS)
        print(f"{d.name:<{width}}  {d.year:>4}  {cells}")
    print()
    print("sources: `algoeff estimate catalog --json`, or src/algoeff/data/hardware.csv")
    print("default utilization: " + "; ".join(f"{u.name} {u.value:g} ({u.applies_to})"
                                             for u in load_utilizations().values()))
    return 0


def _effective(args) -> int:
    from algoeff.ledger import load_ledger
    from algoeff.ledger.conventions import mixed_conventions, normalize_entries
    from algoeff.trend import fit_trend, months_between

    if args.hardware_to is not None and args.hardware_from is None:
        raise EstimateError("--hardware-to needs --hardware-from.")
    if args.hardware_from is not None and args.hardware_to is None:
        raise EstimateError("--hardware-from needs --hardware-to.")
    ledger = load_ledger(args.ledger)
    bench = ledger.benchmark(args.benchmark)
    entries = ledger.for_benchmark(bench.key)
    if not entries:
        raise EstimateError(f"benchmark {bench.key!r} has no entries in {ledger.path}.")
    warning = None
    if args.normalize:
        entries = normalize_entries(entries)
    else:
        warning = mixed_conventions(entries)
    fit = fit_trend(entries)
    best = fit.frontier[-1]
    months = months_between(fit.baseline.date, best.date)
    factor, basis = None, ""
    if args.hardware_from is not None:
        factor, basis = hardware_factor_from_catalog(args.hardware_from, args.hardware_to, precision=args.precision)
    elif args.hardware_catalog:
        catalog = load_catalog()
        start = catalog.fastest(precision=args.precision, until_year=fit.baseline.date.year)
        end = catalog.fastest(precision=args.precision, until_year=best.date.year)
        factor, basis = hardware_factor_from_catalog(start.name, end.name, precision=args.precision)
        basis += f" (fastest catalog GPUs released by {fit.baseline.date.year} and by {best.date.year})"
    elif args.hardware_factor is not None:
        factor, basis = args.hardware_factor, "given (--hardware-factor)"
    result = effective_compute(fit.reduction_factor, months, hardware_factor=factor, hardware_basis=basis,
                               hardware_doubling_months=None if factor is not None else args.hardware_doubling_months)
    if args.json:
        print(json.dumps({"benchmark": bench.key, "baseline": fit.baseline.publication,
                          "baseline_date": fit.baseline.date.isoformat(), "best": best.publication,
                          "best_date": best.date.isoformat(), "normalized": args.normalize,
                          "mixed_conventions": warning, **result.to_dict()}, indent=2))
        return 0
    if warning:
        print(f"warning: {bench.key} mixes counting conventions: {warning}; --normalize puts them in one.",
              file=sys.stderr)
    print(f"{bench.title} [{bench.key}]: {fit.baseline.publication} ({fit.baseline.date.isoformat()}) -> "
          f"{best.publication} ({best.date.isoformat()}), {months:.1f} months")
    print(f"algorithmic factor  {result.algorithmic_factor:.1f}x less compute for the same capability")
    print(f"hardware factor     {result.hardware_factor:.1f}x ({result.hardware_basis})")
    print(f"effective compute   {result.effective_factor:.0f}x")
    return 0
