"""What both callbacks share: the version range, the device's catalog peak, the tracked run's errors."""

import pytest
import torch
from torch import nn

from algoeff import Target, TrackError
from algoeff.integrations.common import TrackedRun, check_version, device_peak_flops


@pytest.mark.parametrize("version", ["2.4.0", "2.6.6", "2.99.1rc1", "2.4.0+cu121"])
def test_version_inside_the_range(version):
    assert check_version("lightning", "2.4", "3", where="here", version=version) == version


@pytest.mark.parametrize("version", ["2.3.9", "3.0.0", "1.9.5"])
def test_version_outside_the_range_says_what_to_install(version):
    with pytest.raises(TrackError, match=rf"here supports lightning >=2.4,<3; found lightning {version}\. "
                                         r"Install a supported version: pip install 'lightning>=2.4,<3'\."):
        check_version("lightning", "2.4", "3", where="here", version=version)


@pytest.mark.parametrize("name, precision, tflops", [
    ("NVIDIA H100 80GB HBM3", "bf16", 989.5),  # CUDA's name for an H100 SXM
    ("NVIDIA A100-SXM4-80GB", "bf16", 312),
    ("Tesla V100-PCIE-16GB", "fp32", 14.0),  # the PCIe variant, not the SXM2 V100's 15.7
    ("NVIDIA H200", "tf32", 494.5),
])
def test_device_peak_from_the_catalog(name, precision, tflops):
    assert device_peak_flops(name, precision) == pytest.approx(tflops * 1e12)


@pytest.mark.parametrize("name, precision", [
    ("NVIDIA A10G", "bf16"),  # not in the catalog (and not an A100)
    ("Tesla V100-PCIE-16GB", "bf16"),  # no bf16 on a V100
    ("cpu", "fp32"),
])
def test_device_without_a_catalog_peak_has_none(name, precision):
    assert device_peak_flops(name, precision) is None


def _run(peak=None):
    model = nn.Linear(4, 2)
    return model, TrackedRun(model, Target("val_acc", 0.5), store=None, run_name=None, config={},
                             policy="matmul", causal="full", recount=False, peak_flops=peak)


def test_mfu_is_training_flops_over_training_time_and_peak():
    model, run = _run(peak=1e9)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    run.begin_train()
    model(torch.randn(8, 4)).sum().backward()
    optimizer.step()
    run.end_train()
    assert run.tracker.steps == 1  # the optimizer stepped in the block: the step ended
    # [8, 4] @ [4, 2]: forward 2 * 8 * 4 * 2 = 128, backward (weight grad only) 128
    assert run.tracker.total_flops == 256
    assert run.mfu() == pytest.approx(256 / (run.train_seconds * 1e9))
    assert _run()[1].mfu() is None  # no peak: no MFU, and no algoeff/mfu logged
    assert "algoeff/mfu" not in _run()[1].logged()


def test_a_block_without_an_optimizer_step_is_a_micro_batch():
    model, run = _run()
    for _ in range(3):
        run.begin_train()
        model(torch.randn(8, 4)).sum().backward()
        run.end_train()
    assert run.tracker.steps == 0 and run.tracker.total_flops == 3 * 256


def test_record_skips_non_numbers_and_names_what_was_logged():
    _, run = _run()
    assert run.record({"val_acc": torch.tensor(0.7), "hist": torch.zeros(3), "note": "x", "step": 3}, where="here")
    with pytest.raises(TrackError, match=r"'val_acc' was not logged here; logged: acc, loss, val_acc_epoch\. "
                                         r"Did you mean Target\('val_acc_epoch'"):
        run.record({"acc": 0.1, "loss": 1.0, "val_acc_epoch": 0.2, "note": "n/a"}, where="here")


def test_tracker_step_ends_step_counts_micro_batches_into_one_step():
    from algoeff import ComputeTracker

    model = nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = ComputeTracker(model, Target("val_acc", 0.5))
    for micro in range(3):  # three micro-batches, the optimizer steps after the last
        with tracker.step(ends_step=micro == 2):
            model(torch.randn(8, 4)).sum().backward()
            if micro == 2:
                optimizer.step()
    # each micro-batch: forward 2 * 8 * 4 * 2 = 128, weight gradient 128
    assert tracker.steps == 1 and tracker.total_flops == 3 * 256
    assert tracker.flops_per_step == 3 * 256 and tracker.examples == 24
    with pytest.raises(TrackError, match=r"ends_step == 'yes', must be True, False or None\."):
        with tracker.step(ends_step="yes"):
            pass


@pytest.mark.parametrize("framework", ["lightning", "transformers"])
@pytest.mark.parametrize("kwargs, message", [
    ({"stop_on_target": "yes"}, r"stop_on_target == 'yes', must be True or False"),
    ({"run_name": 3}, r"run_name == 3, must be a string"),
    ({"policy": "flops"}, r"Unknown policy 'flops'. Possible values are: 'matmul', 'all'"),
    ({"causal": "quarter"}, r"Unknown causal 'quarter'"),
    ({"recount": 1}, r"recount == 1, must be True or False"),
])
def test_both_callbacks_check_their_settings_when_made(framework, kwargs, message):
    # the same checks, in one place: a bad setting fails where it is written, not when training starts
    module = pytest.importorskip(f"algoeff.integrations.{framework}")
    with pytest.raises(TrackError, match=message):
        module.ComputeToTarget(Target("val_acc", 0.9), **kwargs)
    with pytest.raises(TrackError, match="must be an algoeff.Target"):
        module.ComputeToTarget("val_acc")
