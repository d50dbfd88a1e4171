"""The training loop every workload shares: train, evaluate at fixed intervals, stop at the target.

Evaluation runs every ``eval_every`` steps and after the last step; its FLOPs
are counted apart (``tracker.evaluate()``) and never charged to the run.
"""

from __future__ import annotations

import torch

from .spec import curve_point

__all__ = ["make_optimizer", "make_schedule", "train"]


def make_optimizer(model: torch.nn.Module, config: dict) -> torch.optim.Optimizer:
    """SGD with momentum (L2 weight decay), or AdamW (decoupled weight decay)."""
    momentum, decay = config.get("momentum", 0.9), config.get("weight_decay", 0.0)
    if config.get("optimizer", "sgd") == "adamw":
        return torch.optim.AdamW(model.parameters(), lr=config["lr"], betas=(momentum, 0.999), weight_decay=decay)
    return torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=momentum, weight_decay=decay)


def make_schedule(optimizer, config: dict, steps: int):
    """Per-step learning-rate schedule over ``steps`` steps."""
    kind = config.get("schedule", "constant")
    if kind == "onecycle":
        # Smith & Topin 2017: warm up for 30% of the run, then anneal (cosine) to lr / 1e4
        return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config["lr"], total_steps=steps)
    if kind == "step":
        # the PyTorch ImageNet example the paper used: x0.1 every 30 of 90 epochs
        milestones = [steps // 3, 2 * steps // 3]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)


def train(model, batches, evaluators, tracker, *, optimizer, schedule, loss_fn, steps, eval_every,
          steps_per_epoch, stop_at_target=True, on_eval=None) -> dict:
    """Train for up to ``steps`` steps under ``tracker``; return each split's evaluation FLOPs."""
    eval_flops = dict.fromkeys(evaluators, 0)
    model.train()
    for step in range(1, steps + 1):
        inputs, labels = next(batches)

        # forward and backward: one counted training step
        with tracker.step():
            loss = loss_fn(model(inputs), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        schedule.step()
        if step % eval_every and step != steps:
            continue

        # evaluate every split, each counted apart from training compute and from the other
        metrics = {}
        model.eval()
        for split, evaluate in evaluators.items():
            before = tracker.eval_flops
            with tracker.evaluate(), torch.no_grad():
                metrics.update(evaluate(model))
            eval_flops[split] += tracker.eval_flops - before
        model.train()

        # log: a NaN training loss marks the run diverged
        reached = tracker.record(**metrics, train_loss=loss.item())
        if on_eval is not None:
            on_eval(curve_point(tracker.curve[-1], steps_per_epoch))

        # stop: at the target (unless training the full schedule), or once diverged
        if tracker.diverged or (reached and stop_at_target):
            break
    return eval_flops
