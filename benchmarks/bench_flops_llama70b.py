"""Time and peak memory to count a Llama-2-70B-shaped AdamW training step on ``meta``.

The model has Llama-2-70B's shape (80 layers, d_model 8192, 64 query heads and
8 key/value heads of 128, SwiGLU feed-forward 28672, vocabulary 32000, untied
head: 69.0 B parameters), built under ``torch.device("meta")`` so that no
weight is allocated; one AdamW training step on 1 x 4096 token ids is counted
with count_flops(device="meta") and checked against the closed form (matmul
policy, causal="full"):

    forward  = 2 T (L (2 d^2 + 2 d d_kv + 3 d f) + d V) + 4 L T^2 d
    backward = 2 forward          (every matmul input needs a gradient)

    python benchmarks/bench_flops_llama70b.py [--repeats 3] [--json]
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

LAYERS, D, HEADS, KV_HEADS, FF, VOCAB, CONTEXT = 80, 8192, 64, 8, 28672, 32000, 4096


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.head_dim = D // HEADS
        self.norm_1, self.norm_2 = nn.RMSNorm(D), nn.RMSNorm(D)
        self.q, self.o = nn.Linear(D, D, bias=False), nn.Linear(D, D, bias=False)
        self.k = nn.Linear(D, KV_HEADS * self.head_dim, bias=False)
        self.v = nn.Linear(D, KV_HEADS * self.head_dim, bias=False)
        self.gate, self.up = nn.Linear(D, FF, bias=False), nn.Linear(D, FF, bias=False)
        self.down = nn.Linear(FF, D, bias=False)

    def forward(self, x):
        b, t, _ = x.shape
        h = self.norm_1(x)
        q = self.q(h).view(b, t, HEADS, self.head_dim).transpose(1, 2)
        k = self.k(h).view(b, t, KV_HEADS, self.head_dim).transpose(1, 2)
        v = self.v(h).view(b, t, KV_HEADS, self.head_dim).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + self.o(y.transpose(1, 2).reshape(b, t, D))
        h = self.norm_2(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class Llama(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, D)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.norm = nn.RMSNorm(D)
        self.head = nn.Linear(D, VOCAB, bias=False)

    def forward(self, idx):
        x = self.embed(idx)
        for block in self.blocks:
            x = block(x)
        return self.head(self.norm(x))


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # ru_maxrss is KiB on Linux


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    rss_before = _rss_mib()
    start = time.perf_counter()
    with torch.device("meta"):
        model = Llama()
    build = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    idx = torch.zeros(1, CONTEXT, dtype=torch.long, device="meta")

    def loss_fn(logits):
        return F.cross_entropy(logits.view(-1, VOCAB), idx.view(-1))

    times, report = [], None
    for _ in range(args.repeats):
        start = time.perf_counter()
        report = count_flops(model, idx, train=True, loss_fn=loss_fn, optimizer=optimizer, device="meta")
        times.append(time.perf_counter() - start)
    rss_after = _rss_mib()

    t, d_kv = CONTEXT, KV_HEADS * (D // HEADS)
    forward = 2 * t * (LAYERS * (2 * D * D + 2 * D * d_kv + 3 * D * FF) + D * VOCAB) + 4 * LAYERS * t * t * D
    result = {
        "parameters": params, "build_seconds": build, "count_seconds_median": statistics.median(times),
        "count_seconds": times, "peak_rss_mib": rss_after, "rss_before_build_mib": rss_before,
        "report": {k: v for k, v in report.to_dict().items() if not k.startswith("by_")},
        "closed_form_forward": forward,
        "matches_closed_form": report.forward == forward and report.backward == 2 * forward,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return result
    print(f"Llama-2-70B shape: {params / 1e9:.2f} B parameters, built on meta in {build:.2f} s")
    print(f"count one AdamW training step (1 x {CONTEXT} tokens): median {statistics.median(times):.2f} s "
          f"of {args.repeats} ({', '.join(f'{x:.2f}' for x in times)})")
    print(f"peak RSS {rss_after:.0f} MiB (after importing torch: {rss_before:.0f} MiB)")
    print(f"forward {report.forward:.4e}  backward {report.backward:.4e}  total {report.total:.4e} FLOPs")
    print(f"closed form: forward {forward:.4e}; exact match: {result['matches_closed_form']}; "
          f"uncounted ops: {report.uncounted_ops or 'none'}")
    return result


if __name__ == "__main__":
    main()
