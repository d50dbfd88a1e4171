"""Compute-to-target of a Hugging Face Trainer run: one callback, no change to the Trainer.

A small 1-D CNN on MNIST-1D (generated locally with mnist1d's make_dataset,
never downloaded), written as the Trainer expects: keyword inputs and a loss
when labels are given. ComputeToTarget counts every training step's FLOPs,
keeps evaluation apart, stops the run when eval_accuracy reaches the target,
adds algoeff/* to the Trainer's logs, and writes the run to an algoeff run store.

    python examples/hf_mnist1d.py --target 0.6 --store runs.db
"""

from __future__ import annotations

import argparse
import json
import tempfile

import torch
from torch import nn
from transformers import Trainer, TrainingArguments

from algoeff import Target
from algoeff.integrations.transformers import ComputeToTarget


class Examples(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


def mnist1d(num_samples: int, seed: int):
    """(train, evaluation) datasets; evaluation is 20% of mnist1d's training set (a validation split)."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    data = make_dataset(args)  # generated here; nothing is downloaded
    x = torch.tensor(data["x"], dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data["y"], dtype=torch.long)
    cut = len(x) * 4 // 5
    return Examples(x[:cut], y[:cut]), Examples(x[cut:], y[cut:])


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        # [b, 1, 40] -> [b, 16, 40] -> [b, 16, 20] -> [b, 10]
        self.net = nn.Sequential(
            nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(),
            nn.Conv1d(16, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Flatten(), nn.Linear(16 * 20, 10),
        )

    def forward(self, x, labels=None):
        logits = self.net(x)
        if labels is None:
            return {"logits": logits}
        return {"loss": nn.functional.cross_entropy(logits, labels), "logits": logits}


def accuracy(prediction) -> dict:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.6, help="eval_accuracy to reach (validation split)")
    parser.add_argument("--samples", type=int, default=4000,
                        help="MNIST-1D examples (80%% train; 20%% of those validate)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--eval-every", type=int, default=25, help="optimizer steps between evaluations")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", default=None, help="SQLite run store (default: in memory)")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    args = parser.parse_args(argv)

    torch.manual_seed(args.seed)
    train, val = mnist1d(args.samples, args.seed)
    callback = ComputeToTarget(Target("eval_accuracy", args.target), store=args.store,
                               run_name="mnist1d-cnn-hf", stop_on_target=True)
    with tempfile.TemporaryDirectory() as output_dir:  # nothing is saved: save_strategy="no"
        training = TrainingArguments(
            output_dir=output_dir, per_device_train_batch_size=args.batch_size,
            per_device_eval_batch_size=len(val), learning_rate=args.lr, num_train_epochs=args.max_epochs,
            eval_strategy="steps", eval_steps=args.eval_every, logging_steps=args.eval_every,
            save_strategy="no", report_to="none", disable_tqdm=True, seed=args.seed,
        )
        trainer = Trainer(model=CNN(), args=training, train_dataset=train, eval_dataset=val,
                          compute_metrics=accuracy, callbacks=[callback])
        trainer.train()

    summary = callback.summary
    if args.json:
        print(json.dumps(summary, indent=2))
        return summary
    print(f"steps {summary['steps']}, training compute {summary['total_flops']:.3e} FLOPs, "
          f"evaluation {summary['eval_flops']:.3e} FLOPs")
    if summary["reached"]:
        print(f"reached {callback.target} after {summary['steps_to_target']} steps: "
              f"compute-to-target {summary['compute_to_target']:.3e} FLOPs "
              f"(interpolated {summary['compute_to_target_interpolated']:.3e})")
    else:
        print(f"did not reach {callback.target}; best {summary['best_metric']}")
    return summary


if __name__ == "__main__":
    main()
