"""Studies: the paper's protocol over a workload's dated recipes.

    result = run_study("mnist1d", quick=True, out="study-mnist1d")

plan.py       two phases with disjoint seeds: tuning (sweep x seeds 1000..) and report (selected x seeds 0..)
executors.py  local (in-process or a spawn process pool) and Ray
record.py     one run per trial in the run store; resume reads finished trials back
aggregate.py  selection on validation, selection bias, the protocol saved with the results
score.py      any threshold from the stored report curves: medians with order-statistic CIs,
              reduction factors (vs baseline and best control), decomposition, doubling time
              with OLS and seed-bootstrap CIs, best-so-far fit, the sensitivity table
rescore.py    `algoeff study rescore DIR`: score.py over a finished study's store, read-only
outputs.py    table.md, plots, ledger.csv + benchmarks.toml, results.json, swapped in as one set
"""

from .aggregate import BASELINE_RULE, CI_RULE, SELECTION_RULE, aggregate
from .executors import EXECUTORS, run_trials
from .outputs import render_table, write_outputs
from .plan import Trial, plan_report, plan_trials
from .rescore import rescore
from .run import STORE_FILE, StudyResult, default_workers, run_study
from .score import score

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
    "plan_report",
    "plan_trials",
    "render_table",
    "rescore",
    "run_study",
    "run_trials",
    "score",
    "write_outputs",
]
