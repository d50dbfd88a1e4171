"""`algoeff ledger show` and `algoeff ledger add`, through algoeff.cli.main."""

import json
import pathlib
import shutil

import pytest

from algoeff import cli
from algoeff.ledger import bundled_ledger_path, load_ledger

SEED_CSV = pathlib.Path(__file__).parent / "data" / "ledger" / "efficiency_sota.csv"


def test_show_lists_entries_with_frontier_marks(capsys):
    assert cli.main(["ledger", "show", "--benchmark", "AlexNet"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[2] == "AlexNet-level performance [alexnet]: 79.1% top 5 accuracy on ImageNet"
    rows = [line for line in lines if line.startswith("  * ")]
    assert len(rows) == 6  # the seed's six; FFCV's ResNet-18 (2022) is listed but not on the frontier
    assert rows[-1].split() == ["*", "2019-05-28", "EfficientNet", "(b0)", "0.069", "tfs-days", "44.9x", "44"]
    assert any("ResNet-18, 16 epochs (FFCV)" in line and not line.startswith("  * ") for line in lines)


def test_show_unit_switch(capsys):
    assert cli.main(["ledger", "show", "--benchmark", "gnmt", "--unit", "pfs-days"]) == 0
    out = capsys.readouterr().out
    # 1620 tf-s-days = 1.62 pf-s-days
    assert "1.62 pfs-days" in out and "(corrected: date, analysis_link)" in out


def test_show_json(capsys):
    assert cli.main(["ledger", "show", "--json", "--seed-values"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["corrected"] is False and data["format"] == "project"
    assert [b["key"] for b in data["benchmarks"]] == ["alexnet", "resnet50", "seq2seq", "gnmt", "cifar10-94",
                                                      "gpt2-speedrun"]
    seq = data["benchmarks"][2]["entries"][0]
    assert seq["date"] == "2014-01-10" and seq["models"] == 5 and seq["utilization_discount"] == 0.33


def test_show_unknown_benchmark_and_unit(capsys):
    assert cli.main(["ledger", "show", "--benchmark", "mnist"]) == 1
    assert capsys.readouterr().err.startswith("LedgerError: Unknown benchmark 'mnist'. Possible values are:")
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["ledger", "show", "--unit", "watts"])
    assert exit_info.value.code == 2


# -- add ---------------------------------------------------------------------------

def _copy_seed(tmp_path):
    path = tmp_path / "efficiency_sota.csv"
    shutil.copy(SEED_CSV, path)
    return path


ADD = ["--benchmark", "alexnet", "--publication", "NewNet", "--date", "2020-01-15", "--compute", "0.05",
       "--publication-link", "https://example.org/newnet"]


def test_add_by_flags_to_a_seed_ledger_appends_one_row(tmp_path, capsys):
    path = _copy_seed(tmp_path)
    before = path.read_bytes()
    assert cli.main(["ledger", "add", "--ledger", str(path), *ADD]) == 0
    out = capsys.readouterr().out.splitlines()
    # a seed ledger does not say how it counts: compared as listed, 3.1 / 0.05 = 62
    assert out == ["note: alexnet's entries do not all say how they count a multiply-add: compared as listed",
                   "new record: 62x vs the baseline AlexNet (3.1 tfs-days), 1.38x vs the previous record "
                   "EfficientNet (b0) (0.069 tfs-days)",
                   f"added 'NewNet' (alexnet, 2020-01-15) to {path} at line 14"]
    after = path.read_bytes()
    # the original bytes are kept; the seed file had no final newline, one is added
    assert after.startswith(before)
    assert after[len(before):].decode() == "\nAlexNet,1/15/2020,NewNet,https://example.org/newnet,0.05,,,\n"
    entry = load_ledger(path).for_benchmark("alexnet")[-1]
    assert entry.compute_flops == pytest.approx(0.05 * 8.64e16)


def test_add_from_a_toml_file_to_a_new_project_ledger(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    entry = tmp_path / "entry.toml"
    entry.write_text('benchmark = "resnet50"\npublication = "Base"\ndate = 2016-01-01\n'
                     'compute = 10\nunit = "tfs-days"\nlisted_reduction_factor = 1\n'
                     'flops_per_mac = 2\nmethod = "measured"\nprovenance = "my run"\n')
    assert cli.main(["ledger", "add", "--ledger", str(path), "--file", str(entry)]) == 0
    (added,) = load_ledger(path).entries
    assert (added.benchmark, added.flops_per_mac, added.method, added.provenance) == (
        "resnet50", 2, "measured", "my run")
    assert added.compute_flops == pytest.approx(10 * 8.64e16)


def test_add_from_json_reports_a_non_frontier_entry_with_a_note(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    load = {"benchmark": "alexnet", "publication": "Base", "date": "2012-06-01", "compute_flops": 2.6784e17}
    (tmp_path / "a.json").write_text(json.dumps(load))
    assert cli.main(["ledger", "add", "--ledger", str(path), "--file", str(tmp_path / "a.json")]) == 0
    worse = {**load, "publication": "Heavy", "date": "2013-01-01", "compute_flops": 3e17}
    (tmp_path / "b.json").write_text(json.dumps(worse))
    capsys.readouterr()
    assert cli.main(["ledger", "add", "--ledger", str(path), "--file", str(tmp_path / "b.json"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["on_frontier"] is False and data["verdict"]["record"] is False
    # 2.6784e17 / 3e17 = 0.8928
    assert data["verdict"]["reduction_factor_vs_baseline"] == pytest.approx(0.8928)
    assert data["headline"].startswith("not a record: 0.893x vs the baseline Base (3.1 tfs-days)")
    heavy = load_ledger(path).entries[-1]
    assert "not on the frontier when added" in heavy.notes


def _bad_add(tmp_path, capsys, args, expected):
    path = _copy_seed(tmp_path)
    before = path.read_bytes()
    assert cli.main(["ledger", "add", "--ledger", str(path), *args]) == 1
    (err,) = capsys.readouterr().err.strip().splitlines()
    assert err.startswith(expected), err
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["efficiency_sota.csv"]  # no temp file left


@pytest.mark.parametrize("change, expected", [
    ({"--compute": "abc"}, "compute: 'abc' is not a number."),
    ({"--compute": "0"}, "compute: 0 <= 0, must be > 0."),
    ({"--compute": "-1"}, "compute: -1 <= 0, must be > 0."),
    ({"--compute": "nan"}, "compute: 'nan' is not a finite number."),
    ({"--date": "2019-13-45"}, "date: impossible date '2019-13-45'"),
    ({"--date": "2999-01-01"}, "date: 2999-01-01 is in the future"),
    ({"--date": "5/28/2019"}, "date: '5/28/2019' is not a date, expected YYYY-MM-DD."),
    ({"--publication": "EfficientNet (b0)", "--date": "2019-05-28"}, "Publication: duplicate entry"),
    ({"--benchmark": "cifar10", "--listed-reduction-factor": "3"}, "Reduction Factor: benchmark 'cifar10' has no baseline"),
    ({"--date": "2010-01-01", "--listed-reduction-factor": "2"}, "Reduction Factor: benchmark 'alexnet' has no baseline"),
    ({"--publication": ""}, "publication: missing value."),
])
def test_add_rejects_bad_entries_and_writes_nothing(tmp_path, capsys, change, expected):
    args = dict(zip(ADD[::2], ADD[1::2]))
    args.update(change)
    flat = [x for pair in args.items() for x in pair]
    _bad_add(tmp_path, capsys, flat, f"LedgerError: {tmp_path / 'efficiency_sota.csv'}:14: {expected}")


def test_add_refuses_conventions_a_seed_ledger_cannot_hold(tmp_path, capsys):
    _bad_add(tmp_path, capsys, [*ADD, "--method", "counting"],
             f"LedgerError: {tmp_path / 'efficiency_sota.csv'}:14: method: the seed format has no column for it")


def test_add_to_a_project_ledger_rejects_an_unknown_benchmark(tmp_path, capsys):
    path = tmp_path / "mine.csv"
    assert cli.main(["ledger", "add", "--ledger", str(path), *ADD]) == 0
    before = path.read_bytes()
    assert cli.main(["ledger", "add", "--ledger", str(path), *ADD[:1], "cifar10", *ADD[2:]]) == 1
    assert "benchmark: unknown benchmark 'cifar10'" in capsys.readouterr().err
    assert path.read_bytes() == before


def test_add_neutralises_formula_text(tmp_path):
    path = tmp_path / "mine.csv"
    assert cli.main(["ledger", "add", "--ledger", str(path), *ADD, "--notes", "=cmd|' /C calc'!A0"]) == 0
    assert "'=cmd|' /C calc'!A0" in path.read_text()
    assert load_ledger(path).entries[0].notes == "=cmd|' /C calc'!A0"


def test_add_never_touches_the_installed_ledger(capsys):
    before = bundled_ledger_path().read_bytes()
    assert cli.main(["ledger", "add", "--ledger", str(bundled_ledger_path()), *ADD]) == 1
    assert "is the ledger installed with algoeff" in capsys.readouterr().err
    assert bundled_ledger_path().read_bytes() == before


def test_add_requires_a_ledger_path(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["ledger", "add", *ADD])
    assert exit_info.value.code == 2
    assert "--ledger" in capsys.readouterr().err


def test_add_rejects_unknown_entry_file_fields(tmp_path, capsys):
    entry = tmp_path / "e.json"
    entry.write_text('{"benchmark": "alexnet", "colour": "red"}')
    assert cli.main(["ledger", "add", "--ledger", str(tmp_path / "l.csv"), "--file", str(entry)]) == 1
    assert "unknown field 'colour'. Possible fields are: benchmark, date" in capsys.readouterr().err
    assert not (tmp_path / "l.csv").exists()
