"""Executors: where a study's trials run.

    local   in this process (workers == 1) or a process pool of N workers
            (spawn context, one torch thread each: trials are CPU-bound and
            N single-threaded trials beat one N-threaded trial on small models)
    ray     Ray tasks (num_cpus=1 each) on an existing cluster (``ray_address``)
            or on a local Ray instance started for the study

Every executor calls ``on_result(trial, result)`` in the calling process as
each trial finishes, in completion order; the caller records it. Workers never
write to the run store, so a remote Ray node needs no access to it.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys

from algoeff.errors import AlgoeffError, StudyError

__all__ = ["EXECUTORS", "execute_trial", "run_trials"]

EXECUTORS = ("local", "ray")
RAY_RETRIES = 3  # runs of a trial whose Ray worker or node died, after the first

# workloads built in this worker process, by (name, data_dir): the data is made once per worker
_WORKLOADS: dict = {}


def _workload(spec):
    """A workload from its spec: (name, data_dir) for the registry, or the workload object itself."""
    if not isinstance(spec, tuple):
        return spec
    workload = _WORKLOADS.get(spec)
    if workload is None:
        from algoeff.workloads import get_workload

        name, data_dir = spec
        workload = _WORKLOADS[spec] = get_workload(name, data_dir=data_dir)
    return workload


def execute_trial(spec, trial) -> dict:
    """Run one trial (in whatever process this is) and return run_trial's dict."""
    workload = _workload(spec)
    return workload.run_trial(trial.recipe, trial.config, trial.seed,
                              full_schedule=trial.full_schedule, run_key=trial.run_key)


def _init_worker(parent: int | None = None):
    # before torch spreads one trial over every core; run_trial sets it again
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    if parent is not None:
        _die_with(parent)
        # Ctrl-C reaches the whole process group: the study's process decides what stops
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    import torch

    torch.set_num_threads(1)


def _die_with(parent: int) -> None:
    """Have the kernel SIGKILL this worker when the study's process dies, however it dies (Linux)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl: nothing would signal us
        os._exit(1)


def run_trials(trials, spec, on_result, *, executor: str = "local", workers: int = 1,
               ray_address: str | None = None) -> None:
    """Run ``trials`` of the workload ``spec`` on ``executor``, calling ``on_result`` as each finishes.

    Ctrl-C stops starting trials, lets the running ones finish and records them
    (a second Ctrl-C drops them), then raises a one-line StudyError; so does a
    Ray worker or node that dies after its retries. Every trial recorded stays.
    """
    trials = list(trials)
    if executor not in EXECUTORS:
        raise StudyError(f"Unknown executor {executor!r}. Possible values are: "
                         f"{', '.join(repr(e) for e in EXECUTORS)}.")
    if ray_address is not None and executor != "ray":
        raise StudyError(f"ray_address == {ray_address!r} needs executor='ray' (executor == {executor!r}).")
    if not trials:
        return
    kept = [0]

    def record(trial, result):
        on_result(trial, result)
        kept[0] += 1

    try:
        if executor == "ray":
            _run_ray(trials, spec, record, workers=workers, address=ray_address)
        elif workers == 1 or len(trials) == 1:
            for trial in trials:
                record(trial, execute_trial(spec, trial))
        else:
            _run_pool(trials, spec, record, workers=min(workers, len(trials)))
    except KeyboardInterrupt:
        raise StudyError(f"interrupted; {_kept(kept[0], len(trials))}") from None
    except _WorkerDied as err:
        raise StudyError(f"worker died ({err}); {_kept(kept[0], len(trials))}") from None


class _WorkerDied(Exception):
    """A worker process, Ray worker or node died under a trial (not the trial's own error)."""


def _kept(kept: int, total: int) -> str:
    return (f"{kept} of this run's {total} trials kept, {total - kept} not run; "
            "run the same command again to train only those.")


def _run_pool(trials, spec, on_result, *, workers: int) -> None:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker, initargs=(os.getpid(),))
    queue, running = list(trials), {}
    try:
        try:
            # at most one trial per worker is handed to the pool: Ctrl-C then leaves nothing queued
            while queue or running:
                while queue and len(running) < workers:
                    trial = queue.pop(0)
                    running[pool.submit(execute_trial, spec, trial)] = trial
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                # plan order among trials finishing together keeps the store's run ids tidy
                for future in sorted(done, key=lambda f: trials.index(running[f])):
                    on_result(running.pop(future), future.result())
        except KeyboardInterrupt:
            if not running:
                raise
            print(f"\nstopping: waiting for the {len(running)} running trial(s) to finish and be kept "
                  "(Ctrl-C again to drop them)", file=sys.stderr, flush=True)
            try:
                for future in sorted(running, key=lambda f: trials.index(running[f])):
                    on_result(running[future], future.result())
            except KeyboardInterrupt:
                _kill_workers(pool)
            raise KeyboardInterrupt from None
    except BaseException as err:
        if not isinstance(err, KeyboardInterrupt):
            _kill_workers(pool)  # an error: the study stops now, not after the running trials
        if isinstance(err, BrokenProcessPool):
            # a worker was killed (OOM killer, kill -9); a future says so, or submit does when
            # another trial finished first and the pool broke before the next submit (a race)
            raise _WorkerDied("BrokenProcessPool: a worker process ended abruptly") from None
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _kill_workers(pool) -> None:
    # ProcessPoolExecutor has no public way to stop running calls before Python 3.14
    for process in list(getattr(pool, "_processes", {}).values()):
        if process.is_alive():
            process.kill()


def _probe(address: str) -> None:
    """Fail within seconds when nothing listens at ``address`` (Ray itself retries for minutes)."""
    import socket

    host, sep, port = address.rpartition(":")
    if address == "auto" or "://" in address or not sep or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as err:
        raise StudyError(f"cannot reach the Ray cluster at {address!r}: {err.strerror or err} "
                         "(is `ray start --head` running there, on that port?)") from None


def _auth_hint() -> str:
    # Ray only says "Failed to connect": a missing or wrong token looks the same as no cluster
    return ("; a cluster with token authentication needs RAY_AUTH_MODE=token and RAY_AUTH_TOKEN "
            "(or RAY_AUTH_TOKEN_PATH, or ~/.ray/auth_token) set here as on the cluster")


def _run_ray(trials, spec, on_result, *, workers: int, address: str | None) -> None:
    try:
        import ray
    except ImportError:
        raise StudyError("the Ray executor needs ray: pip install 'algoeff[ray]'") from None

    started = False
    if not ray.is_initialized():
        if address is not None:
            _probe(address)
        try:
            if address is None:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = "a local Ray instance" if address is None else f"the Ray cluster at {address!r}"
            hint = "" if address is None else _auth_hint()
            raise StudyError(f"cannot start or reach {where}: {err}{hint}") from err
        started = True
    refs = {}
    try:
        # a task whose worker or node dies is run again (trials are deterministic and workers
        # never write the store); an exception raised by the trial itself is not retried
        remote = ray.remote(num_cpus=1, max_retries=RAY_RETRIES, retry_exceptions=False)(execute_trial)
        refs = {remote.remote(spec, trial): trial for trial in trials}
        while refs:
            done, _ = ray.wait(list(refs), num_returns=1)
            for ref in done:
                trial = refs.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as err:
                    # a bad configuration is the user's error: show it as one line, as locally
                    cause = getattr(err, "cause", None)
                    if isinstance(cause, AlgoeffError):
                        raise cause from None
                    raise
                except ray.exceptions.RayError as err:
                    # the worker, its node or the raylet died, even after the retries
                    first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                    raise _WorkerDied(f"{type(err).__name__}{': ' + first if first else ''}, "
                                      f"after {RAY_RETRIES} retries") from None
                on_result(trial, result)
    finally:
        if started:
            ray.shutdown()
        else:
            # a cluster we did not start keeps running: drop this study's remaining tasks
            for ref in refs:
                ray.cancel(ref, force=True)
