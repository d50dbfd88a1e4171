"""Seed statistics: the figures and tests a compute-to-target claim needs.

Censoring. A seed that never reaches the target has no compute-to-target; it
is *censored* and enters every statistic as +inf ("more than any budget we
ran"). This is exact for order statistics such as the median: the median of a
resample is finite exactly when at least half of the resample reached the
target. A configuration *reaches* the target when at least half of its seeds
do; with an even number of seeds and exactly half censored, the median is
taken as the lower middle value (the compute by which half of the seeds had
reached the target), so "reaches" and "has a finite median" always agree.

``median_interval`` gives the distribution-free interval for a median: the
order statistics [x_(k), x_(n+1-k)] cover the true median with probability
1 - 2 P(Binomial(n, 1/2) <= k - 1) for any continuous distribution, so the
interval states its actual coverage; with 3 seeds the widest one, [min, max],
covers 75%, and 95% needs at least 6 seeds.

The other confidence intervals are percentile bootstrap intervals from
``scipy.stats.bootstrap`` (BCa needs a jackknife, which is undefined with
+inf values). When more than alpha/2 of the resamples have a censored median,
the upper bound is +inf: the data cannot bound the median from above. For a
ratio of medians both censored, the ratio is undefined and is counted as +inf,
i.e. against the claim that the new entry needs less compute.
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from algoeff.errors import TrackError

from .target import Target

__all__ = [
    "ComputeComparison",
    "MedianCompute",
    "MedianInterval",
    "TargetTest",
    "beats_target",
    "censored_median",
    "less_compute",
    "median_compute_to_target",
    "median_interval",
    "order_statistic_coverage",
    "order_statistic_rank",
]


def _json(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return value


@dataclass(frozen=True)
class MedianCompute:
    """Median compute-to-target across seeds, with its bootstrap CI."""

    median: float  # FLOPs; inf when fewer than half of the seeds reached the target
    ci_low: float
    ci_high: float  # inf when the data cannot bound the median from above
    confidence: float  # e.g. 0.95
    n_seeds: int
    n_reached: int
    reaches: bool  # at least half of the seeds reached the target
    method: str = "percentile bootstrap of the median; censored seeds = +inf"

    def to_dict(self) -> dict:
        return {k: _json(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class TargetTest:
    """One-sided t-test that the mean final metric beats the target."""

    mean: float
    std: float  # sample standard deviation (ddof=1)
    n_seeds: int
    threshold: float
    higher_is_better: bool
    statistic: float  # t
    p_value: float
    alpha: float
    passed: bool  # p_value < alpha
    method: str = "one-sided one-sample t-test (scipy.stats.ttest_1samp)"

    def to_dict(self) -> dict:
        return {k: _json(v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class ComputeComparison:
    """Whether a new entry needs less compute than a previous one."""

    ratio: float  # median(new) / median(old); < 1 means the new entry needs less
    ci_low: float
    ci_high: float
    confidence: float
    new: MedianCompute
    old: MedianCompute
    less: bool  # the CI of the ratio lies wholly below 1
    method: str = "percentile bootstrap of the ratio of medians; censored seeds = +inf"

    def to_dict(self) -> dict:
        out = {k: _json(v) for k, v in asdict(self).items() if k not in ("new", "old")}
        out["new"], out["old"] = self.new.to_dict(), self.old.to_dict()
        return out


@dataclass(frozen=True)
class MedianInterval:
    """Median across seeds with its order-statistic interval and that interval's actual coverage."""

    median: float  # inf when fewer than half of the seeds reached the target
    ci_low: float  # the k-th smallest value
    ci_high: float  # the k-th largest value; inf when that seed never reached the target
    coverage: float  # exact probability that [ci_low, ci_high] holds the true median
    rank: int  # k
    n_seeds: int
    n_reached: int
    reaches: bool
    method: str = "order statistics [x_(k), x_(n+1-k)], coverage 1 - 2 P(Bin(n, 1/2) <= k - 1); censored seeds = +inf"

    def to_dict(self) -> dict:
        return {k: _json(v) for k, v in asdict(self).items()}


# -- validation -----------------------------------------------------------------------


def _compute_values(values, name: str) -> np.ndarray:
    """Compute-to-target per seed; None, NaN and +inf mean censored (never reached)."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TrackError(f"{name} == {values!r}, must be a sequence of FLOP counts (None = never reached).")
    out = np.empty(len(values), dtype=float)
    for i, value in enumerate(values):
        if value is None:
            out[i] = math.inf
            continue
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TrackError(f"{name}[{i}] == {value!r}, must be a number of FLOPs or None.")
        value = float(value)
        if math.isnan(value):
            value = math.inf
        if value < 0:
            raise TrackError(f"{name}[{i}] == {value!r}, must be >= 0 FLOPs.")
        out[i] = value
    if len(out) < 2:
        raise TrackError(f"{name} has {len(out)} seed(s), need at least 2 for a confidence interval.")
    return out


def _check_confidence(confidence) -> float:
    if not (isinstance(confidence, numbers.Real) and 0 < confidence < 1):
        raise TrackError(f"confidence == {confidence!r}, must be in (0, 1).")
    return float(confidence)


def _check_resamples(n_resamples) -> int:
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, numbers.Integral) or n_resamples < 100:
        raise TrackError(f"n_resamples == {n_resamples!r}, must be an integer >= 100.")
    return int(n_resamples)


# -- statistics -----------------------------------------------------------------------


def censored_median(x, axis: int = -1):
    """Median where +inf marks a censored seed; equals np.median when nothing is censored.

    With an even count and the upper middle value censored, the lower middle
    value is returned (see the module docstring).
    """
    s = np.sort(np.asarray(x, dtype=float), axis=axis)
    s = np.moveaxis(s, axis, -1)
    n = s.shape[-1]
    if n % 2:
        return s[..., n // 2]
    lo, hi = s[..., n // 2 - 1], s[..., n // 2]
    with np.errstate(invalid="ignore"):
        return np.where(np.isfinite(hi), (lo + hi) / 2, lo)


def _bootstrap(data, statistic, confidence, n_resamples, seed):
    from scipy import stats

    with warnings.catch_warnings():
        # +inf in the bootstrap distribution makes its standard error inf/NaN, which we do not report
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.bootstrap(
            data,
            statistic,
            confidence_level=confidence,
            n_resamples=n_resamples,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
    ci = result.confidence_interval
    return float(ci.low), float(ci.high)


def median_compute_to_target(
    values, *, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0
) -> MedianCompute:
    """Median compute-to-target across seeds with a bootstrap CI.

    ``values`` holds one compute-to-target per seed (FLOPs); None, NaN or +inf
    for a seed that never reached the target.
    """
    x = _compute_values(values, "values")
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    n_reached = int(np.isfinite(x).sum())
    low, high = _bootstrap((x,), censored_median, confidence, n_resamples, seed)
    return MedianCompute(
        median=float(censored_median(x)),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        n_seeds=len(x),
        n_reached=n_reached,
        reaches=2 * n_reached >= len(x),
    )


def order_statistic_coverage(n: int, k: int) -> float:
    """P(x_(k) <= median <= x_(n+1-k)) for n draws of a continuous distribution (exact, binomial).

    1 - 2 P(Bin(n, 1/2) <= k - 1), summed exactly in integers (scipy.stats.binom
    gives the same figure; importing it costs seconds).
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise TrackError(f"n == {n!r}, must be an integer >= 1.")
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= (n + 1) // 2:
        raise TrackError(f"k == {k!r}, must be an integer in [1, {(n + 1) // 2}] for n == {n}.")
    if 2 * k == n + 1:  # the interval is the sample median itself: a point
        return 0.0
    tail = sum(math.comb(n, i) for i in range(k))
    return float(1 - 2 * tail / 2**n)


def order_statistic_rank(n: int, confidence: float) -> int:
    """The largest k whose interval [x_(k), x_(n+1-k)] of n draws still covers the median with ``confidence``.

    1 ([min, max]) when even that covers less; the interval never narrows to the median itself.
    """
    rank = 1
    for k in range(1, (n + 1) // 2):
        if order_statistic_coverage(n, k) >= confidence:
            rank = k
        else:
            break
    return rank


def median_interval(values, *, confidence: float = 0.95) -> MedianInterval:
    """Median across seeds with the narrowest order-statistic interval covering at least ``confidence``.

    When even [min, max] covers less (fewer than 6 seeds at 95%), [min, max] is
    returned with its actual coverage (0.75 for 3 seeds, 0.9375 for 5): the
    interval never claims more than it has. ``values`` as for
    median_compute_to_target (None, NaN or +inf: never reached).
    """
    x = np.sort(_compute_values(values, "values"))
    n = len(x)
    rank = order_statistic_rank(n, _check_confidence(confidence))
    n_reached = int(np.isfinite(x).sum())
    return MedianInterval(
        median=float(censored_median(x)),
        ci_low=float(x[rank - 1]),
        ci_high=float(x[n - rank]),
        coverage=order_statistic_coverage(n, rank),
        rank=rank,
        n_seeds=n,
        n_reached=n_reached,
        reaches=2 * n_reached >= n,
    )


def beats_target(final_metrics, target: Target, *, alpha: float = 0.01) -> TargetTest:
    """One-sided t-test that the mean final metric across seeds beats ``target``.

    H0: the mean is at (or on the wrong side of) the threshold; the claim passes
    when p < ``alpha`` (0.01 by default, as the NanoGPT speedrun requires).
    A diverged seed (non-finite metric) is an error: it cannot be averaged.
    """
    from scipy import stats

    if not isinstance(target, Target):
        raise TrackError(f"target == {target!r}, must be an algoeff.Target.")
    if not (isinstance(alpha, numbers.Real) and 0 < alpha < 1):
        raise TrackError(f"alpha == {alpha!r}, must be in (0, 1).")
    if isinstance(final_metrics, (str, bytes)) or not isinstance(final_metrics, (Sequence, np.ndarray)):
        raise TrackError(f"final_metrics == {final_metrics!r}, must be a sequence of numbers.")
    x = np.empty(len(final_metrics), dtype=float)
    for i, value in enumerate(final_metrics):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise TrackError(
                f"final_metrics[{i}] == {value!r}, must be a finite number "
                "(a diverged seed cannot support a claim)."
            )
        x[i] = value
    if len(x) < 2:
        raise TrackError(f"final_metrics has {len(x)} seed(s), need at least 2 for a t-test.")
    alternative = "greater" if target.higher_is_better else "less"
    mean, std = float(x.mean()), float(x.std(ddof=1))
    if std == 0:
        # scipy returns NaN for zero variance; every seed is on the same side of the threshold
        beats = target.reached(mean) and mean != target.threshold
        statistic = math.copysign(math.inf, mean - target.threshold) if mean != target.threshold else 0.0
        p_value = 0.0 if beats else 1.0
    else:
        result = stats.ttest_1samp(x, popmean=target.threshold, alternative=alternative)
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return TargetTest(
        mean=mean,
        std=std,
        n_seeds=len(x),
        threshold=target.threshold,
        higher_is_better=target.higher_is_better,
        statistic=statistic,
        p_value=p_value,
        alpha=float(alpha),
        passed=p_value < alpha,
    )


def _ratio_of_medians(new, old, axis=-1):
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = censored_median(new, axis=axis) / censored_median(old, axis=axis)
    # inf/inf: neither median reached the target; count it against the claim
    return np.where(np.isnan(ratio), np.inf, ratio)


def less_compute(
    new, old, *, confidence: float = 0.95, n_resamples: int = 9999, seed: int = 0
) -> ComputeComparison:
    """Whether entry ``new`` needs less compute-to-target than ``old``.

    Seeds are resampled independently in each group; the claim holds when the
    bootstrap CI of median(new) / median(old) lies wholly below 1.
    """
    x_new = _compute_values(new, "new")
    x_old = _compute_values(old, "old")
    confidence = _check_confidence(confidence)
    n_resamples = _check_resamples(n_resamples)
    low, high = _bootstrap((x_new, x_old), _ratio_of_medians, confidence, n_resamples, seed)
    return ComputeComparison(
        ratio=float(_ratio_of_medians(x_new, x_old)),
        ci_low=low,
        ci_high=high,
        confidence=confidence,
        new=median_compute_to_target(x_new.tolist(), confidence=confidence, n_resamples=n_resamples, seed=seed),
        old=median_compute_to_target(x_old.tolist(), confidence=confidence, n_resamples=n_resamples, seed=seed),
        less=high < 1,
    )
