"""``algoeff flops``: FLOPs of one forward pass or training step of a model."""

from __future__ import annotations

import argparse
import json

from algoeff.errors import CountError

__all__ = ["register"]

DTYPES = ("auto", "float32", "float16", "bfloat16", "long")
OPTIMIZERS = ("sgd", "adam", "adamw")
LOSSES = ("sum", "cross-entropy", "mse")


def _shape_arg(text: str) -> tuple[int, ...]:
    from algoeff.flops.models import parse_shape  # algoeff.flops imports torch: only when used

    try:
        return parse_shape(text)
    except CountError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "flops", help="FLOPs of a model's forward pass or training step (multiply-add = 2 FLOPs)",
        description="Count a model's FLOPs at the dispatcher: forward, backward and optimizer step, "
                    "multiply-adds (the unit of torchvision's _ops), by module or op, and any op that ran "
                    "without a formula.")
    parser.add_argument("spec", metavar="SPEC",
                        help="torchvision:NAME, package.module:FACTORY (the current folder is on the import "
                             "path) or path/to/file.py:FACTORY; FACTORY returns an nn.Module")
    parser.add_argument("--model-arg", metavar="NAME=VALUE", action="append", default=[],
                        help="an argument for FACTORY, VALUE read as a Python literal (else text); repeatable "
                             "(default: none)")
    parser.add_argument("--input-shape", metavar="SHAPE", type=_shape_arg, action="append", required=True,
                        help="shape of an input tensor, e.g. 1x3x224x224 (or 1,3,224,224); repeat for a model "
                             "with several inputs")
    parser.add_argument("--input-dtype", choices=DTYPES, default="auto",
                        help="auto: long (token ids) when the model's first layer is an nn.Embedding, "
                             "else float32 (default: auto)")
    parser.add_argument("--train", action="store_true",
                        help="count a training step: forward, backward of --loss, optimizer (default: forward "
                             "only, in eval mode)")
    parser.add_argument("--loss", choices=LOSSES, default="sum",
                        help="with --train: the loss backward starts from; sum of the output, cross-entropy "
                             "against class labels (output NxC, labels --labels or all 0) or mse against "
                             "zeros (default: sum)")
    parser.add_argument("--labels", metavar="SHAPE", type=_shape_arg,
                        help="with --loss cross-entropy: the labels' shape (default: the output's shape less "
                             "its class dimension)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS,
                        help="count this optimizer's step (with --train; default: no optimizer step)")
    parser.add_argument("--policy", choices=("matmul", "all"), default="matmul",
                        help="matmul: matmul, conv, attention, RNN cells; all: also elementwise, "
                             "normalization, softmax, pooling, reductions, optimizer arithmetic (default: matmul)")
    parser.add_argument("--causal", choices=("full", "half"), default="full",
                        help="causal attention: every score (full) or the unmasked triangle (half) "
                             "(default: full)")
    parser.add_argument("--device", default=None,
                        help="cpu, cuda, mps, ...; meta: count shapes only, no memory or compute "
                             "(default: the CPU)")
    parser.add_argument("--by", choices=("module", "op"), help="also list FLOPs by module or by op (default: "
                                                                "totals only)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    parser.set_defaults(func=_flops)


def _input_dtype(model, choice: str):
    import torch

    if choice == "auto":
        first = next((m for m in model.modules() if not list(m.children())), None)
        choice = "long" if isinstance(first, torch.nn.Embedding) else "float32"
    return choice, {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16,
                    "long": torch.long}[choice]


def check_device(text: str | None, flag: str = "--device"):
    """``text`` as a torch.device this machine has, or CountError saying which it lacks."""
    import torch

    if text is None:
        return None
    try:
        device = torch.device(text)
    except (RuntimeError, TypeError) as err:
        raise CountError(f"{flag} {text!r}: {str(err).splitlines()[0]}") from err
    if device.type == "cuda" and not torch.cuda.is_available():
        raise CountError(f"{flag} {text!r}: no CUDA device here (torch.cuda.is_available() is False); "
                         "use --device cpu, or meta to count shapes only.")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise CountError(f"{flag} {text!r}: this machine has {torch.cuda.device_count()} CUDA device(s).")
    if device.type == "mps" and not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
        raise CountError(f"{flag} {text!r}: no Apple MPS device here (torch.backends.mps.is_available() is "
                         "False); use --device cpu, or meta to count shapes only.")
    if device.type not in ("cpu", "meta", "cuda", "mps"):
        try:
            torch.empty(0, device=device)
        except (RuntimeError, AssertionError) as err:
            raise CountError(f"{flag} {text!r}: not usable here: {str(err).splitlines()[0]}") from None
    return device


def _loss_fn(name: str, labels_shape):
    import torch

    if name == "sum":
        return None
    if name == "mse":
        return lambda out: torch.nn.functional.mse_loss(out, torch.zeros_like(out))

    def cross_entropy(out):
        shape = labels_shape or (tuple(out.shape[:1]) + tuple(out.shape[2:]))
        labels = torch.zeros(shape, dtype=torch.long, device=out.device)
        return torch.nn.functional.cross_entropy(out, labels)

    return cross_entropy


def _flops(args) -> int:
    import torch

    from algoeff.flops import count_flops, load_model
    from algoeff.flops.models import parse_model_args

    if args.optimizer and not args.train:
        raise CountError("--optimizer counts only with --train.")
    if (args.loss != "sum" or args.labels) and not args.train:
        raise CountError("--loss and --labels count only with --train.")
    if args.labels and args.loss != "cross-entropy":
        raise CountError("--labels is only used with --loss cross-entropy.")
    device = check_device(args.device)
    model = load_model(args.spec, device=device, kwargs=parse_model_args(args.model_arg))
    dtype_name, dtype = _input_dtype(model, args.input_dtype)
    where = device if device is not None else torch.device("cpu")
    # token ids of 0 are valid for any vocabulary; float inputs are random
    inputs = tuple(torch.zeros(shape, dtype=dtype, device=where) if dtype == torch.long
                   else torch.randn(shape, device=where).to(dtype) for shape in args.input_shape)
    optimizer = None
    if args.optimizer:
        cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[args.optimizer]
        options = {"lr": 0.1, "momentum": 0.9} if args.optimizer == "sgd" else {"lr": 1e-3}
        optimizer = cls(model.parameters(), **options)
    shapes = ["x".join(map(str, s)) for s in args.input_shape]
    try:
        report = count_flops(model, inputs, train=args.train, optimizer=optimizer, policy=args.policy,
                             causal=args.causal, device=device, loss_fn=_loss_fn(args.loss, args.labels))
    except CountError:
        raise
    except Exception as err:  # the model rejected these inputs: say so in one line
        raise CountError(f"{args.spec} with input {', '.join(shapes)} {dtype_name}: {type(err).__name__}: "
                         f"{(str(err).strip().splitlines() or [''])[0]} (check --input-shape and "
                         "--input-dtype)") from err
    if args.json:
        data = {"spec": args.spec, "input_shapes": shapes, "input_dtype": dtype_name,
                "train": args.train, "loss": args.loss if args.train else None, "optimizer": args.optimizer,
                "device": str(where), **report.to_dict()}
        print(json.dumps(data, indent=2))
        return 0
    extras = [x for x in (f"loss {args.loss}" if args.loss != "sum" else "", args.optimizer or "") if x]
    step = f"training step{f' ({chr(44).join(extras)})' if extras else ''}" if args.train else "forward (eval)"
    print(f"{args.spec}  input {', '.join(shapes)} {dtype_name}  {step}  policy {report.policy}"
          f"  causal {report.causal}")
    rows = [("forward", report.forward), ("backward", report.backward), ("optimizer", report.optimizer),
            ("total", report.total)]
    for label, value in rows:
        print(f"  {label:<10} {_human(value):>10} FLOPs  ({value:,})")
    print(f"  {'MACs':<10} {_human(report.macs):>10}        forward multiply-adds (1 MAC = 2 FLOPs)")
    if report.uncounted_ops:
        listed = ", ".join(f"{op} x{n}" for op, n in report.uncounted_ops.items())
        print(f"  uncounted (no formula, not in any figure): {listed}")
    else:
        print("  uncounted: none")
    if args.by:
        table = report.by_module if args.by == "module" else report.by_op
        print(f"by {args.by}:")
        width = max((len(k) for k in table), default=0)
        for key, value in table.items():
            share = value / report.total * 100 if report.total else 0.0
            print(f"  {key:<{width}} {_human(value):>10} {share:6.1f}%")
    return 0


def _human(value: int) -> str:
    for scale, suffix in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if value >= scale:
            return f"{value / scale:.3f} {suffix}"
    return f"{value}"
