"""Atomic file writes: a reader sees the old file or the new one, never half of one.

Every file algoeff writes for a person (ledgers, tables, plots, study outputs)
goes through here, so a crash or a full disk mid-write leaves the old file.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["atomic_write", "atomic_write_text", "swap_in_folder"]


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


_RENAME_EXCHANGE = 2  # linux/fs.h


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two folders (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0


def swap_in_folder(tmp, out) -> None:
    """Put the finished folder ``tmp`` at ``out`` whole; an old ``out`` goes only once the new one is in place.

    Readers see the old folder or the new one, never a mix: one renameat2
    exchange where the kernel has it, else two renames (a reader may then find
    no folder for an instant, but never half of one).
    """
    tmp, out = Path(tmp), Path(out)
    if not out.exists():
        os.rename(tmp, out)
        return
    if _exchange(tmp, out):
        shutil.rmtree(tmp, ignore_errors=True)  # now the old folder
        return
    old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
    os.rename(out, old / out.name)
    try:
        os.rename(tmp, out)
    except BaseException:
        os.rename(old / out.name, out)
        raise
    finally:
        shutil.rmtree(old, ignore_errors=True)
