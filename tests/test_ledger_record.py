"""`ledger add` compares a new entry with its benchmark in one counting convention and says if it is a record."""

import json
import shutil

import pytest

from algoeff import cli
from algoeff.ledger import bundled_ledger_path, load_ledger


@pytest.fixture
def ledger(tmp_path):
    path = tmp_path / "ledger.csv"
    shutil.copy(bundled_ledger_path(), path)
    return path


NEW = ["--publication", "NewNet", "--date", "2020-01-15"]


def test_a_two_flop_figure_is_converted_into_alexnets_one_flop_convention(ledger, capsys):
    assert cli.main(["ledger", "add", "--ledger", str(ledger), "--benchmark", "alexnet", "--compute", "0.12",
                     "--flops-per-mac", "2", *NEW]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("note: converted 0.12 tfs-days counted with 2 FLOPs per multiply-add, no utilization "
                      "discount, 1 model to 0.06 tfs-days in alexnet's convention (1 FLOP per multiply-add, "
                      "no utilization discount, 1 model)")
    # 0.12 / 2 = 0.06 tfs-days; AlexNet 3.1 / 0.06 = 51.67; EfficientNet (b0) 0.069 / 0.06 = 1.15
    assert out[1] == ("new record: 51.7x vs the baseline AlexNet (3.1 tfs-days), 1.15x vs the previous record "
                      "EfficientNet (b0) (0.069 tfs-days)")
    entry = next(e for e in load_ledger(ledger).entries if e.publication == "NewNet")
    assert (entry.flops_per_mac, entry.compute_flops) == (1, pytest.approx(0.06 * 8.64e16))
    assert "converted 0.12 tfs-days" in entry.notes
    # show (without --normalize) now agrees with the verdict at the door
    capsys.readouterr()
    assert cli.main(["ledger", "show", "--ledger", str(ledger), "--benchmark", "alexnet"]) == 0
    row = [line for line in capsys.readouterr().out.splitlines() if "NewNet" in line][0]
    assert row.split()[:2] == ["*", "2020-01-15"] and "51.7x" in row


def test_json_verdict(ledger, capsys):
    assert cli.main(["ledger", "add", "--ledger", str(ledger), "--benchmark", "alexnet", "--compute", "0.12",
                     "--flops-per-mac", "2", *NEW, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    verdict = data["verdict"]
    assert verdict["record"] is True and verdict["previous_record"] == "EfficientNet (b0)"
    assert verdict["reduction_factor_vs_baseline"] == pytest.approx(3.1 / 0.06)
    assert verdict["reduction_factor_vs_previous_record"] == pytest.approx(0.069 / 0.06)
    assert verdict["compared_in"] == {"flops_per_mac": 1, "utilization_discount": None, "models": 1}
    assert data["compute_flops"] == pytest.approx(0.06 * 8.64e16)


def test_an_entry_of_unknown_convention_is_refused_where_the_benchmark_knows_its_own(ledger, capsys):
    before = ledger.read_bytes()
    assert cli.main(["ledger", "add", "--ledger", str(ledger), "--benchmark", "alexnet", "--compute", "0.12",
                     *NEW]) == 1
    err = capsys.readouterr().err
    line = len(before.decode().splitlines()) + 1  # the line the entry would have had
    assert err.startswith(f"LedgerError: {ledger}:{line}: flops_per_mac: unknown, but alexnet's entries count 1 FLOP")
    assert "--flops-per-mac 1 or 2" in err and len(err.splitlines()) == 1
    assert ledger.read_bytes() == before


def test_not_a_record_says_so_and_names_the_record_it_missed(ledger, capsys):
    # 0.2 tfs-days at 1 FLOP per multiply-add: beats the baseline (3.1 / 0.2 = 15.5) but not EfficientNet
    assert cli.main(["ledger", "add", "--ledger", str(ledger), "--benchmark", "alexnet", "--compute", "0.2",
                     "--flops-per-mac", "1", *NEW]) == 0
    out = capsys.readouterr().out.splitlines()
    # 0.069 / 0.2 = 0.345
    assert out[0] == ("not a record: 15.5x vs the baseline AlexNet (3.1 tfs-days), 0.345x vs the previous record "
                      "EfficientNet (b0) (0.069 tfs-days)")


def test_mixed_conventions_are_compared_after_normalising_all(ledger, capsys):
    # seq2seq's baseline: 4.0176e19 FLOPs at utilization 0.33, 5 models -> 4.0176e19 / 0.33 / 5 = 2.435e19
    assert cli.main(["ledger", "add", "--ledger", str(ledger), "--benchmark", "seq2seq", "--compute", "9",
                     "--flops-per-mac", "2", *NEW, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "mix counting conventions" in data["conversion"]
    assert data["verdict"]["baseline_compute_flops"] == pytest.approx(4.0176e19 / 0.33 / 5)
    # 2.435e19 / (9 x 8.64e16) = 31.3; the Transformer (Base) 6.912e17 / 7.776e17 = 0.889
    assert data["verdict"]["reduction_factor_vs_baseline"] == pytest.approx(31.31, rel=1e-3)
    assert data["verdict"]["record"] is False


def test_the_first_entry_of_a_new_ledger_is_its_baseline(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    assert cli.main(["ledger", "add", "--ledger", str(path), "--benchmark", "alexnet", "--compute", "3",
                     "--flops-per-mac", "2", *NEW]) == 0
    assert capsys.readouterr().out.splitlines()[0] == "new record: the first alexnet entry, its baseline (1x)"


def test_adding_to_a_minimal_ledger_keeps_its_columns_and_adds_only_what_the_entry_needs(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    path.write_text("benchmark,date,publication,compute,unit\nalexnet,2012-06-01,AlexNet,3.1,tfs-days\n")
    assert cli.main(["ledger", "add", "--ledger", str(path), "--benchmark", "alexnet", "--compute", "0.31",
                     "--flops-per-mac", "1", *NEW]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "note: the ledger gained the column flops_per_mac for this entry" in out
    # 3.1 / 0.31 = 10
    assert "new record: 10x vs the baseline AlexNet (3.1 tfs-days)" in out
    assert path.read_text() == ("benchmark,date,publication,compute,unit,flops_per_mac\n"
                                "alexnet,2012-06-01,AlexNet,3.1,tfs-days,\n"
                                "alexnet,2020-01-15,NewNet,0.31,tfs-days,1\n")


def test_an_entry_dated_before_the_baseline_becomes_the_new_baseline(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    path.write_text("benchmark,date,publication,compute,unit\nalexnet,2012-06-01,AlexNet,3.1,tfs-days\n")
    assert cli.main(["ledger", "add", "--ledger", str(path), "--benchmark", "alexnet", "--compute", "6.2",
                     "--publication", "Older", "--date", "2011-01-01"]) == 0
    # 6.2 / 3.1 = 2
    assert ("new record: dated before every other alexnet entry, it is the new baseline (1x); the earlier baseline "
            "becomes 2x") in capsys.readouterr().out
