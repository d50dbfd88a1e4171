"""`algoeff ledger benchmark add|list`: a new benchmark in the benchmarks.toml beside a ledger, validated."""

import json

import pytest

from algoeff import cli
from algoeff.ledger import load_benchmarks

ARGS = ["--title", "Digits-95-level performance", "--metric", "test accuracy (%)", "--threshold", "95",
        "--direction", "higher"]


def test_add_writes_a_benchmark_a_minimal_ledger_can_use(tmp_path, capsys):
    ledger = tmp_path / "my.csv"
    assert cli.main(["ledger", "benchmark", "add", "digits95", "--ledger", str(ledger), *ARGS,
                     "--alias", "Digits"]) == 0
    path = tmp_path / "benchmarks.toml"
    assert capsys.readouterr().out.strip() == (
        f"defined benchmark 'digits95' (test accuracy (%) >= 95) in {path}")
    (bench,) = load_benchmarks(path)
    assert (bench.key, bench.threshold, bench.direction, bench.aliases) == ("digits95", 95.0, "higher", ("Digits",))
    ledger.write_text("benchmark,date,publication,compute,unit\nDigits,2020-01-01,MLP,4e-9,tfs-days\n")
    assert cli.main(["ledger", "validate", "--ledger", str(ledger)]) == 0
    assert cli.main(["ledger", "benchmark", "list", "--ledger", str(ledger), "--json"]) == 0
    capsys.readouterr()


def test_add_keeps_the_files_other_text_and_refuses_a_clash(tmp_path, capsys):
    path = tmp_path / "benchmarks.toml"
    path.write_text('# my benchmarks\n[mine]\ntitle = "Mine"\n')
    ledger = str(tmp_path / "my.csv")
    assert cli.main(["ledger", "benchmark", "add", "digits95", "--ledger", ledger, *ARGS]) == 0
    assert path.read_text().startswith('# my benchmarks\n[mine]\ntitle = "Mine"\n\n[digits95]\n')
    before = path.read_bytes()
    for key, extra, fragment in [
        ("digits95", [], "'digits95' is already a name of benchmark 'digits95' (defined in this file)"),
        ("alexnet", [], "'alexnet' is already a name of benchmark 'alexnet' (bundled with algoeff)"),
        ("new", ["--alias", "AlexNet"], "'AlexNet' is already a name of benchmark 'alexnet'"),
        ("Bad Key", [], "benchmark key 'Bad Key' must be lower-case letters"),
    ]:
        capsys.readouterr()
        assert cli.main(["ledger", "benchmark", "add", key, "--ledger", ledger, *ARGS, *extra]) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"LedgerError: {path}: ") and fragment in err and len(err.splitlines()) == 1
        assert path.read_bytes() == before


@pytest.mark.parametrize("args, code", [
    (["--threshold", "nan"], 2),
    (["--direction", "sideways"], 2),
    (["--title", ""], 1),
])
def test_bad_values_are_refused_and_nothing_written(tmp_path, capsys, args, code):
    argv = dict(zip(ARGS[::2], ARGS[1::2]))
    argv.update(dict(zip(args[::2], args[1::2])))
    flat = [x for kv in argv.items() for x in kv]
    with pytest.raises(SystemExit) if code == 2 else _nothing():
        status = cli.main(["ledger", "benchmark", "add", "k", "--ledger", str(tmp_path / "my.csv"), *flat])
        assert status == code
    assert not (tmp_path / "benchmarks.toml").exists()
    capsys.readouterr()


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_add_json(tmp_path, capsys):
    assert cli.main(["ledger", "benchmark", "add", "d", "--ledger", str(tmp_path / "l.csv"), *ARGS, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["key"] == "d" and data["path"] == str(tmp_path / "benchmarks.toml")


def test_a_key_with_a_dot_round_trips(tmp_path, capsys):
    # "[accuracy-0.9]" would be a nested TOML table: the key is written quoted
    assert cli.main(["ledger", "benchmark", "add", "accuracy-0.9", "--ledger", str(tmp_path / "l.csv"), *ARGS]) == 0
    assert [b.key for b in load_benchmarks(tmp_path / "benchmarks.toml")] == ["accuracy-0.9"]
    assert '["accuracy-0.9"]' in (tmp_path / "benchmarks.toml").read_text()
    capsys.readouterr()


def test_the_installed_ledgers_benchmarks_are_never_written(capsys):
    from algoeff.ledger import bundled_ledger_path

    toml = bundled_ledger_path().parent / "benchmarks.toml"
    before = toml.read_bytes()
    assert cli.main(["ledger", "benchmark", "add", "newkey", "--ledger", str(bundled_ledger_path()), *ARGS]) == 1
    assert "is the ledger installed with algoeff" in capsys.readouterr().err
    assert toml.read_bytes() == before
