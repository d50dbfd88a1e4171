"""The run store: round trips, resuming by key, crash safety and concurrent writers."""

import json
import math
import os
import pickle
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from algoeff import RunStore, StoreError
from algoeff.track import store as store_module

WRITER = textwrap.dedent(
    """
    import sys
    from algoeff.track.store import RunStore

    path, name, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = RunStore(path)
    run = store.start_run(name=name, key=name, config={"writer": name})
    for i in range(n):
        store.add_point(run, step=i, flops=1000 * i, examples=10 * i, wall=0.1 * i,
                        metrics={"accuracy": i / max(n, 1)})
        print(i, flush=True)
    if n:
        store.finish_run(run, status="finished", summary={"points": n})
    else:  # write forever until killed
        i = 0
        while True:
            store.add_point(run, step=i, flops=1000 * i, wall=0.0, metrics={"accuracy": 0.0})
            print(i, flush=True)
            i += 1
    """
)


def _writer(tmp_path, db, name, n):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen(
        [sys.executable, str(script), str(db), name, str(n)],
        stdout=subprocess.PIPE, text=True,
    )


def test_round_trip_runs_and_points(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    run = store.start_run(name="cnn", key="cell-1", config={"lr": 0.1},
                          target={"metric": "accuracy", "threshold": 0.9},
                          environment={"torch": "2.x"})
    store.add_point(run, step=10, flops=2**70, examples=640, wall=1.5, eval_flops=7,
                    metrics={"accuracy": 0.5, "loss": math.nan})
    store.add_point(run, step=20, flops=2000, examples=1280, wall=3.0, metrics={"accuracy": 0.91})
    store.finish_run(run, status="finished", summary={"compute_to_target": 2000})

    runs = store.runs()
    assert list(runs["name"]) == ["cnn"] and runs.loc[0, "config"] == {"lr": 0.1}
    assert runs.loc[0, "status"] == "finished" and runs.loc[0, "summary"]["compute_to_target"] == 2000
    assert runs.loc[0, "finished"] >= runs.loc[0, "started"]
    points = store.points(run)
    assert list(points["step"]) == [10, 20] and list(points["idx"]) == [0, 1]
    # above SQLite's 64-bit integers the count is kept as a float
    assert points.loc[0, "flops"] == pytest.approx(2**70)
    assert list(points["accuracy"]) == [0.5, 0.91]
    assert math.isnan(points.loc[0, "loss"])
    assert points.loc[0, "eval_flops"] == 7


def test_find_run_by_key_and_status(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    killed = store.start_run(key="cell-1")
    assert store.find_run("cell-1") is None
    assert store.find_run("cell-1", status="running")["id"] == killed
    done = store.start_run(key="cell-1", config={"try": 2})
    store.finish_run(done, status="finished")
    found = store.find_run("cell-1")
    assert found["id"] == done and found["config"] == {"try": 2}
    assert store.find_run("cell-2") is None
    with pytest.raises(StoreError, match=r"Unknown run status 'done'. Possible values are: 'running'"):
        store.find_run("cell-1", status="done")


def test_store_is_wal_and_reopens_after_pickling(tmp_path):
    store = RunStore(tmp_path / "sub" / "runs.db")
    run = store.start_run(name="a")
    mode = sqlite3.connect(store.path).execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    clone = pickle.loads(pickle.dumps(store))
    clone.add_point(run, step=1, flops=1, wall=0.0, metrics={"accuracy": 1.0})
    assert len(store.points(run)) == 1


def test_empty_store_frames_have_columns(tmp_path):
    store = RunStore(tmp_path / "runs.db")
    assert "status" in store.runs().columns and len(store.runs()) == 0
    assert "flops" in store.points().columns and len(store.points()) == 0


def test_bad_paths_and_files_are_store_errors(tmp_path):
    with pytest.raises(StoreError, match="is a directory, must be a file"):
        RunStore(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database " * 100)
    with pytest.raises(StoreError, match="junk.db"):
        RunStore(junk)
    store = RunStore(tmp_path / "runs.db")
    with pytest.raises(StoreError, match="run id 99 is not in run store"):
        store.run(99)
    with pytest.raises(StoreError, match="Unknown run status 'ok'"):
        store.finish_run(1, status="ok")
    with pytest.raises(StoreError, match="cannot store"):
        store.start_run(config={"f": object()})


def test_sigkill_mid_run_keeps_every_recorded_point(tmp_path):
    db = tmp_path / "runs.db"
    proc = _writer(tmp_path, db, "killed", 0)
    reported = -1
    for line in proc.stdout:
        reported = int(line)
        if reported >= 50:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL

    store = RunStore(db)
    run = store.runs()
    assert list(run["status"]) == ["running"]  # never finished
    points = store.points(int(run.loc[0, "id"]))
    # every point reported as committed is there (maybe one more, committed before it could print)
    assert len(points) >= reported + 1
    assert list(points["step"]) == list(range(len(points)))
    assert list(points["flops"]) == [1000 * i for i in range(len(points))]


def test_two_processes_writing_one_store_lose_nothing(tmp_path):
    db = tmp_path / "runs.db"
    n = 150
    procs = [_writer(tmp_path, db, name, n) for name in ("a", "b")]
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=600)
            assert proc.returncode == 0
            assert out.split() == [str(i) for i in range(n)]
    finally:
        for proc in procs:  # a failed test must not leave a writer running
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    store = RunStore(db)
    runs = store.runs().set_index("name")
    assert set(runs.index) == {"a", "b"} and set(runs["status"]) == {"finished"}
    points = store.points()
    for name in ("a", "b"):
        mine = points[points["run_id"] == runs.loc[name, "id"]]
        assert list(mine["step"]) == list(range(n))
        assert list(mine["idx"]) == list(range(n))
        assert json.loads(json.dumps(runs.loc[name, "summary"])) == {"points": n}


# -- faults: stamps, damage, bad rows, read-only media, lock waits (issue 17) -----------


def _filled(path, n=2000):
    store = RunStore(path)
    run = store.start_run(name="cnn", key="k", config={"lr": 0.1})
    for i in range(n):
        store.add_point(run, step=i, flops=1000 * i, wall=0.1 * i, metrics={"accuracy": i / n, "loss": 1.0 / (i + 1)})
    store.finish_run(run, summary={"points": n})
    store.close()
    return run


def test_a_new_store_is_stamped_and_an_old_unstamped_one_is_adopted(tmp_path):
    RunStore(tmp_path / "runs.db").close()
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == store_module.APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == store_module.USER_VERSION
        conn.execute("PRAGMA application_id = 0")  # as stores written before the stamp
        conn.execute("PRAGMA user_version = 0")
    store = RunStore(tmp_path / "runs.db")
    store.start_run(name="still works")
    assert store._read("PRAGMA application_id") == [(store_module.APPLICATION_ID,)]


def test_another_programs_sqlite_file_is_refused_and_left_alone(tmp_path):
    foreign = tmp_path / "photos.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE albums (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(StoreError, match=r"'.*photos\.db' is not an algoeff run store .*tables albums"):
        RunStore(foreign)
    with sqlite3.connect(foreign) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert tables == ["albums"]
        conn.execute("PRAGMA application_id = 1234")
        conn.execute("DROP TABLE albums")
    with pytest.raises(StoreError, match="application_id 1234"):
        RunStore(foreign)


def test_an_empty_file_warns_and_becomes_a_store(tmp_path):
    empty = tmp_path / "runs.db"
    empty.touch()
    with pytest.warns(UserWarning, match=r"runs\.db' is an empty file \(0 bytes\)"):
        store = RunStore(empty)
    assert len(store.runs()) == 0 and store.start_run(name="a") == 1


def test_a_damaged_page_is_an_error_on_open(tmp_path):
    db = tmp_path / "runs.db"
    _filled(db)
    page = 4096
    size = db.stat().st_size
    assert size > 10 * page
    with open(db, "r+b") as fh:  # scribble over a b-tree page in the middle of the points table
        fh.seek((size // page // 2) * page)
        fh.write(bytes(range(256)) * (page // 256))
    with pytest.raises(StoreError, match=r"runs\.db' is damaged \(PRAGMA quick_check: .+\)"):
        RunStore(db)


def test_a_row_that_is_not_json_is_a_store_error_naming_the_run(tmp_path):
    db = tmp_path / "runs.db"
    run = _filled(db, n=2)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET summary = '{\"points\": ' WHERE id = ?", (run,))
        conn.execute("UPDATE points SET metrics = 'nan]' WHERE run_id = ? AND idx = 1", (run,))
    store = RunStore(db)
    with pytest.raises(StoreError, match=rf"run {run}'s summary is not valid JSON"):
        store.runs()
    with pytest.raises(StoreError, match=rf"run {run}'s summary is not valid JSON"):
        store.find_run("k")
    with pytest.raises(StoreError, match=rf"run {run}'s point 1 metrics is not valid JSON"):
        store.points()


def test_schema_creation_is_one_transaction(tmp_path, monkeypatch):
    # the last statement fails (as a full disk would): no table of the schema may be left
    monkeypatch.setattr(store_module, "_SCHEMA", store_module._SCHEMA + "CREATE TABLE runs (x);")
    with pytest.raises(StoreError, match="runs.db"):
        RunStore(tmp_path / "runs.db")
    with sqlite3.connect(tmp_path / "runs.db") as conn:
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == []
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0


def test_lock_waiting_is_capped_at_the_timeout(tmp_path):
    db = tmp_path / "runs.db"
    RunStore(db).close()
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
    try:
        store = RunStore(db, timeout=0.5)
        start = time.monotonic()
        with pytest.raises(StoreError, match=r"runs\.db': database is locked"):
            store.start_run(name="waits")
        # 0.5 s asked; before the cap it waited 20 full busy timeouts plus back-off (31.7 s).
        # The bound is far from both, so a loaded machine cannot make it fail by chance.
        assert time.monotonic() - start < 15
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert store.start_run(name="after") == 1


@pytest.fixture
def read_only_folder(tmp_path):
    """A tmpfs holding a finished store, remounted read-only (needs root: else skipped)."""
    mnt = tmp_path / "media"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a read-only tmpfs needs root (mount -t tmpfs)")
    try:
        _filled(mnt / "runs.db", n=5)
        subprocess.run(["mount", "-o", "remount,ro", str(mnt)], check=True)
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True)  # -l: a test that failed may hold a file


def test_a_store_on_read_only_media_is_read_and_refuses_writes(read_only_folder):
    db = read_only_folder / "runs.db"
    with RunStore(db) as store:
        _read_only_checks(store, read_only_folder)


def _read_only_checks(store, read_only_folder):
    assert store.read_only
    assert list(store.runs()["status"]) == ["finished"] and len(store.points()) == 5
    assert store.find_run("k")["summary"] == {"points": 5}
    with pytest.raises(StoreError, match=r"runs\.db' is read-only"):
        store.start_run(name="new")
    with pytest.raises(StoreError, match=r"cannot create run store '.*new\.db': its folder is not writable"):
        RunStore(read_only_folder / "new.db")
