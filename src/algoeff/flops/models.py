"""Models named by a SPEC string, for the command line and for scripts.

    torchvision:NAME         an untrained torchvision model (never downloads weights)
    package.module:callable  any callable returning an ``nn.Module``

Both ``algoeff flops SPEC`` and ``algoeff estimate ops --model SPEC`` build models here,
so a SPEC means the same thing everywhere.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import re

from algoeff.errors import CountError

__all__ = ["load_model", "parse_shape"]


def parse_shape(text: str, *, source: str = "input shape") -> tuple[int, ...]:
    """``1x3x224x224`` or ``1,3,224,224`` -> (1, 3, 224, 224); every size a positive integer."""
    try:
        shape = tuple(int(part) for part in re.split(r"[,x]", str(text).lower()))
    except ValueError:
        raise CountError(f"{source} {text!r} must be whole numbers joined by 'x' or ',', "
                         "e.g. 1x3x224x224") from None
    if any(size < 1 for size in shape):
        raise CountError(f"{source} {text!r} has a size < 1; every size must be >= 1")
    return shape


def load_model(spec: str, *, device=None, source: str = "SPEC"):
    """Build the model ``spec`` names, on ``device`` (``meta`` allocates nothing).

    ``source`` names where the spec came from (a flag, a file) in error messages.
    """
    import torch

    kind, sep, name = str(spec).partition(":")
    if not sep or not kind or not name:
        raise CountError(f"{source} {spec!r} must be torchvision:NAME or package.module:callable.")
    with torch.device(device) if device is not None else contextlib.nullcontext():
        if kind == "torchvision":
            try:
                import torchvision
            except ModuleNotFoundError:
                raise CountError(f"{source} {spec!r} needs torchvision: pip install 'algoeff[vision]'") from None
            known = torchvision.models.list_models()
            if name not in known:
                close = difflib.get_close_matches(name, known, n=3)
                hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
                raise CountError(f"Unknown torchvision model {name!r}.{hint}")
            # their weight init is scipy-based and slow; counting does not depend on weights
            kwargs = {"init_weights": False} if name in ("googlenet", "inception_v3") else {}
            return torchvision.models.get_model(name, weights=None, **kwargs)
        try:
            module = importlib.import_module(kind)
        except ImportError as err:
            raise CountError(f"{source} {spec!r}: cannot import {kind!r} ({err}).") from err
        factory = getattr(module, name, None)
        if not callable(factory):
            raise CountError(f"{source} {spec!r}: {kind} has no callable {name!r}.")
        model = factory()
    if not isinstance(model, torch.nn.Module):
        raise CountError(f"{source} {spec!r} returned {type(model).__name__}, must return a torch.nn.Module.")
    return model
