"""Records after 2019 (issue 14): the ``counted`` analysis method, and one real entry per new benchmark recomputed."""

import dataclasses
import json

import pytest

from algoeff.cli import main
from algoeff.errors import LedgerError
from algoeff.estimate.counted import parse_phases
from algoeff.ledger import load_ledger, write_ledger
from algoeff.ledger.analysis import compute, load_analyses
from algoeff.ledger.check import check_ledger

LINEAR = {"model": "torch.nn:Linear", "model_args": {"in_features": 8, "out_features": 4, "bias": False}}


# -- the counted method on a model whose count is known in closed form ------------

def test_counted_linear_layer_closed_form():
    # y = x W^T, W 4 x 8: forward 2 x 8 x 4 = 64 FLOPs per example; backward only the weight
    # gradient (the input needs none), 64 more: a training step is 2 x forward here, not 3 x
    est = compute("counted", {**LINEAR, "input_shape": [8], "examples": 1000, "epochs": 3})
    assert est.total_flops == 128 * 1000 * 3
    assert est.method == "counting" and est.flops_per_mac == 2 and est.inputs["epochs"] == 3
    (phase,) = est.inputs["phases"]
    assert (phase["forward_flops_per_example"], phase["backward_flops_per_example"]) == (64, 64)
    half = compute("counted", {**LINEAR, "input_shape": [8], "examples": 1000, "epochs": 3, "flops_per_mac": 1})
    assert half.total_flops == 64 * 1000 * 3 and half.flops_per_mac == 1


def test_counted_phases_shapes_steps_and_evaluation():
    inputs = {**LINEAR, "examples": 500, "phases": [
        {"input_shape": [8], "batch_size": 100, "steps": 10},          # 1000 examples x 128
        {"input_shape": [3, 8], "epochs": 2},                          # 3 rows each: 1000 x 384
        {"input_shape": [8], "train": False, "batch_size": 50, "steps": 4},  # evaluation: 200 x 64
    ]}
    est = compute("counted", inputs)
    assert est.total_flops == 1000 * 128 + 1000 * 384 + 200 * 64
    assert est.inputs["epochs"] == 2 + 2  # training phases only: 1000 / 500 + 2
    assert est.inputs["examples_seen"] == 2000


def test_counted_model_args_merge_and_frozen_weights_cost_nothing_backward():
    phases = parse_phases({**LINEAR, "input_shape": [8], "epochs": 1, "examples": 1,
                           "phases": [{"model_args": {"out_features": 2}}]})
    assert dict(phases[0].model_args) == {"in_features": 8, "out_features": 2, "bias": False}
    # the airbench net: the frozen whitening bias removes the input gradient of the first conv group
    on = compute("counted", {"model": "algoeff.estimate.archs.cifar:airbench94", "input_shape": [3, 32, 32],
                             "batch_size": 1, "steps": 1, "model_args": {"whiten_bias_grad": True}})
    off = compute("counted", {"model": "algoeff.estimate.archs.cifar:airbench94", "input_shape": [3, 32, 32],
                              "batch_size": 1, "steps": 1, "model_args": {"whiten_bias_grad": False}})
    # the input gradient of conv 24 -> 64 (3 x 3) at 31 x 31: 2 x 64 x 24 x 9 x 31 x 31 FLOPs
    assert on.total_flops - off.total_flops == 2 * 64 * 24 * 9 * 31 * 31


@pytest.mark.parametrize("inputs, message", [
    ({**LINEAR, "input_shape": [8], "examples": 10}, "give how many examples it saw"),
    ({**LINEAR, "input_shape": [8], "examples": 10, "epochs": 1, "steps": 2, "batch_size": 2},
     "exactly one of the two"),
    ({**LINEAR, "input_shape": [8], "steps": 2}, "steps and batch_size go together"),
    ({**LINEAR, "input_shape": [8, 0], "epochs": 1, "examples": 1}, "input_shape == [8, 0]"),
    ({**LINEAR, "input_shape": [8], "epochs": 1}, "epochs needs examples"),
    ({**LINEAR, "input_shape": [8], "epochs": 1, "examples": 1, "phases": [{"lr": 1}]}, "unknown key 'lr'"),
    ({"model": "torchvision:resnet9000", "input_shape": [3, 8, 8], "epochs": 1, "examples": 1},
     "Unknown torchvision model"),
    ({"model": "torch.nn:Linear", "model_args": {"in_features": 8}, "input_shape": [8], "epochs": 1,
      "examples": 1}, "out_features"),
])
def test_counted_bad_inputs_name_the_problem(inputs, message):
    with pytest.raises(LedgerError, match="x.toml: ") as info:
        compute("counted", inputs, where="x.toml")
    assert message in str(info.value)


def test_counted_analysis_in_a_ledger_of_ones_own(tmp_path):
    ledger = load_ledger()
    base = ledger.for_benchmark("cifar10-94")[0]
    path = tmp_path / "ledger.csv"
    write_ledger([dataclasses.replace(base, compute_flops=3.84e5)], path)
    folder = tmp_path / "analyses" / "cifar10-94"
    folder.mkdir(parents=True)
    text = f'''benchmark = "cifar10-94"
publication = "{base.publication}"
method = "counted"
[convention]
flops_per_mac = 2
[inputs]
model = "torch.nn:Linear"
model_args = {{ in_features = 8, out_features = 4, bias = false }}
input_shape = [8]
examples = 1000
epochs = 3
[yields]
compute_flops = 3.84e5
'''
    (folder / "mine.toml").write_text(text)
    row = check_ledger(load_ledger(path)).rows[0]
    assert row.ok and row.verdict == "reproduces" and row.recomputed == 3.84e5
    (folder / "mine.toml").write_text(text.replace("epochs = 3", "epochs = 4"))
    row = check_ledger(load_ledger(path)).rows[0]
    assert row.verdict == "differs" and row.stale_yield and not row.ok


# -- one real entry per new benchmark, recomputed ----------------------------------

@pytest.fixture(scope="module")
def analyses():
    return load_analyses()


def _row_and_estimate(analyses, bench, publication):
    entry = next(e for e in load_ledger().for_benchmark(bench) if e.publication == publication)
    return entry, analyses[(bench, publication.casefold())].recompute()


def test_cifar10_airbench94_recounted_and_against_its_published_pflops(analyses):
    entry, est = _row_and_estimate(analyses, "cifar10-94", "airbench94")
    # the rebuilt net's forward multiply-adds, layer by layer (airbench94.py make_net)
    macs = (24 * 3 * 4 * 31 * 31 + 64 * 24 * 9 * 31 * 31 + 64 * 64 * 9 * 15 * 15 + 256 * 64 * 9 * 15 * 15
            + 256 * 256 * 9 * 7 * 7 + 256 * 256 * 9 * 7 * 7 + 256 * 256 * 9 * 3 * 3 + 256 * 10)
    assert macs == 118_147_360
    assert est.inputs["phases"][0]["forward_flops_per_example"] == 2 * macs
    assert est.inputs["epochs"] == pytest.approx(476 * 1024 / 50000)
    assert entry.compute_flops == pytest.approx(est.total_flops, rel=5e-5)
    # the README's 0.36 PFLOPs = 3 x forward x training images + the 6-view TTA evaluation
    assert 3 * 2 * macs * 476 * 1024 + 6 * 10000 * 2 * macs == pytest.approx(0.36e15, rel=0.01)
    assert 0.9 < est.total_flops / 0.36e15 < 1.0  # training alone, real backward: 7% below


def test_imagenet_ffcv_resnet18_recounted_at_its_progressive_resolutions(analyses):
    entry, est = _row_and_estimate(analyses, "alexnet", "ResNet-18, 16 epochs (FFCV)")
    phases = est.inputs["phases"]
    assert [(p["input_shape"], p["epochs"]) for p in phases] == [([3, 160, 160], 12), ([3, 192, 192], 4)]
    # FLOPs scale with pixels: 192^2 / 160^2 = 1.44 (up to the rounding of odd feature-map sizes)
    ratio = phases[1]["forward_flops_per_example"] / phases[0]["forward_flops_per_example"]
    assert ratio == pytest.approx(1.44, rel=0.01)
    assert est.flops_per_mac == 1 and entry.flops_per_mac == 1  # the seed rows' convention
    assert entry.compute_flops == pytest.approx(est.total_flops, rel=5e-5)
    # not on the frontier: EfficientNet-b0 (2019) needed 0.069 tfs-days, this 0.72
    assert est.tfs_days == pytest.approx(0.7166, rel=1e-3)


def test_gpt2_speedrun_baseline_time_based_and_its_counted_cross_check(analyses):
    analysis = analyses[("gpt2-speedrun", "nanogpt speedrun #1")]
    entry, est = _row_and_estimate(analyses, "gpt2-speedrun", "NanoGPT speedrun #1")
    assert est.total_flops == pytest.approx(8 * 45 * 60 * 989.5e12 * 0.30)
    assert est.utilization_discount == 0.3 and entry.utilization_discount == 0.3
    counted = analysis.cross_checks[0].run("record-01")
    d, layers, vocab, ctx = 768, 12, 50257, 1024
    # per token: 12 L d^2 (qkv, proj, mlp) + d V (tied head) + 2 L T d (QK^T and AV, full T x T) multiply-adds
    macs = 12 * layers * d * d + d * vocab + 2 * layers * ctx * d
    phase = counted.inputs["phases"][0]
    assert phase["forward_flops_per_example"] == 2 * macs * ctx
    assert phase["backward_flops_per_example"] == 2 * phase["forward_flops_per_example"]
    assert counted.total_flops == pytest.approx(6 * macs * 19560 * 512 * 1024)
    # the run used ~41% of peak: the assumed 30% is stated, and below it
    assert counted.total_flops / (est.total_flops / 0.3) == pytest.approx(0.41, abs=0.01)


@pytest.mark.parametrize("key, n_min", [("cifar10-94", 5), ("gpt2-speedrun", 80)])
def test_trend_works_on_each_new_benchmark(capsys, key, n_min):
    assert main(["trend", "--benchmark", key, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["benchmark"] == key and data["n_points"] >= n_min
    lo, hi = data["doubling_time_ci95_months"]
    assert lo < data["doubling_time_months"] < hi


def test_new_benchmarks_state_their_counting_convention():
    ledger = load_ledger()
    for key in ("cifar10-94", "gpt2-speedrun"):
        bench = ledger.benchmark(key)
        assert bench.threshold is not None and bench.direction and "Convention" in bench.source
        conventions = {(e.flops_per_mac, e.utilization_discount, e.models, e.method) for e in ledger.for_benchmark(key)}
        assert len(conventions) == 1  # one convention per benchmark: reduction factors compare like with like
