"""Seed statistics against scipy on fixed data, and how censored seeds are handled."""

import math

import numpy as np
import pytest
from scipy import stats

from algoeff import Target, TrackError, beats_target, less_compute, median_compute_to_target
from algoeff.track import censored_median

SEEDS = [3.1e12, 2.7e12, 3.4e12, 2.9e12, 3.0e12, 3.6e12, 2.8e12]
OLD = [6.0e12, 5.5e12, 6.8e12, 5.9e12, 6.3e12]


def test_median_and_ci_match_scipy_bootstrap():
    result = median_compute_to_target(SEEDS, n_resamples=2000, seed=7)
    expected = stats.bootstrap(
        (np.array(SEEDS),), np.median, method="percentile", n_resamples=2000,
        confidence_level=0.95, rng=np.random.default_rng(7),
    ).confidence_interval
    assert result.median == np.median(SEEDS) == 3.0e12
    assert result.ci_low == pytest.approx(expected.low)
    assert result.ci_high == pytest.approx(expected.high)
    assert result.ci_low <= result.median <= result.ci_high
    assert (result.n_seeds, result.n_reached, result.reaches) == (7, 7, True)


def test_censored_seeds_count_as_infinite():
    # 3 of 5 reached: median is the 3rd smallest with the 2 censored seeds at +inf
    result = median_compute_to_target([2e12, None, 1e12, math.inf, 3e12], n_resamples=1000)
    assert result.median == 3e12
    assert (result.n_reached, result.reaches) == (3, True)
    # a resample with >= 3 censored draws has an infinite median; P = 0.317 > 2.5 %
    assert result.ci_high == math.inf
    assert result.ci_low == 1e12
    assert result.to_dict()["ci_high"] == "inf"


def test_half_reached_with_even_seeds_reaches_with_lower_middle_median():
    result = median_compute_to_target([4e12, None, 2e12, None], n_resamples=1000)
    assert result.reaches and result.median == 4e12


def test_fewer_than_half_reached_does_not_reach():
    result = median_compute_to_target([1e12, None, None], n_resamples=1000)
    assert not result.reaches and result.median == math.inf and result.n_reached == 1


def test_censored_median_equals_numpy_without_censoring():
    rng = np.random.default_rng(0)
    data = rng.lognormal(size=(50, 6))
    np.testing.assert_allclose(censored_median(data, axis=-1), np.median(data, axis=-1))
    data = rng.lognormal(size=(50, 7))
    np.testing.assert_allclose(censored_median(data, axis=-1), np.median(data, axis=-1))


def test_beats_target_matches_scipy_one_sided_t_test():
    finals = [0.952, 0.957, 0.949, 0.961, 0.955, 0.958]
    result = beats_target(finals, Target("accuracy", 0.94))
    expected = stats.ttest_1samp(finals, 0.94, alternative="greater")
    assert result.p_value == pytest.approx(expected.pvalue)
    assert result.statistic == pytest.approx(expected.statistic)
    assert result.passed and result.p_value < 0.01
    # too close to the threshold for 6 seeds at alpha = 0.01
    assert not beats_target(finals, Target("accuracy", 0.953)).passed


def test_beats_target_lower_is_better_uses_the_other_tail():
    losses = [3.27, 3.275, 3.268, 3.272]
    result = beats_target(losses, Target("loss", 3.28, higher_is_better=False))
    expected = stats.ttest_1samp(losses, 3.28, alternative="less")
    assert result.p_value == pytest.approx(expected.pvalue) and result.passed
    assert not beats_target(losses, Target("loss", 3.28, higher_is_better=True)).passed


def test_beats_target_with_zero_variance():
    assert beats_target([0.97, 0.97], Target("accuracy", 0.9)).passed
    assert not beats_target([0.9, 0.9], Target("accuracy", 0.9)).passed


def test_less_compute_matches_scipy_ratio_of_medians():
    result = less_compute(SEEDS, OLD, n_resamples=2000, seed=3)

    def ratio(a, b, axis=-1):
        return np.median(a, axis=axis) / np.median(b, axis=axis)

    expected = stats.bootstrap(
        (np.array(SEEDS), np.array(OLD)), ratio, method="percentile", n_resamples=2000,
        rng=np.random.default_rng(3),
    ).confidence_interval
    # 3.0e12 / 6.0e12 = 0.5
    assert result.ratio == pytest.approx(0.5)
    assert result.ci_low == pytest.approx(expected.low)
    assert result.ci_high == pytest.approx(expected.high)
    assert result.less and result.ci_high < 1


def test_less_compute_not_shown_for_overlapping_entries():
    result = less_compute(SEEDS, [s * 1.02 for s in SEEDS], n_resamples=2000)
    assert result.ci_low < 1 < result.ci_high and not result.less


def test_less_compute_with_new_entry_not_reaching_target():
    result = less_compute([None, None, 1e12], OLD, n_resamples=1000)
    assert result.ratio == math.inf and not result.less and not result.new.reaches


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: median_compute_to_target([1e12]), "need at least 2"),
        (lambda: median_compute_to_target([1e12, -5]), r"values\[1\] == -5.0, must be >= 0"),
        (lambda: median_compute_to_target([1e12, "x"]), r"values\[1\] == 'x', must be a number"),
        (lambda: median_compute_to_target("12"), "must be a sequence"),
        (lambda: median_compute_to_target([1, 2], confidence=95), r"confidence == 95, must be in \(0, 1\)"),
        (lambda: median_compute_to_target([1, 2], n_resamples=10), "n_resamples == 10, must be an integer >= 100"),
        (lambda: beats_target([0.9, math.nan], Target("a", 0.5)), r"final_metrics\[1\] == nan, must be a finite"),
        (lambda: beats_target([0.9], Target("a", 0.5)), "need at least 2"),
        (lambda: beats_target([0.9, 0.8], Target("a", 0.5), alpha=0), r"alpha == 0, must be in \(0, 1\)"),
        (lambda: beats_target([0.9, 0.8], 0.5), "must be an algoeff.Target"),
        (lambda: less_compute([1, 2], [None]), "old has 1 seed"),
    ],
)
def test_bad_input_is_track_error(call, message):
    with pytest.raises(TrackError, match=message):
        call()
