"""What the Hugging Face Trainer tests share: a keyword-calling classifier, its dataset, its metric.

Imported by the test modules and by integrations_ddp_worker.py, which torchrun
runs as a script from this folder.
"""

from __future__ import annotations

import torch
from torch import nn


class KeywordClassifier(nn.Module):
    """``net`` with the Trainer's calling convention: keyword inputs, a loss when labels come."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x, labels=None):
        logits = self.net(x)
        out = {"logits": logits}
        if labels is not None:
            out["loss"] = nn.functional.cross_entropy(logits, labels)
        return out


class Pairs(torch.utils.data.Dataset):
    """Examples as the Trainer's collator wants them: {"x": ..., "labels": ...}."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.y[i]}


def accuracy(prediction) -> dict:
    """``compute_metrics`` for the Trainer: {"accuracy": ...}, logged as eval_accuracy."""
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}
