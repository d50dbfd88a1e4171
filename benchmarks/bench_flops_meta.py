"""Time and peak memory to count a GPT-2-XL-sized (1.56 B parameters) training step on ``meta``.

The model (GPT-2 XL's shape: 48 layers, d_model 1600, 25 heads, vocabulary
50257, context 1024, tied embeddings) is built under ``torch.device("meta")``,
so no weight is allocated; one AdamW training step on a 1 x 1024 batch of token
ids is counted with count_flops(device="meta"). The counts are checked against
the closed form (matmul policy, causal="full"):

    forward  = 2 T (12 L d^2 + d V) + 4 L T^2 d     (weights; scores and weighted sum)
    backward = 2 forward                              (every matmul input needs a gradient)

    python benchmarks/bench_flops_meta.py [--repeats 3] [--json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from algoeff.flops import count_flops

LAYERS, D_MODEL, HEADS, VOCAB, CONTEXT = 48, 1600, 25, 50257, 1024


class Block(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.ln_1, self.ln_2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.c_attn, self.c_proj = nn.Linear(d, 3 * d), nn.Linear(d, d)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(approximate="tanh"), nn.Linear(4 * d, d))

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.c_attn(self.ln_1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.c_proj(y)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, layers=LAYERS, d=D_MODEL, heads=HEADS, vocab=VOCAB, context=CONTEXT):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, d), nn.Embedding(context, d)
        self.blocks = nn.ModuleList(Block(d, heads) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d)
        self.lm_head = nn.Linear(d, vocab, bias=False)
        self.lm_head.weight = self.wte.weight  # tied, as in GPT-2

    def forward(self, idx):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1], device=idx.device))
        for block in self.blocks:
            x = block(x)
        return self.lm_head(self.ln_f(x))


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--policy", choices=("matmul", "all"), default="matmul")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    rss_before = _rss_mib()
    start = time.perf_counter()
    with torch.device("meta"):
        model = GPT()
    build = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    idx = torch.zeros(1, CONTEXT, dtype=torch.long, device="meta")

    def loss_fn(logits):
        return F.cross_entropy(logits.view(-1, VOCAB), idx.view(-1))

    times, report = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        report = count_flops(model, idx, train=True, loss_fn=loss_fn, optimizer=optimizer,
                             policy=args.policy, device="meta")
        times.append(time.perf_counter() - start)
    rss_after = _rss_mib()

    t, L, d, V = CONTEXT, LAYERS, D_MODEL, VOCAB
    # weights: 2 T (12 L d^2 + d V); attention: 2 (QK^T and PV) * 2 * L * T^2 * d
    forward = 2 * t * (12 * L * d * d + d * V) + 4 * L * t * t * d
    result = {
        "parameters": params, "build_seconds": build, "count_seconds_median": statistics.median(times),
        "count_seconds": times, "peak_rss_mib": rss_after, "rss_before_build_mib": rss_before,
        "policy": args.policy, "report": {k: v for k, v in report.to_dict().items() if not k.startswith("by_")},
        "closed_form_forward": forward, "closed_form_total": 3 * forward,
        "matches_closed_form": report.forward == forward and report.backward == 2 * forward,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"GPT-2-XL shape: {params / 1e9:.3f} B parameters, built on meta in {build:.2f} s")
    print(f"count one AdamW training step (1 x {CONTEXT} tokens, policy {args.policy}): median "
          f"{statistics.median(times):.2f} s of {args.repeats} ({', '.join(f'{x:.2f}' for x in times)})")
    print(f"peak RSS {rss_after:.0f} MiB (after importing torch: {rss_before:.0f} MiB)")
    print(f"forward {report.forward:.4e}  backward {report.backward:.4e}  optimizer {report.optimizer:.4e}  "
          f"total {report.total:.4e} FLOPs")
    print(f"closed form (matmul): forward {forward:.4e}, total {3 * forward:.4e}; "
          f"exact match: {result['matches_closed_form']}; uncounted ops: {report.uncounted_ops or 'none'}")
    return result


if __name__ == "__main__":
    main()
