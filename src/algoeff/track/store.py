"""The run store: one SQLite file holding runs, their configuration and evaluation points.

Every evaluation point is committed as it is recorded, so a run killed at any
moment (SIGKILL, OOM, a pre-empted node) keeps everything recorded before.
The file is in WAL mode so several processes can write at once: writers wait
for each other (busy_timeout) and a write that still finds the file locked is
retried with back-off before a StoreError is raised. ``synchronous=NORMAL``
makes a commit survive the process dying; only an OS crash or power loss can
lose the last few commits (the file itself stays consistent).

A store is stamped (``PRAGMA application_id``/``user_version``) so another
program's SQLite file is refused rather than silently given algoeff's tables,
and checked (``PRAGMA quick_check``) each time it is opened, so a damaged file
is an error instead of results computed from what SQLite could still read.
A store whose file or folder cannot be written (read-only media) opens
read-only: reading works and every write is a StoreError saying "read-only".
Waiting for other writers' locks is capped at ``timeout`` seconds in total.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import pathlib
import random
import sqlite3
import time
import urllib.parse
import warnings

from algoeff.errors import StoreError

__all__ = ["RUN_STATUSES", "RunStore"]

# running: started and not finished (a killed run stays "running").
RUN_STATUSES = ("running", "finished", "diverged", "failed", "stopped")

# Columns of the points table; record() rejects metrics with these names.
POINT_COLUMNS = ("run_id", "idx", "step", "flops", "examples", "wall", "eval_flops")

# "AlEf": marks the file as an algoeff store; USER_VERSION is the schema's version
APPLICATION_ID = 0x416C4566
USER_VERSION = 1
_TABLES = {"runs", "points", "sqlite_sequence"}  # sqlite_sequence: AUTOINCREMENT's own table

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT,
    key TEXT,                 -- caller's identity for resuming, e.g. a study cell
    status TEXT NOT NULL,     -- one of RUN_STATUSES
    target TEXT,              -- JSON: metric, threshold, higher_is_better
    config TEXT NOT NULL,     -- JSON
    environment TEXT NOT NULL,-- JSON: torch, python, device, git revision, ...
    started TEXT NOT NULL,    -- ISO 8601, UTC
    finished TEXT,
    summary TEXT              -- JSON, written by finish
);
CREATE INDEX IF NOT EXISTS runs_key ON runs (key, status);
CREATE TABLE IF NOT EXISTS points (
    run_id INTEGER NOT NULL REFERENCES runs (id),
    idx INTEGER NOT NULL,     -- 0, 1, 2, ... per run
    step INTEGER NOT NULL,    -- training steps taken before this evaluation
    flops INTEGER NOT NULL,   -- cumulative training FLOPs (all ranks)
    examples INTEGER,         -- cumulative training examples (all ranks)
    wall REAL NOT NULL,       -- seconds since the run started
    eval_flops INTEGER NOT NULL, -- cumulative evaluation FLOPs, kept apart
    metrics TEXT NOT NULL,    -- JSON
    PRIMARY KEY (run_id, idx)
);
"""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _sql_int(value):
    """SQLite integers are 64-bit; larger FLOP counts go in as floats."""
    if value is None:
        return None
    value = int(value)
    return value if abs(value) < 2**63 else float(value)


def _dumps(data) -> str:
    try:
        return json.dumps(data, sort_keys=True, default=_json_default)
    except (TypeError, ValueError) as err:
        raise StoreError(f"cannot store {data!r} as JSON: {err}") from err


def _json_default(value):
    # numpy scalars, paths, dataclass-like configs
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _loads(text):
    return None if text is None else json.loads(text)


class RunStore:
    """Runs and evaluation points in one SQLite file (WAL mode).

    The connection is opened lazily and re-opened after a fork or unpickling,
    so a store can be handed to worker processes.
    """

    def __init__(self, path, *, timeout: float = 60.0):
        if isinstance(path, RunStore):
            path = path.path
        try:
            self.path = pathlib.Path(os.fspath(path))
        except TypeError:
            raise StoreError(f"RunStore path == {path!r}, must be a file path.") from None
        if self.path.is_dir():
            raise StoreError(f"RunStore path {str(self.path)!r} is a directory, must be a file.")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise StoreError(f"timeout == {timeout!r}, must be > 0 seconds.")
        self.timeout = float(timeout)
        self._conn = None
        self._pid = None
        self._checked = False
        self.read_only = self._unwritable()
        try:
            self._open()
        except BaseException:
            self.close()  # a refused file is not left open
            raise

    # -- connection ---------------------------------------------------------------

    def _unwritable(self) -> bool:
        """True where the file (or, for a new one, its folder) cannot be written: open it read-only."""
        if self.path.exists():
            # WAL needs the -wal and -shm files beside the store, so the folder must be writable too
            return not (os.access(self.path, os.W_OK) and os.access(self.path.parent, os.W_OK))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StoreError(f"cannot create the folder of run store {str(self.path)!r}: "
                             f"{err.strerror or err}") from err
        if not os.access(self.path.parent, os.W_OK):
            raise StoreError(f"cannot create run store {str(self.path)!r}: its folder is not writable.")
        return False

    def _open(self) -> None:
        """First open: check the file is an algoeff store (creating the schema in a new one) and intact."""
        if self.path.exists() and self.path.stat().st_size == 0:
            warnings.warn(f"run store {str(self.path)!r} is an empty file (0 bytes); "
                          "starting a new store in it.", stacklevel=3)
        conn = self._connect()
        (app_id,) = self._retry(lambda: conn.execute("PRAGMA application_id").fetchone())
        (version,) = self._retry(lambda: conn.execute("PRAGMA user_version").fetchone())
        tables = {name for (name,) in self._retry(
            lambda: conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall())}
        legacy = {"runs", "points"} <= tables <= _TABLES  # an algoeff store from before the stamp
        if app_id not in (0, APPLICATION_ID) or (app_id == 0 and tables and not legacy):
            found = f"application_id {app_id}" if app_id else f"tables {', '.join(sorted(tables))}"
            raise StoreError(f"{str(self.path)!r} is not an algoeff run store (it is an SQLite file with "
                             f"{found}); pass a new file or an algoeff store.")
        if version > USER_VERSION:
            raise StoreError(f"run store {str(self.path)!r} has schema version {version}; this algoeff "
                             f"reads up to {USER_VERSION}: upgrade algoeff.")
        self._check()
        # only now that it is known to be ours may the file be changed (WAL mode is in its header)
        self._checked = True
        if not self.read_only:
            self._wal(conn)
        if app_id == APPLICATION_ID and version == USER_VERSION:
            return
        if self.read_only:
            if not {"runs", "points"} <= tables:
                raise StoreError(f"run store {str(self.path)!r} is read-only and holds no runs.")
            return  # an algoeff store from before the stamp: readable as it is

        def create(conn):
            # one transaction: a full disk leaves the old file, never half a schema
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {USER_VERSION}")

        self._write(create)

    def _check(self) -> None:
        rows = self._retry(lambda: self._conn.execute("PRAGMA quick_check").fetchall())
        if [r[0] for r in rows] != ["ok"]:
            raise StoreError(self._damaged("; ".join(str(r[0]) for r in rows[:3]) + ("; ..." if len(rows) > 3 else "")))

    def _damaged(self, problems: str) -> str:
        return (f"run store {str(self.path)!r} is damaged (PRAGMA quick_check: {problems}). Restore it from "
                "a copy, or move it away and run again (its trials are trained again).")

    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        try:
            if self.read_only:
                uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
                conn = sqlite3.connect(uri, uri=True, timeout=self.timeout, isolation_level=None)
                try:
                    conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
                except sqlite3.OperationalError:
                    # a WAL store whose -shm cannot be created (read-only media): nothing can
                    # change the file there, so SQLite may read it as immutable
                    conn.close()
                    conn = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None)
            else:
                conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
            if not self.read_only and self._checked:
                self._wal(conn)
        except sqlite3.DatabaseError as err:
            raise StoreError(f"cannot open run store {str(self.path)!r}: {err}") from err
        self._conn, self._pid = conn, os.getpid()
        return conn

    def _wal(self, conn) -> None:
        self._retry(lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone(), conn=conn)
        conn.execute("PRAGMA synchronous = NORMAL")

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __getstate__(self):
        return {"path": self.path, "timeout": self.timeout, "read_only": self.read_only}

    def __setstate__(self, state):
        self.path, self.timeout = state["path"], state["timeout"]
        self.read_only = state.get("read_only", False)
        self._conn = self._pid = None
        self._checked = True  # checked by the process that opened it first

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    def _retry(self, fn, *, conn=None):
        """Run ``fn``, retrying while another process holds the lock, for ``timeout`` seconds in all."""
        deadline = time.monotonic() + self.timeout
        delay, shortened = 0.01, None
        try:
            while True:
                try:
                    return fn()
                except sqlite3.OperationalError as err:
                    text = str(err).lower()
                    left = deadline - time.monotonic()
                    if "readonly" in text or "read-only" in text:
                        raise StoreError(f"run store {str(self.path)!r} is read-only: {err}") from err
                    if ("locked" not in text and "busy" not in text) or left <= 0:
                        raise StoreError(f"run store {str(self.path)!r}: {err}") from err
                    time.sleep(min(left, delay * (1 + random.random())))
                    delay = min(delay * 2, 1.0)
                    # SQLite's own busy wait must not outlast what is left of the deadline
                    shortened = conn or self._conn
                    if shortened is not None:
                        left_ms = max(1, int((deadline - time.monotonic()) * 1000))
                        shortened.execute(f"PRAGMA busy_timeout = {left_ms}")
                except sqlite3.DatabaseError as err:
                    if "malformed" in str(err).lower():
                        raise StoreError(self._damaged(str(err))) from err
                    raise StoreError(f"run store {str(self.path)!r}: {err}") from err
        finally:
            if shortened is not None:
                shortened.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")

    def _write(self, fn):
        """One write transaction, committed before returning."""
        if self.read_only:
            raise StoreError(f"run store {str(self.path)!r} is read-only (its file or folder cannot be "
                             "written): it can be read, not written.")

        def attempt():
            conn = self._connect()
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                # a failed COMMIT (a full disk) leaves the transaction open: end it before a retry
                if conn.in_transaction:
                    try:
                        conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise
            return result

        return self._retry(attempt)

    def _read(self, sql: str, params=()):
        return self._retry(lambda: self._connect().execute(sql, params).fetchall())

    def _decode(self, text, what: str):
        """JSON from the store; a row that is not JSON is a StoreError naming the run, not a traceback."""
        try:
            return _loads(text)
        except (TypeError, ValueError) as err:
            raise StoreError(f"run store {str(self.path)!r}: {what} is not valid JSON ({err}); "
                             "the store was changed outside algoeff.") from err

    # -- writing ------------------------------------------------------------------

    def start_run(self, *, name=None, key=None, config=None, target=None, environment=None) -> int:
        """Add a run with status "running" and return its id."""
        row = (
            name,
            key,
            "running",
            None if target is None else _dumps(target),
            _dumps(config or {}),
            _dumps(environment or {}),
            _now(),
        )
        return self._write(
            lambda conn: conn.execute(
                "INSERT INTO runs (name, key, status, target, config, environment, started)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                row,
            ).lastrowid
        )

    def add_point(self, run_id: int, *, step, flops, wall, metrics, examples=None, eval_flops=0) -> int:
        """Append an evaluation point to run ``run_id`` (committed at once); return its index."""
        metrics_json = json.dumps(
            {k: _finite_or_text(v) for k, v in metrics.items()}, sort_keys=True
        )

        def insert(conn):
            (idx,) = conn.execute(
                "SELECT COALESCE(MAX(idx) + 1, 0) FROM points WHERE run_id = ?", (run_id,)
            ).fetchone()
            conn.execute(
                "INSERT INTO points (run_id, idx, step, flops, examples, wall, eval_flops, metrics)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (run_id, idx, int(step), _sql_int(flops), _sql_int(examples), float(wall),
                 _sql_int(eval_flops), metrics_json),
            )
            return idx

        return self._write(insert)

    def finish_run(self, run_id: int, *, status: str = "finished", summary=None) -> None:
        """Set a run's final status and summary."""
        if status not in RUN_STATUSES:
            raise StoreError(
                f"Unknown run status {status!r}. Possible values are: "
                f"{', '.join(repr(s) for s in RUN_STATUSES)}."
            )
        text = _dumps(summary or {})
        self._write(
            lambda conn: conn.execute(
                "UPDATE runs SET status = ?, finished = ?, summary = ? WHERE id = ?",
                (status, _now(), text, run_id),
            )
        )

    # -- reading ------------------------------------------------------------------

    _RUN_FIELDS = ("id", "name", "key", "status", "target", "config", "environment",
                   "started", "finished", "summary")

    def _run_dict(self, row) -> dict:
        run = dict(zip(self._RUN_FIELDS, row))
        for field in ("target", "config", "environment", "summary"):
            run[field] = self._decode(run[field], f"run {run['id']}'s {field}")
        return run

    def run(self, run_id: int) -> dict:
        """One run as a dict (JSON fields decoded)."""
        rows = self._read(f"SELECT {', '.join(self._RUN_FIELDS)} FROM runs WHERE id = ?", (run_id,))
        if not rows:
            raise StoreError(f"run id {run_id!r} is not in run store {str(self.path)!r}.")
        return self._run_dict(rows[0])

    def find_run(self, key: str, status: str | None = "finished") -> dict | None:
        """The latest run with ``key`` (and ``status``, unless None), or None."""
        if status is not None and status not in RUN_STATUSES:
            raise StoreError(
                f"Unknown run status {status!r}. Possible values are: "
                f"{', '.join(repr(s) for s in RUN_STATUSES)}."
            )
        sql = f"SELECT {', '.join(self._RUN_FIELDS)} FROM runs WHERE key = ?"
        params = [key]
        if status is not None:
            sql += " AND status = ?"
            params.append(status)
        rows = self._read(sql + " ORDER BY id DESC LIMIT 1", params)
        return self._run_dict(rows[0]) if rows else None

    def runs(self):
        """All runs as a pandas DataFrame, one row per run, JSON fields decoded to dicts."""
        import pandas as pd

        rows = self._read(f"SELECT {', '.join(self._RUN_FIELDS)} FROM runs ORDER BY id")
        return pd.DataFrame([self._run_dict(r) for r in rows], columns=list(self._RUN_FIELDS))

    def points(self, run_id: int | None = None):
        """Evaluation points as a pandas DataFrame: one row per point, one column per metric."""
        import pandas as pd

        sql = f"SELECT {', '.join(POINT_COLUMNS)}, metrics FROM points"
        params = ()
        if run_id is not None:
            sql += " WHERE run_id = ?"
            params = (run_id,)
        rows = self._read(sql + " ORDER BY run_id, idx", params)
        records = []
        for row in rows:
            record = dict(zip(POINT_COLUMNS, row[:-1]))
            metrics = self._decode(row[-1], f"run {record['run_id']}'s point {record['idx']} metrics")
            if not isinstance(metrics, dict):
                raise StoreError(f"run store {str(self.path)!r}: run {record['run_id']}'s point "
                                 f"{record['idx']} metrics are {metrics!r}, must be a JSON object.")
            record.update({k: _from_text(v) for k, v in metrics.items()})
            records.append(record)
        return pd.DataFrame(records, columns=None if records else list(POINT_COLUMNS))


def _finite_or_text(value):
    """JSON has no NaN or inf: a diverged metric is stored as the string "nan"/"inf"/"-inf"."""
    value = float(value)
    return value if math.isfinite(value) else repr(value)


def _from_text(value):
    return float(value) if isinstance(value, str) else value
