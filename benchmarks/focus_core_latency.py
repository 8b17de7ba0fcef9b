"""CPU latency and peak memory of Focus on the Core vs BERT-base, side by side, in one run.

    python benchmarks/focus_core_latency.py [--seq-len 512] [--batches 1,8] [--repeats 2] [--train-batches 1]

Models: vanilla BERT-base (Hugging Face, SDPA attention), PF (p = 0.9), PFC with the combining module at
layer 11 and at layer 7, all from the same random BERT-base weights (shapes, not values, set the cost;
the fuzzy cap reads the attention, so PF's kept counts depend on the weights). Inputs: unpadded random
sequences of ``--seq-len`` tokens. Timing and memory are :func:`fcabench.speed.bench.bench`'s (interleaved
repeats, median and p90; training step = forward with labels + backward; peak memory = torch's
allocations beyond those held before the step, see :mod:`fcabench.speed.bench`). ``mem+weights x`` adds the
weights (and gradients in training) to both sides: the paper's memory cost (training, GPU) likely
includes them.
"""

from __future__ import annotations

import argparse
import time

import torch

from fcabench.speed import bench


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batches", default="1,8", help="inference batch sizes")
    parser.add_argument("--train-batches", default="1", help="training-step batch sizes ('' for none)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    begin = time.perf_counter()
    setups = [
        bench.Setup.of("vanilla"),
        bench.Setup.of("PF", "focus-core", variant="PF"),
        bench.Setup.of("PFC@11", "focus-core", variant="PFC", combine_layer=11),
        bench.Setup.of("PFC@7", "focus-core", variant="PFC", combine_layer=7),
    ]
    models = bench.build_models(setups)
    params_mb = sum(p.numel() * p.element_size() for p in models["vanilla"].parameters()) / 2**20
    print(
        f"torch {torch.__version__}, n = {args.seq_len}, bert-base weights {params_mb:.0f} MB; repeats {args.repeats}"
    )
    protocol = bench.Protocol(threads=args.threads, warmup=1, repeats=args.repeats)
    runs = [("inference", int(b)) for b in args.batches.split(",") if b]
    runs += [("train", int(b)) for b in args.train_batches.split(",") if b]
    print(
        f"{'mode':<10}{'batch':>6}  {'method':<8}{'latency_ms':>12}{'speed-up':>10}{'peak_mem_mb':>13}{'mem x':>8}"
        f"{'mem+weights x':>15}"
    )
    for mode, batch in runs:
        table = bench.bench(models, [args.seq_len], [batch], [mode], protocol)
        held = params_mb * (2 if mode == "train" else 1)
        base = table.iloc[0]["peak_mem_mb"]
        for row in table.itertuples():
            print(
                f"{mode:<10}{batch:>6}  {row.label:<8}{row.latency_ms:>12.1f}{row.speedup:>9.2f}x"
                f"{row.peak_mem_mb:>13.1f}{row.mem_ratio:>7.2f}x{(row.peak_mem_mb + held) / (base + held):>14.2f}x"
            )
    print(f"protocol: {table['protocol'].iloc[0]}")
    print(f"total {time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
