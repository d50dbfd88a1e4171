"""Real models against their closed forms: Hugging Face GPT-2 and BERT from small configs (random
weights, nothing downloaded) and a timm ViT (pretrained=False), forward and training step.

Policy "matmul", causal "full". In these models every matmul's input needs a gradient (the
embeddings are parameters), so a training step's backward is exactly twice its forward, except
where the input is the data (a ViT's patch embedding of the image).
"""

import pytest
import torch

from algoeff import count_flops

torch.set_num_threads(1)
pytestmark = pytest.mark.slow

B, T, D, HEADS, LAYERS, VOCAB, FF = 2, 16, 64, 4, 2, 128, 128


def _sum_loss(out):
    return out[0].sum()


def test_gpt2():
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=LAYERS, n_embd=D, n_head=HEADS, n_positions=32, vocab_size=VOCAB,
                                     bos_token_id=0, eos_token_id=0, attn_implementation="sdpa")
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config)
    inputs = {"input_ids": torch.randint(0, VOCAB, (B, T)), "use_cache": False}
    forward = count_flops(model, inputs).forward
    # per token and layer 12 d^2 weights (qkv 3, proj 1, MLP 4 + 4), lm head d V; scores 4 B T^2 d per layer:
    # 2 * 32 * (12 * 2 * 4096 + 64 * 128) + 4 * 2 * 2 * 256 * 64 = 6,815,744 + 262,144 = 7,077,888
    assert forward == 2 * B * T * (12 * LAYERS * D * D + D * VOCAB) + 4 * LAYERS * B * T * T * D == 7_077_888
    step = count_flops(model, inputs, train=True, loss_fn=_sum_loss)
    assert (step.forward, step.backward) == (forward, 2 * forward)
    assert step.uncounted_ops == {}


def test_bert():
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(vocab_size=VOCAB, hidden_size=D, num_hidden_layers=LAYERS,
                                     num_attention_heads=HEADS, intermediate_size=FF, max_position_embeddings=32,
                                     attn_implementation="sdpa")
    torch.manual_seed(0)
    model = transformers.BertModel(config)
    inputs = {"input_ids": torch.randint(0, VOCAB, (B, T))}
    forward = count_flops(model, inputs).forward
    # per token and layer q, k, v, o 4 d^2 and the MLP 2 d ff; scores 4 B T^2 d per layer; the pooler
    # d^2 on each sequence's first token: 2 * 32 * 2 * (4 * 4096 + 2 * 64 * 128) + 4 * 2 * 2 * 256 * 64
    # + 2 * 2 * 4096 = 4,472,832
    assert forward == (2 * B * T * LAYERS * (4 * D * D + 2 * D * FF) + 4 * LAYERS * B * T * T * D
                       + 2 * B * D * D) == 4_472_832
    step = count_flops(model, inputs, train=True, loss_fn=lambda out: out.last_hidden_state.sum()
                       + out.pooler_output.sum())
    assert (step.forward, step.backward) == (forward, 2 * forward)


@pytest.mark.parametrize("device", ["meta", None])
def test_timm_vit_tiny(device):
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=64)
    x = torch.randn(2, 3, 64, 64)
    d, tokens, patches, blocks = 192, 17, 16, 12  # 64 / 16 = 4 x 4 patches, + the class token
    report = count_flops(model, x, device=device)
    patch_embed = 2 * 2 * patches * (3 * 16 * 16) * d
    # per token and block 12 d^2 (qkv 3, proj 1, MLP 4 + 4); scores 4 B T^2 d per block; head on the
    # class token 2 B d 1000
    body = 2 * 2 * tokens * 12 * blocks * d * d + 4 * blocks * 2 * tokens * tokens * d
    head = 2 * 2 * d * 1000
    assert report.forward == patch_embed + body + head
    step = count_flops(model, x, train=True, device=device)
    # the image needs no gradient: the patch embedding's backward is its weight gradient only
    assert step.backward == 2 * report.forward - patch_embed
