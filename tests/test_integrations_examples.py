"""The Lightning and Hugging Face examples: real runs reach their target, counted as per-step x steps."""

import importlib.util
import pathlib

import pytest
import torch
from torch import nn

from algoeff import RunStore, count_flops

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _per_step(net):
    # 2000 samples: 1280 training examples, 20 batches of 64 an epoch, every batch full
    x, y = torch.randn(64, 1, 40), torch.randint(0, 10, (64,))
    return count_flops(net, x, train=True, loss_fn=lambda out: nn.functional.cross_entropy(out, y)).total


@pytest.mark.slow
@pytest.mark.parametrize("name, framework", [("lightning_mnist1d", "lightning"), ("hf_mnist1d", "transformers")])
def test_example_reaches_target_and_counts_per_step_times_steps(tmp_path, capsys, name, framework):
    pytest.importorskip(framework)
    torch.set_num_threads(1)
    example = _load(name)
    store = tmp_path / "runs.db"
    argv = ["--samples", "2000", "--target", "0.5", "--store", str(store)]
    if framework == "lightning":
        argv += ["--log-dir", str(tmp_path / "logs")]
    summary = example.main(argv)
    out = capsys.readouterr().out
    assert summary["reached"] and "compute-to-target" in out

    per_step = _per_step(example.CNN().net)
    assert summary["total_flops"] == per_step * summary["steps"]
    assert summary["compute_to_target"] == per_step * summary["steps_to_target"]
    assert summary["steps"] == summary["steps_to_target"]  # stop_on_target
    runs = RunStore(store).runs()
    assert list(runs["status"]) == ["finished"]
