"""run_study: plan the trials, run those the store lacks, aggregate, write the outputs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import numbers
import os
import sys
from pathlib import Path

from algoeff.errors import StudyError

from .aggregate import aggregate
from .executors import EXECUTORS, run_trials
from .lock import study_lock
from .outputs import write_outputs
from .plan import plan_trials
from .record import load_result, open_store, record_trial

__all__ = ["DEFAULT_SEEDS", "STORE_FILE", "StudyResult", "default_workers", "run_study"]

STORE_FILE = "study.sqlite"
DEFAULT_SEEDS = {True: 3, False: 5}  # quick, default


@dataclasses.dataclass
class StudyResult:
    """What a study produced: results.json's content and where its files are."""

    data: dict  # results.json (or, for an incomplete study, its progress)
    out: Path
    store: Path
    planned: int  # trials in the plan
    ran: int  # trials trained by this call
    reused: int  # trials found finished in the store
    pending: int  # trials still to run (only with max_trials)

    @property
    def complete(self) -> bool:
        return self.pending == 0

    def to_dict(self) -> dict:
        return self.data


def default_workers() -> int:
    """The CPU cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _positive(value, name: str):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise StudyError(f"{name} == {value!r}, must be an integer >= 1.")
    if value < 1:
        raise StudyError(f"{name} == {value!r}, must be >= 1.")
    return int(value)


def _locked(fn):
    """Hold --out's lock for the whole study: a second copy on the same folder fails at once."""

    @functools.wraps(fn)
    def locked(workload, **options):
        out = options.get("out")
        name = workload if isinstance(workload, str) else getattr(workload, "name", "workload")
        with study_lock(f"study-{name}" if out is None else out):
            return fn(workload, **options)

    return locked


@_locked
def run_study(workload, *, quick: bool = False, seeds: int | None = None, workers: int | None = None,
              executor: str = "local", store=None, out=None, data_dir=None, ray_address: str | None = None,
              recipes=None, max_configs: int | None = None, max_trials: int | None = None,
              overrides: dict | None = None, progress: bool = False) -> StudyResult:
    """Run the paper's protocol on ``workload`` (a name, or a Workload object) and write the outputs.

    Trials already finished in ``store`` (default ``out/study.sqlite``) are not run
    again. ``max_trials`` caps the trials trained by this call; when some remain,
    nothing is written under ``out`` and the result says how many are pending.
    ``recipes``, ``max_configs`` and ``overrides`` shrink the plan (see plan_trials).
    """
    if executor not in EXECUTORS:
        raise StudyError(f"Unknown executor {executor!r}. Possible values are: "
                         f"{', '.join(repr(e) for e in EXECUTORS)}.")
    if ray_address is not None and executor != "ray":
        raise StudyError(f"ray_address == {ray_address!r} needs executor='ray' (executor == {executor!r}).")
    workers = default_workers() if workers is None else _positive(workers, "workers")
    seeds = DEFAULT_SEEDS[bool(quick)] if seeds is None else _positive(seeds, "seeds")
    if max_trials is not None:
        max_trials = _positive(max_trials, "max_trials")
    if isinstance(workload, str):
        from algoeff.workloads import get_workload

        spec = (workload, None if data_dir is None else os.fspath(data_dir))
        wl = get_workload(workload, data_dir=data_dir)
    else:
        if data_dir is not None:
            raise StudyError("data_dir is for a workload given by name; this one is already built.")
        spec = wl = workload
    out = Path(f"study-{wl.name}" if out is None else out)
    if out.exists() and not out.is_dir():
        raise StudyError(f"out == {str(out)!r} is a file, must be a folder.")
    store = open_store(out / STORE_FILE if store is None else store)

    trials = plan_trials(wl, quick=quick, seeds=seeds, recipes=recipes, max_configs=max_configs,
                         overrides=overrides)
    results = {}
    for trial in trials:
        result = load_result(store, trial)
        if result is not None:
            results[trial.run_key] = result
    todo = [t for t in trials if t.run_key not in results]
    reused = len(trials) - len(todo)
    if todo and getattr(store, "read_only", False):  # fail before training what could not be kept
        raise StudyError(f"run store {str(store.path)!r} is read-only: the {len(todo)} trials it lacks "
                         "cannot be recorded; pass --store on writable media.")
    if max_trials is not None:
        todo = todo[:max_trials]

    target = wl.target.to_dict()
    env = _environment(executor, workers)

    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc=f"{wl.name} trials", unit="trial", file=sys.stderr,
               disable=not progress or not todo, dynamic_ncols=True)

    def on_result(trial, result):
        record_trial(store, trial, result, metric=wl.target.metric, target=target, environment=env)
        # read back what was stored, exactly as a resumed study will
        results[trial.run_key] = load_result(store, trial)
        bar.set_postfix_str(f"{trial.recipe} seed {trial.seed}", refresh=False)
        bar.update(1)

    try:
        run_trials(todo, spec, on_result, executor=executor, workers=workers, ray_address=ray_address)
    finally:
        bar.close()

    pending = sum(1 for t in trials if t.run_key not in results)
    summary = dict(planned=len(trials), ran=len(todo), reused=reused, pending=pending)
    if pending:
        data = {"workload": wl.name, "complete": False, "trials": summary, "store": str(store.path)}
        return StudyResult(data=data, out=out, store=store.path, **summary)

    data = aggregate(wl, trials, results, quick=quick)
    ledger_entries, benchmark = data.pop("ledger_entries"), data.pop("benchmark")
    data.update(complete=True, trials=summary, store=str(store.path),
                created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    results_data = write_outputs(data, out, ledger_entries=ledger_entries, benchmark=benchmark)
    return StudyResult(data=results_data, out=out, store=store.path, **summary)


def _environment(executor: str, workers: int) -> dict:
    import platform

    from algoeff import __version__

    return {"algoeff": __version__, "python": platform.python_version(), "host": platform.node(),
            "executor": executor, "workers": workers}
