"""Every CLI command over a table of bad inputs: exit status, one line `<ErrorClass>: <message>` naming the
user's path (never a temp file), no traceback, nothing written."""

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from algoeff import cli
from algoeff.ledger import bundled_ledger_path

MODEL = '''\
import torch

def build():
    return torch.nn.Linear(4, 2)

def broken():
    raise RuntimeError("boom")

def needs(width):
    return torch.nn.Linear(4, width)
'''

ADD = ["--benchmark", "alexnet", "--date", "2020-01-15", "--compute", "0.1", "--flops-per-mac", "1"]

# argv (with {tmp} for the test's folder), exit status, the one line's start (after {tmp} is filled in)
CASES = {
    # ledgers
    "show a missing ledger": (["ledger", "show", "--ledger", "{tmp}/nope.csv"], 1,
                              "LedgerError: {tmp}/nope.csv: no such ledger file."),
    "show a folder": (["ledger", "show", "--ledger", "{tmp}"], 1,
                      "LedgerError: {tmp}: is a folder, expected a ledger CSV file."),
    "validate a missing ledger": (["ledger", "validate", "--ledger", "{tmp}/nope.csv"], 1,
                                  "LedgerError: {tmp}/nope.csv: no such ledger file."),
    "check a missing ledger": (["ledger", "check", "--ledger", "{tmp}/nope.csv"], 1,
                               "LedgerError: {tmp}/nope.csv: no such ledger file."),
    "tables into a missing folder": (["ledger", "tables", "--write", "{tmp}/no/README.md"], 1,
                                     "FileNotFoundError: {tmp}/no/README.md: "),
    "tables under a file": (["ledger", "tables", "--write", "{tmp}/afile/README.md"], 1,
                            "NotADirectoryError: {tmp}/afile/README.md: "),
    "tables onto a folder": (["ledger", "tables", "--write", "{tmp}"], 1, "IsADirectoryError: {tmp}: "),
    "add into a missing folder": (["ledger", "add", "--ledger", "{tmp}/no/l.csv", "--publication", "X", *ADD], 1,
                                  "LedgerError: {tmp}/no/l.csv: folder '{tmp}/no' does not exist"),
    "add a publication with a newline": (["ledger", "add", "--ledger", "{tmp}/l.csv", "--publication", "A\nB",
                                          *ADD], 1,
                                         "LedgerError: {tmp}/l.csv:{line}: publication: 'A\\nB' has a line break"),
    "add of unknown convention": (["ledger", "add", "--ledger", "{tmp}/l.csv", "--publication", "X",
                                   *ADD[:-2]], 1, "LedgerError: {tmp}/l.csv:{line}: flops_per_mac: unknown, but "),
    "add from a missing store": (["ledger", "add", "--ledger", "{tmp}/l.csv", "--from-run", "{tmp}/runs.db"], 1,
                                 "LedgerError: --from-run {tmp}/runs.db: no such run store"),
    "add from a missing study": (["ledger", "add", "--ledger", "{tmp}/l.csv", "--from-study", "{tmp}/st"], 1,
                                 "LedgerError: --from-study {tmp}/st: no results.json there"),
    "benchmark add clashing with a bundled one": (
        ["ledger", "benchmark", "add", "alexnet", "--ledger", "{tmp}/l.csv", "--title", "T", "--metric", "m",
         "--threshold", "1", "--direction", "higher"], 1,
        "LedgerError: {tmp}/benchmarks.toml: 'alexnet' is already a name of benchmark 'alexnet'"),
    "a usage error": (["ledger", "add", "--ledger", "{tmp}/l.csv", "--flops-per-mac", "3"], 2,
                      "UsageError: algoeff ledger add: argument --flops-per-mac: invalid choice: '3'"),
    # trend
    "plot of an unknown type": (["trend", "--benchmark", "alexnet", "--plot", "{tmp}/x.gif"], 1,
                                "LedgerError: {tmp}/x.gif: unknown image type '.gif'."),
    "plot onto a folder": (["trend", "--benchmark", "alexnet", "--plot", "{tmp}"], 1,
                           "LedgerError: {tmp}: is a folder, expected an image file"),
    "plot into a missing folder": (["trend", "--benchmark", "alexnet", "--plot", "{tmp}/no/x.png"], 1,
                                   "LedgerError: {tmp}/no/x.png: folder '{tmp}/no' does not exist"),
    # report
    "report under a file": (["report", "--out", "{tmp}/afile/site"], 1,
                            "ReportError: --out {tmp}/afile/site: {tmp}/afile is a file"),
    # estimate
    "estimate ops with a raising factory": (
        ["estimate", "ops", "--model", "mymodel:broken", "--input-shape", "1x4", "--examples", "1", "--epochs", "1"],
        1, "CountError: --model 'mymodel:broken': calling broken() raised RuntimeError: boom"),
    "estimate ops with a factory needing an argument": (
        ["estimate", "ops", "--model", "mymodel:needs", "--input-shape", "1x4", "--examples", "1", "--epochs", "1"],
        1, "CountError: --model 'mymodel:needs': calling needs() raised TypeError: needs() missing 1 required"),
    "estimate ops with a wrong input shape": (
        ["estimate", "ops", "--model", "mymodel:build", "--input-shape", "1x5", "--examples", "1", "--epochs", "1"],
        1, "CountError: "),
    "estimate effective of a missing ledger": (["estimate", "effective", "--benchmark", "alexnet", "--ledger",
                                                "{tmp}/nope.csv"], 1, "LedgerError: {tmp}/nope.csv: no such ledger"),
    # flops
    "flops on cuda without one": (["flops", "mymodel:build", "--input-shape", "1x4", "--device", "cuda"], 1,
                                  "CountError: --device 'cuda': no CUDA device here"),
    "flops on mps without one": (["flops", "mymodel:build", "--input-shape", "1x4", "--device", "mps"], 1,
                                 "CountError: --device 'mps': no Apple MPS device here"),
    "flops with a raising factory": (["flops", "mymodel:broken", "--input-shape", "1x4"], 1,
                                     "CountError: SPEC 'mymodel:broken': calling broken() raised RuntimeError: boom"),
    "flops with a factory needing an argument": (
        ["flops", "mymodel:needs", "--input-shape", "1x4"], 1,
        "CountError: SPEC 'mymodel:needs': calling needs() raised TypeError: needs() missing 1 required positional "
        "argument: 'width' (give factory arguments with --model-arg NAME=VALUE)"),
    "flops with a bad --model-arg": (["flops", "mymodel:needs", "--input-shape", "1x4", "--model-arg", "3"], 1,
                                     "CountError: --model-arg '3' must be NAME=VALUE"),
    "flops of a missing file": (["flops", "{tmp}/nope.py:build", "--input-shape", "1x4"], 1,
                                "CountError: SPEC '{tmp}/nope.py:build': no such file '{tmp}/nope.py'."),
    "flops of a missing module": (["flops", "nomodule:build", "--input-shape", "1x4"], 1,
                                  "CountError: SPEC 'nomodule:build': cannot import 'nomodule' (no module"),
    "flops of vit at the wrong size": (["flops", "torchvision:vit_b_16", "--input-shape", "1x3x64x64",
                                        "--device", "meta"], 1,
                                       "CountError: torchvision:vit_b_16 with input 1x3x64x64 float32: AssertionError: "
                                       "Wrong image height! Expected 224 but got 64!"),
    "flops --loss without --train": (["flops", "mymodel:build", "--input-shape", "1x4", "--loss", "mse"], 1,
                                     "CountError: --loss and --labels count only with --train."),
}


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "mymodel.py").write_text(MODEL)
    (tmp_path / "afile").write_text("a file, not a folder")
    shutil.copy(bundled_ledger_path(), tmp_path / "l.csv")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _files(folder: pathlib.Path) -> dict:
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_naming_the_users_path(workdir, capsys, name):
    argv, status, start = CASES[name]
    argv = [a.format(tmp=workdir) for a in argv]
    # the line a new entry of l.csv (a copy of the bundled ledger) would have had
    line = len((workdir / "l.csv").read_text().splitlines()) + 1
    start = start.format(tmp=workdir, line=line)
    before = _files(workdir)
    try:
        code = cli.main(argv)
    except SystemExit as exit_info:  # argparse
        code = exit_info.code
    out, err = capsys.readouterr()
    assert code == status
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert err.startswith(start), err
    assert re.match(r"^[A-Z][A-Za-z]*Error: ", err)
    assert ".tmp" not in err  # never a temp file's name
    assert _files(workdir) == before  # nothing written, nothing half-written


def test_through_the_console_script_too(workdir):
    # the real entry point, in a fresh interpreter: still one line and no traceback
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "algoeff.cli", "flops", "mymodel:broken", "--input-shape", "1x4"],
                          capture_output=True, text=True, cwd=workdir, env=env, timeout=120)
    assert done.returncode == 1 and done.stderr.strip() == (
        "CountError: SPEC 'mymodel:broken': calling broken() raised RuntimeError: boom")


def test_models_next_to_the_user_and_in_files_load(workdir, capsys):
    for spec in ("mymodel:build", "./mymodel.py:build", f"{workdir}/mymodel.py:build"):
        assert cli.main(["flops", spec, "--input-shape", "1x4", "--json"]) == 0
        # 4 x 2 multiply-adds x 2 FLOPs = 16
        assert json.loads(capsys.readouterr().out)["total_flops"] == 16
    assert cli.main(["flops", "mymodel:needs", "--input-shape", "1x4", "--model-arg", "width=3", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total_flops"] == 24  # 4 x 3 x 2


def test_flops_train_with_a_cross_entropy_loss(workdir, capsys):
    base = ["flops", "mymodel:build", "--input-shape", "8x4", "--train", "--json"]
    assert cli.main(base) == 0
    plain = capsys.readouterr().out
    assert cli.main([*base, "--loss", "cross-entropy"]) == 0
    data = capsys.readouterr().out
    assert '"loss": "cross-entropy"' in data and '"loss": "sum"' in plain
    # same matmuls either way: forward 8 x 4 x 2 x 2 = 128, backward (weight grad only) 128
    assert json.loads(data)["total_flops"] == 256


def test_a_symlinked_ledger_stays_a_symlink(workdir, capsys):
    real = workdir / "real.csv"
    shutil.copy(bundled_ledger_path(), real)
    link = workdir / "link.csv"
    link.symlink_to(real)
    assert cli.main(["ledger", "add", "--ledger", str(link), "--publication", "X", *ADD]) == 0
    assert link.is_symlink() and "X" in real.read_text().splitlines()[-1]


def test_plot_writes_the_format_its_name_says(workdir, capsys):
    for name, magic in (("t.jpeg", b"\xff\xd8\xff"), ("t.png", b"\x89PNG"), ("t.svg", b"<?xml")):
        assert cli.main(["trend", "--benchmark", "alexnet", "--plot", str(workdir / name)]) == 0
        assert (workdir / name).read_bytes().startswith(magic)
    capsys.readouterr()
