"""Under torch.distributed each rank counts its own work and every rank reports the global total."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

from algoeff import ComputeTracker, Target

GLOBAL_BATCH, STEPS = 32, 4

WORKER = textwrap.dedent(
    f"""
    import json, os, sys
    import torch
    import torch.distributed as dist
    from torch import nn
    from algoeff import ComputeTracker, Target

    torch.set_num_threads(1)
    dist.init_process_group("gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    tracker = ComputeTracker(ddp, Target("accuracy", 0.9))
    local = {GLOBAL_BATCH} // world
    for step in range({STEPS}):
        with tracker.step():
            loss = nn.functional.cross_entropy(ddp(torch.randn(local, 8)), torch.randint(0, 4, (local,)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    before_record = tracker.total_flops  # global figure is only known after record()
    tracker.record(accuracy=0.5)
    summary = tracker.finish()
    summary["local_flops"] = tracker.local_flops
    summary["before_record"] = before_record
    with open(os.path.join(sys.argv[1], f"rank{{rank}}.json"), "w") as f:
        json.dump(summary, f)
    # Ending the interpreter normally after gloo can abort ("terminate called without an
    # active exception"): gloo's worker thread drops a Python reference during
    # Py_FinalizeEx. Sync, tear the group down, flush, and skip finalization.
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
    """
)


def _single_process_total():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    tracker = ComputeTracker(model, Target("accuracy", 0.9))
    for _ in range(STEPS):
        with tracker.step():
            x = torch.randn(GLOBAL_BATCH, 8)
            loss = nn.functional.cross_entropy(model(x), torch.randint(0, 4, (GLOBAL_BATCH,)))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    tracker.record(accuracy=0.5)
    return tracker.finish()


def _two_ranks(source: str, tmp_path, timeout: int) -> tuple[int, str]:
    """Run ``source`` as a script on 2 gloo ranks under torchrun; (exit status, stderr)."""
    script = tmp_path / "worker.py"
    script.write_text(source)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    # a session of its own: if torchrun hangs, its ranks are killed with it, not orphaned
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    return proc.returncode, stderr


@pytest.mark.slow
def test_two_gloo_ranks_report_the_single_process_global_total(tmp_path):
    returncode, stderr = _two_ranks(WORKER, tmp_path, timeout=600)
    assert returncode == 0, stderr[-3000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    single = _single_process_total()
    for summary in ranks:
        assert summary["world_size"] == 2
        assert summary["total_flops"] == single["total_flops"] > 0
        assert summary["examples"] == single["examples"] == GLOBAL_BATCH * STEPS
        # each rank counted half of the work
        assert 2 * summary["local_flops"] == single["total_flops"]
        assert summary["before_record"] == 0


ONE_RANK_FAILS = textwrap.dedent(
    """
    import datetime, os, sys
    import torch
    import torch.distributed as dist
    from torch import nn
    from algoeff import ComputeTracker, Target

    torch.set_num_threads(1)
    dist.init_process_group("gloo", timeout=datetime.timedelta(seconds=60))
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    ddp = nn.parallel.DistributedDataParallel(model)
    optimizer = torch.optim.SGD(ddp.parameters(), lr=0.1)
    try:
        with ComputeTracker(ddp, Target("accuracy", 0.9)) as tracker:
            for step in range(5):
                with tracker.step():
                    if rank == 1 and step == 2:
                        raise RuntimeError("rank 1 fails alone")
                    loss = nn.functional.cross_entropy(ddp(torch.randn(16, 8)), torch.randint(0, 4, (16,)))
                    optimizer.zero_grad()
                    loss.backward()
                    optimizer.step()
    except Exception as err:
        with open(os.path.join(sys.argv[1], f"rank{rank}.txt"), "w") as f:
            f.write(f"{type(err).__name__}: {err}\\n{tracker.status}")
    sys.stdout.flush()
    os._exit(0)
    """
)


@pytest.mark.slow
def test_a_rank_that_fails_alone_closes_its_run_without_a_collective(tmp_path):
    # before: finish("failed") all-reduced while rank 0 waited in its gradient all-reduce; gloo
    # aborted rank 1 (SIGABRT, "collective mismatch") before its own error could be caught or shown
    _, stderr = _two_ranks(ONE_RANK_FAILS, tmp_path, timeout=300)
    failed = tmp_path / "rank1.txt"
    assert failed.exists(), stderr[-3000:]
    assert failed.read_text() == "RuntimeError: rank 1 fails alone\nfailed"
