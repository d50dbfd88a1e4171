"""What the Lightning callback tests share: a LightningModule classifier around a small network.

Imported by the test modules and by integrations_ddp_worker.py, which torchrun
runs as a script from this folder.
"""

from __future__ import annotations

import lightning.pytorch as L
import torch
from torch import nn


class Classifier(L.LightningModule):
    """``net`` trained on cross-entropy: logs train_loss, and val_acc at validation.

    ``training_step`` calls the module itself (``self(x)``, through ``logits``), as
    the callback counts it; ``sync_dist`` all-reduces val_acc under DDP.
    """

    def __init__(self, net: nn.Module, *, lr: float = 0.05, optimizer_class=torch.optim.SGD, sync_dist=False):
        super().__init__()
        self.net = net
        self.lr, self.optimizer_class, self.sync_dist = lr, optimizer_class, sync_dist

    def forward(self, x):
        return self.net(x)

    def logits(self, x):
        return self(x)

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = nn.functional.cross_entropy(self.logits(x), y)
        self.log("train_loss", loss)
        return loss

    def validation_step(self, batch, batch_idx):
        x, y = batch
        self.log("val_acc", (self(x).argmax(1) == y).float().mean(), sync_dist=self.sync_dist)

    def configure_optimizers(self):
        return self.optimizer_class(self.parameters(), lr=self.lr)
