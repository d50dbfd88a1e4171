"""run_study: plan the trials, run those the store lacks (tuning, then report), aggregate, write the outputs."""

from __future__ import annotations

import dataclasses
import functools
import datetime as dt
import numbers
import os
import sys
from pathlib import Path

from algoeff.errors import StudyError

from .aggregate import aggregate, select_configs
from .executors import EXECUTORS, run_trials
from .lock import study_lock
from .outputs import write_outputs
from .plan import plan_report, plan_trials, select_recipes
from .record import load_result, open_store, record_trial

__all__ = ["DEFAULT_SEEDS", "DEFAULT_TUNING_SEEDS", "STORE_FILE", "StudyResult", "default_workers", "run_study"]

STORE_FILE = "study.sqlite"
DEFAULT_SEEDS = {True: 3, False: 5}  # report seeds: quick, default
DEFAULT_TUNING_SEEDS = 2  # per configuration of the tuning sweep (none with --quick)


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
def run_study(workload, *, quick: bool = False, seeds: int | None = None, tuning_seeds: int | None = None,
              workers: int | None = None, executor: str = "local", store=None, out=None, data_dir=None,
              ray_address: str | None = None, recipes=None, max_configs: int | None = None,
              max_trials: int | None = None, overrides: dict | None = None, progress: bool = False) -> StudyResult:
    """Run the study protocol on ``workload`` (a name, or a Workload object) and write the outputs.

    Two phases (see plan.py): tuning (each sweep x ``tuning_seeds`` seeds from
    1000, selection on validation) and report (each selected configuration x
    ``seeds`` seeds from 0, full schedule); ``quick`` skips tuning. Trials already
    finished in ``store`` (default ``out/study.sqlite``) are not run again.
    ``max_trials`` caps the trials trained by this call; when some remain, nothing
    is written under ``out`` and the result says how many are pending. Every
    option is checked before the store is opened: a rejected study writes nothing.
    """
    if executor not in EXECUTORS:
        raise StudyError(f"Unknown executor {executor!r}. Possible values are: "
                         f"{', '.join(repr(e) for e in EXECUTORS)}.")
    if ray_address is not None and executor != "ray":
        raise StudyError(f"ray_address == {ray_address!r} needs executor='ray' (executor == {executor!r}).")
    workers = default_workers() if workers is None else _positive(workers, "workers")
    seeds = DEFAULT_SEEDS[bool(quick)] if seeds is None else _positive(seeds, "seeds")
    tuning_seeds = DEFAULT_TUNING_SEEDS if tuning_seeds is None else _positive(tuning_seeds, "tuning_seeds")
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

    # plan (and so validate) everything before the store exists
    studied = select_recipes(wl, recipes)
    tuning_trials = plan_trials(wl, quick=quick, tuning_seeds_n=tuning_seeds, recipes=recipes,
                                max_configs=max_configs, overrides=overrides)
    n_report = len(studied) * seeds
    store = open_store(out / STORE_FILE if store is None else store)

    results: dict = {}
    env = _environment(executor, workers)
    counts = {"ran": 0, "reused": 0}

    def run_phase(trials, phase: str) -> int:
        """Train the phase's trials the store lacks (within max_trials); return how many remain."""
        for trial in trials:
            result = load_result(store, trial)
            if result is not None:
                results[trial.run_key] = result
        todo = [t for t in trials if t.run_key not in results]
        counts["reused"] += len(trials) - len(todo)
        if todo and getattr(store, "read_only", False):  # fail before training what could not be kept
            raise StudyError(f"run store {str(store.path)!r} is read-only: the {len(todo)} trials it lacks "
                             "cannot be recorded; pass --store on writable media.")
        if max_trials is not None:
            todo = todo[:max(0, max_trials - counts["ran"])]
        target = wl.target.to_dict()

        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc=f"{wl.name} {phase}", unit="trial", file=sys.stderr,
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
        counts["ran"] += len(todo)
        return sum(1 for t in trials if t.run_key not in results)

    def incomplete(pending: int) -> StudyResult:
        summary = dict(planned=len(tuning_trials) + n_report, pending=pending, **counts)
        data = {"workload": wl.name, "complete": False, "trials": summary, "store": str(store.path)}
        return StudyResult(data=data, out=out, store=store.path, **summary)

    # phase 1: tuning, selection on validation
    pending = run_phase(tuning_trials, "tuning")
    if pending:
        return incomplete(pending + n_report)
    selected, tuning = select_configs(wl, studied, tuning_trials, results, quick=quick)

    # phase 2: report, fresh seeds, full schedules
    report_trials = plan_report(wl, selected, seeds=seeds, overrides=overrides)
    pending = run_phase(report_trials, "report")
    if pending:
        return incomplete(pending)

    summary = dict(planned=len(tuning_trials) + len(report_trials), pending=0, **counts)
    protocol = _protocol(wl, studied, tuning_trials, report_trials, selected, tuning, quick=quick,
                         tuning_seeds=tuning_seeds, seeds=seeds, overrides=overrides, max_configs=max_configs)
    data = aggregate(wl, tuning_trials, report_trials, results, quick=quick, selected=selected, tuning=tuning,
                     protocol=protocol)
    ledger_entries, benchmark = data.pop("ledger_entries"), data.pop("benchmark")
    data.update(complete=True, trials=summary, store=str(store.path),
                created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"))
    store.close()  # the store is linked into the new folder: no connection open across the swap
    results_data = write_outputs(data, out, ledger_entries=ledger_entries, benchmark=benchmark)
    return StudyResult(data=results_data, out=out, store=store.path, **summary)


def _protocol(wl, studied, tuning_trials, report_trials, selected, tuning, *, quick, tuning_seeds, seeds,
              overrides, max_configs) -> dict:
    """The resolved protocol saved with the results: what a reader needs to redo or rescore the study."""
    from .aggregate import definition_hash, report_target
    from .plan import recipe_role, report_seeds, tuning_seeds as tuning_seed_list

    splits = getattr(wl, "splits", None)
    return {
        "splits": dict(splits) if splits else None,
        "tuning_seeds": [] if quick else tuning_seed_list(tuning_seeds),
        "report_seeds": report_seeds(seeds),
        "selection_metric": (f"median validation compute-to-target ({wl.target}) over the tuning seeds"
                             if not quick else "none (--quick: pre-selected configurations)"),
        "report_metric": str(report_target(wl)),
        "quick": bool(quick),
        "overrides": dict(overrides or {}),
        "max_configs": max_configs,
        "rule": "first",
        "baseline_charge": "full",
        "configs": {r.name: {
            "role": recipe_role(r),
            "definition_hash": definition_hash(r),
            "sweep_size": tuning[r.name]["configs"],
            "selected_index": selected[r.name][0],
            # what the report phase trained: the selection with the overrides applied
            "selected": next((t.config for t in report_trials if t.recipe == r.name), selected[r.name][1]),
        } for r in studied},
        "tuning_trials": len(tuning_trials),
        "report_runs": {r.name: [{"seed": t.seed, "run_key": t.run_key} for t in report_trials if t.recipe == r.name]
                        for r in studied},
    }


def _environment(executor: str, workers: int) -> dict:
    import platform

    from algoeff import __version__

    return {"algoeff": __version__, "python": platform.python_version(), "host": platform.node(),
            "executor": executor, "workers": workers}
