"""A tiny real study (MNIST-1D, the baseline alone, 1 epoch, 3 seeds) under faults (issue 17).

Each fault is injected at an exact moment, never by timing: the study runs in a
child process that kills itself at the N-th call of a function, or its trials wait
at a gate (a file) until the test has done what it must. After each fault the same
study runs again and must give exactly the uninterrupted study's results.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from contextlib import closing
from pathlib import Path

import pytest

from algoeff.errors import StoreError, StudyError
from algoeff.study import run_study
from algoeff.study.lock import lock_path, study_lock
from algoeff.track import RunStore

pytestmark = pytest.mark.slow

SEEDS = 3
# quick: the report phase alone (the baseline's selected configuration), so a study is exactly SEEDS trials
STUDY = dict(quick=True, seeds=SEEDS, recipes=[], overrides={"epochs": 1})

# mnist1d with faults keyed by seed, steered through files in `ctl`; a module of its
# own so that pool workers (spawn) and Ray workers can import it (via PYTHONPATH)
FAULTWL = textwrap.dedent(
    """
    import os, signal, time
    from algoeff.workloads import get_workload

    class Faulty:
        def __init__(self, ctl, gate=(), kill=(), kill_always=()):
            self._ctl, self._gate, self._kill, self._kill_always = ctl, set(gate), set(kill), set(kill_always)
            self._wl = None

        def __getstate__(self):
            return {**self.__dict__, "_wl": None}

        def __getattr__(self, name):
            if name.startswith("_"):
                raise AttributeError(name)
            if self._wl is None:
                self._wl = get_workload("mnist1d")
            return getattr(self._wl, name)

        def run_trial(self, recipe, config, seed, **kw):
            mark = os.path.join(self._ctl, f"started-{seed}")
            with open(mark + ".tmp", "w") as f:
                f.write(str(os.getpid()))
            os.replace(mark + ".tmp", mark)
            if seed in self._kill_always or (seed in self._kill and not os.path.exists(mark + ".killed")):
                open(mark + ".killed", "w").close()
                os.kill(os.getpid(), signal.SIGKILL)
            deadline = time.monotonic() + 300  # a test that forgot its gate must not hang CI
            while seed in self._gate and not os.path.exists(os.path.join(self._ctl, "go")):
                if time.monotonic() > deadline:
                    raise RuntimeError("gate never opened")
                time.sleep(0.05)
            return self.run_trial_inner(recipe, config, seed, **kw)

        def run_trial_inner(self, recipe, config, seed, **kw):
            if self._wl is None:
                self._wl = get_workload("mnist1d")
            return self._wl.run_trial(recipe, config, seed, **kw)
    """
)

# runs the study, killing itself (SIGKILL) at the N-th call of one function when asked;
# prints errors as the CLI does: one line, exit 1
DRIVER = textwrap.dedent(
    """
    import json, os, signal, sys
    import algoeff.study.executors as executors
    from algoeff.errors import AlgoeffError
    from algoeff.study import run_study
    from algoeff.track.store import RunStore

    def main():
        args = json.loads(sys.argv[1])
        where, n = args.get("kill_at") or (None, 0)
        calls = [0]

        def kill_at_call(fn, after=False):
            def wrapped(*a, **k):
                calls[0] += 1
                if calls[0] == n and not after:
                    os.kill(os.getpid(), signal.SIGKILL)
                result = fn(*a, **k)
                if calls[0] == n and after:
                    os.kill(os.getpid(), signal.SIGKILL)
                return result
            return wrapped

        if where == "trial":
            executors.execute_trial = kill_at_call(executors.execute_trial)
        elif where == "point":
            RunStore.add_point = kill_at_call(RunStore.add_point)
        elif where == "finished":
            RunStore.finish_run = kill_at_call(RunStore.finish_run, after=True)
        elif where == "outputs":  # output files are moved into place with os.replace / os.rename
            os.replace, os.rename = kill_at_call(os.replace), kill_at_call(os.rename)
        workload = args.pop("workload", "mnist1d")
        if isinstance(workload, dict):
            from faultwl import Faulty
            workload = Faulty(**workload)
        try:
            result = run_study(workload, **args["study"])
        except AlgoeffError as err:
            print(f"{type(err).__name__}: {err}", file=sys.stderr)
            sys.exit(1)
        print(json.dumps({"ran": result.ran, "reused": result.reused}))

    if __name__ == "__main__":  # pool workers (spawn) import this file again
        main()
    """
)


@pytest.fixture(scope="module")
def kit(tmp_path_factory):
    path = tmp_path_factory.mktemp("kit")
    (path / "faultwl.py").write_text(FAULTWL)
    (path / "driver.py").write_text(DRIVER)
    return path


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    result = run_study("mnist1d", out=out, workers=1, **STUDY)
    assert result.complete and result.ran == SEEDS
    return result


def _stable(data):
    return {k: v for k, v in data.items() if k not in ("created", "trials", "store")}


def _results(out):
    return _stable(json.loads((Path(out) / "results.json").read_text()))


def _env(kit):
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": str(kit) + (os.pathsep + path if path else ""),
            "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}


def _driver(kit, study, **args):
    return [sys.executable, str(kit / "driver.py"), json.dumps({"study": study, **args})]


def _run(kit, study, **args):
    return subprocess.run(_driver(kit, study, **args), capture_output=True, text=True, env=_env(kit), timeout=600)


def _finished(store) -> int:
    if not Path(store).exists():
        return 0
    with closing(sqlite3.connect(store, timeout=30)) as conn:
        try:
            return conn.execute("SELECT COUNT(*) FROM runs WHERE status IN ('finished', 'diverged')").fetchone()[0]
        except sqlite3.OperationalError:  # no schema yet
            return 0


def _wait_for(condition, what, proc=None, bound=300):
    """Poll until ``condition()``: the bound only stops a broken test from hanging CI."""
    deadline = time.monotonic() + bound
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the study ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {bound} s")
        time.sleep(0.05)


def _end(proc):
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def _gone(pid) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"  # a zombie has ended
    except FileNotFoundError:
        return True


# -- SIGKILL at several moments, then the same study resumes to the same results ---------


@pytest.mark.parametrize("kill_at, kept", [
    (("point", 2), 0),      # while the first trial's evaluation points are being recorded
    (("trial", 2), 1),      # as the second trial starts
    (("finished", 3), 3),   # every trial recorded, before the results are aggregated
    (("outputs", 2), 3),    # between two output files moving into place
])
def test_sigkill_at_each_moment_then_resume_gives_the_same_results(kit, reference, tmp_path, kill_at, kept):
    proc = _run(kit, {"out": str(tmp_path), "workers": 1, **STUDY}, kill_at=kill_at)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert _finished(tmp_path / "study.sqlite") == kept
    result = run_study("mnist1d", out=tmp_path, workers=1, **STUDY)
    assert (result.reused, result.ran) == (kept, SEEDS - kept)
    assert _results(tmp_path) == _stable(reference.data)
    assert not lock_path(tmp_path).exists()  # the lock is gone with the study that held it


# -- two studies on one folder ----------------------------------------------------------


def test_a_second_study_on_the_same_folder_fails_at_once_and_nothing_trains_twice(kit, reference, tmp_path):
    ctl, out = tmp_path / "ctl", tmp_path / "out"
    ctl.mkdir()
    with open(tmp_path / "stderr", "w") as stderr:
        first = subprocess.Popen(_driver(kit, {"out": str(out), "workers": 1, **STUDY},
                                         workload={"ctl": str(ctl), "gate": [0]}),
                                 stdout=subprocess.DEVNULL, stderr=stderr, env=_env(kit))
    try:
        _wait_for(lambda: (ctl / "started-0").exists(), "the first study's first trial", first)
        with pytest.raises(StudyError, match=rf"^another study \(pid {first.pid}\) is writing '.*out'"):
            run_study("mnist1d", out=out, workers=1, **STUDY)
        (ctl / "go").touch()
        first.wait(timeout=600)
        assert first.returncode == 0, (tmp_path / "stderr").read_text()[-2000:]
    finally:
        (ctl / "go").touch()
        _end(first)
    runs = RunStore(out / "study.sqlite").runs()
    assert len(runs) == SEEDS and runs["key"].is_unique
    assert _results(out) == _stable(reference.data)


HOLDER = "import sys; from algoeff.study.lock import study_lock\nwith study_lock(sys.argv[1]):\n" \
         "    print('held', flush=True); sys.stdin.read()\n"


def test_the_lock_names_its_holder_and_dies_with_it(tmp_path):
    out = tmp_path / "deep" / "out"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert lock_path(out).read_text().strip() == str(holder.pid)
        with pytest.raises(StudyError, match=rf"^another study \(pid {holder.pid}\) is writing '.*deep/out'"):
            with study_lock(out):
                pass
        holder.kill()  # SIGKILL: no release code runs, the kernel drops the flock
        holder.wait()
    finally:
        _end(holder)
        holder.stdout.close()
        holder.stdin.close()
    with study_lock(out) as path:  # no stale lock
        assert path == lock_path(out) and path.read_text().strip() == str(os.getpid())
    assert not lock_path(out).exists()
    # folders made only for the lock file go again with it
    with study_lock(tmp_path / "new" / "deeper" / "out"):
        pass
    assert not (tmp_path / "new").exists()


# -- Ctrl-C, a killed worker, the study's process killed under its workers ---------------


def test_ctrl_c_keeps_the_trials_running_at_that_moment_and_says_so_in_one_line(kit, reference, tmp_path):
    ctl, out, log = tmp_path / "ctl", tmp_path / "out", tmp_path / "stderr"
    ctl.mkdir()
    # seed 1 waits at its gate until the study has seen Ctrl-C: it must still be kept
    with open(log, "w") as stderr:
        # SIGINT as a terminal leaves it: a shell starts a background job (`cmd &`, a CI step) with
        # SIGINT ignored, its children inherit that, and Python then installs no KeyboardInterrupt
        # handler, so the study would never see this Ctrl-C (the test hung until the gate's deadline)
        proc = subprocess.Popen(_driver(kit, {"out": str(out), "workers": 2, **STUDY},
                                        workload={"ctl": str(ctl), "gate": [1]}),
                                stdout=subprocess.DEVNULL, stderr=stderr, env=_env(kit), start_new_session=True,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        _wait_for(lambda: (ctl / "started-1").exists() and _finished(out / "study.sqlite") >= 1,
                  "seed 0 finished while seed 1 runs", proc)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole process group
        _wait_for(lambda: "stopping: waiting for" in log.read_text(), "the study's answer to Ctrl-C", proc)
        (ctl / "go").touch()
        proc.wait(timeout=600)
    finally:
        (ctl / "go").touch()
        _end(proc)
    err = log.read_text()
    assert proc.returncode == 1, err[-2000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("StudyError: interrupted; ") and "run the same command again" in last
    assert _finished(out / "study.sqlite") == SEEDS  # seed 1 (gated) and seed 2 (running) kept too
    assert f"{SEEDS} of this run's {SEEDS} trials kept" in last
    result = run_study("mnist1d", out=out, workers=1, **STUDY)
    assert result.ran == 0 and _results(out) == _stable(reference.data)


def test_a_killed_pool_worker_is_one_line_and_the_next_run_finishes(kit, reference, tmp_path):
    ctl, out = tmp_path / "ctl", tmp_path / "out"
    ctl.mkdir()
    proc = _run(kit, {"out": str(out), "workers": 2, **STUDY}, workload={"ctl": str(ctl), "kill": [1]})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("StudyError: worker died (BrokenProcessPool")
    assert last.endswith("run the same command again to train only those.")
    kept = _finished(out / "study.sqlite")
    assert f"{kept} of this run's {SEEDS} trials kept" in last
    result = run_study("mnist1d", out=out, workers=1, **STUDY)
    assert result.reused == kept and _results(out) == _stable(reference.data)


class _PoolThatBreaksAtSubmit:
    """A process pool whose worker died while another trial finished: the next submit raises."""

    def __init__(self, *args, breaks_at, **kwargs):
        self.submitted, self._breaks_at, self._processes = 0, breaks_at, {}

    def submit(self, fn, spec, trial):
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        self.submitted += 1
        if self.submitted == self._breaks_at:
            raise BrokenProcessPool("A child process terminated abruptly, the process pool is not usable anymore")
        future = Future()
        future.set_result(f"result of {trial}")
        return future

    def shutdown(self, wait=True, cancel_futures=False):
        pass


@pytest.mark.parametrize("breaks_at, kept_seeds", [(2, 0), (3, 2)])  # in the first fill (2 workers), after it
def test_a_pool_that_broke_before_the_next_submit_is_the_same_one_line(monkeypatch, breaks_at, kept_seeds):
    # which of submit and a future sees a dead worker first is a race in CI (stop 22 failed on
    # it with a traceback); here submit sees it, at once, every time
    import concurrent.futures

    from algoeff.study import executors

    monkeypatch.setattr(concurrent.futures, "ProcessPoolExecutor",
                        lambda *a, **k: _PoolThatBreaksAtSubmit(*a, breaks_at=breaks_at, **k))
    kept = []
    with pytest.raises(StudyError) as err:
        executors.run_trials(["seed 0", "seed 1", "seed 2"], None, lambda t, r: kept.append((t, r)), workers=2)
    assert kept == [(f"seed {i}", f"result of seed {i}") for i in range(kept_seeds)]
    assert str(err.value) == (f"worker died (BrokenProcessPool: a worker process ended abruptly); {len(kept)} of "
                              f"this run's 3 trials kept, {3 - len(kept)} not run; "
                              "run the same command again to train only those.")


def test_sigkill_of_the_study_ends_its_pool_workers(kit, tmp_path):
    ctl, out = tmp_path / "ctl", tmp_path / "out"
    ctl.mkdir()
    proc = subprocess.Popen(_driver(kit, {"out": str(out), "workers": 2, **STUDY},
                                    workload={"ctl": str(ctl), "gate": [0, 1]}),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(kit))
    workers = []
    try:
        _wait_for(lambda: (ctl / "started-0").exists() and (ctl / "started-1").exists(), "two trials", proc)
        workers = [int((ctl / f"started-{s}").read_text()) for s in (0, 1)]
        proc.kill()
        proc.wait()
        # the kernel signals them at once (PR_SET_PDEATHSIG); the bound only stops a hang
        _wait_for(lambda: all(_gone(pid) for pid in workers), "end of the orphaned workers", bound=30)
    finally:
        (ctl / "go").touch()
        _end(proc)
        for pid in workers:
            if not _gone(pid):
                os.kill(pid, signal.SIGKILL)


# -- the disk fills up; the store is on read-only media -----------------------------------


@pytest.fixture
def tmpfs(tmp_path):
    """Mount a small tmpfs; skipped (with the reason) where mount is not allowed."""
    mounted = []

    def mount(name, size):
        path = tmp_path / name
        path.mkdir()
        if os.geteuid() != 0:
            pytest.skip("a small tmpfs (disk full, read-only media) needs root to mount")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in mounted:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.mark.parametrize("full", ["store", "outputs"])
def test_a_full_disk_is_an_error_naming_the_path_and_the_study_resumes_when_there_is_room(
        tmpfs, reference, tmp_path, full):
    disk = tmpfs("disk", "2m")
    filler = disk / "filler"
    with open(filler, "wb") as fh:  # leave about 40 KiB: room to start, not to finish
        fh.write(b"\0" * (2 * 2**20 - 40 * 2**10))
    out = disk / "study"
    # "outputs": the store has room elsewhere, so the disk fills up while the outputs are written
    store = None if full == "store" else tmp_path / "study.sqlite"
    with pytest.raises((StoreError, StudyError, OSError)) as caught:
        run_study("mnist1d", out=out, store=store, workers=1, **STUDY)
    message = str(caught.value)
    assert str(out) in message and ".tmp" not in message
    assert "disk is full" in message or "No space left" in message
    assert not (out / "results.json").exists()
    filler.unlink()
    run_study("mnist1d", out=out, store=store, workers=1, **STUDY)
    assert _results(out) == _stable(reference.data)


def test_a_store_on_read_only_media_re_aggregates_and_refuses_new_trials(tmpfs, reference, tmp_path):
    media = tmpfs("media", "16m")
    _backup(reference.store, media / "study.sqlite")
    subprocess.run(["mount", "-o", "remount,ro", str(media)], check=True)
    out = tmp_path / "again"
    result = run_study("mnist1d", store=media / "study.sqlite", out=out, workers=1, **STUDY)
    assert result.ran == 0 and _results(out) == _stable(reference.data)
    with pytest.raises((StudyError, StoreError), match=r"study\.sqlite' is read-only"):
        run_study("mnist1d", store=media / "study.sqlite", out=tmp_path / "more", workers=1,
                  **{**STUDY, "seeds": SEEDS + 1})


# -- a damaged store ---------------------------------------------------------------------


def _copy_store(reference, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    _backup(reference.store, out / "study.sqlite")
    return out, out / "study.sqlite"


def _backup(source, target):
    """A consistent copy of a live WAL store (copying the file alone can miss the WAL's pages)."""
    with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(target)) as dst:
        src.backup(dst)
        dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file


def test_a_damaged_page_fails_and_writes_nothing(reference, tmp_path):
    out, store = _copy_store(reference, tmp_path)
    size = store.stat().st_size
    with open(store, "r+b") as fh:
        fh.seek((size // 4096 // 2) * 4096)
        fh.write(bytes(range(256)) * 16)
    with pytest.raises(StoreError, match=r"study\.sqlite' is damaged"):
        run_study("mnist1d", out=out, workers=1, **STUDY)
    assert sorted(p.name for p in out.iterdir()) == ["study.sqlite"]


def test_bad_json_in_a_run_names_the_run(reference, tmp_path):
    out, store = _copy_store(reference, tmp_path)
    with closing(sqlite3.connect(store)) as conn, conn:
        conn.execute("UPDATE runs SET summary = '{' WHERE id = 2")
    with pytest.raises(StoreError, match=r"run 2's summary is not valid JSON"):
        run_study("mnist1d", out=out, workers=1, **STUDY)


def test_another_programs_sqlite_file_is_refused_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with closing(sqlite3.connect(out / "study.sqlite")) as conn, conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
    before = (out / "study.sqlite").read_bytes()
    with pytest.raises(StoreError, match="is not an algoeff run store"):
        run_study("mnist1d", out=out, workers=1, **STUDY)
    assert (out / "study.sqlite").read_bytes() == before


def test_an_empty_store_file_warns_and_the_study_runs(reference, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "study.sqlite").touch()
    with pytest.warns(UserWarning, match=r"is an empty file \(0 bytes\)"):
        run_study("mnist1d", out=out, workers=1, **STUDY)
    assert _results(out) == _stable(reference.data)


# -- Ray: dead workers, an unreachable address, a separately started cluster ---------------


def test_an_unreachable_ray_address_fails_at_once(tmp_path):
    pytest.importorskip("ray")
    # Ray itself retries such an address for minutes; the study checks it can connect first
    with pytest.raises(StudyError, match=r"^cannot reach the Ray cluster at '127\.0\.0\.1:1': .*refused"):
        run_study("mnist1d", out=tmp_path, executor="ray", ray_address="127.0.0.1:1", **STUDY)


def test_a_killed_ray_worker_is_retried_and_the_results_are_the_same(kit, reference, tmp_path):
    pytest.importorskip("ray")
    ctl, out = tmp_path / "ctl", tmp_path / "out"
    ctl.mkdir()
    proc = _run(kit, {"out": str(out), "executor": "ray", "workers": 2, **STUDY},
                workload={"ctl": str(ctl), "kill": [1]})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (ctl / "started-1.killed").exists()  # seed 1's first worker did die
    assert _results(out) == _stable(reference.data)


def test_a_ray_worker_that_always_dies_is_one_line_after_the_retries(kit, tmp_path):
    pytest.importorskip("ray")
    ctl, out = tmp_path / "ctl", tmp_path / "out"
    ctl.mkdir()
    proc = _run(kit, {"out": str(out), "executor": "ray", "workers": 2, **STUDY},
                workload={"ctl": str(ctl), "kill_always": [1]})
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("StudyError: worker died (") and "after 3 retries" in last
    assert f"{_finished(out / 'study.sqlite')} of this run's {SEEDS} trials kept" in last


def _free_port() -> int:
    import socket

    with closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_under(marker: str) -> list[int]:
    """Pids whose command line holds ``marker`` (the cluster's temp dir), and their descendants."""
    parents, found = {}, set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        parents[int(entry)] = ppid
        if marker in cmdline:
            found.add(int(entry))
    grew = True
    while grew:
        children = {pid for pid, ppid in parents.items() if ppid in found} - found
        found |= children
        grew = bool(children)
    return sorted(found - {os.getpid()})


def _stop_cluster(temp: Path) -> None:
    """End the processes of the cluster this test started, by pid. Not `ray stop`: that ends
    every Ray process of this user on the machine, other people's clusters included."""
    pids = _processes_under(str(temp))
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not all(_gone(pid) for pid in pids):
            time.sleep(0.1)
    shutil.rmtree(temp, ignore_errors=True)


def test_a_study_runs_on_a_separately_started_ray_cluster_with_token_authentication(kit, reference, tmp_path):
    pytest.importorskip("ray")
    import secrets
    import tempfile

    ray = Path(sys.executable).with_name("ray")
    if not ray.exists():
        pytest.skip(f"no ray command beside {sys.executable}")
    temp = Path(tempfile.mkdtemp(prefix="algoeff-ray-", dir="/tmp"))  # short: Ray's socket paths live here
    port = _free_port()
    # token authentication as Ray documents it: RAY_AUTH_MODE=token on every node and client, the
    # token in RAY_AUTH_TOKEN (so nothing is written to ~/.ray/auth_token)
    env = {**_env(kit), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(16),
           "RAY_USAGE_STATS_ENABLED": "0"}
    common = ["--num-cpus", "1", "--disable-usage-stats", "--node-ip-address", "127.0.0.1"]
    try:
        head = subprocess.run(
            [str(ray), "start", "--head", "--port", str(port), "--include-dashboard", "false",
             "--dashboard-agent-listen-port", str(_free_port()),
             "--temp-dir", str(temp), *common],
            env=env, capture_output=True, text=True, timeout=300)
        assert head.returncode == 0, head.stderr[-3000:]
        second = subprocess.run(
            [str(ray), "start", "--address", f"127.0.0.1:{port}",
             "--dashboard-agent-listen-port", str(_free_port()), *common],
            env=env, capture_output=True, text=True, timeout=300)
        assert second.returncode == 0, second.stderr[-3000:]
        out = tmp_path / "out"
        study = {"out": str(out), "executor": "ray", "ray_address": f"127.0.0.1:{port}", "workers": 2, **STUDY}
        proc = subprocess.run(_driver(kit, study), env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert _results(out) == _stable(reference.data)
        # the same study without the token: one line that says what to set
        without = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")}
        proc = subprocess.run(_driver(kit, {**study, "out": str(tmp_path / "no-token")}), env=without,
                              capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith(f"StudyError: cannot start or reach the Ray cluster at '127.0.0.1:{port}'")
        assert "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN" in last
    finally:
        _stop_cluster(temp)
