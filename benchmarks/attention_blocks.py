"""How large a block of the scoring attention should be on the CPU: each size's time beside PyTorch's fused kernel.

`fcabench.methods.attention.attend_blocked` computes the context and the per-key sums of the probabilities
one block (query rows x batch-and-head slices) at a time; `block_shape` picks the block from the number of
probabilities it may hold (`CPU_BLOCK_NUMBERS`). This times blocks of 2^15 to 2^23 probabilities, and the
fused `scaled_dot_product_attention` (which returns no statistics), on BERT-base's heads, interleaved as
`fcabench bench` times models (each repeat runs every variant once, in a rotating order), and prints each
median relative to the fused kernel's, the size `CPU_BLOCK_NUMBERS` picks marked. Random inputs, no padding,
inference mode.

    python benchmarks/attention_blocks.py --threads 2 --batches 1,8 --lengths 128,512
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch
import torch.nn.functional as F

from fcabench.methods import attention
from fcabench.speed import bench

POWERS = range(15, 24)  # blocks of 2^p probabilities


class Call(torch.nn.Module):
    """One attention variant as a module, so that ``fcabench.speed.bench.time_interleaved`` can time it."""

    def __init__(self, run):
        super().__init__()
        self.run = run

    def forward(self):
        self.run()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--lengths", default="128,512")
    parser.add_argument("--heads", type=int, default=12)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {args.threads} threads, {args.heads} heads x {args.head_dim}, fp32, "
        f"{args.repeats} interleaved repeats, load average {os.getloadavg()}; "
        f"each median / the fused kernel's (* = CPU_BLOCK_NUMBERS = 2^{attention.CPU_BLOCK_NUMBERS.bit_length() - 1})"
    )
    for n in map(int, args.lengths.split(",")):
        for batch in map(int, args.batches.split(",")):
            q, k, v = (torch.randn(batch, n, args.heads, args.head_dim).transpose(1, 2) for _ in range(3))
            k, v = k.contiguous(), v.contiguous()  # as ReducingSelfAttention passes them
            keep = torch.ones(batch, n, dtype=torch.bool)
            options = dict(scale=args.head_dim**-0.5, dropout_p=0.0, training=False)
            variants = {"sdpa": lambda: F.scaled_dot_product_attention(q, k, v)}
            shapes = {}
            for power in POWERS:
                group, rows = attention.block_shape(batch, args.heads, n, n, args.head_dim, True, 2**power)
                if (group, rows) not in shapes.values():
                    shapes[power] = (group, rows)
                    variants[power] = lambda g=group, r=rows: attention.attend_blocked(
                        q, k, v, keep, keep, rows=r, group=g, **options
                    )
            steps = bench.time_interleaved(
                {label: Call(run) for label, run in variants.items()},
                {},
                "inference",
                bench.Protocol(warmup=2, repeats=args.repeats, threads=args.threads),
            )
            times = {label: statistics.median(t) for label, t in steps.items()}
            picked = attention.CPU_BLOCK_NUMBERS.bit_length() - 1
            cells = [
                f"2^{p}{'*' if p == picked else ''} ({g}x{r}): {times[p] / times['sdpa']:.2f}"
                for p, (g, r) in shapes.items()
            ]
            print(f"batch {batch:>2}, n {n:>3}: fused {times['sdpa']:7.2f} ms | " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
