"""A ledger of your own: define a benchmark, record entries, fit the efficiency trend.

    python examples/custom_ledger.py [OUT_DIR]

Writes OUT_DIR/ledger.csv (project format) and OUT_DIR/benchmarks.toml beside it,
then reads them back the way `algoeff trend --ledger OUT_DIR/ledger.csv` would.
"""

import datetime as dt
import pathlib
import sys
import tempfile

from algoeff.ledger import Benchmark, Entry, load_ledger, render_tables, write_ledger
from algoeff.trend import fit_trend
from algoeff.units import to_flops

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)

# the capability every entry must reach
digits = Benchmark(
    key="digits95",
    title="Digits-95-level performance",
    capability="95% test accuracy on scikit-learn's 8x8 digits",
    dataset="sklearn.datasets.load_digits",
    metric="test accuracy (%)",
    threshold=95.0,
    direction="higher",
)


def entry(date, publication, tfs_days, **conventions):
    return Entry(benchmark="digits95", publication=publication, publication_link="",
                 date=dt.date.fromisoformat(date), compute_flops=to_flops(tfs_days, "tfs-days"),
                 flops_per_mac=2, method="measured", provenance="example figures", **conventions)


entries = [
    entry("2020-01-01", "MLP, plain SGD", 4e-9, listed_reduction_factor=1),
    entry("2020-09-01", "MLP, Adam", 1.5e-9),
    entry("2021-03-01", "Wide MLP", 6e-9, notes="more compute than the baseline: not on the frontier"),
    entry("2021-06-01", "CNN, Adam", 5e-10),
    entry("2022-02-01", "CNN, one-cycle", 2e-10),
]
write_ledger(entries, out / "ledger.csv", benchmarks=[digits])

ledger = load_ledger(out / "ledger.csv")
fit = fit_trend(ledger.for_benchmark("digits95"))
lo, hi = fit.doubling_time_ci95_months
print(render_tables(ledger))
print(f"frontier: {', '.join(e.publication for e in fit.frontier)}")
print(f"reduction factor {fit.reduction_factor:.1f}x over {fit.span_years:.1f} years; "
      f"doubling every {fit.doubling_time_months:.1f} months (95% CI {lo:.1f} to {hi:.1f})")
