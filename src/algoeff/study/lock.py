"""One study at a time per --out folder: a non-blocking lock, so a second copy fails at once.

The lock is an ``flock`` on ``.NAME.lock`` beside the folder (not inside it: the
study's outputs are swapped in as a whole folder, which would move a lock file
inside along with them). The file holds the owner's pid for the message and is
removed on release. The kernel drops an flock when its process dies, so a
killed study (SIGKILL, OOM) never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from algoeff.errors import StudyError

__all__ = ["lock_path", "study_lock"]


def lock_path(out) -> Path:
    out = Path(os.path.abspath(out))
    return out.parent / f".{out.name}.lock"


def _owner(fd: int) -> str:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


@contextlib.contextmanager
def study_lock(out, *, what: str = "writing"):
    """Hold the lock on ``out`` for the ``with`` block; StudyError at once if another study holds it."""
    path = lock_path(out)
    created = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StudyError(f"cannot create the folder of {str(out)!r}: {err.strerror or err}") from err
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise StudyError(f"cannot lock {str(out)!r} (lock file {str(path)!r}): {err.strerror or err}") from err
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _owner(fd)
            os.close(fd)
            raise StudyError(f"another study (pid {owner}) is {what} {str(out)!r}; wait for it to end, "
                             f"or pass another --out.") from None
        except OSError as err:
            os.close(fd)
            raise StudyError(f"cannot lock {str(out)!r} (lock file {str(path)!r}): {err.strerror or err}") from err
        # the holder before us may have removed the file between our open and our flock:
        # then we hold a lock on a file no one else can see, so take the one at the path
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)  # before unlocking, so no one takes a lock on a file about to vanish
        os.close(fd)
        for folder in created:  # a study rejected before writing anything leaves no empty folders
            with contextlib.suppress(OSError):
                folder.rmdir()
