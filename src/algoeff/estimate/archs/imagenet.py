"""ImageNet networks of published recipes.

    ffcv_resnet(arch, blurpool=True)  libffcv/ffcv-imagenet train_imagenet.py: a torchvision ResNet with
                                      BlurPool before every strided conv of >= 16 input channels
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ffcv_resnet"]


class _BlurPoolConv2d(nn.Module):
    """ffcv-imagenet's BlurPoolConv2d: a depthwise 3x3 binomial blur, then the strided conv."""

    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        self.conv = conv
        kernel = torch.tensor([[[[1.0, 2.0, 1.0], [2.0, 4.0, 2.0], [1.0, 2.0, 1.0]]]]) / 16.0
        self.register_buffer("blur_filter", kernel.repeat(conv.in_channels, 1, 1, 1))

    def forward(self, x):
        x = F.conv2d(x, self.blur_filter, stride=1, padding=(1, 1), groups=self.conv.in_channels)
        return self.conv(x)


def _apply_blurpool(module: nn.Module) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.Conv2d) and max(child.stride) > 1 and child.in_channels >= 16:
            setattr(module, name, _BlurPoolConv2d(child))
        else:
            _apply_blurpool(child)


def ffcv_resnet(arch: str = "resnet50", blurpool: bool = True) -> nn.Module:
    import torchvision

    if arch not in ("resnet18", "resnet34", "resnet50", "resnet101"):
        raise ValueError(f"arch == {arch!r}; ffcv-imagenet's configs use resnet18 or resnet50.")
    model = torchvision.models.get_model(arch, weights=None)
    if blurpool:
        _apply_blurpool(model)
    return model
