"""A study's trials in the run store: one run per trial, keyed by the trial's run_key.

The study's process writes each run once its trial has returned (start,
evaluation points, finish with run_trial's dict as the summary), so a killed
study keeps every trial that finished, and a trial that was running when the
study died is left "running" and trained again on the next run. Aggregation
always reads results back from the store, so a resumed study and an
uninterrupted one aggregate the very same numbers.
"""

from __future__ import annotations

from algoeff.track import RunStore

__all__ = ["DONE_STATUSES", "load_result", "open_store", "record_trial"]

_POINT_FIELDS = ("step", "flops", "examples", "wall_s", "eval_flops", "epoch")

# a diverged trial is finished too: it ran and never reaches the target
DONE_STATUSES = ("finished", "diverged")


def open_store(store) -> RunStore:
    return store if isinstance(store, RunStore) else RunStore(store)


def load_result(store: RunStore, trial) -> dict | None:
    """run_trial's dict for ``trial`` if the store holds it finished, else None."""
    for status in DONE_STATUSES:
        run = store.find_run(trial.run_key, status=status)
        if run is not None and isinstance(run.get("summary"), dict) and "curve" in run["summary"]:
            return run["summary"]
    return None


def record_trial(store: RunStore, trial, result: dict, *, metric: str, target: dict,
                 environment: dict | None = None) -> int:
    """Write one finished trial (its evaluation points and result) as a run; return the run id."""
    run_id = store.start_run(
        name=f"{trial.workload}/{trial.recipe}",
        key=trial.run_key,
        config={"workload": trial.workload, "recipe": trial.recipe, "config": trial.config,
                "config_index": trial.config_index, "seed": trial.seed,
                "full_schedule": trial.full_schedule, "phase": getattr(trial, "phase", "tuning")},
        target=target,
        environment=environment or {},
    )
    for index, point in enumerate(result.get("curve") or []):
        # every metric of the evaluation (validation and test), so any threshold of either can be read back
        metrics = {k: float("nan") if v is None else v for k, v in point.items()
                   if k not in _POINT_FIELDS and (v is None or isinstance(v, (int, float)))}
        metrics.setdefault(metric, float("nan"))
        store.add_point(
            run_id,
            # run_trial's curve may not carry the step; the evaluation index stands in
            step=point.get("step", index),
            flops=point["flops"],
            examples=point.get("examples"),
            wall=point.get("wall_s", 0.0),
            eval_flops=point.get("eval_flops", 0),
            metrics=metrics,
        )
    store.finish_run(run_id, status="diverged" if result.get("diverged") else "finished", summary=result)
    return run_id
