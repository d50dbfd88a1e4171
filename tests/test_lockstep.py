"""benchmarks/lockstep.py: two workers take strict turns, and a failed worker ends the pair cleanly."""

from __future__ import annotations

import importlib.util
import os
import pathlib
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"

WORKER = """
import os, sys
sys.path.insert(0, {benchmarks!r})
import lockstep

name, segments, fail_at, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
lockstep.worker(sys.argv[sys.argv.index("--lockstep") + 1], None)
with open(log + "." + name + ".pid", "w") as f:
    f.write(str(os.getpid()))
lockstep.handoff()  # set up; the first turn
for k in range(segments):
    if k == fail_at:
        raise ValueError(f"worker {{name}} failed at segment {{k}}")
    with open(log, "a") as f:  # one segment's work
        f.write(name)
    lockstep.handoff()
lockstep.report({{"name": name, "segments": segments, "cpu_seconds": 0.0}})
"""


@pytest.fixture(scope="module")
def lockstep():
    spec = importlib.util.spec_from_file_location("lockstep", BENCHMARKS / "lockstep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _commands(tmp_path, *workers):
    script = tmp_path / "worker.py"
    script.write_text(WORKER.format(benchmarks=str(BENCHMARKS)))
    log = tmp_path / "turns.log"
    return [[sys.executable, str(script), name, str(segments), str(fail_at), str(log)]
            for name, segments, fail_at in workers], log


def test_workers_take_strict_turns_and_report(lockstep, tmp_path):
    commands, log = _commands(tmp_path, ("a", 5, -1), ("b", 5, -1))
    reports = lockstep.run_pair(commands, cpu=None, out_dir=str(tmp_path))
    assert log.read_text() == "ababababab"
    assert [r["name"] for r in reports] == ["a", "b"]


def test_a_worker_that_finishes_first_leaves_the_other_alone(lockstep, tmp_path):
    commands, log = _commands(tmp_path, ("a", 2, -1), ("b", 4, -1))
    reports = lockstep.run_pair(commands, cpu=None, out_dir=str(tmp_path))
    assert log.read_text() == "ababbb"
    assert [r["segments"] for r in reports] == [2, 4]


def test_a_failed_worker_raises_with_its_output_and_ends_its_partner(lockstep, tmp_path):
    commands, log = _commands(tmp_path, ("a", 5, -1), ("b", 5, 2))
    with pytest.raises(RuntimeError, match="worker b failed at segment 2"):
        lockstep.run_pair(commands, cpu=None, out_dir=str(tmp_path))
    assert log.read_text() == "ababa"  # a's third segment ran; b failed before its own
    for name in "ab":
        pid = int(pathlib.Path(f"{log}.{name}.pid").read_text())
        with pytest.raises(ProcessLookupError):  # ended and reaped, not left running
            os.kill(pid, 0)


def test_handoff_outside_a_worker_does_nothing(lockstep):
    assert not lockstep.active()
    lockstep.handoff()
