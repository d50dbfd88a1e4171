"""Every bad input the issue lists gets `PATH:LINE: column: message`, exit 1, nothing written."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algoeff import cli
from algoeff.errors import LedgerError
from algoeff.ledger import bundled_benchmarks, load_ledger, validate_ledger
from algoeff.ledger.formats import parse_ledger

SEED_HEADER = ("Metric,Publication Date,Publication,Publication link,Compute (teraflops-s/days),"
               "Reduction Factor,Analysis,Analysis link")
GOOD_SEED = [
    "AlexNet,6/1/2012,AlexNet,https://example.org/alexnet,3.1,1,AI and Efficiency,",
    "AlexNet,9/17/2014,GoogLeNet,https://arxiv.org/abs/1409.4842,0.71,4.3,AI and Efficiency,",
]
PROJECT_HEADER = ("benchmark,date,publication,publication_link,compute_flops,listed_reduction_factor,analysis,"
                  "analysis_link,flops_per_mac,utilization_discount,models,method,notes,provenance")
GOOD_PROJECT = [
    "alexnet,2012-06-01,AlexNet,,2.6784e17,1,,,1,,1,counting,,",
    "alexnet,2014-09-17,GoogLeNet,,6.1344e16,4.3,,,1,,1,counting,,",
]


def _seed(*rows):
    return "\n".join([SEED_HEADER, *rows]) + "\n"


def _project(*rows):
    return "\n".join([PROJECT_HEADER, *rows]) + "\n"


# name -> (file bytes, expected line, column, message fragment)
BAD_FILES = {
    "missing column": (
        _seed(*GOOD_SEED).replace(",Analysis link", "", 1).encode(), 1, "header", "missing column 'Analysis link'"),
    "extra column": (
        (SEED_HEADER + ",Extra\n" + "".join(r + ",x\n" for r in GOOD_SEED)).encode(),
        1, "header", "unexpected column 'Extra'"),
    "project missing a required column": (
        _project(*GOOD_PROJECT).replace(",date,", ",", 1).encode(), 1, "header", "missing column 'date'"),
    "project with no compute column": (
        _project(*GOOD_PROJECT).replace(",compute_flops,", ",", 1).encode(), 1, "header",
        "missing column 'compute_flops' (or 'compute' and 'unit')"),
    "row with too many fields": (
        _seed(GOOD_SEED[0], GOOD_SEED[1] + ",x").encode(), 3, "row", "9 fields, the header has 8"),
    "non-numeric compute": (
        _seed(GOOD_SEED[0], GOOD_SEED[1].replace("0.71", "lots")).encode(),
        3, "Compute (teraflops-s/days)", "'lots' is not a number"),
    "zero compute": (
        _seed(GOOD_SEED[0], GOOD_SEED[1].replace("0.71", "0")).encode(),
        3, "Compute (teraflops-s/days)", "0 <= 0, must be > 0"),
    "negative compute": (
        _project(GOOD_PROJECT[0], GOOD_PROJECT[1].replace("6.1344e16", "-5")).encode(),
        3, "compute_flops", "-5 <= 0, must be > 0"),
    "impossible date": (
        _seed(GOOD_SEED[0], GOOD_SEED[1].replace("9/17/2014", "13/45/2019")).encode(),
        3, "Publication Date", "impossible date '13/45/2019'"),
    "impossible iso date": (
        _project(GOOD_PROJECT[0], GOOD_PROJECT[1].replace("2014-09-17", "2019-02-30")).encode(),
        3, "date", "impossible date '2019-02-30'"),
    "future date": (
        _seed(GOOD_SEED[0], GOOD_SEED[1].replace("9/17/2014", "1/1/2999")).encode(),
        3, "Publication Date", "2999-01-01 is in the future"),
    "duplicate entry": (
        _seed(*GOOD_SEED, GOOD_SEED[1]).encode(), 4, "Publication", "duplicate entry 'GoogLeNet'"),
    "unknown benchmark (project format)": (
        _project(*GOOD_PROJECT, "cifar10,2019-01-01,Fast,,1e15,,,,,,1,,,").encode(),
        4, "benchmark", "unknown benchmark 'cifar10'. Possible values are: alexnet, resnet50, seq2seq, gnmt"),
    "benchmark with no baseline": (
        _seed(GOOD_SEED[1]).encode(), 2, "Reduction Factor", "benchmark 'alexnet' has no baseline"),
    "empty file": (b"", 1, "header", "empty file"),
    "blank file": (b"\n\n  \n", 1, "header", "empty file"),
    "header only": (_seed().encode(), 2, "row", "no entries after the header"),
    "not utf-8": (_seed(*GOOD_SEED).encode() + b"AlexNet,1/1/2015,Caf\xe9,,1,,,\n",
                  4, "bytes", "not UTF-8 (byte 0xe9"),
    "not a ledger header": (b"a,b,c\n1,2,3\n", 1, "header", "not a ledger header"),
    "bad method": (
        _project(GOOD_PROJECT[0], GOOD_PROJECT[1].replace("counting", "guessing")).encode(),
        3, "method", "'guessing'. Possible values are: counting, hardware, measured"),
}


@pytest.mark.parametrize("name", list(BAD_FILES))
def test_bad_file_is_reported_with_path_line_column(tmp_path, capsys, name):
    data, line, column, fragment = BAD_FILES[name]
    path = tmp_path / "ledger.csv"
    path.write_bytes(data)
    assert cli.main(["ledger", "validate", "--ledger", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    prefix = f"LedgerError: {path}:{line}: {column}: "
    assert any(e.startswith(prefix) and fragment in e for e in err), err
    # loading raises the same, and nothing touched the file
    with pytest.raises(LedgerError, match=rf"^{path}:{line}: "):
        load_ledger(path)
    assert path.read_bytes() == data


@pytest.mark.parametrize("command", [["ledger", "show"], ["trend", "--benchmark", "alexnet"],
                                     ["ledger", "tables"]])
def test_commands_on_a_bad_ledger_print_one_line_and_exit_1(tmp_path, capsys, command):
    path = tmp_path / "ledger.csv"
    path.write_bytes(BAD_FILES["impossible date"][0])
    assert cli.main([*command, "--ledger", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines() == [
        f"LedgerError: {path}:3: Publication Date: impossible date '13/45/2019' (month must be in 1..12)."]


def test_validate_lists_every_problem_not_just_the_first(tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    path.write_text(_seed(GOOD_SEED[0], GOOD_SEED[1].replace("0.71", "x"), GOOD_SEED[1].replace("9/17", "13/17")))
    assert cli.main(["ledger", "validate", "--ledger", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert [e.split(": ")[1] for e in err] == [f"{path}:3", f"{path}:4"]


def test_valid_files_pass(tmp_path, capsys):
    for name, text in [("seed.csv", _seed(*GOOD_SEED)), ("project.csv", _project(*GOOD_PROJECT))]:
        path = tmp_path / name
        path.write_text(text)
        assert validate_ledger(path) == []
        assert cli.main(["ledger", "validate", "--ledger", str(path)]) == 0
        assert capsys.readouterr().out.strip().endswith("ok, 2 entries over 1 benchmark " +
                                                        ("(seed format)" if name == "seed.csv" else "(project format)"))


def test_a_bom_and_crlf_line_ends_are_accepted(tmp_path):
    path = tmp_path / "ledger.csv"
    path.write_bytes(("\ufeff" + _seed(*GOOD_SEED)).replace("\n", "\r\n").encode("utf-8"))
    assert [e.publication for e in load_ledger(path).entries] == ["AlexNet", "GoogLeNet"]


@settings(max_examples=300, deadline=None)
@given(data=st.one_of(
    st.binary(max_size=400),
    st.text(max_size=300).map(lambda t: (SEED_HEADER + "\n" + t).encode("utf-8", "surrogatepass")),
    st.lists(st.sampled_from([*GOOD_SEED, "AlexNet,", '"', "\x00", ",,,,,,,", "\r", "AlexNet,1/1/2013,X,,1,1,,"]),
             max_size=6).map(lambda rows: _seed(*rows).encode()),
))
def test_arbitrary_bytes_never_crash_the_parser(data):
    registry = bundled_benchmarks()
    fmt, entries, problems = parse_ledger(data, "fuzz.csv", registry, today=dt.date(2026, 1, 1))
    assert problems or entries
    for problem in problems:
        assert str(problem).startswith("fuzz.csv:")


@settings(max_examples=100, deadline=None)
@given(data=st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_ledger_error_on_load(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "ledger.csv"
    path.write_bytes(data)
    try:
        load_ledger(path)
    except LedgerError:
        pass


def test_every_problem_of_one_row_is_reported(tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    path.write_text(_project(GOOD_PROJECT[0], "nope,2014-13-17,GoogLeNet,,-5,4.3,,,3,,0,guessed,,"))
    assert cli.main(["ledger", "validate", "--ledger", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    columns = [e.split(": ")[2] for e in err]
    assert columns == ["benchmark", "date", "compute_flops", "flops_per_mac", "models", "method"]
    assert all(e.startswith(f"LedgerError: {path}:3: ") for e in err)


def test_a_line_break_in_a_publication_is_refused(tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    path.write_text(_project(GOOD_PROJECT[0], GOOD_PROJECT[1].replace("GoogLeNet", '"Goog\nLeNet"')))
    assert cli.main(["ledger", "validate", "--ledger", str(path)]) == 1
    assert capsys.readouterr().err.strip() == (
        f"LedgerError: {path}:3: publication: 'Goog\\nLeNet' has a line break; it must fit on one line "
        "(tables show it on one).")


def test_a_minimal_ledger_validates_and_reports_its_defaulted_columns(tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    path.write_text("benchmark,date,publication,compute,unit\n"
                    "alexnet,2012-06-01,AlexNet,3.1,tfs-days\nalexnet,2019-05-28,EfficientNet,0.069,tfs-days\n")
    assert cli.main(["ledger", "validate", "--ledger", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == [f"{path}: ok, 2 entries over 1 benchmark (project format)",
                   "note: columns left out take their defaults: publication_link, listed_reduction_factor, "
                   "analysis, analysis_link, flops_per_mac, utilization_discount, models, method, notes, "
                   "provenance (empty; models 1)"]
    ledger = load_ledger(path)
    # 3.1 tfs-days = 3.1 x 8.64e16 FLOPs
    assert ledger.entries[0].compute_flops == pytest.approx(2.6784e17) and ledger.entries[0].models == 1
    assert cli.main(["ledger", "validate", "--ledger", str(path), "--json"]) == 0
    data = __import__("json").loads(capsys.readouterr().out)
    assert data["ok"] and data["entries"] == 2 and "flops_per_mac" in data["defaulted_columns"]


@pytest.mark.parametrize("header, fragment", [
    ("benchmark,date,publication,compute_flops,compute,unit", "give 'compute_flops' or 'compute' and 'unit'"),
    ("benchmark,date,publication,compute", "column 'compute' needs a column 'unit'"),
    ("benchmark,date,publication,compute_flops,colour", "unexpected column 'colour'"),
])
def test_minimal_headers_that_are_refused(tmp_path, capsys, header, fragment):
    path = tmp_path / "ledger.csv"
    path.write_text(header + "\n" + ",".join(["alexnet", "2012-06-01", "AlexNet"] + ["1"] * (header.count(",") - 2))
                    + "\n")
    assert cli.main(["ledger", "validate", "--ledger", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"LedgerError: {path}:1: header: ") and fragment in err


def test_one_entry_is_singular(tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    path.write_text(_project(GOOD_PROJECT[0]))
    assert cli.main(["ledger", "validate", "--ledger", str(path)]) == 0
    assert capsys.readouterr().out.strip().endswith("ok, 1 entry over 1 benchmark (project format)")


def test_the_positional_path_still_works_with_a_deprecation_note(tmp_path, capsys):
    path = tmp_path / "ledger.csv"
    path.write_text(_project(*GOOD_PROJECT))
    assert cli.main(["ledger", "validate", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "ok, 2 entries" in out
    assert err == "note: `ledger validate PATH` is deprecated; use `ledger validate --ledger PATH`\n"
