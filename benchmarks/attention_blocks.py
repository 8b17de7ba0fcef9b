"""How many query rows a block of the scoring attention should take: each size's time beside PyTorch's fused kernel.

`fcabench.methods.attention.attend_blocked` computes the context and the per-key sums of the probabilities
one block of query rows at a time; `query_block` picks the block. This times every block size (and the
fused `scaled_dot_product_attention`, which returns no statistics) on BERT-base's heads, interleaved as
`fcabench bench` times models (each repeat runs every variant once, in a rotating order), and prints each
median relative to the fastest block size, with the size `query_block` picks marked. Random inputs, no
padding, inference mode.

    python benchmarks/attention_blocks.py --threads 2 --batches 1,2,4,8,16 --lengths 128,256,512
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
import torch.nn.functional as F

from fcabench import bench
from fcabench.methods.attention import attend_blocked, query_block

SIZES = (32, 48, 64, 96, 128)


class Call(torch.nn.Module):
    """One attention variant as a module, so that ``fcabench.bench.time_interleaved`` can time it."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def forward(self):
        self.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,2,4,8,16")
    parser.add_argument("--lengths", default="128,256,512")
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument(
        "--budget-ms", type=float, default=3000, help="about this long per (batch, length), at least 5 repeats"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.heads} heads x {args.head_dim}, fp32, "
        f"load average {os.getloadavg()}; each time / the fastest block size's (* = query_block's pick)"
    )
    for n in map(int, args.lengths.split(",")):
        for batch in map(int, args.batches.split(",")):
            q, k, v = (torch.randn(batch, n, args.heads, args.head_dim).transpose(1, 2) for _ in range(3))
            k, v = k.contiguous(), v.contiguous()  # as ReducingSelfAttention passes them
            keep = torch.ones(batch, n, dtype=torch.bool)
            options = dict(scale=args.head_dim**-0.5, dropout_p=0.0, training=False)
            variants = {"sdpa": lambda: F.scaled_dot_product_attention(q, k, v)}
            for size in (s for s in SIZES if s <= n):
                variants[size] = lambda size=size: attend_blocked(q, k, v, keep, keep, block=size, **options)
            start = time.perf_counter()
            with torch.inference_mode():
                variants[min(SIZES)]()
            once_ms = 1000 * (time.perf_counter() - start)
            repeats = max(5, min(100, int(args.budget_ms / (len(variants) * once_ms))))
            steps = bench.time_interleaved(
                {label: Call(run) for label, run in variants.items()},
                {},
                "inference",
                bench.Protocol(warmup=1, repeats=repeats, threads=args.threads),
            )
            times = {label: statistics.median(t) for label, t in steps.items()}
            best = min(t for label, t in times.items() if label != "sdpa")
            picked = query_block(batch, args.heads, n, n, args.head_dim, on_cpu=True)
            cells = [f"{label}{'*' if label == picked else ''}: {t / best:.2f}" for label, t in times.items()]
            print(f"batch {batch:>2}, n {n:>3}: fastest block {best:7.2f} ms | " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
