"""``algoeff flops`` through algoeff.cli.main: exit codes and output lines."""

import json

import pytest
import torch
from torch import nn

from algoeff.cli import main


def tiny_lm():
    """A model whose input is token ids (its first layer is an nn.Embedding)."""
    return nn.Sequential(nn.Embedding(50, 8), nn.Linear(8, 50))


def not_a_model():
    return 42


def test_json_resnet18_on_meta(capsys):
    assert main(["flops", "torchvision:resnet18", "--input-shape", "1x3x224x224", "--device", "meta",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    for key in ("forward_flops", "backward_flops", "optimizer_flops", "total_flops", "macs", "by_module",
                "by_op", "uncounted_ops"):
        assert key in data
    assert data["macs"] / 1e9 == pytest.approx(1.814, rel=0.01)
    assert data["forward_flops"] == 2 * data["macs"] == data["total_flops"]
    assert data["backward_flops"] == 0 and data["uncounted_ops"] == {}


def test_train_with_optimizer_by_op_human_output(capsys):
    argv = ["flops", "torchvision:squeezenet1_1", "--input-shape", "2x3x64x64", "--train", "--optimizer",
            "adamw", "--policy", "all", "--device", "meta", "--by", "op"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("torchvision:squeezenet1_1  input 2x3x64x64 float32  training step (adamw)")
    labels = [line.split()[0] for line in lines[1:7]]
    assert labels == ["forward", "backward", "optimizer", "total", "MACs", "uncounted:"]
    assert lines[7] == "by op:" and lines[8].split()[0] == "aten.convolution_backward"


def test_callable_spec_with_token_ids(capsys):
    assert main(["flops", "tests.test_flops_cli:tiny_lm", "--input-shape", "4x16", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["input_dtype"] == "long"
    # 2 * (4 * 16) * 8 * 50 = 51200 (the lookup is free)
    assert data["forward_flops"] == 51200


@pytest.mark.parametrize(
    "argv, message",
    [
        (["resnet18"], "CountError: SPEC 'resnet18' must be torchvision:NAME, package.module:FACTORY or "
                      "path/to/file.py:FACTORY."),
        (["torchvision:resnet19"], "CountError: Unknown torchvision model 'resnet19'. Did you mean"),
        (["nosuch_pkg.mod:f"], "CountError: SPEC 'nosuch_pkg.mod:f': cannot import 'nosuch_pkg.mod'"),
        (["tests.test_flops_cli:missing"], "CountError: SPEC 'tests.test_flops_cli:missing': "
                                           "tests.test_flops_cli has no callable 'missing'."),
        (["tests.test_flops_cli:not_a_model"], "CountError: SPEC 'tests.test_flops_cli:not_a_model' returned int"),
        (["torchvision:resnet18", "--optimizer", "sgd"], "CountError: --optimizer counts only with --train."),
        (["torchvision:resnet18", "--device", "nowhere"], "CountError: --device 'nowhere'"),
    ],
)
def test_bad_input_is_one_line_exit_1(argv, message, capsys):
    shape = [] if "--input-shape" in argv else ["--input-shape", "1x3x32x32"]
    assert main(["flops", *argv, *shape]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and len(err.strip().splitlines()) == 1


def test_model_that_rejects_the_shape_is_one_line(capsys):
    assert main(["flops", "torchvision:resnet18", "--input-shape", "1x3x8", "--device", "meta"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("CountError: ResNet failed on inputs of shape [(1, 3, 8)]") and "\n" not in err


@pytest.mark.parametrize("argv", [
    ["torchvision:resnet18", "--input-shape", "1x3xa"],
    ["torchvision:resnet18", "--input-shape", "1x0x4"],
    ["torchvision:resnet18", "--input-shape", "1x3x4x4", "--policy", "fast"],
    ["torchvision:resnet18"],
])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["flops", *argv])
    assert exc.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


torch.set_num_threads(1)
