"""CIFAR-10 speedrun networks, 2018-2024 (inputs 3 x 32 x 32, 10 classes).

    page_resnet9()           davidcpage/cifar10-fast dawn_utils.net(), the 24-epoch DAWNBench ResNet-9 (2018)
    page_resnet9_whitened()  the same with a frozen 3x3 whitening filter, new_dawn.py (2019)
    hlb_v070()               tysam-code/hlb-CIFAR10 v0.7.0 main.py make_net() (2023)
    airbench94(...)          KellerJordan/cifar10-airbench airbench94.py / airbench94_muon.py CifarNet (2024)
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["airbench94", "hlb_v070", "page_resnet9", "page_resnet9_whitened"]


def _frozen(module: nn.Module) -> nn.Module:
    for param in module.parameters():
        param.requires_grad = False
    return module


class _Scale(nn.Module):
    def __init__(self, factor: float):
        super().__init__()
        self.factor = factor

    def forward(self, x):
        return x * self.factor


class _Residual(nn.Module):
    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x):
        return x + self.body(x)


def _conv_bn(c_in: int, c_out: int, act, pool: bool, pool_first: bool = False) -> nn.Sequential:
    # dawn_utils.conv_bn_default: conv, bn, relu, then pool; new_dawn.conv_bn moves the pool after the conv
    conv = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
    layers = [conv, nn.BatchNorm2d(c_out), act()]
    if pool:
        layers.insert(1 if pool_first else 3, nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def _resnet9(prep: nn.Module, act, pool_first: bool, scale: float) -> nn.Sequential:
    def block(c_in, c_out, residual):
        layers = [_conv_bn(c_in, c_out, act, pool=True, pool_first=pool_first)]
        if residual:
            layers.append(_Residual(nn.Sequential(_conv_bn(c_out, c_out, act, False),
                                                  _conv_bn(c_out, c_out, act, False))))
        return nn.Sequential(*layers)

    return nn.Sequential(prep, block(64, 128, True), block(128, 256, False), block(256, 512, True),
                         nn.MaxPool2d(4), nn.Flatten(), nn.Linear(512, 10, bias=False), _Scale(scale))


def page_resnet9() -> nn.Module:
    """The DAWNBench ResNet-9: prep 64, layer1 128 (+2 residual convs), layer2 256, layer3 512 (+2), linear."""
    return _resnet9(_conv_bn(3, 64, nn.ReLU, pool=False), nn.ReLU, pool_first=False, scale=0.125)


def page_resnet9_whitened() -> nn.Module:
    """new_dawn.py: a frozen 3x3 whitening conv (3 -> 27), a 1x1 conv to 64, CELU, pooling before batch norm."""
    celu = lambda: nn.CELU(alpha=0.3)  # noqa: E731
    prep = nn.Sequential(_frozen(nn.Conv2d(3, 27, 3, padding=1, bias=False)), nn.Conv2d(27, 64, 1, bias=False),
                         nn.BatchNorm2d(64), celu())
    return _resnet9(prep, celu, pool_first=True, scale=1 / 16)


class _ConvGroup(nn.Module):
    """conv, pool, bn, gelu, conv, bn, gelu: the block of hlb-CIFAR10 v0.7.0 and airbench."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding="same", bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding="same", bias=False)
        self.norm2 = nn.BatchNorm2d(c_out)
        self.activ = nn.GELU()
        for norm in (self.norm1, self.norm2):  # both repositories train only the batch-norm biases
            norm.weight.requires_grad = False

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        return self.activ(self.norm2(self.conv2(x)))


class _WhitenedNet(nn.Module):
    def __init__(self, widths, whiten_bias: bool, whiten_bias_grad: bool, head_pool: nn.Module):
        super().__init__()
        self.whiten = nn.Conv2d(3, 24, 2, padding=0, bias=whiten_bias)  # 2 x 3 x 2^2 = 24 filters
        self.whiten.weight.requires_grad = False  # set from the patches' eigenvectors, never trained
        if whiten_bias:
            self.whiten.bias.requires_grad = whiten_bias_grad
        self.layers = nn.Sequential(nn.GELU(), _ConvGroup(24, widths[0]), _ConvGroup(widths[0], widths[1]),
                                    _ConvGroup(widths[1], widths[2]))
        self.head_pool = head_pool
        self.head = nn.Linear(widths[2], 10, bias=False)

    def forward(self, x):
        x = self.head_pool(self.layers(self.whiten(x)))
        return self.head(x.flatten(1))


class _GlobalMax(nn.Module):
    def forward(self, x):
        return torch.amax(x, dim=(2, 3))


def hlb_v070() -> nn.Module:
    """hlb-CIFAR10 v0.7.0: frozen 2x2 whitening (24 filters, no bias), groups 64/256/512, global max pool."""
    return _WhitenedNet((64, 256, 512), whiten_bias=False, whiten_bias_grad=False, head_pool=_GlobalMax())


def airbench94(whiten_bias_grad: bool = True) -> nn.Module:
    """airbench94's net: frozen 2x2 whitening (24 filters) whose bias trains for the first 3 epochs only,
    groups 64/256/256, 3x3 max pool, linear. ``whiten_bias_grad=False``: the steps after those epochs."""
    return _WhitenedNet((64, 256, 256), whiten_bias=True, whiten_bias_grad=whiten_bias_grad,
                        head_pool=nn.MaxPool2d(3))
