"""Forward multiply-adds of torchvision models against the published ``_ops`` (GMACs), and meta == real."""

import pytest
import torch
import torchvision
from torch import nn
from torchvision.models import get_model, get_model_weights

from algoeff import count_flops

torch.set_num_threads(1)

MODELS = [
    ("alexnet", 224), ("vgg11", 224), ("googlenet", 224), ("resnet18", 224), ("resnet50", 224),
    ("mobilenet_v2", 224), ("shufflenet_v2_x1_0", 224), ("squeezenet1_1", 224), ("efficientnet_b0", 224),
    ("efficientnet_b1", 240), ("vit_b_16", 224),
]


def _meta_model(name):
    with torch.device("meta"):
        kwargs = {"init_weights": False} if name == "googlenet" else {}
        return get_model(name, weights=None, **kwargs)


@pytest.mark.parametrize("name, size", MODELS)
def test_forward_macs_within_1_percent_of_published(name, size):
    published = get_model_weights(name).DEFAULT.meta["_ops"]  # GMACs, read without downloading
    model = _meta_model(name)
    x = torch.empty(1, 3, size, size, device="meta")
    evaluation = count_flops(model, x, device="meta")  # eval mode under torch.no_grad()
    training = count_flops(model, x, device="meta", train=True)
    for report in (evaluation, training):
        assert report.macs / 1e9 == pytest.approx(published, rel=0.01)
        assert report.uncounted_ops == {}
    assert evaluation.forward == 2 * evaluation.macs and training.backward > training.forward


def _small_cnn():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, groups=2), nn.GELU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Dropout(0.1), nn.Linear(16, 10), nn.LogSoftmax(dim=1),
    )


@pytest.mark.parametrize("policy", ["matmul", "all"])
def test_meta_equals_real_on_a_small_cnn_training_step(policy):
    x = torch.randn(4, 3, 16, 16)
    target = torch.randint(0, 10, (4,))

    def loss_fn(out):
        return nn.functional.nll_loss(out, target if out.device.type != "meta" else target.to("meta"))

    model = _small_cnn()
    optimizer = torch.optim.Adam(model.parameters())
    real = count_flops(model, x, train=True, loss_fn=loss_fn, optimizer=optimizer, policy=policy)
    meta = count_flops(model, x, train=True, loss_fn=loss_fn, optimizer=optimizer, policy=policy, device="meta")
    assert real == meta
    assert real.optimizer > 0 if policy == "all" else real.optimizer == 0
    assert real.uncounted_ops == {}


@pytest.mark.slow
def test_meta_equals_real_on_torchvision_models_at_small_resolution():
    model = torchvision.models.resnet18(weights=None)
    x = torch.randn(2, 3, 64, 64)
    for policy in ("matmul", "all"):
        real = count_flops(model, x, train=True, policy=policy)
        assert real == count_flops(model, x, train=True, policy=policy, device="meta")
    # ViT's eval forward runs the fused attention fast path on real tensors, the
    # decomposed path on meta: both must come to the same count
    vit = torchvision.models.vit_b_16(weights=None, image_size=32)
    x = torch.randn(1, 3, 32, 32)
    real = count_flops(vit, x)
    assert "aten._native_multi_head_attention" in real.by_op
    assert real.forward == count_flops(vit, x, device="meta").forward
