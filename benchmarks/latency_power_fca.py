"""CPU latency of vanilla BERT-base, PoWER-BERT and FCA at about 2x fewer FLOPs, side by side.

    python benchmarks/latency_power_fca.py [--repeats 10] [--threads 2]

For n = 128 and 512 (batch 1) each method gets a geometric keep-ratio schedule, bisected on the closed form so
that its encoder MACs are half of vanilla's (:func:`fcabench.counting.budget.for_cut`). Timing is
:func:`fcabench.speed.bench.bench`: median of ``repeats`` interleaved forward passes under ``torch.inference_mode``
after warm-up; the table prints the speed-up beside the MAC cut and their ratio (target at n = 512: at least
0.85).
"""

import argparse

import torch

from fcabench.counting import budget
from fcabench.speed import bench


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {args.threads or torch.get_num_threads()} threads")
    for n in (128, 512):
        setups = [
            bench.Setup.of("vanilla"),
            bench.Setup.of("power-bert", "power-bert", **budget.for_cut("power-bert", n)),
            bench.Setup.of("fca", "fca", **budget.for_cut("fca", n, clusters=5)),
        ]
        protocol = bench.Protocol(threads=args.threads, repeats=args.repeats, warmup=3, memory=False)
        table = bench.bench(bench.build_models(setups, head="base"), [n], [1], protocol=protocol)
        view = table[["seq_len", "label", "encoder_macs", "mac_cut", "latency_ms", "speedup", "efficiency"]].copy()
        view["encoder_macs"] = view["encoder_macs"] / 1e9
        print(view.rename(columns={"encoder_macs": "encoder GMACs"}).round(3).to_string(index=False))
    print(f"protocol: {table['protocol'].iloc[0]}")


if __name__ == "__main__":
    main()
