"""Target validation and both crossings on synthetic curves."""

import math

import pytest

from algoeff import Target, TrackError
from algoeff.track import conservative_crossing, interpolated_crossing

ACC = Target("accuracy", 0.9)
LOSS = Target("loss", 0.5, higher_is_better=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "accuracy", "threshold": None}, "has no threshold"),
        ({"metric": "accuracy", "threshold": math.nan}, r"threshold == nan, must be finite"),
        ({"metric": "accuracy", "threshold": math.inf}, r"threshold == inf, must be finite"),
        ({"metric": "accuracy", "threshold": "0.9"}, r"threshold == '0.9', must be a real number"),
        ({"metric": "", "threshold": 0.9}, r"metric == '', must be a non-empty string"),
        ({"metric": "accuracy", "threshold": 0.9, "higher_is_better": "yes"}, "must be True or False"),
    ],
)
def test_bad_target_is_track_error(kwargs, message):
    with pytest.raises(TrackError, match=message):
        Target(**kwargs)


def test_target_without_threshold_argument_is_type_error():
    with pytest.raises(TypeError):
        Target("accuracy")


def test_reached_in_both_directions_and_never_for_nan():
    assert ACC.reached(0.9) and ACC.reached(0.95) and not ACC.reached(0.89)
    assert LOSS.reached(0.5) and LOSS.reached(0.1) and not LOSS.reached(0.51)
    for value in (math.nan, math.inf, -math.inf):
        assert not ACC.reached(value) and not LOSS.reached(value)
    assert Target.from_dict(LOSS.to_dict()) == LOSS
    assert str(LOSS) == "loss <= 0.5"


def test_conservative_is_first_evaluation_at_or_past_target():
    compute = [100, 200, 400, 800]
    assert conservative_crossing(compute, [0.5, 0.8, 0.9, 0.95], ACC) == 400
    assert conservative_crossing(compute, [0.5, 0.8, 0.95, 0.85], ACC) == 400
    assert conservative_crossing(compute, [2.0, 1.0, 0.4, 0.3], LOSS) == 400


def test_interpolated_is_log_linear_between_last_short_and_first_past():
    compute = [100, 200, 800]
    # 0.8 -> 1.0 over log(200)..log(800); 0.9 is half way: exp((log 200 + log 800) / 2) = 400
    assert interpolated_crossing(compute, [0.5, 0.8, 1.0], ACC) == pytest.approx(400)
    # a quarter of the way: 200 * 4 ** 0.25 = 282.84...
    assert interpolated_crossing(compute, [0.5, 0.8, 1.2], ACC) == pytest.approx(200 * 4**0.25)
    # lower is better: 1.0 -> 0.0 crosses 0.5 half way in log compute
    assert interpolated_crossing(compute, [2.0, 1.0, 0.0], LOSS) == pytest.approx(400)


def test_interpolated_never_later_than_conservative():
    compute = [10, 30, 90, 270]
    values = [0.1, 0.5, 0.89, 0.99]
    conservative = conservative_crossing(compute, values, ACC)
    interpolated = interpolated_crossing(compute, values, ACC)
    assert 90 <= interpolated <= conservative == 270


def test_exactly_on_threshold_interpolates_to_that_evaluation():
    assert interpolated_crossing([100, 200], [0.5, 0.9], ACC) == pytest.approx(200)


def test_reached_on_first_evaluation_both_equal_its_compute():
    assert conservative_crossing([50, 100], [0.95, 0.97], ACC) == 50
    assert interpolated_crossing([50, 100], [0.95, 0.97], ACC) == 50
    assert interpolated_crossing([50], [0.1], LOSS) == 50


def test_previous_evaluation_at_zero_compute_falls_back_to_conservative():
    assert interpolated_crossing([0, 100], [0.1, 0.95], ACC) == 100


def test_never_reached_is_none():
    assert conservative_crossing([1, 2, 3], [0.1, 0.2, 0.3], ACC) is None
    assert interpolated_crossing([1, 2, 3], [0.1, 0.2, 0.3], ACC) is None
    assert conservative_crossing([1, 2], [0.9, 0.8], LOSS) is None
    assert conservative_crossing([], [], ACC) is None


def test_nan_point_is_never_a_crossing():
    assert conservative_crossing([1, 2, 3], [0.5, math.nan, 0.95], ACC) == 3
    # nothing to interpolate from a NaN neighbour
    assert interpolated_crossing([1, 2, 3], [0.5, math.nan, 0.95], ACC) == 3
