"""End to end on the real MNIST-1D workload at a tiny budget (1 epoch, 2 recipes, 1 tuning and 2 report seeds).

The same plan runs uninterrupted in-process, killed with SIGKILL and resumed on a
process pool, and as Ray tasks; each must produce the same entries.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from algoeff.cli import main
from algoeff.ledger import load_ledger
from algoeff.track import RunStore

pytestmark = pytest.mark.slow

ARGS = ["study", "mnist1d", "--recipes", "resnet-modern-2021", "--max-configs", "1", "--seeds", "2",
        "--tuning-seeds", "1", "--set", "epochs=1"]
TRIALS = 6  # (baseline + 1 recipe) x 1 config x (1 tuning seed + 2 report seeds)


def _entries(out):
    return json.loads((out / "results.json").read_text())["entries"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference")
    assert main([*ARGS, "--workers", "1", "--out", str(out)]) == 0
    return out


def test_tiny_study_on_mnist1d_follows_the_protocol(reference):
    data = json.loads((reference / "results.json").read_text())
    assert data["workload"] == "mnist1d" and data["complete"] is True
    assert [e["recipe"] for e in data["entries"]] == ["alexnet-2012", "resnet-modern-2021"]
    runs = RunStore(reference / "study.sqlite").runs()
    assert len(runs) == TRIALS and set(runs["status"]) <= {"finished", "diverged"}
    phases = {(r["config"]["phase"], r["config"]["seed"]) for _, r in runs.iterrows()}
    assert {seed for phase, seed in phases if phase == "tuning"} == {1000}
    assert {seed for phase, seed in phases if phase == "report"} == {0, 1}
    summaries = {(r["config"]["recipe"], r["config"]["seed"]): r["summary"] for _, r in runs.iterrows()
                 if r["config"]["phase"] == "report"}
    base, new = data["entries"]
    metric, threshold = data["target"]["metric"], data["target"]["threshold"]
    # the baseline is charged its whole (1-epoch) schedule, whatever it reached
    totals = sorted(summaries[("alexnet-2012", s)]["total_train_flops"] for s in (0, 1))
    assert base["compute_by_seed_flops"] == [summaries[("alexnet-2012", s)]["total_train_flops"] for s in (0, 1)]
    assert base["compute_to_target_flops"] == sum(totals) / 2
    # report trials train their full schedule; the recipe is charged until its first test crossing
    for seed, value in enumerate(new["compute_by_seed_flops"]):
        summary = summaries[("resnet-modern-2021", seed)]
        crossed = [p["flops"] for p in summary["curve"] if p.get(metric) is not None and p[metric] >= threshold]
        assert value == (crossed[0] if crossed and not summary["diverged"] else None)
    if new["compute_to_target_flops"] is not None and base["compute_to_target_flops"] is not None:
        assert new["reduction_factor"] == pytest.approx(base["compute_to_target_flops"] / new["compute_to_target_flops"])
    assert data["protocol"]["report_seeds"] == [0, 1] and data["protocol"]["tuning_seeds"] == [1000]
    assert data["sensitivity"] is not None
    if data["ledger"]:
        ledger = load_ledger(reference / "ledger.csv")
        assert ledger.for_benchmark("mnist1d")[0].compute_flops == base["compute_to_target_flops"]
    for name in data["plots"].values():
        assert (reference / name).stat().st_size > 1000


def _finished(store) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store, timeout=5) as conn:
            return conn.execute("SELECT COUNT(*) FROM runs WHERE status IN ('finished', 'diverged')").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0


def test_rescore_reproduces_the_tiny_study(reference):
    from algoeff.study import rescore

    data = json.loads((reference / "results.json").read_text())
    scored = rescore(reference)["scores"][0]
    assert [e["compute_to_target_flops"] for e in scored["entries"]] == [
        e["compute_to_target_flops"] for e in data["entries"]]


def test_sigkill_mid_study_loses_no_finished_trial_and_resumes_to_the_same_results(reference, tmp_path):
    store = tmp_path / "study.sqlite"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "algoeff", *ARGS, "--workers", "1", "--out", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 120
        while _finished(store) < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert proc.poll() is None, "the study ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    done = _finished(store)
    assert 2 <= done < TRIALS
    assert not (tmp_path / "results.json").exists()
    # the same command, now on a pool of 2 workers, trains only what was not finished
    assert main([*ARGS, "--workers", "2", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["trials"]["reused"] == done and data["trials"]["ran"] == TRIALS - done
    assert _entries(tmp_path) == _entries(reference)


def test_ray_executor_gives_the_same_results(reference, tmp_path):
    pytest.importorskip("ray")
    assert main([*ARGS, "--executor", "ray", "--workers", "2", "--out", str(tmp_path)]) == 0
    assert _entries(tmp_path) == _entries(reference)


@pytest.mark.parametrize("extra, message", [
    (["--set", "epochs=-1"], "StudyError: epochs == -1, must be an integer >= 1."),
    (["--set", "lr=abc"], "StudyError: --set lr='abc': 'abc' is not a number"),
    (["--set", "nope=1"], "StudyError: Unknown config key 'nope'"),
    (["--recipes", "nope"], "StudyError: Unknown recipe 'nope'"),
])
def test_a_rejected_study_on_mnist1d_writes_nothing(tmp_path, extra, message, capsys):
    assert main(["study", "mnist1d", "--out", str(tmp_path / "out"), *extra]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(message), err
    assert list(tmp_path.iterdir()) == []


def test_a_diverged_baseline_on_mnist1d_is_kept_out_of_the_ledger(tmp_path, capsys):
    args = ["study", "mnist1d", "--recipes", "resnet-modern-2021", "--max-configs", "1", "--seeds", "2",
            "--tuning-seeds", "1", "--set", "epochs=1", "--set", "lr=1e6", "--workers", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    data = json.loads((tmp_path / "results.json").read_text())
    base = data["entries"][0]
    assert base["is_baseline"] and base["diverged_seeds"] == [0, 1]
    assert base["compute_to_target_flops"] is None and data["frontier"] == []
    assert data["baseline_refused"].startswith("the baseline alexnet-2012 diverged in seed(s) 0, 1")
    assert not (tmp_path / "ledger.csv").exists() and data["ledger"] is None
    assert "no reference compute: the baseline alexnet-2012 diverged" in out
