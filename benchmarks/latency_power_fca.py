"""CPU latency of vanilla BERT-base, PoWER-BERT and FCA at about 2x fewer FLOPs, side by side.

    python benchmarks/latency_power_fca.py [--repeats 10]

For n = 128 and 512 (batch 1) each method gets a geometric keep-ratio schedule r_l = q^(l+1), with q
chosen by bisection on the closed form so that its encoder MACs are half of vanilla's. Prints the
measured speed-up beside the FLOPs reduction and their ratio (target at n = 512: at least 0.85).
Latency: median wall-clock of ``repeats`` forward passes under ``torch.inference_mode`` after warm-up.
"""

import argparse
import statistics
import time

import torch

import fcabench
from fcabench import methods
from fcabench.models import load_model, synthetic_batch


def halving_schedule(name, n, extra, layers=12):
    """Ratios q^(l+1) with encoder MACs = vanilla / 2, by bisection on q (closed form via the profiler)."""
    from fcabench.flops.closed_form import Shape, encoder_macs_from_units, vanilla_encoder_macs
    from fcabench.models import preset_config

    shape = Shape.of(preset_config("bert-base"))
    target = vanilla_encoder_macs(shape, n) / 2
    method = methods.get(name)
    low, high = 0.5, 1.0
    for _ in range(30):
        q = (low + high) / 2
        ratios = tuple(q ** (l + 1) for l in range(layers))
        config = methods.make_config(name, ratios=ratios, **extra)
        units, n_in = [], n
        for layer in range(layers):  # unit counts an unpadded input of n tokens gets
            fine = min(int(config.counts(torch.tensor([n]), layer, layers)[0]), n_in)
            n_out = fine + min(getattr(config, "clusters", 0), n_in - fine)
            units.append((n_in, n_out, shape.heads * n_in))
            n_in = n_out
        macs = encoder_macs_from_units(shape, n, units, (method, config))
        low, high = (q, high) if macs < target else (low, q)
    return ratios


def latency_ms(model, inputs, repeats):
    with torch.inference_mode():
        for _ in range(3):
            model(**inputs)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(**inputs)
            times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.manual_seed(0)
    weights = load_model("bert-base", device="cpu").state_dict()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'n':>4} {'method':12} {'encoder GMACs':>14} {'FLOPs cut':>10} {'latency ms':>11} {'speed-up':>9} {'speed-up / FLOPs cut':>21}")
    for n in (128, 512):
        setups = [("vanilla", {}), ("power-bert", {}), ("fca", {"clusters": 5})]
        rows = []
        for name, extra in setups:
            model = load_model("bert-base", device="cpu")
            model.load_state_dict(weights)
            if name != "vanilla":
                methods.apply(model, name, ratios=halving_schedule(name, n, extra), **extra)
            macs = fcabench.encoder_macs(fcabench.profile(model, seq_len=n))
            rows.append((name, macs, latency_ms(model, synthetic_batch(model, n, 1), args.repeats)))
        base_macs, base_ms = rows[0][1], rows[0][2]
        for name, macs, ms in rows:
            cut, speedup = base_macs / macs, base_ms / ms
            print(f"{n:>4} {name:12} {macs / 1e9:14.3f} {cut:9.2f}x {ms:11.1f} {speedup:8.2f}x {speedup / cut:21.2f}")


if __name__ == "__main__":
    main()
