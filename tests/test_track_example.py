"""The MNIST-1D example: a real run reaches its target and its FLOPs are per-step count x steps."""

import importlib.util
import pathlib

import pytest
import torch

from algoeff import RunStore
from algoeff.flops import StepCounter

EXAMPLE = pathlib.Path(__file__).parents[1] / "examples" / "track_mnist1d.py"


def _load_example():
    spec = importlib.util.spec_from_file_location("track_mnist1d", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_mnist1d_run_reaches_target_and_counts_per_step_times_steps(tmp_path, capsys):
    torch.set_num_threads(1)
    example = _load_example()
    store = tmp_path / "runs.db"
    summary = example.main(["--samples", "2000", "--target", "0.55", "--eval-every", "25",
                            "--max-steps", "1500", "--store", str(store)])
    out = capsys.readouterr().out
    assert summary["reached"] and "reached accuracy >= 0.55" in out

    # one step of the same model and batch, counted on its own
    model = example.cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    (x, y), _ = example.mnist1d(2000, 0)
    counter = StepCounter(model)
    with counter.step():
        loss = torch.nn.functional.cross_entropy(model(x[:64]), y[:64])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    per_step = counter.last.total
    assert summary["total_flops"] == per_step * summary["steps"]
    assert summary["compute_to_target"] == per_step * summary["steps_to_target"]
    assert summary["examples"] == 64 * summary["steps"]
    assert summary["compute_to_target_interpolated"] <= summary["compute_to_target"]
    # evaluation: forward passes over the 400 test examples, counted apart
    assert summary["eval_flops"] > 0 and summary["points"] == summary["steps"] // 25

    points = RunStore(store).points()
    assert len(points) == summary["points"]
    assert points["accuracy"].iloc[-1] >= 0.55 > points["accuracy"].iloc[:-1].max()
