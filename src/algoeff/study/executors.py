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

from algoeff.errors import AlgoeffError, StudyError

__all__ = ["EXECUTORS", "execute_trial", "run_trials"]

EXECUTORS = ("local", "ray")

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


def _init_worker():
    # before torch spreads one trial over every core; run_trial sets it again
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[name] = "1"
    import torch

    torch.set_num_threads(1)


def run_trials(trials, spec, on_result, *, executor: str = "local", workers: int = 1,
               ray_address: str | None = None) -> None:
    """Run ``trials`` of the workload ``spec`` on ``executor``, calling ``on_result`` as each finishes."""
    trials = list(trials)
    if executor not in EXECUTORS:
        raise StudyError(f"Unknown executor {executor!r}. Possible values are: "
                         f"{', '.join(repr(e) for e in EXECUTORS)}.")
    if ray_address is not None and executor != "ray":
        raise StudyError(f"ray_address == {ray_address!r} needs executor='ray' (executor == {executor!r}).")
    if not trials:
        return
    if executor == "ray":
        _run_ray(trials, spec, on_result, workers=workers, address=ray_address)
    elif workers == 1 or len(trials) == 1:
        for trial in trials:
            on_result(trial, execute_trial(spec, trial))
    else:
        _run_pool(trials, spec, on_result, workers=min(workers, len(trials)))


def _run_pool(trials, spec, on_result, *, workers: int) -> None:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_init_worker)
    try:
        futures = {pool.submit(execute_trial, spec, trial): trial for trial in trials}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            # plan order among trials finishing together keeps the store's run ids tidy
            for future in sorted(done, key=lambda f: trials.index(futures[f])):
                on_result(futures[future], future.result())
    finally:
        # on an error or Ctrl-C, drop the queued trials; the running ones end with the pool
        pool.shutdown(wait=True, cancel_futures=True)


def _run_ray(trials, spec, on_result, *, workers: int, address: str | None) -> None:
    try:
        import ray
    except ImportError:
        raise StudyError("the Ray executor needs ray: pip install 'algoeff[ray]'") from None

    started = False
    if not ray.is_initialized():
        try:
            if address is None:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            else:
                ray.init(address=address, log_to_driver=False)
        except (ConnectionError, RuntimeError, ValueError) as err:
            where = "a local Ray instance" if address is None else f"the Ray cluster at {address!r}"
            raise StudyError(f"cannot start or reach {where}: {err}") from err
        started = True
    refs = {}
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(execute_trial)
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
                on_result(trial, result)
    finally:
        if started:
            ray.shutdown()
        else:
            # a cluster we did not start keeps running: drop this study's remaining tasks
            for ref in refs:
                ray.cancel(ref, force=True)
