"""Models named by a SPEC string, for the command line and for scripts.

    torchvision:NAME         an untrained torchvision model (never downloads weights)
    package.module:callable  any callable returning an ``nn.Module`` (the current folder is on the import path)
    path/to/file.py:callable the same, from a Python file

Factory arguments come as ``kwargs`` (``--model-arg k=v`` on the command line:
the value is read as a Python literal, else kept as text). Whatever the factory
raises becomes a CountError naming the spec.

Both ``algoeff flops SPEC`` and ``algoeff estimate ops --model SPEC`` build models here,
so a SPEC means the same thing everywhere.
"""

from __future__ import annotations

import ast
import contextlib
import difflib
import importlib
import importlib.util
import os
import re
import sys
from pathlib import Path

from algoeff.errors import CountError

__all__ = ["load_model", "parse_model_args", "parse_shape"]


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


def parse_model_args(items, *, source: str = "--model-arg") -> dict:
    """``["width=64", "name=tiny"]`` -> ``{"width": 64, "name": "tiny"}`` (values as Python literals, else text)."""
    kwargs = {}
    for item in items or ():
        key, sep, text = str(item).partition("=")
        if not sep or not key.strip().isidentifier():
            raise CountError(f"{source} {item!r} must be NAME=VALUE, e.g. width=64.")
        try:
            value = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            value = text
        kwargs[key.strip()] = value
    return kwargs


@contextlib.contextmanager
def _cwd_on_path():
    """The current folder first on the import path, as ``python -m`` would have it."""
    cwd = os.getcwd()
    added = cwd not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        yield
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _import(kind: str, spec: str, source: str):
    if kind.endswith(".py") or "/" in kind or os.sep in kind:
        path = Path(kind)
        if not path.is_file():
            raise CountError(f"{source} {spec!r}: no such file {kind!r}.")
        name = f"_algoeff_model_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise CountError(f"{source} {spec!r}: cannot import {kind!r} (not a Python file).")
        module = importlib.util.module_from_spec(module_spec)
        sys.path.insert(0, str(path.resolve().parent))  # its own imports of files beside it
        try:
            module_spec.loader.exec_module(module)
        except Exception as err:  # the user's file failed: say where, not a traceback
            raise CountError(f"{source} {spec!r}: importing {kind} raised {type(err).__name__}: "
                             f"{_first_line(err)}") from err
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    with _cwd_on_path():
        try:
            return importlib.import_module(kind)
        except ModuleNotFoundError as err:
            if err.name and kind.split(".")[0] == err.name.split(".")[0]:
                raise CountError(f"{source} {spec!r}: cannot import {kind!r} (no module {err.name!r} in the "
                                 f"current folder {os.getcwd()!r} or on the import path; a file is "
                                 "path/to/file.py:FACTORY).") from err
            raise CountError(f"{source} {spec!r}: importing {kind} raised {type(err).__name__}: "
                             f"{_first_line(err)}") from err
        except Exception as err:
            raise CountError(f"{source} {spec!r}: importing {kind} raised {type(err).__name__}: "
                             f"{_first_line(err)}") from err


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def load_model(spec: str, *, device=None, source: str = "SPEC", kwargs: dict | None = None):
    """Build the model ``spec`` names, on ``device`` (``meta`` allocates nothing).

    ``source`` names where the spec came from (a flag, a file) in error messages;
    ``kwargs`` are passed to the factory (torchvision: to ``get_model``).
    """
    import torch

    kwargs = dict(kwargs or {})
    kind, sep, name = str(spec).rpartition(":")
    if not sep or not kind or not name:
        raise CountError(f"{source} {spec!r} must be torchvision:NAME, package.module:FACTORY or "
                         "path/to/file.py:FACTORY.")
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
            if name in ("googlenet", "inception_v3"):
                kwargs.setdefault("init_weights", False)
            factory = lambda: torchvision.models.get_model(name, weights=None, **kwargs)  # noqa: E731
            call = f"torchvision.models.get_model({name!r})"
        else:
            module = _import(kind, spec, source)
            factory = getattr(module, name, None)
            if not callable(factory):
                raise CountError(f"{source} {spec!r}: {kind} has no callable {name!r}.")
            call = f"{name}()"
            factory = (lambda f=factory: f(**kwargs))
        try:
            model = factory()
        except TypeError as err:
            hint = "" if kwargs else " (give factory arguments with --model-arg NAME=VALUE)"
            raise CountError(f"{source} {spec!r}: calling {call} raised TypeError: {_first_line(err)}{hint}") from err
        except Exception as err:  # the user's factory failed: one line, not its traceback
            raise CountError(f"{source} {spec!r}: calling {call} raised {type(err).__name__}: "
                             f"{_first_line(err)}") from err
    if not isinstance(model, torch.nn.Module):
        raise CountError(f"{source} {spec!r} returned {type(model).__name__}, must return a torch.nn.Module.")
    return model
