"""device="fake": counting on fake tensors where meta cannot go (issue 15, case 11)."""

import pytest
import torch
from torch import nn

from algoeff import CountError, count_flops

torch.set_num_threads(1)


def test_fake_counts_like_cpu_and_leaves_the_model_alone():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = torch.randn(32, 8)
    fake = count_flops(model, x, train=True, optimizer=optimizer, policy="all", device="fake")
    cpu = count_flops(model, x, train=True, optimizer=optimizer, policy="all")
    assert (fake.forward, fake.backward, fake.optimizer) == (cpu.forward, cpu.backward, cpu.optimizer)
    # 2 * 32 * (8 * 16 + 16 * 4) = 12288 matmul FLOPs in the forward
    assert count_flops(model, x, device="fake").forward == 12288
    assert model[0].weight.grad is None and not optimizer.state


def _scalar_reader():
    class ReadsAScalar(nn.Module):  # what HF models do with use_cache=False (a packed-sequence check)
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(8, 8)

        def forward(self, x):
            # a scalar read off the data and used as a number, not branched on (fake has no data)
            return self.linear(x) * x.abs().amax().item()

    return ReadsAScalar()


def test_a_model_that_reads_a_scalar_fails_on_meta_and_counts_on_fake():
    model, x = _scalar_reader(), torch.randn(4, 8)
    with pytest.raises(CountError, match=r"item\(\) cannot be called on meta tensors"):
        count_flops(model, x, device="meta")
    # 2 * 4 * 8 * 8 = 512
    assert count_flops(model, x, device="fake").forward == 512 == count_flops(model, x).forward


@pytest.mark.slow
def test_hugging_face_llama_without_cache_on_fake():
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(vocab_size=128, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                      num_attention_heads=4, num_key_value_heads=2, use_cache=False)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config)
    inputs = {"input_ids": torch.randint(0, 128, (2, 16))}

    def loss(out):
        return out.logits.sum()

    with pytest.raises(CountError, match="meta"):  # before: the only data-free path, and it fails
        count_flops(model, inputs, loss_fn=loss, train=True, device="meta")
    fake = count_flops(model, inputs, loss_fn=loss, train=True, device="fake")
    cpu = count_flops(model, inputs, loss_fn=loss, train=True)
    assert (fake.forward, fake.backward) == (cpu.forward, cpu.backward)
    # tokens 32, per layer: q, o 2 * 32 * 64 * 64 each; k, v (2 heads of 16) 2 * 32 * 64 * 32 each;
    # MLP 3 * 2 * 32 * 64 * 128; attention 2 * 2 * 4 * 16 * 16 * (16 + 16); lm head 2 * 32 * 64 * 128
    layer = 2 * (2 * 32 * 64 * 64) + 2 * (2 * 32 * 64 * 32) + 3 * 2 * 32 * 64 * 128 + 2 * 2 * 4 * 16 * 16 * 32
    assert fake.macs * 2 == 2 * layer + 2 * 32 * 64 * 128
