"""Track a plain PyTorch training loop's compute until it reaches a target accuracy.

A small 1-D CNN on MNIST-1D (generated locally with mnist1d's make_dataset,
never downloaded). The tracker counts each step's FLOPs, keeps evaluation
FLOPs apart, stores every evaluation point in a SQLite run store, and reports
the compute-to-target when the test accuracy first reaches the target.

    python examples/track_mnist1d.py --target 0.7 --store runs.db
"""

from __future__ import annotations

import argparse
import json

import torch
from torch import nn

import algoeff


def mnist1d(num_samples: int, seed: int):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    data = make_dataset(args)  # generated here; nothing is downloaded

    def tensors(x, y):
        return torch.tensor(x, dtype=torch.float32).unsqueeze(1), torch.tensor(y, dtype=torch.long)

    return tensors(data["x"], data["y"]), tensors(data["x_test"], data["y_test"])


def cnn() -> nn.Module:
    # [b, 1, 40] -> [b, 16, 40] -> [b, 16, 20] -> [b, 10]
    return nn.Sequential(
        nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(),
        nn.Conv1d(16, 16, 5, stride=2, padding=2), nn.ReLU(),
        nn.Flatten(), nn.Linear(16 * 20, 10),
    )


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.7, help="test accuracy to reach")
    parser.add_argument("--samples", type=int, default=4000, help="MNIST-1D examples (80%% train)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--eval-every", type=int, default=50, help="steps between evaluations")
    parser.add_argument("--max-steps", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", default=None, help="SQLite run store (default: in memory)")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    (x, y), (x_test, y_test) = mnist1d(args.samples, args.seed)
    model = cnn()
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    tracker = algoeff.ComputeTracker(
        model,
        algoeff.Target("accuracy", args.target),
        store=args.store,
        run_name="mnist1d-cnn",
        config=vars(args),
    )

    for step in range(1, args.max_steps + 1):
        # forward, backward, optimizer step: counted as one training step
        batch = torch.randint(0, len(x), (args.batch_size,))
        with tracker.step():
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

        # evaluate: counted apart, never part of compute-to-target
        if step % args.eval_every == 0:
            with tracker.evaluate(), torch.no_grad():
                accuracy = (model(x_test).argmax(1) == y_test).float().mean().item()
            # stop once the target is reached (a NaN loss marks the run diverged)
            if tracker.record(accuracy=accuracy, loss=loss.item()) or tracker.diverged:
                break

    summary = tracker.finish()
    if args.json:
        print(json.dumps(summary, indent=2))
        return summary
    print(
        f"steps {summary['steps']}, training compute {summary['total_flops']:.3e} FLOPs, "
        f"evaluation {summary['eval_flops']:.3e} FLOPs"
    )
    if tracker.reached:
        print(
            f"reached {tracker.target} after {summary['steps_to_target']} steps: "
            f"compute-to-target {tracker.compute_to_target:.3e} FLOPs "
            f"(interpolated {tracker.compute_to_target_interpolated:.3e})"
        )
    else:
        print(f"did not reach {tracker.target}; best {summary['best_metric']}")
    return summary


if __name__ == "__main__":
    main()
