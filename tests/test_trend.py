"""Doubling-time fits, their confidence intervals and Moore's law."""

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algoeff.errors import LedgerError
from algoeff.ledger import Entry, load_ledger
from algoeff.trend import DAYS_PER_MONTH, fit_trend, moores_law_factor


def _entry(day_offset, flops, bench="x"):
    date = dt.date(2012, 1, 1) + dt.timedelta(days=day_offset)
    return Entry(benchmark=bench, publication=f"p{day_offset}", publication_link="", date=date,
                 compute_flops=flops)


def test_bundled_alexnet_reproduces_the_papers_figures():
    fit = fit_trend(load_ledger().for_benchmark("alexnet"))
    # 3.1 / 0.069 = 44.9 (the seed lists 44)
    assert fit.reduction_factor == pytest.approx(44.93, abs=0.01)
    # the paper rounds its OLS doubling time to 16 months
    assert fit.doubling_time_months == pytest.approx(15.7, abs=0.05)
    # 2012-06-01 -> 2019-05-28 is 83.9 months; 2 ** (83.9 / 24) = 11.3
    assert fit.moores_law_factor == pytest.approx(11.3, abs=0.05)
    assert fit.combined_factor == pytest.approx(fit.reduction_factor * fit.moores_law_factor)
    assert fit.span_years == pytest.approx(6.99, abs=0.01)
    lo, hi = fit.doubling_time_ci95_months
    assert lo < fit.doubling_time_months < hi
    assert [e.publication for e in fit.frontier][0] == "AlexNet" and fit.n_points == 6


def test_ci_matches_scipy_linregress_on_the_same_points():
    from scipy import stats

    fit = fit_trend(load_ledger().for_benchmark("alexnet"))
    xs = [(e.date - fit.baseline.date).days / DAYS_PER_MONTH for e in fit.frontier]
    ys = [math.log2(fit.baseline.compute_flops / e.compute_flops) for e in fit.frontier]
    reg = stats.linregress(xs, ys)
    t = stats.t.ppf(0.975, len(xs) - 2)
    assert fit.slope == pytest.approx(reg.slope)
    assert fit.doubling_time_ci95_months[0] == pytest.approx(1 / (reg.slope + t * reg.stderr))
    assert fit.doubling_time_ci95_months[1] == pytest.approx(1 / (reg.slope - t * reg.stderr))


def test_two_point_frontier_has_no_ci_and_says_why():
    fit = fit_trend(load_ledger().for_benchmark("gnmt"))
    assert fit.n_points == 2
    assert fit.doubling_time_ci95_months is None
    assert "undefined" in fit.ci_note and "2 frontier points" in fit.ci_note
    assert fit.to_dict()["doubling_time_ci95_months"] is None


def test_seed_values_and_corrected_dates_give_different_spans():
    seed = fit_trend(load_ledger(corrected=False).for_benchmark("seq2seq"))
    fixed = fit_trend(load_ledger().for_benchmark("seq2seq"))
    # 2014-01-10 -> 2017-01-12 (listed) against 2014-09-10 -> 2017-06-12 (arXiv dates)
    assert seed.span_years == pytest.approx(3.0, abs=0.02)
    assert fixed.span_years == pytest.approx(2.75, abs=0.02)
    assert seed.reduction_factor == fixed.reduction_factor == pytest.approx(465 / 8)


def test_to_dict_has_the_issue_fields_with_iso_dates():
    data = fit_trend(load_ledger().for_benchmark("alexnet")).to_dict()
    for key in ("benchmark", "baseline", "frontier", "reduction_factor", "span_years", "doubling_time_months",
                "doubling_time_ci95_months", "moores_law_factor"):
        assert key in data
    assert data["baseline"] == {"publication": "AlexNet", "date": "2012-06-01",
                                "compute_flops": pytest.approx(3.1 * 8.64e16)}
    assert data["frontier"][-1]["date"] == "2019-05-28"
    assert data["frontier"][-1]["reduction_factor"] == pytest.approx(44.93, abs=0.01)
    assert len(data["doubling_time_ci95_months"]) == 2


def test_moores_law_factor():
    # 84 months / 24 = 3.5 doublings; 2 ** 3.5 = 11.31
    assert moores_law_factor(84) == pytest.approx(11.3137, abs=1e-4)
    assert moores_law_factor(12, doubling_months=12) == 2.0
    with pytest.raises(ValueError, match=r"doubling_months == 0, must be > 0"):
        moores_law_factor(12, doubling_months=0)


def test_a_single_frontier_entry_is_an_error():
    entries = [_entry(0, 1e18), _entry(400, 2e18)]  # the later one is worse
    with pytest.raises(LedgerError, match="has 1 frontier entry"):
        fit_trend(entries)


def test_an_open_ended_ci_is_reported_not_invented():
    # noisy points whose slope interval reaches 0
    entries = [_entry(0, 1e18), _entry(30, 1e18 / 64), _entry(60, 1e18 / 65), _entry(3000, 1e18 / 66)]
    fit = fit_trend(entries)
    assert fit.doubling_time_ci95_months[1] == math.inf
    assert "unbounded" in fit.ci_note
    assert fit.to_dict()["doubling_time_ci95_months"][1] is None


@settings(max_examples=60, deadline=None)
@given(
    doubling_days=st.integers(min_value=30, max_value=2000),
    n=st.integers(min_value=2, max_value=12),
    step_days=st.integers(min_value=1, max_value=400),
)
def test_exact_exponential_series_gives_back_its_doubling_time(doubling_days, n, step_days):
    # compute halves every doubling_days: flops(t) = 1e20 * 2 ** (-t / doubling_days)
    entries = [_entry(i * step_days, 1e20 * 2.0 ** (-(i * step_days) / doubling_days)) for i in range(n)]
    fit = fit_trend(entries)
    assert fit.doubling_time_months == pytest.approx(doubling_days / DAYS_PER_MONTH, rel=1e-9)
    if n > 2:
        lo, hi = fit.doubling_time_ci95_months
        # an exact series has zero residuals: the interval collapses onto the estimate
        assert lo == pytest.approx(fit.doubling_time_months, rel=1e-6)
        assert hi == pytest.approx(fit.doubling_time_months, rel=1e-6)
