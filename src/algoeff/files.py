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
    A symlink stays a symlink: the file it points to is replaced. An OSError
    names ``path``, never the temp file.
    """
    path = Path(path)
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as err:
        raise _naming(err, path) from None
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else 0o644)
        os.replace(tmp, target)
    except OSError as err:
        _discard(tmp)
        raise _naming(err, path) from None
    except BaseException:
        _discard(tmp)
        raise
    return path


def _discard(tmp) -> None:
    try:
        os.unlink(tmp)
    except OSError:
        pass


def _naming(err: OSError, path: Path) -> OSError:
    """The same error (same class and errno) naming the user's file, not the temp file beside it.

    A full disk raises from write() with no file name at all; a folder that
    cannot be written names the temp file mkstemp tried; a missing folder is
    named as such.
    """
    if err.errno is None:
        return err
    if isinstance(err, FileNotFoundError) and not path.parent.is_dir():
        return FileNotFoundError(err.errno, f"no such folder {str(path.parent)!r}", str(path))
    return type(err)(err.errno, err.strerror or str(err), str(path))


def atomic_write_text(path, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` atomically, synced to disk."""

    def write(tmp):
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())

    return atomic_write(path, write)
