"""Compute-to-target of a PyTorch Lightning run: one callback, no change to the LightningModule.

A small 1-D CNN on MNIST-1D (generated locally with mnist1d's make_dataset,
never downloaded). ComputeToTarget counts every training step's FLOPs, keeps
validation apart, stops the run when the validation accuracy reaches the
target, logs algoeff/* beside val_acc in the CSV logger, and writes the run to
an algoeff run store.

    python examples/lightning_mnist1d.py --target 0.6 --store runs.db
"""

from __future__ import annotations

import argparse
import json

import lightning.pytorch as L
import torch
from torch import nn

from algoeff import Target
from algoeff.integrations.lightning import ComputeToTarget


def mnist1d(num_samples: int, seed: int):
    """(train, validation) TensorDatasets; the validation split is 20% of mnist1d's training set."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples, args.seed = num_samples, seed
    data = make_dataset(args)  # generated here; nothing is downloaded
    x = torch.tensor(data["x"], dtype=torch.float32).unsqueeze(1)
    y = torch.tensor(data["y"], dtype=torch.long)
    cut = len(x) * 4 // 5
    return (torch.utils.data.TensorDataset(x[:cut], y[:cut]),
            torch.utils.data.TensorDataset(x[cut:], y[cut:]))


class CNN(L.LightningModule):
    def __init__(self, lr: float = 1e-2):
        super().__init__()
        self.save_hyperparameters()
        # [b, 1, 40] -> [b, 16, 40] -> [b, 16, 20] -> [b, 10]
        self.net = nn.Sequential(
            nn.Conv1d(1, 16, 5, padding=2), nn.ReLU(),
            nn.Conv1d(16, 16, 5, stride=2, padding=2), nn.ReLU(),
            nn.Flatten(), nn.Linear(16 * 20, 10),
        )

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", type=float, default=0.6, help="validation accuracy to reach")
    parser.add_argument("--samples", type=int, default=4000,
                        help="MNIST-1D examples (80%% train; 20%% of those validate)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--val-every", type=int, default=25, help="training batches between validations")
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--store", default=None, help="SQLite run store (default: in memory)")
    parser.add_argument("--log-dir", default="lightning_logs", help="where the CSV logger writes")
    parser.add_argument("--json", action="store_true", help="print the run summary as JSON")
    args = parser.parse_args(argv)

    L.seed_everything(args.seed, verbose=False)
    train, val = mnist1d(args.samples, args.seed)
    callback = ComputeToTarget(Target("val_acc", args.target), store=args.store, run_name="mnist1d-cnn-lightning",
                               stop_on_target=True)
    trainer = L.Trainer(
        max_epochs=args.max_epochs, val_check_interval=args.val_every, check_val_every_n_epoch=None,
        callbacks=[callback], logger=L.loggers.CSVLogger(args.log_dir, name="mnist1d"),
        accelerator="auto", devices=1, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, log_every_n_steps=args.val_every,
    )
    trainer.fit(
        CNN(args.lr),
        torch.utils.data.DataLoader(train, batch_size=args.batch_size, shuffle=True),
        torch.utils.data.DataLoader(val, batch_size=len(val)),
    )

    summary = callback.summary
    if args.json:
        print(json.dumps(summary, indent=2))
        return summary
    print(f"steps {summary['steps']}, training compute {summary['total_flops']:.3e} FLOPs, "
          f"validation {summary['eval_flops']:.3e} FLOPs")
    if summary["reached"]:
        print(f"reached {callback.target} after {summary['steps_to_target']} steps: "
              f"compute-to-target {summary['compute_to_target']:.3e} FLOPs "
              f"(interpolated {summary['compute_to_target_interpolated']:.3e})")
    else:
        print(f"did not reach {callback.target}; best {summary['best_metric']}")
    return summary


if __name__ == "__main__":
    main()
