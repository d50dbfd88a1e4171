"""Small convolutional nets in the style of each dated architecture, for 1-D or 2-D inputs.

Each class keeps the defining idea of its paper at a size that trains in
seconds on a CPU: MNIST-1D sequences are ``[batch, 1, 40]`` (1-D convolutions),
digits images ``[batch, 1, 8, 8]`` (2-D). ``dims`` picks Conv1d or Conv2d, so
one definition serves both workloads.

    AlexNet      five plain convolutions, max-pooling, a dropout FC head      (2012)
    StridedCNN   2012-ideas control: strided convolutions, linear head        (2012)
    PooledCNN    2012-ideas control: convolutions, max-pooling, dropout       (2012)
    Inception    parallel 1x1 / 3 / 5 / pool branches, concatenated; no BN    (2014)
    ResNet       residual basic blocks with batch norm                        (2015)
    MobileNet    depthwise-separable convolutions                             (2017)
    ShuffleNet   grouped 1x1 convolutions with channel shuffle                (2017)
    EfficientNet MBConv (inverted bottleneck) with squeeze-excitation, swish  (2019)
    MLP          fully connected, the floor                                   (1986)
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["MODELS", "build_model"]


def _ops(dims: int):
    if dims == 1:
        return nn.Conv1d, nn.BatchNorm1d, nn.MaxPool1d, nn.AvgPool1d
    return nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d


def _global_pool(x):
    # [b, c, *spatial] -> [b, c]
    return x.flatten(2).mean(2)


class MLP(nn.Module):
    """Two hidden ReLU layers on the flattened input."""

    def __init__(self, in_shape, num_classes, *, width=128, dims=1):
        super().__init__()
        size = math.prod(in_shape)
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(size, width), nn.ReLU(),
            nn.Linear(width, width), nn.ReLU(), nn.Linear(width, num_classes),
        )

    def forward(self, x):
        return self.net(x)


class AlexNet(nn.Module):
    """AlexNet's five plain convolutions, max-pooling and dropout FC head, in AlexNet's proportions.

    Channels follow AlexNet's 96-256-384-384-256 as width x (1, 8/3, 4, 4, 8/3),
    pooled after the first, second and fifth convolution as in the paper; the
    head's hidden width is 6 x width, so that, as in AlexNet (4096 hidden units
    on 9,216 features), it holds under a tenth of the forward compute.
    """

    def __init__(self, in_shape, num_classes, *, width=12, hidden=None, dropout=0.5, kernel=5, dims=1):
        super().__init__()
        Conv, _, MaxPool, _ = _ops(dims)
        c1, c2, c3 = width, round(8 * width / 3), 4 * width
        hidden = hidden or 6 * width
        self.features = nn.Sequential(
            Conv(in_shape[0], c1, kernel, padding=kernel // 2), nn.ReLU(), MaxPool(2),
            Conv(c1, c2, kernel, padding=kernel // 2), nn.ReLU(), MaxPool(2),
            Conv(c2, c3, 3, padding=1), nn.ReLU(),
            Conv(c3, c3, 3, padding=1), nn.ReLU(),
            Conv(c3, c2, 3, padding=1), nn.ReLU(), MaxPool(2),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *in_shape)).numel()
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class StridedCNN(nn.Module):
    """A 2012-ideas control: three strided convolutions with ReLU and a linear head (Simard et al. 2003).

    Downsampling by stride instead of pooling; no batch norm, residuals,
    grouped convolutions or global pooling (Lin et al. 2013 came later).
    """

    def __init__(self, in_shape, num_classes, *, width=16, dropout=0.0, kernel=5, dims=1):
        super().__init__()
        Conv, _, _, _ = _ops(dims)
        c = width
        self.features = nn.Sequential(
            Conv(in_shape[0], c, kernel, stride=2, padding=kernel // 2), nn.ReLU(),
            Conv(c, 2 * c, 3, stride=2, padding=1), nn.ReLU(),
            Conv(2 * c, 4 * c, 3, stride=2, padding=1), nn.ReLU(),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *in_shape)).numel()
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class PooledCNN(nn.Module):
    """A 2012-ideas control: three convolutions with ReLU and max-pooling, dropout, a linear head."""

    def __init__(self, in_shape, num_classes, *, width=16, dropout=0.5, kernel=5, dims=1):
        super().__init__()
        Conv, _, MaxPool, _ = _ops(dims)
        c = width
        self.features = nn.Sequential(
            Conv(in_shape[0], c, kernel, padding=kernel // 2), nn.ReLU(), MaxPool(2),
            Conv(c, 2 * c, kernel, padding=kernel // 2), nn.ReLU(), MaxPool(2),
            Conv(2 * c, 2 * c, 3, padding=1), nn.ReLU(), MaxPool(2),
        )
        with torch.no_grad():
            flat = self.features(torch.zeros(1, *in_shape)).numel()
        self.classifier = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(flat, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class _InceptionBlock(nn.Module):
    # branches: 1x1 | 1x1 -> 3 | 1x1 -> 5 | maxpool 3 -> 1x1, concatenated on channels
    def __init__(self, cin, c1, c3r, c3, c5r, c5, cp, dims):
        super().__init__()
        Conv, _, MaxPool, _ = _ops(dims)
        relu = nn.ReLU
        self.b1 = nn.Sequential(Conv(cin, c1, 1), relu())
        self.b3 = nn.Sequential(Conv(cin, c3r, 1), relu(), Conv(c3r, c3, 3, padding=1), relu())
        self.b5 = nn.Sequential(Conv(cin, c5r, 1), relu(), Conv(c5r, c5, 5, padding=2), relu())
        self.bp = nn.Sequential(MaxPool(3, stride=1, padding=1), Conv(cin, cp, 1), relu())
        self.out_channels = c1 + c3 + c5 + cp

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.bp(x)], 1)


class Inception(nn.Module):
    """A GoogLeNet-style stem, four Inception blocks, global average pooling; no batch norm (2014)."""

    def __init__(self, in_shape, num_classes, *, width=16, dropout=0.4, kernel=5, dims=1):
        super().__init__()
        Conv, _, MaxPool, _ = _ops(dims)
        c = width

        def block(cin, scale):
            # GoogLeNet's 3a proportions: 64 | 96 -> 128 | 16 -> 32 | 32, in units of c/2
            s = scale * c
            return _InceptionBlock(cin, s // 2, s // 2, s, s // 8, s // 4, s // 4, dims)

        b1 = block(c, 1)
        b2 = block(b1.out_channels, 1)
        b3 = block(b2.out_channels, 2)
        b4 = block(b3.out_channels, 2)
        self.features = nn.Sequential(
            Conv(in_shape[0], c, kernel, padding=kernel // 2), nn.ReLU(), MaxPool(2),
            b1, b2, MaxPool(2), b3, b4, MaxPool(2),
        )
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(b4.out_channels, num_classes))

    def forward(self, x):
        return self.head(_global_pool(self.features(x)))


class _BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride, dims):
        super().__init__()
        Conv, BN, _, _ = _ops(dims)
        self.body = nn.Sequential(
            Conv(cin, cout, 3, stride=stride, padding=1, bias=False), BN(cout), nn.ReLU(),
            Conv(cout, cout, 3, padding=1, bias=False), BN(cout),
        )
        self.skip = nn.Identity()
        if stride != 1 or cin != cout:
            self.skip = nn.Sequential(Conv(cin, cout, 1, stride=stride, bias=False), BN(cout))
        self.relu = nn.ReLU()

    def forward(self, x):
        return self.relu(self.body(x) + self.skip(x))


class ResNet(nn.Module):
    """A stem and three stages of two residual basic blocks with batch norm (ResNet-18 style)."""

    def __init__(self, in_shape, num_classes, *, width=16, kernel=5, dims=1):
        super().__init__()
        Conv, BN, _, _ = _ops(dims)
        c = width
        self.stem = nn.Sequential(Conv(in_shape[0], c, kernel, padding=kernel // 2, bias=False), BN(c), nn.ReLU())
        layers, cin = [], c
        for i, cout in enumerate((c, 2 * c, 4 * c)):
            layers += [_BasicBlock(cin, cout, 1 if i == 0 else 2, dims), _BasicBlock(cout, cout, 1, dims)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(_global_pool(self.layers(self.stem(x))))


def _conv_bn(cin, cout, k, stride, dims, *, groups=1, act=nn.ReLU):
    Conv, BN, _, _ = _ops(dims)
    layers = [Conv(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False), BN(cout)]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class MobileNet(nn.Module):
    """A stem and depthwise-separable blocks (depthwise 3, BN, ReLU; pointwise 1x1, BN, ReLU), as in MobileNet v1."""

    # (output channels in units of width, stride)
    PLAN = ((2, 1), (4, 2), (4, 1), (8, 2), (8, 1), (16, 2))

    def __init__(self, in_shape, num_classes, *, width=16, kernel=5, dims=1):
        super().__init__()
        c = width
        layers, cin = [_conv_bn(in_shape[0], c, kernel, 1, dims)], c
        for mult, stride in self.PLAN:
            cout = mult * c // 2
            layers += [_conv_bn(cin, cin, 3, stride, dims, groups=cin), _conv_bn(cin, cout, 1, 1, dims)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(_global_pool(self.features(x)))


class _ChannelShuffle(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        # [b, g * n, *s] -> [b, g, n, *s] -> [b, n, g, *s] -> [b, n * g, *s]
        b, c = x.shape[:2]
        return x.reshape(b, self.groups, c // self.groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)


class _ShuffleUnit(nn.Module):
    # grouped 1x1 -> shuffle -> depthwise 3 -> grouped 1x1; add (stride 1) or concat with avg-pool (stride 2)
    def __init__(self, cin, cout, stride, groups, dims):
        super().__init__()
        _, _, _, AvgPool = _ops(dims)
        self.stride = stride
        branch = cout - cin if stride == 2 else cout
        mid = branch // 4
        mid -= mid % groups
        self.body = nn.Sequential(
            _conv_bn(cin, mid, 1, 1, dims, groups=groups), _ChannelShuffle(groups),
            _conv_bn(mid, mid, 3, stride, dims, groups=mid, act=None),
            _conv_bn(mid, branch, 1, 1, dims, groups=groups, act=None),
        )
        self.pool = AvgPool(3, stride=2, padding=1) if stride == 2 else None
        self.relu = nn.ReLU()

    def forward(self, x):
        if self.pool is None:
            return self.relu(x + self.body(x))
        return self.relu(torch.cat([self.pool(x), self.body(x)], 1))


class ShuffleNet(nn.Module):
    """A stem and three stages of ShuffleNet v1 units (grouped 1x1 convolutions, channel shuffle, depthwise 3)."""

    def __init__(self, in_shape, num_classes, *, width=16, groups=2, kernel=5, dims=1):
        super().__init__()
        c = width
        layers, cin = [_conv_bn(in_shape[0], c, kernel, 1, dims)], c
        for mult, repeats in ((4, 2), (8, 2), (16, 2)):
            cout = mult * c
            layers.append(_ShuffleUnit(cin, cout, 2, groups if cin > c else 1, dims))
            layers += [_ShuffleUnit(cout, cout, 1, groups, dims) for _ in range(repeats - 1)]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x):
        return self.fc(_global_pool(self.features(x)))


class _SqueezeExcite(nn.Module):
    def __init__(self, channels, squeezed):
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(channels, squeezed), nn.SiLU(), nn.Linear(squeezed, channels), nn.Sigmoid())

    def forward(self, x):
        # [b, c, *s] * [b, c, 1...]
        scale = self.fc(_global_pool(x))
        return x * scale.reshape(*scale.shape, *([1] * (x.dim() - 2)))


class _MBConv(nn.Module):
    # 1x1 expand -> depthwise k -> squeeze-excite -> 1x1 project (no activation); residual when shapes match
    def __init__(self, cin, cout, k, stride, expand, dims):
        super().__init__()
        mid = cin * expand
        layers = [] if expand == 1 else [_conv_bn(cin, mid, 1, 1, dims, act=nn.SiLU)]
        layers += [
            _conv_bn(mid, mid, k, stride, dims, groups=mid, act=nn.SiLU),
            _SqueezeExcite(mid, max(1, cin // 4)),
            _conv_bn(mid, cout, 1, 1, dims, act=None),
        ]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class EfficientNet(nn.Module):
    """A swish stem, MBConv blocks with squeeze-excitation, a 1x1 head, dropout (EfficientNet-B0 pattern)."""

    # (expand, output channels in units of width/2, kernel, stride, repeats): B0's first stages
    # (16, 24, 40, 80 channels; expand 1 then 6; kernels 3, 3, 5, 3), one block each to fit a CPU
    PLAN = ((1, 2, 3, 1, 1), (6, 3, 3, 2, 1), (6, 5, 5, 2, 1), (6, 10, 3, 2, 1))

    def __init__(self, in_shape, num_classes, *, width=16, dropout=0.2, kernel=5, dims=1):
        super().__init__()
        c = width
        layers, cin = [_conv_bn(in_shape[0], c, kernel, 1, dims, act=nn.SiLU)], c
        for expand, mult, k, stride, repeats in self.PLAN:
            cout = mult * c // 2
            for i in range(repeats):
                layers.append(_MBConv(cin, cout, k, stride if i == 0 else 1, expand, dims))
                cin = cout
        head = 4 * cin
        layers.append(_conv_bn(cin, head, 1, 1, dims, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(head, num_classes))

    def forward(self, x):
        return self.head(_global_pool(self.features(x)))


MODELS = {
    "mlp": MLP,
    "alexnet": AlexNet,
    "strided": StridedCNN,
    "pooled": PooledCNN,
    "inception": Inception,
    "resnet": ResNet,
    "mobilenet": MobileNet,
    "shufflenet": ShuffleNet,
    "efficientnet": EfficientNet,
}


def build_model(name: str, in_shape, num_classes: int, *, dims: int, **options) -> nn.Module:
    """The model ``name`` (a key of MODELS) for inputs of ``in_shape`` (without the batch dimension)."""
    model = MODELS[name](tuple(in_shape), num_classes, dims=dims, **options)
    for module in model.modules():
        # one initialisation for every architecture (He et al. 2015, as torchvision's ResNet,
        # MobileNet and EfficientNet): without it the plain nets (AlexNet, Inception) barely train
        if isinstance(module, (nn.Conv1d, nn.Conv2d)):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    return model
