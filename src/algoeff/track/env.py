"""What a run ran on, saved beside its points so a figure can be traced to its setup."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys

__all__ = ["environment", "git_revision"]


def git_revision(cwd=None) -> dict | None:
    """The git commit (and whether the tree had uncommitted changes) of ``cwd``; None outside git."""
    cwd = os.getcwd() if cwd is None else cwd
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return None
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd, capture_output=True, text=True, timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


def _device(model) -> str:
    if model is None:
        return "unknown"
    for tensor in list(model.parameters()) + list(model.buffers()):
        return str(tensor.device)
    return "cpu"


def environment(model=None) -> dict:
    """torch, Python, platform, device, world size and the user's code revision."""
    import torch

    env = {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "device": _device(model),
        "cuda": torch.version.cuda,
        "argv": list(sys.argv),
        "cwd": os.getcwd(),
        "git": git_revision(),
        "world_size": 1,
    }
    if env["device"].startswith("cuda") and torch.cuda.is_available():
        env["device_name"] = torch.cuda.get_device_name(torch.device(env["device"]))
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        env["world_size"] = torch.distributed.get_world_size()
        env["backend"] = str(torch.distributed.get_backend())
    try:
        from importlib.metadata import version

        env["algoeff"] = version("algoeff")
    except Exception:  # not installed as a distribution (e.g. run from a source tree)
        env["algoeff"] = None
    return env
