"""How often the DDP test passes: run tests/test_track_ddp.py N times in a row (default 30).

Each run is a fresh ``pytest`` process on that one test, as CI runs it. Prints each
run's outcome as it ends and then "N of 30 passed"; a failed run's last stderr lines
are shown so an abort (gloo teardown, exit -6 / SIGABRT) can be told from a wrong count.

    python benchmarks/bench_ddp_stability.py [--runs 30] [--plain-exit] [--json]

--plain-exit runs the test's worker directly under torchrun with the ending it had
before issue 17 (``dist.destroy_process_group()`` and a normal interpreter exit) to
show the abort rate the barrier/destroy/flush/``os._exit(0)`` ending removes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = "tests/test_track_ddp.py::test_two_gloo_ranks_report_the_single_process_global_total"


def _env() -> dict:
    src = str(ROOT / "src")
    path = os.environ.get("PYTHONPATH")
    return dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                PYTHONPATH=src if not path else src + os.pathsep + path)


def _pytest_run() -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST],
        cwd=ROOT, capture_output=True, text=True, env=_env(),
    )


def _plain_exit_worker() -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    import test_track_ddp

    worker = test_track_ddp.WORKER
    start = worker.index("# Ending the interpreter normally")
    return worker[:start] + "dist.destroy_process_group()\n"


def _plain_exit_run(worker: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "worker.py"
        script.write_text(worker)
        return subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
             str(script), tmp],
            capture_output=True, text=True, env=_env(),
        )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--plain-exit", action="store_true",
                        help="the worker's old ending, run directly under torchrun")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    worker = _plain_exit_worker() if args.plain_exit else None
    passed, failures, walls = 0, [], []
    for i in range(1, args.runs + 1):
        t0 = time.perf_counter()
        proc = _plain_exit_run(worker) if args.plain_exit else _pytest_run()
        walls.append(time.perf_counter() - t0)
        ok = proc.returncode == 0
        passed += ok
        if not ok:
            tail = (proc.stderr.strip().splitlines() or proc.stdout.strip().splitlines() or [""])[-3:]
            failures.append({"run": i, "returncode": proc.returncode, "tail": tail})
        if not args.json:
            print(f"run {i:2d}/{args.runs}: {'pass' if ok else f'FAIL (exit {proc.returncode})'}"
                  f"  {walls[-1]:.1f} s", flush=True)
            if not ok:
                for line in failures[-1]["tail"]:
                    print(f"    {line}", flush=True)
    mode = "worker with the old ending, direct torchrun" if args.plain_exit else "pytest, the DDP test"
    if args.json:
        print(json.dumps({"mode": mode, "runs": args.runs, "passed": passed,
                          "failures": failures, "median_wall_s": sorted(walls)[len(walls) // 2]}))
    else:
        print(f"{passed} of {args.runs} passed ({mode})")
    return 0 if passed == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
