"""Compute units: FLOPs inside, tf-s-days and pf-s-days for people."""

import pytest

from algoeff.cli.ledger import format_compute as show_compute
from algoeff.units import FLOPS_PER_PFS_DAY, FLOPS_PER_TFS_DAY, format_compute, from_flops, to_flops


def test_unit_constants():
    # 1e12 FLOP/s x 86,400 s
    assert FLOPS_PER_TFS_DAY == 8.64e16
    assert FLOPS_PER_PFS_DAY == 8.64e19


@pytest.mark.parametrize("unit, flops", [("tfs-days", 8.64e16), ("pfs-days", 8.64e19), ("flops", 1.0)])
def test_round_trip(unit, flops):
    assert to_flops(1, unit) == flops
    assert from_flops(to_flops(3.1, unit), unit) == pytest.approx(3.1)


def test_unknown_unit_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"Unknown compute unit 'gpu-hours'\. Possible values are: flops, "
                                         r"tfs-days, pfs-days\."):
        to_flops(1, "gpu-hours")


def test_format_compute():
    assert format_compute(3.1 * 8.64e16) == "3.1 tfs-days"
    assert format_compute(1.4e20, "flops") == "1.40e+20 flops"


@pytest.mark.parametrize("tfs, unit, text", [
    (1620, "tfs-days", "1620 tfs-days"),  # no exponent for everyday sizes
    (0.069, "tfs-days", "0.069 tfs-days"),
    (1620, "pfs-days", "1.62 pfs-days"),
    (1620, "flops", "1.40e+20 flops"),
    (1e-6, "tfs-days", "1.00e-06 tfs-days"),
])
def test_cli_display(tfs, unit, text):
    assert show_compute(tfs * 8.64e16, unit) == text
