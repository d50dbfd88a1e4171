"""A nanoGPT-shaped GPT-2 (Radford et al. 2019; Karpathy's nanoGPT / llm.c train_gpt2.py).

    gpt2(n_layer=12, n_head=12, n_embd=768, vocab_size=50257, block_size=1024)

Pre-norm blocks (LayerNorm, causal self-attention, LayerNorm, 4x GELU MLP),
learned position embeddings, the head tied to the token embedding. Input:
token ids of shape (batch, T); output: logits (batch, T, vocab).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

__all__ = ["gpt2"]


class _Block(nn.Module):
    def __init__(self, n_embd: int, n_head: int):
        super().__init__()
        self.n_head = n_head
        self.ln_1, self.ln_2 = nn.LayerNorm(n_embd), nn.LayerNorm(n_embd)
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(approximate="tanh"),
                                 nn.Linear(4 * n_embd, n_embd))

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).split(c, dim=2)
        q, k, v = (z.view(b, t, self.n_head, c // self.n_head).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, c)
        x = x + self.c_proj(y)
        return x + self.mlp(self.ln_2(x))


class _GPT(nn.Module):
    def __init__(self, n_layer, n_head, n_embd, vocab_size, block_size):
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)
        self.blocks = nn.ModuleList(_Block(n_embd, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab_size, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as in GPT-2

    def forward(self, idx):
        x = self.wte(idx) + self.wpe.weight[: idx.shape[1]]
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def gpt2(n_layer: int = 12, n_head: int = 12, n_embd: int = 768, vocab_size: int = 50257,
         block_size: int = 1024) -> nn.Module:
    """GPT-2 small (124M parameters) by default."""
    if n_embd % n_head:
        raise ValueError(f"n_embd == {n_embd} is not a multiple of n_head == {n_head}.")
    return _GPT(n_layer, n_head, n_embd, vocab_size, block_size)
