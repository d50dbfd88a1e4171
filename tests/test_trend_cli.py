"""`algoeff trend` through algoeff.cli.main: human output, JSON, plot, errors."""

import json
import pathlib

import pytest

from algoeff import cli

SEED_CSV = pathlib.Path(__file__).parent / "data" / "ledger" / "efficiency_sota.csv"


def test_trend_human_output_for_alexnet(capsys):
    assert cli.main(["trend", "--benchmark", "alexnet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "AlexNet-level performance [alexnet]: 79.1% top 5 accuracy on ImageNet"
    assert "reduction factor        44.9x over 6.99 years" in lines
    assert any(line.startswith("doubling time           15.7 months (95% CI 13.2 to 19.3; "
                               "t-distribution on the OLS slope, 4 df)") for line in lines)
    assert "Moore's law (24 months) 11.3x over the same span" in lines


def test_trend_json_has_the_contract_fields(capsys):
    assert cli.main(["trend", "--benchmark", "AlexNet", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["benchmark"] == "alexnet"
    assert data["baseline"]["date"] == "2012-06-01"
    assert data["frontier"][-1]["publication"] == "EfficientNet (b0)"
    assert round(data["reduction_factor"], 1) == 44.9
    assert round(data["doubling_time_months"], 1) == 15.7
    assert round(data["moores_law_factor"], 1) == 11.3
    assert round(data["span_years"], 2) == 6.99
    lo, hi = data["doubling_time_ci95_months"]
    assert lo < data["doubling_time_months"] < hi
    assert "t-distribution" in data["ci_method"]


def test_trend_on_the_seed_csv_with_and_without_errata(capsys):
    assert cli.main(["trend", "--benchmark", "seq2seq", "--ledger", str(SEED_CSV), "--json", "--seed-values"]) == 0
    seed = json.loads(capsys.readouterr().out)
    assert cli.main(["trend", "--benchmark", "seq2seq", "--ledger", str(SEED_CSV), "--json"]) == 0
    fixed = json.loads(capsys.readouterr().out)
    assert (seed["baseline"]["date"], fixed["baseline"]["date"]) == ("2014-01-10", "2014-09-10")
    assert seed["doubling_time_ci95_months"] is None and "2 frontier points" in seed["ci_note"]


def test_trend_plot_writes_a_png(tmp_path, capsys):
    path = tmp_path / "alexnet.png"
    assert cli.main(["trend", "--benchmark", "alexnet", "--plot", str(path), "--unit", "pfs-days"]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {path}" in capsys.readouterr().out


def test_trend_plot_draws_dollar_signs_as_text(tmp_path, capsys):
    # "$...$" in a publication name would start mathtext; a lone "$" made matplotlib raise
    ledger = tmp_path / "dollars.csv"
    ledger.write_text(
        SEED_CSV.read_text().splitlines()[0] + "\n"
        "Toy,1/1/2015,Net $5,,10,1,,\n"
        "Toy,1/1/2016,Net $x^2$ and $,,5,2,,\n"
        "Toy,1/1/2017,Net \\frac{$,,2,5,,\n", encoding="utf-8")
    path = tmp_path / "toy.png"
    assert cli.main(["trend", "--benchmark", "Toy", "--ledger", str(ledger), "--plot", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_mode & 0o777 == 0o644
    assert capsys.readouterr().err == ""


def test_trend_plot_into_a_missing_folder_is_one_line(tmp_path, capsys):
    assert cli.main(["trend", "--benchmark", "alexnet", "--plot", str(tmp_path / "no" / "x.png")]) == 1
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_trend_unknown_benchmark_and_missing_flag(capsys):
    assert cli.main(["trend", "--benchmark", "imagenet"]) == 1
    assert capsys.readouterr().err.strip() == (
        "LedgerError: Unknown benchmark 'imagenet'. Possible values are: alexnet, resnet50, seq2seq, gnmt, cifar10-94, "
        "gpt2-speedrun.")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["trend"])
    assert exit_info.value.code == 2


def test_trend_missing_ledger_file(tmp_path, capsys):
    assert cli.main(["trend", "--benchmark", "alexnet", "--ledger", str(tmp_path / "none.csv")]) == 1
    assert "none.csv" in capsys.readouterr().err


def test_trend_on_a_benchmark_without_entries(tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    assert cli.main(["ledger", "add", "--ledger", str(path), "--benchmark", "gnmt", "--publication", "G",
                     "--date", "2016-09-26", "--compute", "1620"]) == 0
    capsys.readouterr()
    assert cli.main(["trend", "--benchmark", "alexnet", "--ledger", str(path)]) == 1
    assert capsys.readouterr().err.strip() == f"LedgerError: benchmark 'alexnet' has no entries in {path}."
    assert cli.main(["trend", "--benchmark", "gnmt", "--ledger", str(path)]) == 1
    assert "has 1 frontier entry ('G'); a trend needs at least 2" in capsys.readouterr().err
