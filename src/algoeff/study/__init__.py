"""Studies: the paper's protocol over a workload's dated recipes.

    result = run_study("mnist1d", quick=True, out="study-mnist1d")

plan.py       trials = recipes x tuning configurations x seeds, each with a stable run_key
executors.py  local (in-process or a spawn process pool) and Ray
record.py     one run per trial in the run store; resume reads finished trials back
aggregate.py  best configuration, median compute-to-target with CI, reduction factors, doubling time
outputs.py    table.md, plots, ledger.csv + benchmarks.toml, results.json
"""

from .aggregate import BASELINE_RULE, CI_RULE, SELECTION_RULE, aggregate
from .executors import EXECUTORS, run_trials
from .outputs import render_table, write_outputs
from .plan import Trial, plan_trials
from .run import STORE_FILE, StudyResult, default_workers, run_study

__all__ = [
    "BASELINE_RULE",
    "CI_RULE",
    "EXECUTORS",
    "SELECTION_RULE",
    "STORE_FILE",
    "StudyResult",
    "Trial",
    "aggregate",
    "default_workers",
    "plan_trials",
    "render_table",
    "run_study",
    "run_trials",
    "write_outputs",
]
