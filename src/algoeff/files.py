"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file algoeff writes for a person (ledgers, tables, plots, study outputs)
goes through here, so a crash or a full disk mid-write leaves the old file.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text"]


def atomic_write(path, write) -> Path:
    """Call ``write(tmp_path)`` for a temp file beside ``path``, then move it into place.

    The new file keeps the permissions of the one it replaces, else 0644:
    mkstemp creates owner-only files, and these files are meant to be shared.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically, synced to disk."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    return atomic_write(path, write)
