"""From a tracked training run to a ledger record: train two recipes with ComputeTracker, into one run store.

    python examples/track_to_ledger.py [OUT_DIR]
    algoeff ledger add --from-run OUT_DIR/runs.db --ledger OUT_DIR/my.csv

The second command adds both runs (in the order they ran): the first is the
benchmark's baseline, the second says whether it is a new record and by how
much. Data: four Gaussian blobs in 16 dimensions, made here (nothing downloaded);
the target is 90% accuracy on a held-out validation split.
"""

import pathlib
import sys
import tempfile

import torch
from torch import nn

from algoeff import ComputeTracker, Target

out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp())
out.mkdir(parents=True, exist_ok=True)
torch.set_num_threads(1)

# -- data: 4 classes, centres 1.5 apart in 16 dimensions ---------------------------------
gen = torch.Generator().manual_seed(0)
centres = torch.randn(4, 16, generator=gen) * 1.5
labels = torch.randint(0, 4, (2048,), generator=gen)
points = centres[labels] + torch.randn(2048, 16, generator=gen)
train_x, train_y, val_x, val_y = points[:1536], labels[:1536], points[1536:], labels[1536:]
target = Target("accuracy", 0.9)  # on the validation split


def train(name: str, make_optimizer, batch: int = 64, max_steps: int = 400) -> dict:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 4))
    optimizer = make_optimizer(model.parameters())
    # config is saved with the run; "benchmark" names the ledger benchmark the run is an entry of
    tracker = ComputeTracker(model, target, store=out / "runs.db", run_name=name,
                             config={"benchmark": "blobs-90", "optimizer": name, "batch": batch})
    order = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(1))
    for step in range(max_steps):
        idx = order[(step * batch) % len(order):][:batch]
        with tracker.step():  # forward, backward and optimizer step, counted
            loss = nn.functional.cross_entropy(model(train_x[idx]), train_y[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        if step % 5 == 4:
            with tracker.evaluate(), torch.no_grad():  # counted apart, never in compute to target
                accuracy = (model(val_x).argmax(1) == val_y).float().mean().item()
            if tracker.record(accuracy=accuracy):
                break
    return tracker.finish()


for name, make in (("SGD, lr 0.01", lambda p: torch.optim.SGD(p, lr=0.01)),
                   ("Adam, lr 0.003", lambda p: torch.optim.Adam(p, lr=0.003))):
    summary = train(name, make)
    print(f"{name}: reached {summary['reached']}, compute to target {summary['compute_to_target']} FLOPs "
          f"after {summary['steps_to_target']} steps")
print(f"runs in {out / 'runs.db'}")
