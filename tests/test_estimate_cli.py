"""`algoeff estimate` through algoeff.cli.main: output, JSON and one-line errors."""

import datetime as dt
import json
import textwrap

import pytest

from algoeff.cli import main


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit_info:  # argparse usage errors
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def test_ops_json(capsys):
    code, out, err = run(capsys, "estimate", "ops", "--per-example-gmacs", "0.77", "--flops-per-mac", "1",
                         "--examples", "1.28e6", "--epochs", "90", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    # 0.77e9 x 3 x 1.28e6 x 90
    assert data["total_flops"] == pytest.approx(2.66112e17)
    assert data["tfs_days"] == pytest.approx(2.66112e17 / 8.64e16)
    assert data["pfs_days"] == pytest.approx(2.66112e17 / 8.64e19)
    assert data["inputs"]["epochs"] == 90 and data["inputs"]["examples"] == 1.28e6
    assert data["convention"]["flops_per_mac"] == 1 and data["method"] == "counting"


def test_ops_human(capsys):
    code, out, _ = run(capsys, "estimate", "ops", "--per-example-gflops", "2", "--examples", "100", "--epochs", "3")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "counting operations: 2 GFLOPs per example"
    # 2e9 x 3 x 100 x 3 = 1.8e12
    assert lines[-1].startswith("total  1.800e+12 FLOPs = ")


def test_hardware_json_and_human(capsys):
    code, out, _ = run(capsys, "estimate", "hardware", "--device", "GTX 580", "--count", "2", "--days", "5.5",
                       "--json")
    assert code == 0
    data = json.loads(out)
    assert data["total_flops"] == pytest.approx(2 * 5.5 * 86400 * 1.581e12 * 0.33)
    assert data["inputs"]["device"] == "GTX 580" and data["inputs"]["utilization"] == 0.33
    assert data["inputs"]["peak_source"].startswith("NVIDIA GeForce GTX 580")
    code, out, _ = run(capsys, "estimate", "hardware", "--peak-tflops", "9.5", "--count", "8", "--hours", "12",
                       "--utilization", "none")
    assert code == 0 and "x utilization 1" in out.splitlines()[0]
    assert "3.283e+18 FLOPs" in out.splitlines()[-1]


@pytest.mark.parametrize("argv, code, message", [
    (["hardware", "--device", "H9000", "--count", "1", "--hours", "1"], 1,
     "EstimateError: Unknown device 'H9000'. Known devices: GTX 580, K20,"),
    (["hardware", "--device", "V100", "--count", "0", "--hours", "1"], 1, "EstimateError: count == 0.0, must be > 0."),
    (["hardware", "--device", "V100", "--count", "-3", "--hours", "1"], 1, "EstimateError: count == -3.0, must be > 0."),
    (["hardware", "--device", "TPU v4", "--count", "1", "--hours", "1", "--precision", "fp32"], 1,
     "EstimateError: the catalog has no fp32 peak for TPU v4; known precisions for it: bf16, int8."),
    (["hardware", "--device", "V100", "--count", "1", "--hours", "1", "--utilization", "2"], 1,
     "EstimateError: utilization == '2', must be in (0, 1] (a fraction of peak)."),
    (["hardware", "--device", "V100", "--count", "1", "--hours", "1", "--days", "1"], 2,
     "argument --days: not allowed with argument --hours"),
    (["hardware", "--device", "V100", "--count", "1"], 2, "one of the arguments --hours --days is required"),
    (["hardware", "--count", "1", "--hours", "1"], 2, "one of the arguments --device --peak-tflops is required"),
    (["ops", "--examples", "10", "--epochs", "1"], 2,
     "one of the arguments --per-example-gflops --per-example-gmacs --model is required"),
    (["ops", "--per-example-gflops", "1", "--epochs", "1"], 2, "the following arguments are required: --examples"),
    (["ops", "--per-example-gflops", "1", "--examples", "0", "--epochs", "1"], 1,
     "EstimateError: examples == 0.0, must be > 0."),
    (["ops", "--per-example-gflops", "1", "--examples", "10", "--epochs", "-1"], 1,
     "EstimateError: epochs == -1.0, must be > 0."),
    (["ops", "--per-example-gflops", "1", "--examples", "10", "--epochs", "1", "--input-shape", "1,3"], 1,
     "EstimateError: --input-shape is only used with --model."),
    (["ops", "--model", "torchvision", "--input-shape", "1x3", "--examples", "10", "--epochs", "1"], 1,
     "CountError: --model 'torchvision' must be torchvision:NAME, package.module:FACTORY or "
     "path/to/file.py:FACTORY."),
    (["ops", "--model", "os:getcwd", "--examples", "10", "--epochs", "1"], 1,
     "EstimateError: --model needs --input-shape, e.g. 1x3x224x224 (first dimension = batch)."),
    (["ops", "--model", "os:getcwd", "--input-shape", "1,x", "--examples", "10", "--epochs", "1"], 1,
     "CountError: --input-shape '1,x' must be whole numbers joined by 'x' or ',', e.g. 1x3x224x224"),
    (["ops", "--model", "os:getcwd", "--input-shape", "1,3", "--examples", "10", "--epochs", "1"], 1,
     "CountError: --model 'os:getcwd' returned str, must return a torch.nn.Module."),
    (["effective", "--benchmark", "nope"], 1, "Error: "),
    (["effective", "--benchmark", "alexnet", "--hardware-from", "V100"], 1,
     "EstimateError: --hardware-from needs --hardware-to."),
])
def test_bad_inputs_are_one_line(capsys, argv, code, message):
    got, out, err = run(capsys, "estimate", *argv)
    assert got == code
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err


def test_ops_counts_a_model(capsys, tmp_path, monkeypatch):
    (tmp_path / "tinymodel.py").write_text(textwrap.dedent("""
        import torch
        def make():
            torch.manual_seed(0)
            return torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run(capsys, "estimate", "ops", "--model", "tinymodel:make", "--input-shape", "5x8",
                         "--examples", "1000", "--epochs", "2", "--json")
    assert code == 0, err
    data = json.loads(out)
    # forward per example: 2 x (8 x 4 + 4 x 2) = 80 FLOPs; x 3 x 1000 x 2 = 480,000
    assert data["inputs"]["per_example_flops"] == pytest.approx(80)
    assert data["total_flops"] == pytest.approx(480_000)
    assert data["inputs"]["input_shape"] == [5, 8] and data["inputs"]["model"] == "tinymodel:make"


def test_catalog(capsys):
    code, out, _ = run(capsys, "estimate", "catalog")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["device", "year", "fp64"]
    assert any(line.startswith("GTX 580 ") and "1.581" in line for line in lines)
    code, out, _ = run(capsys, "estimate", "catalog", "--json")
    data = json.loads(out)
    assert {d["name"] for d in data["devices"]} >= {"K20", "H200", "B200", "TPU v5e"}
    assert all(d["source"] for d in data["devices"])
    assert data["utilization"]["ai-and-compute-gpu"]["value"] == 0.33


def test_effective(capsys):
    code, out, _ = run(capsys, "estimate", "effective", "--benchmark", "alexnet", "--json")
    assert code == 0
    data = json.loads(out)
    # AlexNet 3.1 / EfficientNet-b0 0.069 = 44.9; 2012-06-01 -> 2019-05-28 at a 24-month doubling
    months = (dt.date(2019, 5, 28) - dt.date(2012, 6, 1)).days / (365.25 / 12)
    assert data["algorithmic_factor"] == pytest.approx(3.1 / 0.069)
    assert data["months"] == pytest.approx(months)
    assert data["hardware_factor"] == pytest.approx(2 ** (months / 24))
    assert data["effective_factor"] == pytest.approx(3.1 / 0.069 * 2 ** (months / 24))
    assert data["best"] == "EfficientNet (b0)" and data["best_date"] == "2019-05-28"

    code, out, _ = run(capsys, "estimate", "effective", "--benchmark", "alexnet", "--hardware-from", "GTX 580",
                       "--hardware-to", "V100", "--json")
    assert json.loads(out)["hardware_factor"] == pytest.approx(15.7 / 1.581)
    code, out, _ = run(capsys, "estimate", "effective", "--benchmark", "alexnet", "--hardware-catalog")
    assert code == 0 and "V100 15.7 TFLOPS / K20 3.52 TFLOPS" in out


def test_effective_warns_on_mixed_conventions(capsys):
    code, out, err = run(capsys, "estimate", "effective", "--benchmark", "seq2seq", "--hardware-doubling-months", "12")
    assert code == 0
    assert err.startswith("warning: seq2seq mixes counting conventions")
    assert "hardware factor" in out and "doubling every 12 months" in out
    code, out, err = run(capsys, "estimate", "effective", "--benchmark", "seq2seq", "--normalize", "--json")
    assert err == ""
    # like for like: 465 / 0.33 / 5 / 8 = 35.2
    assert json.loads(out)["algorithmic_factor"] == pytest.approx(465 / 0.33 / 5 / 8)


def test_a_tpu_without_an_fp32_peak_defaults_to_the_precision_it_publishes(capsys):
    assert main(["estimate", "hardware", "--device", "TPU v3", "--count", "8", "--hours", "1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    # 8 x 3600 s x 123e12 (bf16 peak) x 0.40 = 1.417e18
    assert data["inputs"]["precision"] == "bf16" and data["total_flops"] == pytest.approx(8 * 3600 * 123e12 * 0.4)
    assert "publishes no fp32 peak" in data["inputs"]["precision_source"]


def test_estimate_ops_model_honours_flops_per_mac(tmp_path, monkeypatch, capsys):
    (tmp_path / "tiny.py").write_text("import torch\ndef build(width=2):\n    return torch.nn.Linear(4, width)\n")
    monkeypatch.chdir(tmp_path)
    args = ["estimate", "ops", "--model", "tiny:build", "--input-shape", "2x4", "--examples", "100", "--epochs", "1",
            "--json"]
    totals = {}
    for mac in ("2", "1"):
        assert main([*args, "--flops-per-mac", mac]) == 0
        data = json.loads(capsys.readouterr().out)
        assert data["convention"]["flops_per_mac"] == int(mac)
        totals[mac] = data["total_flops"]
    # 4 x 2 multiply-adds = 16 FLOPs per example at 2, x 3 (forward + backward) x 100 = 4800; at 1: 2400
    assert (totals["2"], totals["1"]) == (4800, 2400)
    assert main([*args, "--model-arg", "width=4"]) == 0
    assert json.loads(capsys.readouterr().out)["total_flops"] == 9600
