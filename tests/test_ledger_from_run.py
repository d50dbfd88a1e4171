"""`ledger add --from-run` / `--from-study`: a tracked run becomes an entry with an analysis `ledger check` recomputes."""

import json
import pathlib
import shutil
import subprocess
import sys

import pytest

from algoeff import cli
from algoeff.ledger import bundled_ledger_path, load_ledger
from algoeff.ledger.analysis import load_analysis
from algoeff.track import RunStore, conservative_crossing
from algoeff.track.target import Target
from algoeff.ledger.measured import crossing

EXAMPLE = pathlib.Path(__file__).parents[1] / "examples" / "track_to_ledger.py"
ACC = {"metric": "accuracy", "threshold": 0.9, "higher_is_better": True}


def _store(path, curves, *, target=ACC, names=None, status="finished"):
    """A run store holding one run per curve of (flops, accuracy) points, as ComputeTracker writes them."""
    store = RunStore(path)
    for i, curve in enumerate(curves):
        run = store.start_run(name=(names or [None] * len(curves))[i], target=target,
                              environment={"torch": "x", "device": "cpu"})
        for step, (flops, acc) in enumerate(curve, start=1):
            store.add_point(run, step=step * 10, flops=flops, wall=float(step), metrics={target["metric"]: acc})
        store.finish_run(run, status=status)
    store.close()
    return path


def test_example_run_then_one_command_gives_a_new_record(tmp_path, capsys):
    # the done-when: ComputeTracker(..., store="runs.db") -> algoeff ledger add --from-run runs.db --ledger my.csv
    done = subprocess.run([sys.executable, str(EXAMPLE), str(tmp_path)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    sgd, adam = [int(line.split("compute to target ")[1].split()[0]) for line in done.stdout.splitlines()[:2]]
    ledger = tmp_path / "my.csv"
    assert cli.main(["ledger", "add", "--from-run", str(tmp_path / "runs.db"), "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"note: defined benchmark 'blobs-90' (accuracy >= 0.9) in {tmp_path / 'benchmarks.toml'}"
    assert "new record: the first blobs-90 entry, its baseline (1x)" in out
    assert f"new record: {sgd / adam:.3g}x vs the baseline SGD, lr 0.01 ({sgd:.3g} FLOPs)" in out
    base, better = load_ledger(ledger).for_benchmark("blobs-90")
    assert (base.compute_flops, better.compute_flops) == (sgd, adam)
    assert (better.flops_per_mac, better.models, better.method) == (2, 1, "measured")
    assert better.analysis == "analyses/blobs-90/adam-lr-0.003.toml"
    analysis = load_analysis(tmp_path / better.analysis)
    assert analysis.method == "measured" and analysis.recompute().total_flops == adam
    assert "torch" in (tmp_path / better.analysis).read_text()  # the environment is kept
    capsys.readouterr()
    assert cli.main(["ledger", "check", "--ledger", str(ledger)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 of 2 entries reproduce; 0 differ"
    # adding again skips what is there, and writes nothing
    before = ledger.read_bytes()
    assert cli.main(["ledger", "add", "--from-run", str(tmp_path / "runs.db"), "--ledger", str(ledger)]) == 1
    assert capsys.readouterr().out.count("skipped: ") == 2 and ledger.read_bytes() == before


def test_a_run_that_did_not_reach_its_target_is_refused_with_that_reason(tmp_path, capsys):
    store = _store(tmp_path / "runs.db", [[(100, 0.5), (200, 0.85)]], names=["slow"])
    ledger = tmp_path / "my.csv"
    assert cli.main(["ledger", "add", "--from-run", f"{store}:1", "--ledger", str(ledger),
                     "--benchmark", "b90"]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f"LedgerError: run 1 of {store} (slow) did not reach its target accuracy >= 0.9: best accuracy "
                   "0.85 over 2 evaluations, 200 training FLOPs (status finished) (nothing written)")
    assert not ledger.exists() and not (tmp_path / "benchmarks.toml").exists()


def test_a_diverged_run_does_not_reach_after_its_nan(tmp_path, capsys):
    store = _store(tmp_path / "runs.db", [[(100, 0.5), (200, float("nan")), (300, 0.95)]])
    assert cli.main(["ledger", "add", "--from-run", str(store), "--ledger", str(tmp_path / "my.csv"),
                     "--benchmark", "b90"]) == 1
    assert "then diverged" in capsys.readouterr().err


def test_crossing_rule_is_the_trackers(tmp_path):
    flops, values = [10.0, 20.0, 30.0, 40.0], [0.2, 0.89, 0.9, 0.95]
    i = crossing(flops, values, 0.9, True)
    assert flops[i] == conservative_crossing(flops, values, Target("accuracy", 0.9)) == 30.0
    assert flops[crossing(flops, [0.9, 0.5, 0.3, 0.1], 0.3, False)] == 30.0


def test_a_run_into_a_bundled_benchmark_is_converted_and_its_analysis_still_reproduces(tmp_path, capsys):
    # alexnet counts 1 FLOP per multiply-add; a run's 2-FLOP count is halved at the door
    ledger = tmp_path / "ledger.csv"
    shutil.copy(bundled_ledger_path(), ledger)
    store = _store(tmp_path / "runs.db", [[(1e15, 70.0), (1.0368e16, 79.5)]],
                   target={"metric": "top5", "threshold": 79.1, "higher_is_better": True}, names=["MyNet"])
    assert cli.main(["ledger", "add", "--from-run", str(store), "--ledger", str(ledger), "--date",
                     "2021-01-01", "--json"]) == 0
    (added,) = json.loads(capsys.readouterr().out)["added"]
    # matched to alexnet by its threshold 79.1; 1.0368e16 / 2 = 5.184e15 FLOPs = 0.06 tfs-days; 3.1 / 0.06 = 51.7
    assert added["benchmark"] == "alexnet" and added["compute_flops"] == 5.184e15
    assert added["headline"].startswith("new record: 51.7x vs the baseline AlexNet (3.1 tfs-days)")
    analysis = load_analysis(tmp_path / added["analysis"])
    assert analysis.convention.flops_per_mac == 1 and analysis.recompute().total_flops == 5.184e15


def test_a_benchmark_whose_target_differs_from_the_runs_is_refused(tmp_path, capsys):
    ledger = tmp_path / "ledger.csv"
    store = _store(tmp_path / "runs.db", [[(100, 0.95)]])
    assert cli.main(["ledger", "add", "--from-run", str(store), "--ledger", str(ledger),
                     "--benchmark", "alexnet"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("LedgerError: --benchmark alexnet: its target is top-5 accuracy (%) >= 79.1, the run's is "
                          "accuracy >= 0.9")
    assert not ledger.exists()


@pytest.mark.parametrize("source, message", [
    ("{tmp}/none.db", "--from-run {tmp}/none.db: no such run store"),
    ("{tmp}", "is a folder, expected a run store file"),
    ("{tmp}/text.db", "not a run store (not an SQLite file)"),
    ("{tmp}/runs.db:7", "--from-run {tmp}/runs.db:7: no run with id 7; ids: 1."),
    ("{tmp}/runs.db:nosuch", "no run with that id, name or key"),
])
def test_bad_sources(tmp_path, capsys, source, message):
    _store(tmp_path / "runs.db", [[(100, 0.95)]])
    (tmp_path / "text.db").write_text("hello")
    source, message = source.format(tmp=tmp_path), message.format(tmp=tmp_path)
    assert cli.main(["ledger", "add", "--from-run", source, "--ledger", str(tmp_path / "my.csv")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("LedgerError: ") and message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "my.csv").exists()


def test_compute_flags_are_refused_with_from_run(tmp_path, capsys):
    store = _store(tmp_path / "runs.db", [[(100, 0.95)]])
    assert cli.main(["ledger", "add", "--from-run", str(store), "--ledger", str(tmp_path / "m.csv"),
                     "--compute", "3"]) == 1
    assert "drop --compute" in capsys.readouterr().err


def _study(tmp_path, entries):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "results.json").write_text(json.dumps({
        "workload": "digits", "target": ACC, "rules": {"compute_to_target": "first evaluation at or past"},
        "entries": entries}))
    return folder


STUDY_ENTRIES = [
    {"recipe": "sgd", "publication": "SGD", "link": "", "date": "2015-01-01", "is_baseline": True,
     "compute_to_target_flops": 2000.0, "compute_by_seed_flops": [1900.0, 2000.0, 2100.0], "reached": True,
     "seeds": 3, "seeds_reached": 3},
    {"recipe": "adam", "publication": "Adam", "link": "https://arxiv.org/abs/1412.6980", "date": "2015-06-01",
     "is_baseline": False, "compute_to_target_flops": 500.0, "compute_by_seed_flops": [400.0, 500.0, None],
     "reached": True, "seeds": 3, "seeds_reached": 2},
    {"recipe": "mlp", "publication": "MLP", "link": "", "date": "2016-01-01", "is_baseline": False,
     "compute_to_target_flops": None, "compute_by_seed_flops": [None, None, None], "reached": False,
     "seeds": 3, "seeds_reached": 0},
]


def test_from_study_adds_each_reached_recipe_baseline_first(tmp_path, capsys):
    folder = _study(tmp_path, STUDY_ENTRIES)
    ledger = tmp_path / "my.csv"
    assert cli.main(["ledger", "add", "--from-study", str(folder), "--ledger", str(ledger),
                     "--benchmark", "digits"]) == 0
    out = capsys.readouterr().out
    # 2000 / 500 = 4
    assert "new record: 4x vs the baseline SGD (2e+03 FLOPs)" in out
    assert f"skipped: recipe mlp of {folder} did not reach the study's target accuracy >= 0.9" in out
    entries = load_ledger(ledger).entries
    assert [e.publication for e in entries] == ["SGD", "Adam"]
    capsys.readouterr()
    assert cli.main(["ledger", "check", "--ledger", str(ledger)]) == 0  # median of the seeds, recomputed


def test_from_study_refuses_an_unreached_recipe_and_a_missing_results_file(tmp_path, capsys):
    folder = _study(tmp_path, STUDY_ENTRIES)
    assert cli.main(["ledger", "add", "--from-study", f"{folder}:mlp", "--ledger", str(tmp_path / "m.csv"),
                     "--benchmark", "digits"]) == 1
    assert "did not reach the study's target accuracy >= 0.9 (seeds reached: 0 of 3)" in capsys.readouterr().err
    assert cli.main(["ledger", "add", "--from-study", str(tmp_path), "--ledger", str(tmp_path / "m.csv")]) == 1
    assert capsys.readouterr().err.startswith(f"LedgerError: --from-study {tmp_path}: no results.json there")
    assert not (tmp_path / "m.csv").exists()


def test_without_a_benchmark_one_is_named_after_the_runs_target(tmp_path, capsys):
    store = _store(tmp_path / "runs.db", [[(100, 0.5), (200, 0.93)], [(50, 0.91)]])
    ledger = tmp_path / "my.csv"
    assert cli.main(["ledger", "add", "--from-run", str(store), "--ledger", str(ledger)]) == 0
    out = capsys.readouterr().out
    assert f"note: defined benchmark 'accuracy-0.9' (accuracy >= 0.9) in {tmp_path / 'benchmarks.toml'}" in out
    # 200 / 50 = 4
    assert "new record: 4x vs the baseline run 1 (200 FLOPs)" in out
    assert [e.publication for e in load_ledger(ledger).entries] == ["run 1", "run 2"]


def test_source_parsing():
    from algoeff.records import parse_source

    assert parse_source("runs.db:3") == (pathlib.Path("runs.db"), "3")
    assert parse_source("out/study:adam") == (pathlib.Path("out/study"), "adam")
    assert parse_source("runs.db") == (pathlib.Path("runs.db"), None)
    assert parse_source("C:runs") == (pathlib.Path("C:runs"), None)  # a drive letter, not a run
