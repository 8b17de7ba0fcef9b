"""What running the combination tokens' FFN rows as a call of their own costs and saves (PFC@7, BERT-base).

Layers before combining carry Focus on the Core's m appended tokens; from ``SEPARATE_FFN_ROWS`` appended rows
on (``fcabench.methods.base``), their FFN runs after the input's rows, so that no intermediate is wider than
vanilla's. This times one PFC@7 model with the split on and off, interleaved, at each point, and prints the
median of the per-repeat ratios (on / off: above 1 is slower) beside the allocator peak of each.

    python benchmarks/ffn_split.py --points 128x1,128x8,512x1,512x8 --repeats 15 --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics

import torch

from fcabench.methods import base
from fcabench.models import synthetic_batch
from fcabench.speed import bench


class SplitFrom(torch.nn.Module):
    """The model with ``SEPARATE_FFN_ROWS`` set to ``rows`` for its calls."""

    def __init__(self, model: torch.nn.Module, rows: int):
        super().__init__()
        self.model, self.rows = model, rows

    def forward(self, **inputs):
        saved, base.SEPARATE_FFN_ROWS = base.SEPARATE_FFN_ROWS, self.rows
        try:
            return self.model(**inputs)
        finally:
            base.SEPARATE_FFN_ROWS = saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", default="128x1,128x8,512x1,512x8", help="n x batch, comma-separated")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--combine-layer", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, fp32, load average {os.getloadavg()}")
    setup = bench.Setup.of("PFC", "focus-core", variant="PFC", combine_layer=args.combine_layer)
    model = bench.build_models([setup])["PFC"].eval()
    models = {"split": SplitFrom(model, 1), "one call": SplitFrom(model, 10**9)}
    protocol = bench.Protocol(threads=args.threads, warmup=1, repeats=args.repeats)
    for point in args.points.split(","):
        n, batch = (int(x) for x in point.split("x"))
        inputs = synthetic_batch(model, n, batch)
        times = bench.time_interleaved(models, inputs, "inference", protocol)
        ratio = bench.paired_speedup(times["split"], times["one call"])  # median of split / one call
        peaks = {label: bench.peak_memory_mb(m, inputs, "inference") for label, m in models.items()}
        print(
            f"{n} x {batch}: split / one call time {ratio:.3f} (median of {args.repeats} pairs; "
            f"medians {statistics.median(times['split']):.1f} / {statistics.median(times['one call']):.1f} ms); "
            f"allocator peak {peaks['split']:.1f} / {peaks['one call']:.1f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
