"""The matrix library's rate on BERT-base's linear-layer shapes by the number of rows multiplied.

A token-reduction method hands the same weights fewer rows; where the rate falls with the row count, its
MAC cut cannot all show up on the clock. Prints GFLOP/s (2 x MACs / s, median of 5 rounds) per shape and
row count, and each rate relative to the one at twice the rows.

    python benchmarks/gemm_rows.py --threads 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

SHAPES = {
    "768 -> 768 (Q, K, V, output)": (768, 768),
    "768 -> 3072 (FFN in)": (768, 3072),
    "3072 -> 768 (FFN out)": (3072, 768),
}


def rate(linear: torch.nn.Linear, rows: int, seconds: float = 0.2) -> float:
    """GFLOP/s of ``linear`` on ``rows`` rows: median of 5 rounds of about ``seconds`` each."""
    x = torch.randn(rows, linear.in_features)
    for _ in range(5):
        linear(x)
    start = time.perf_counter()
    linear(x)
    calls = max(5, int(seconds / max(time.perf_counter() - start, 1e-6)))
    rounds = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(calls):
            linear(x)
        rounds.append((time.perf_counter() - start) / calls)
    return 2 * rows * linear.in_features * linear.out_features / statistics.median(rounds) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rows", default="16,32,64,128,256,512,1024,2048,4096")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [int(r) for r in args.rows.split(",")]
    print(f"torch {torch.__version__}, {args.threads} threads, fp32, load average {os.getloadavg()}")
    with torch.inference_mode():
        for name, (fan_in, fan_out) in SHAPES.items():
            rates = {r: rate(torch.nn.Linear(fan_in, fan_out), r) for r in rows}
            cells = [
                f"{r}: {g:.0f}" + (f" ({g / rates[2 * r]:.2f}x of {2 * r})" if 2 * r in rates else "")
                for r, g in rates.items()
            ]
            print(f"{name}: GFLOP/s by rows  " + "  ".join(cells), flush=True)


if __name__ == "__main__":
    main()
