"""Two whole runs in lockstep: a pair of processes on one CPU that take turns, a segment each.

On a shared machine the CPU's speed drifts by tens of percent over seconds, so
two whole runs made one after the other (or side by side on two cores) differ
by more than the few percent an overhead budget allows. Two runs that take
turns on one core, one segment (a training batch, say) each, see the same
machine at every point of both; each process's CPU time is then its whole run
as it ran, on the same machine as its partner's.

A worker calls ``handoff()`` at each segment boundary: it gives the CPU to its
partner and waits for it back. Both workers of a pair must reach the same
boundaries (the same loop with and without the thing measured); a worker that
finishes early leaves the other to run alone. Blocked time is not CPU time, so
``time.process_time()`` inside a worker holds its own work only (and the few
microseconds of each handoff's pipe calls, the same in both).

    pair = run_pair([cmd_a, cmd_b], cpu=1, out_dir=tmp)   # each cmd gets --lockstep GO,YIELD,OUT appended
    pair[0]  # what worker a wrote with report()
"""

from __future__ import annotations

import json
import os
import subprocess

_PIPES: list = []  # [go fd, yield fd, out path] in a worker


def worker(spec: str, cpu: int | None):
    """Become a lockstep worker (``spec`` is the --lockstep value); pinned to ``cpu`` where given."""
    go, yield_, out = spec.split(",", 2)
    _PIPES[:] = [int(go), int(yield_), out]
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def active() -> bool:
    return bool(_PIPES)


def handoff():
    """Give the CPU to the partner and wait for it back (nothing outside a lockstep worker)."""
    if _PIPES:
        os.write(_PIPES[1], b".")
        if os.read(_PIPES[0], 1) != b"g":
            raise SystemExit("lockstep: the parent went away")


def report(result: dict):
    """Write the worker's result for the parent and say the worker is done."""
    with open(_PIPES[2], "w") as f:
        json.dump(result, f)
    os.write(_PIPES[1], b"E")


def run_pair(commands: list[list[str]], *, cpu: int | None, out_dir: str) -> list[dict]:
    """Run the workers in lockstep (a segment each, in the order given) and return their reports.

    Each command gets ``--lockstep GO,YIELD,OUT`` (and ``--cpu CPU``) appended.
    The workers start together and set up side by side; turns begin once both
    have reached their first ``handoff()``. A worker that fails raises here with
    the end of its output.
    """
    procs, ends = [], []
    for k, command in enumerate(commands):
        go_r, go_w = os.pipe()
        yield_r, yield_w = os.pipe()
        out = os.path.join(out_dir, f"lockstep-{k}.json")
        if os.path.exists(out):
            os.remove(out)
        args = [*command, "--lockstep", f"{go_r},{yield_w},{out}"] + ([] if cpu is None else ["--cpu", str(cpu)])
        logfile = open(os.path.join(out_dir, f"lockstep-{k}.log"), "w+")
        proc = subprocess.Popen(args, pass_fds=(go_r, yield_w), stdout=logfile, stderr=subprocess.STDOUT)
        os.close(go_r)
        os.close(yield_w)
        procs.append(proc)
        ends.append({"go": go_w, "yield": yield_r, "out": out, "log": logfile, "done": False})
    try:
        for end in ends:  # both set up (imports, data, warm-up) before the first turn
            _expect(end, procs)
        while not all(end["done"] for end in ends):
            for end in ends:
                if not end["done"]:
                    os.write(end["go"], b"g")
                    _expect(end, procs)
        for proc in procs:
            proc.wait(timeout=120)
        results = []
        for end in ends:
            with open(end["out"]) as f:
                results.append(json.load(f))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        for end in ends:
            os.close(end["go"])
            os.close(end["yield"])
            end["log"].close()


def _expect(end: dict, procs):
    message = os.read(end["yield"], 1)
    if message == b"E":
        end["done"] = True
    elif message != b".":  # the worker died: its pipe closed
        end["log"].flush()
        end["log"].seek(0)
        tail = end["log"].read()[-3000:]
        raise RuntimeError(f"lockstep worker failed:\n{tail}")
