"""`algoeff ledger check`, and --normalize / the mixed-convention warning of trend and ledger show."""

import json
import shutil

import pytest

from algoeff.cli import main
from algoeff.ledger import load_ledger, write_ledger
from algoeff.ledger.analysis import bundled_analyses_dir


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as exit_info:
        code = exit_info.code
    out, err = capsys.readouterr()
    return code, out, err


def test_check_bundled_human(capsys):
    code, out, err = run(capsys, "ledger", "check")
    assert code == 0 and err == ""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("benchmark"))
    assert lines[header].split() == ["benchmark", "entry", "method", "listed", "recomputed", "ratio", "verdict"]
    table = lines[header + 1:header + 13]
    assert table[0].split()[:6] == ["alexnet", "AlexNet", "counting", "3.1", "3.08", "0.994"]
    assert "reproduces (2 s.f., tfs-days)" in table[0]
    tbase = next(line for line in table if "Transformer (Base)" in line)
    assert tbase.split()[3:7] == ["hardware", "8", "7.6", "0.950"]
    resnet = next(line for line in table if "ResNet-50 " in line)
    assert "differs (2 s.f., tfs-days), explained in its analysis" in resnet
    assert any(line.startswith("resnet50/ResNet-50 differs: Does not reproduce") for line in lines)
    assert any("GoogLeNet" in line and "11.25 x  0.39 =    4.3" in line for line in lines)
    n = len(load_ledger().entries)
    assert lines[-1] == f"{n - 2} of {n} entries reproduce; 2 differ (2 explained in their analyses)"


def test_check_bundled_json(capsys):
    code, out, _ = run(capsys, "ledger", "check", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and len(data["entries"]) == len(load_ledger().entries)
    verdicts = {e["publication"]: e["verdict"] for e in data["entries"]}
    assert [p for p, v in verdicts.items() if v != "reproduces"] == ["ResNet-50", "EfficientNet (b1)"]
    seq = next(e for e in data["entries"] if e["publication"] == "Seq2Seq (Ensemble)")
    assert seq["listed"] == pytest.approx(465) and seq["significant_figures"] == 3
    assert seq["recomputed_flops"] == pytest.approx(8 * 10 * 86400 * 3.52e12 * 0.33 * 5)
    assert seq["analysis"]["inputs"]["device"] == "K20"
    assert {d["publication"] for d in data["decompositions"]} >= {"GoogLeNet", "EfficientNet (b0)"}
    assert "half a unit" in data["rule"]


def test_check_fails_on_an_unexplained_difference(capsys, tmp_path):
    ledger = load_ledger()
    write_ledger(ledger.for_benchmark("resnet50"), tmp_path / "ledger.csv")
    shutil.copytree(bundled_analyses_dir(), tmp_path / "analyses")
    toml = tmp_path / "analyses" / "resnet50" / "resnet-50.toml"
    text = toml.read_text()
    start, end = text.index('difference = """'), text.index('tried = [')
    toml.write_text(text[:start] + text[end:])
    code, out, err = run(capsys, "ledger", "check", "--ledger", str(tmp_path / "ledger.csv"))
    assert code == 1
    row = next(line for line in out.splitlines() if line.startswith("resnet50   ResNet-50"))
    assert row.endswith("<- differs, and the analysis does not say why")
    assert out.splitlines()[-1].endswith("; 1 need attention")
    code, out, _ = run(capsys, "ledger", "check", "--ledger", str(tmp_path / "ledger.csv"), "--json")
    assert code == 1 and json.loads(out)["ok"] is False


def test_check_bad_analysis_is_one_line(capsys, tmp_path):
    folder = tmp_path / "analyses" / "alexnet"
    folder.mkdir(parents=True)
    (folder / "x.toml").write_text('benchmark = "alexnet"\npublication = "AlexNet"\nmethod = "counting"\n'
                                   '[convention]\nflops_per_mac = 1\n[inputs]\nper_example_gmacs = 0.77\n'
                                   'flops_per_mac = 1\nexamples = 0\nepochs = 90\n')
    code, out, err = run(capsys, "ledger", "check", "--analyses", str(tmp_path / "analyses"))
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("LedgerError: ") and "x.toml: examples == 0, must be > 0." in lines[0]


def test_trend_warns_and_normalizes(capsys):
    code, out, err = run(capsys, "trend", "--benchmark", "seq2seq")
    assert code == 0
    assert err.startswith("warning: seq2seq mixes counting conventions") and "--normalize" in err
    code, out, err = run(capsys, "trend", "--benchmark", "seq2seq", "--normalize", "--json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["normalized"] is True
    # 465 tfs-days / 0.33 / 5 models against 8 tfs-days
    assert data["reduction_factor"] == pytest.approx(465 / 0.33 / 5 / 8)
    code, out, err = run(capsys, "trend", "--benchmark", "alexnet")
    assert err == ""  # one convention: no warning


def test_ledger_show_normalize(capsys):
    code, out, err = run(capsys, "ledger", "show", "--benchmark", "seq2seq")
    assert code == 0 and "mixes counting conventions" in err
    code, out, err = run(capsys, "ledger", "show", "--benchmark", "alexnet", "--normalize", "--json")
    assert code == 0 and err == ""
    entries = json.loads(out)["benchmarks"][0]["entries"]
    # 1 FLOP per multiply-add -> 2: 3.1 -> 6.2 tfs-days; the reduction factors are unchanged
    assert entries[0]["compute_flops"] == pytest.approx(2 * 3.1 * 8.64e16)
    effnet = next(e for e in entries if e["publication"] == "EfficientNet (b0)")
    assert effnet["reduction_factor"] == pytest.approx(3.1 / 0.069)
