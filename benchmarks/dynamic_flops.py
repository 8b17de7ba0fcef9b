"""Per-example FLOPs of LTP over many inputs: bucketed vs length-sorted padded batches (vs traces).

    python benchmarks/dynamic_flops.py --preset bert-base                 # 1,000 inputs, lengths 16-128
    python benchmarks/dynamic_flops.py --preset miniature --traced        # also trace every input alone

The model is LTP with its default thresholds on random weights (counts vary with the input). The
paths run alternately (``--repeats`` rounds, bucketed and unbucketed in turn), so load from other
processes hits both alike; the script asserts identical per-example integers and prints the median
time of each path and their ratio, then the arithmetic floor: the multiply-adds every example's
layers but the last must do before its units are known, at the best rate this machine's matrix
library reaches on the model's shapes (the fastest any exact path could go). ``--traced`` adds the fvcore trace of
every input alone (slow). ``miniature`` is the 12-layer, hidden-128, 2-head BERT (Turc et al. 2019's
``bert_uncased_L-12_H-128_A-2`` shape): the same layer graph as BERT-base at about 1/40 of the arithmetic.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import BertConfig, BertModel

from fcabench import methods
from fcabench.counting import dynamic
from fcabench.encoders import base_model
from fcabench.models import preset_config, randomly_initialised
from fcabench.speed import bench

SHAPES = {
    "miniature": dict(hidden_size=128, num_hidden_layers=12, num_attention_heads=2, intermediate_size=512),
    "narrow": dict(
        hidden_size=32, num_hidden_layers=12, num_attention_heads=4, intermediate_size=128
    ),  # ~arithmetic-free
}


def build(preset: str, device: str) -> torch.nn.Module:
    config = BertConfig(**SHAPES[preset]) if preset in SHAPES else preset_config(preset)
    with torch.device("meta"):
        model = BertModel(config)
    return randomly_initialised(model, device).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="miniature", help="miniature (default), narrow, bert-base or bert-large")
    parser.add_argument("--lengths", default="uniform:16:128:1000", help="length spec (see dynamic.synthetic_lengths)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=1, help="alternating rounds of both paths")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--traced", action="store_true", help="also trace every input alone")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model = methods.apply(build(args.preset, args.device), "ltp")
    inputs = dynamic.inputs_from_lengths(model, dynamic.synthetic_lengths(args.lengths, seed=args.seed), seed=args.seed)
    print(
        f"model {args.preset}, method ltp (default thresholds), {len(inputs)} inputs, lengths {args.lengths}, "
        f"{args.device}, torch threads {torch.get_num_threads()}, batch size {args.batch_size}, "
        f"{args.repeats} alternating round(s)"
    )

    times: dict[str, list[float]] = {"unbucketed": [], "bucketed": []}
    frames = {}
    for _ in range(args.repeats):
        for label in times:
            start = time.perf_counter()
            frames[label] = dynamic.profile_examples(
                model, inputs, batch_size=args.batch_size, bucketed=label == "bucketed"
            )
            times[label].append(time.perf_counter() - start)
            print(f"  {label}: {times[label][-1]:.1f} s", flush=True)
    fast, plain = frames["bucketed"], frames["unbucketed"]
    for column in ("macs", "tokens_in", "tokens_out"):
        assert fast[column].tolist() == plain[column].tolist(), f"per-example {column} differ"
    median = {label: statistics.median(t) for label, t in times.items()}
    print(f"unbucketed (length-sorted padded batches): {median['unbucketed']:.1f} s (median)")
    print(f"bucketed (one length per batch):           {median['bucketed']:.1f} s (median)")
    print(
        f"speed-up: {bench.paired_speedup(times['unbucketed'], times['bucketed']):.2f}x (median of the rounds' "
        f"ratios); per-example integers identical "
        f"({len(fast)} examples, {fast['macs'].nunique()} distinct MAC counts)"
    )

    floor_macs = necessary_macs(model, fast)
    rate = best_gemm_rate(base_model(model).config)
    floor_s = 2 * floor_macs / rate
    print(
        f"arithmetic floor: {floor_macs / 1e12:.2f} T multiply-adds no exact path can skip (every example's "
        f"layers 1-{base_model(model).config.num_hidden_layers - 1}: the units a layer keeps follow from the "
        f"activations before it); at the best rate measured here for the model's matrix products "
        f"({rate / 1e9:.0f} GFLOP/s) that is {floor_s:.1f} s, so no exact path runs more than "
        f"{median['unbucketed'] / floor_s:.2f}x faster than the unbucketed one"
    )

    if args.traced:
        start = time.perf_counter()
        traced = dynamic.profile_examples(model, inputs, fast=False)
        traced_s = time.perf_counter() - start
        assert (fast["macs"] == traced["macs"]).all(), "per-example MACs differ from the traces"
        print(
            f"traced (fvcore trace of each input alone): {traced_s:.1f} s; identical MACs; "
            f"{traced_s / median['bucketed']:.1f}x the bucketed time"
        )
    summary = dynamic.summarize(fast)
    print()
    print(summary.to_string())


def necessary_macs(model, per_example) -> int:
    """MACs of every example's layers but the last, from its recorded units: work any exact count repeats."""
    from fcabench.flops.closed_form import Shape, encoder_macs_from_units

    shape = Shape.of(base_model(model).config)
    patched = methods.applied(model)
    total = 0
    for length, t_in, t_out in per_example[["length", "tokens_in", "tokens_out"]].itertuples(index=False):
        units = [(a, b, shape.heads * a) for a, b in zip(t_in, t_out)][:-1]  # LTP prunes no keys
        total += encoder_macs_from_units(shape, length, units, patched)
    return total


def best_gemm_rate(config, repeats: int = 5) -> float:
    """The best FLOP/s measured here for the model's three linear-layer shapes at 128 to 4,096 rows.

    Best of ``repeats`` each: the rate the forward passes' matrix products cannot beat on average."""
    hidden, ffn = config.hidden_size, config.intermediate_size
    best = 0.0
    for out_features, in_features in [(hidden, hidden), (ffn, hidden), (hidden, ffn)]:
        weight = torch.randn(out_features, in_features)
        for rows in (128, 512, 1024, 4096):
            x = torch.randn(rows, in_features)
            torch.nn.functional.linear(x, weight)
            for _ in range(repeats):
                start = time.perf_counter()
                torch.nn.functional.linear(x, weight)
                best = max(best, 2 * rows * in_features * out_features / (time.perf_counter() - start))
    return best


if __name__ == "__main__":
    main()
