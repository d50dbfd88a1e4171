"""The order-statistic interval of a median: exact binomial coverage, the ranks chosen, censoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from algoeff.errors import TrackError
from algoeff.track.stats import median_interval, order_statistic_coverage, order_statistic_rank


@pytest.mark.parametrize("n", range(2, 31))
def test_coverage_is_the_exact_binomial_probability(n):
    for k in range(1, (n + 1) // 2 + 1):
        # P(x_(k) <= m <= x_(n+1-k)) = P(k <= #{x_i < m} <= n - k) for a continuous distribution
        expected = 0.0 if 2 * k == n + 1 else float(binom.cdf(n - k, n, 0.5) - binom.cdf(k - 1, n, 0.5))
        assert order_statistic_coverage(n, k) == pytest.approx(expected, abs=1e-12)


def test_coverage_of_few_seeds():
    assert order_statistic_coverage(3, 1) == 0.75  # [min, max] of 3 seeds
    assert order_statistic_coverage(5, 1) == 0.9375
    assert order_statistic_coverage(6, 1) == 0.96875  # the fewest seeds for a 95% interval
    assert order_statistic_coverage(9, 2) == 1 - 2 * (1 + 9) / 512


@pytest.mark.parametrize("n", range(2, 26))
def test_the_narrowest_interval_with_the_coverage_is_chosen(n):
    stats = median_interval(list(range(n, 0, -1)))
    assert stats.n_seeds == n and stats.coverage == order_statistic_coverage(n, stats.rank)
    assert (stats.ci_low, stats.ci_high) == (stats.rank, n + 1 - stats.rank)
    if n < 6:
        assert stats.rank == 1 and stats.coverage < 0.95  # says what it has, never claims 95%
    else:
        assert stats.coverage >= 0.95
        if stats.rank + 1 <= (n + 1) // 2:
            assert order_statistic_coverage(n, stats.rank + 1) < 0.95


def test_order_statistic_rank_is_the_widest_k_that_keeps_the_coverage():
    assert [order_statistic_rank(n, 0.95) for n in (1, 2, 5, 6, 9, 17)] == [1, 1, 1, 1, 2, 5]
    for n in range(1, 40):
        k = order_statistic_rank(n, 0.95)
        assert k == 1 or order_statistic_coverage(n, k) >= 0.95
        assert k + 1 > (n - 1) // 2 or order_statistic_coverage(n, k + 1) < 0.95


def test_three_seeds_give_min_max_at_75_percent():
    stats = median_interval([3e9, 1e9, 2e9])
    assert (stats.median, stats.ci_low, stats.ci_high, stats.coverage) == (2e9, 1e9, 3e9, 0.75)


def test_a_censored_seed_opens_the_upper_bound():
    stats = median_interval([1e9, None, 2e9])
    assert stats.median == 2e9 and stats.ci_high == math.inf and stats.n_reached == 2 and stats.reaches
    assert median_interval([1e9, None, None]).median == math.inf


def test_empirical_coverage_matches_the_stated_one():
    # deterministic (seeded): 20,000 studies of 5 seeds from a skewed distribution with median ln 2
    rng = np.random.default_rng(0)
    x = np.sort(rng.exponential(size=(20000, 5)), axis=1)
    covered = np.mean((x[:, 0] <= math.log(2)) & (math.log(2) <= x[:, -1]))
    assert covered == pytest.approx(median_interval([1, 2, 3, 4, 5]).coverage, abs=0.01)


@pytest.mark.parametrize("n, k", [(0, 1), (3, 0), (3, 3), (2.5, 1)])
def test_bad_ranks(n, k):
    with pytest.raises(TrackError):
        order_statistic_coverage(n, k)
