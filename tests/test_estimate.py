"""The two estimation methods, the hardware catalog, conventions, decomposition and effective compute."""

import math

import pytest

from algoeff.errors import EstimateError
from algoeff.estimate import (
    PRECISIONS,
    TARGET,
    Convention,
    convert_flops,
    decompose,
    effective_compute,
    estimate_hardware,
    estimate_ops,
    hardware_factor_from_catalog,
    load_catalog,
    load_utilizations,
)
from algoeff.estimate.hardware import _read_catalog

DAY = 86_400


# -- counting operations ------------------------------------------------------

def test_ops_alexnet_table3():
    est = estimate_ops(per_example_gmacs=0.77, flops_per_mac=1, examples=1.28e6, epochs=90)
    # 0.77e9 x 1 x 3 x 1.28e6 x 90 = 2.66112e17
    assert est.total_flops == pytest.approx(2.66112e17)
    assert est.tfs_days == pytest.approx(2.66112e17 / 8.64e16)
    assert est.pfs_days == pytest.approx(2.66112e17 / 8.64e19)
    assert est.method == "counting" and est.flops_per_mac == 1
    assert est.inputs["per_example_flops"] == pytest.approx(0.77e9)


def test_ops_conventions_and_units():
    macs2 = estimate_ops(per_example_gmacs=1.0, flops_per_mac=2, examples=10, epochs=1)
    gflops = estimate_ops(per_example_gflops=2.0, examples=10, epochs=1)
    flops = estimate_ops(per_example_flops=2e9, examples=10, epochs=1)
    # 1 G multiply-adds x 2 = 2 GFLOPs; x 3 x 10 = 6e10
    assert macs2.total_flops == gflops.total_flops == flops.total_flops == pytest.approx(6e10)


def test_ops_backward_factor_models_and_fractional_epochs():
    est = estimate_ops(per_example_flops=100, examples=4, epochs=0.5, backward_factor=0, models=3)
    # 100 x 1 x 4 x 0.5 x 3 = 600
    assert est.total_flops == pytest.approx(600)
    assert est.models == 3


def test_ops_ai_and_compute_alexnet_example():
    # AI and Compute: 1.2e6 x 90 x 0.75 G x 2 x 3 = 4.86e17 FLOPs
    est = estimate_ops(per_example_gmacs=0.75, flops_per_mac=2, examples=1.2e6, epochs=90)
    assert est.total_flops == pytest.approx(4.86e17)


@pytest.mark.parametrize("kwargs, match", [
    (dict(per_example_gflops=1, examples=0, epochs=1), r"examples == 0, must be > 0"),
    (dict(per_example_gflops=1, examples=-5, epochs=1), r"examples == -5, must be > 0"),
    (dict(per_example_gflops=1, examples=10, epochs=0), r"epochs == 0, must be > 0"),
    (dict(per_example_gflops=-1, examples=10, epochs=1), r"per_example_gflops == -1, must be > 0"),
    (dict(per_example_gflops=1, examples=10, epochs=1, backward_factor=-1), r"backward_factor == -1, must be >= 0"),
    (dict(per_example_gflops=1, examples=10, epochs=1, models=0), r"models == 0"),
    (dict(per_example_gflops=1, examples=10, epochs=1, models=1.5), r"models == 1.5, must be a whole number"),
    (dict(per_example_gmacs=1, examples=10, epochs=1, flops_per_mac=3), r"flops_per_mac == 3, must be 1 or 2"),
    (dict(examples=10, epochs=1), r"exactly once .* got none"),
    (dict(per_example_gflops=1, per_example_gmacs=1, examples=10, epochs=1), r"got per_example_gflops, per_example_gmacs"),
    (dict(per_example_gflops=float("nan"), examples=10, epochs=1), r"must be finite"),
    (dict(per_example_gflops="lots", examples=10, epochs=1), r"per_example_gflops == 'lots'"),
])
def test_ops_bad_inputs(kwargs, match):
    with pytest.raises(EstimateError, match=match):
        estimate_ops(**kwargs)


def test_ops_missing_examples_is_a_type_error():
    with pytest.raises(TypeError):
        estimate_ops(per_example_gflops=1, epochs=1)


# -- hardware time ------------------------------------------------------------

def test_hardware_alexnet_ai_and_compute():
    est = estimate_hardware(device="GTX 580", count=2, days=5.5)
    # 2 x 5.5 x 86400 s x 1.581e12 x 0.33 (default for GPUs)
    assert est.total_flops == pytest.approx(2 * 5.5 * DAY * 1.581e12 * 0.33)
    assert est.inputs["utilization"] == 0.33 and est.utilization_discount == 0.33
    assert "AI and Compute" in est.inputs["utilization_source"]
    assert "GTX 580" in est.inputs["peak_source"]
    assert est.pfs_days == pytest.approx(0.00574, rel=1e-3)


def test_hardware_hours_and_days_agree():
    a = estimate_hardware(device="V100", count=8, hours=48, utilization=0.5)
    b = estimate_hardware(device="v100", count=8, days=2, utilization=0.5)
    assert a.total_flops == pytest.approx(b.total_flops)
    # 8 x 2 days x 15.7e12 x 0.5
    assert a.total_flops == pytest.approx(8 * 2 * DAY * 15.7e12 * 0.5)


def test_hardware_precision_and_tpu_default():
    est = estimate_hardware(device="TPU v3", count=4, hours=1, precision="bf16")
    # 4 x 3600 s x 123e12 x 0.40 (Epoch's "other" default, used for TPUs)
    assert est.total_flops == pytest.approx(4 * 3600 * 123e12 * 0.40)
    tensor = estimate_hardware(device="A100", count=1, hours=1, precision="bf16", utilization=1)
    assert tensor.total_flops == pytest.approx(3600 * 312e12)
    assert tensor.utilization_discount is None


def test_hardware_named_utilizations_and_given_peak():
    llm = estimate_hardware(device="H100", count=1, hours=1, precision="bf16", utilization="epoch-llm")
    assert llm.inputs["utilization"] == 0.30 and "Epoch" in llm.inputs["utilization_source"]
    given = estimate_hardware(peak_flops=9.5e12, count=8, hours=12, utilization="none")
    # Vaswani et al.: 8 x 12 h x 9.5 TFLOPS = 3.28e18 (their Table 2: 3.3e18)
    assert given.total_flops == pytest.approx(3.2832e18)
    assert given.utilization_discount is None


@pytest.mark.parametrize("kwargs, match", [
    (dict(device="H9000", count=1, hours=1), r"Unknown device 'H9000'. Known devices: GTX 580, K20, .*TPU v5e"),
    (dict(device="TPU v2", count=1, hours=1, precision="fp32"), r"no fp32 peak for TPU v2; known precisions for it: bf16"),
    (dict(device="V100", count=1, hours=1, precision="fp4"), r"Unknown precision 'fp4'. Possible values are: fp64, fp32"),
    (dict(device="V100", count=0, hours=1), r"count == 0, must be > 0"),
    (dict(device="V100", count=-2, hours=1), r"count == -2, must be > 0"),
    (dict(device="V100", count=1, hours=0), r"hours == 0, must be > 0"),
    (dict(device="V100", count=1, days=-1), r"days == -1, must be > 0"),
    (dict(device="V100", count=1, hours=1, days=1), r"exactly one of hours or days, not both"),
    (dict(device="V100", count=1), r"exactly one of hours or days; got neither"),
    (dict(count=1, hours=1), r"exactly one of device .* got neither"),
    (dict(device="V100", peak_flops=1e12, count=1, hours=1), r"not both"),
    (dict(peak_flops=1e12, count=1, hours=1), r"utilization is required"),
    (dict(device="V100", count=1, hours=1, utilization=1.5), r"utilization == 1.5, must be in \(0, 1\]"),
    (dict(device="V100", count=1, hours=1, utilization=0), r"utilization == 0, must be > 0"),
    (dict(device="V100", count=1, hours=1, utilization="optimistic"), r"Unknown utilization 'optimistic'. .*epoch-llm"),
])
def test_hardware_bad_inputs(kwargs, match):
    with pytest.raises(EstimateError, match=match):
        estimate_hardware(**kwargs)


# -- the two methods agree (AI and Compute: within a factor of 2-3) ------------

@pytest.mark.parametrize("days", [5, 6])
def test_alexnet_gpu_time_and_counting_agree_within_2_to_3x(days):
    gpu = estimate_hardware(device="GTX 580", count=2, days=days, utilization=0.33)
    counted = estimate_ops(per_example_gmacs=0.77, flops_per_mac=1, examples=1.28e6, epochs=90)
    # compare like for like: both at 2 FLOPs per multiply-add
    counted_2 = convert_flops(counted.total_flops, Convention(1, None, 1))
    ratio = counted_2 / gpu.total_flops
    assert 1 / 2 <= ratio <= 2, ratio  # tighter than AI and Compute's 2-3x; it holds
    # even in the paper's 1-FLOP convention they stay within 3x
    assert 1 / 3 <= counted.total_flops / gpu.total_flops <= 3


# -- the catalog ---------------------------------------------------------------

REQUIRED = ["GTX 580", "K20", "K40", "K80", "M40", "P100", "V100", "T4", "A100", "H100", "H200", "B200",
            "TPU v2", "TPU v3", "TPU v4", "TPU v5e"]


def test_catalog_has_required_devices_each_with_source():
    catalog = load_catalog()
    for name in REQUIRED:
        device = catalog[name]
        assert device.source.strip()
        assert device.peak_tflops and set(device.peak_tflops) <= set(PRECISIONS)
        assert all(v > 0 for v in device.peak_tflops.values())


def test_catalog_figures_used_by_the_analyses():
    catalog = load_catalog()
    # the figures AI and Compute quotes, rounded
    assert catalog["GTX 580"].peak_flops("fp32") == pytest.approx(1.58e12, rel=0.01)
    assert catalog["K20"].peak_flops("fp32") == pytest.approx(3.5e12, rel=0.01)


def test_catalog_names_are_forgiving():
    catalog = load_catalog()
    assert catalog["Tesla K80"] is catalog["k80"] is catalog["K-80"]
    assert catalog["tpuv3"] is catalog["TPU v3"] is catalog["Cloud TPU v3"]
    assert catalog["GeForce GTX 580"].name == "GTX 580"


def test_catalog_newer_devices_are_faster_at_fp32():
    catalog = load_catalog()
    chain = ["GTX 580", "K20", "K40", "P100", "V100", "A100", "H100"]
    peaks = [catalog[n].peak_flops("fp32") for n in chain]
    assert peaks == sorted(peaks)


def test_catalog_fastest_by_year():
    catalog = load_catalog()
    assert catalog.fastest(precision="fp32", until_year=2012).name == "K20"
    assert catalog.fastest(precision="fp32", until_year=2010).name == "GTX 580"
    with pytest.raises(EstimateError, match="no gpu with a fp16 peak released by 2012"):
        catalog.fastest(precision="fp16", until_year=2012)


def test_catalog_file_errors_name_the_line():
    header = "device,aliases,kind,vendor,year,fp64,fp32,tf32,fp16,bf16,fp8,int8,source,notes\n"
    with pytest.raises(EstimateError, match=r"hw.csv:2: fp32 == 'fast'"):
        _read_catalog(header + "X,,gpu,V,2020,,fast,,,,,,a datasheet,\n", "hw.csv")
    with pytest.raises(EstimateError, match=r"hw.csv:2: source is empty"):
        _read_catalog(header + "X,,gpu,V,2020,,1,,,,,,,\n", "hw.csv")
    with pytest.raises(EstimateError, match=r"hw.csv:2: X has no peak"):
        _read_catalog(header + "X,,gpu,V,2020,,,,,,,,src,\n", "hw.csv")
    with pytest.raises(EstimateError, match=r"missing columns: bf16, fp16, fp32"):
        _read_catalog("device,kind,year,source,fp64\n", "hw.csv")


def test_utilization_defaults_have_sources():
    named = load_utilizations()
    assert named["ai-and-compute-gpu"].value == 0.33 and named["ai-and-compute-gpu"].default_for == "gpu"
    assert named["epoch-llm"].value == 0.30 and named["epoch-other"].value == 0.40
    assert all(u.source for u in named.values())


# -- conventions ---------------------------------------------------------------

def test_convert_flops_each_axis():
    # 1 FLOP per multiply-add -> 2: doubles
    assert convert_flops(10, Convention(1, None, 1)) == 20
    # a 33% discount removed: / 0.33
    assert convert_flops(33, Convention(2, 0.33, 1)) == pytest.approx(100)
    # a 5-model ensemble -> one model
    assert convert_flops(50, Convention(2, None, 5)) == 10
    # and back
    assert convert_flops(20, TARGET, Convention(1, 0.5, 2)) == pytest.approx(20 / 2 * 0.5 * 2)
    with pytest.raises(EstimateError, match="FLOPs per multiply-add unknown"):
        convert_flops(1, Convention(None, None, 1))


# -- decomposition: Hernandez & Brown 2020, Table 1 ---------------------------

TABLE3 = {"AlexNet": (90, 0.77), "GoogLeNet": (8, 2.00), "MobileNet_v1": (11, 0.57),
          "ShuffleNet_v1": (24, 0.14), "ShuffleNet_v2": (20, 0.14), "EfficientNet-b0": (4, 0.39)}
TABLE1 = {"GoogLeNet": (11, 0.38, 4.3), "MobileNet_v1": (8.2, 1.35, 11), "ShuffleNet_v1": (3.8, 5.5, 21),
          "ShuffleNet_v2": (4.5, 5.5, 25), "EfficientNet-b0": (22, 2.0, 44)}


def _counted(name):
    epochs, gmacs = TABLE3[name]
    return estimate_ops(per_example_gmacs=gmacs, flops_per_mac=1, examples=1.28e6, epochs=epochs)


@pytest.mark.parametrize("name", sorted(TABLE1))
def test_decomposition_matches_table1(name):
    d = decompose(_counted(name), _counted("AlexNet"))
    epochs, per_epoch, total = TABLE1[name]
    # Table 1 rounds to 2 significant figures (22.5 is printed 22)
    assert d.fewer_epochs == pytest.approx(epochs, rel=0.03)
    assert d.fewer_flops_per_epoch == pytest.approx(per_epoch, rel=0.03)
    assert d.reduction_factor == pytest.approx(total, rel=0.03)
    assert d.reduction_factor == pytest.approx(_counted("AlexNet").total_flops / _counted(name).total_flops)


def test_decomposition_counts_alike_across_conventions():
    base = estimate_ops(per_example_gmacs=1, flops_per_mac=1, examples=10, epochs=10)
    same_in_flops = estimate_ops(per_example_gmacs=1, flops_per_mac=2, examples=10, epochs=5)
    d = decompose(same_in_flops, base)
    assert d.fewer_epochs == 2 and d.fewer_flops_per_epoch == pytest.approx(1)


def test_decomposition_needs_counting_estimates():
    hw = estimate_hardware(device="V100", count=1, hours=1)
    with pytest.raises(EstimateError, match="needs a counting estimate with epochs"):
        decompose(hw, _counted("AlexNet"))


# -- effective compute ---------------------------------------------------------

def test_effective_compute_paper_example():
    # 300,000x hardware (AI and Compute, 2012-18) x 25x (ShuffleNet v2) = 7.5 million x
    result = effective_compute(25, 72, hardware_factor=300_000)
    assert result.effective_factor == pytest.approx(7.5e6)


def test_effective_compute_doubling():
    result = effective_compute(44, 84)
    # 2 ** (84 / 24) = 11.3: Moore's law over 2012-2019
    assert result.hardware_factor == pytest.approx(2 ** 3.5)
    assert result.effective_factor == pytest.approx(44 * 2 ** 3.5)
    assert effective_compute(2, 12, hardware_doubling_months=12).hardware_factor == pytest.approx(2)


def test_effective_compute_from_catalog_and_errors():
    factor, basis = hardware_factor_from_catalog("GTX 580", "V100")
    assert factor == pytest.approx(15.7 / 1.581)
    assert "V100" in basis and "GTX 580" in basis
    with pytest.raises(EstimateError, match="hardware_doubling_months == 0"):
        effective_compute(2, 12, hardware_doubling_months=0)
    with pytest.raises(EstimateError, match="not both"):
        effective_compute(2, 12, hardware_doubling_months=24, hardware_factor=3)
    with pytest.raises(EstimateError, match="algorithmic_factor == -1"):
        effective_compute(-1, 12)
    assert math.isclose(effective_compute(2, 0).hardware_factor, 1.0)
