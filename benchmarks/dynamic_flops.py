"""Per-example FLOPs of LTP both ways: an fvcore trace of every input vs recorded counts + closed form.

    python benchmarks/dynamic_flops.py                      # 1,000 inputs, lengths 16-128, 12-layer miniature
    python benchmarks/dynamic_flops.py --preset bert-base   # BERT-base (slow on a CPU: see below)

The model is LTP with its default thresholds on random weights (counts vary with the input). Both
paths must give identical per-example MACs (so identical means); the script asserts it and prints the
speed ratio. The default model is the 12-layer, hidden-128, 2-head BERT miniature (Turc et al. 2019,
``bert_uncased_L-12_H-128_A-2``'s shape): the same layer graph as BERT-base, so a trace costs what it
costs there, with about 1/40 of the arithmetic. The fast path's time is one batched forward pass over
the data set; on a 2-core CPU BERT-base's arithmetic dominates both paths and the ratio shrinks.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import BertConfig, BertModel

from fcabench import dynamic, methods
from fcabench.models import preset_config, randomly_initialised

SHAPES = {
    "miniature": dict(hidden_size=128, num_hidden_layers=12, num_attention_heads=2, intermediate_size=512),
    "narrow": dict(hidden_size=32, num_hidden_layers=12, num_attention_heads=4, intermediate_size=128),  # ~arithmetic-free
}


def build(preset: str) -> torch.nn.Module:
    config = BertConfig(**SHAPES[preset]) if preset in SHAPES else preset_config(preset)
    with torch.device("meta"):
        model = BertModel(config)
    return randomly_initialised(model).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="miniature", help="miniature (default), narrow, bert-base or bert-large")
    parser.add_argument("--lengths", default="uniform:16:128:1000", help="length spec (see dynamic.synthetic_lengths)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    model = methods.apply(build(args.preset), "ltp")
    inputs = dynamic.inputs_from_lengths(model, dynamic.synthetic_lengths(args.lengths, seed=args.seed), seed=args.seed)
    print(f"model {args.preset}, method ltp (default thresholds), {len(inputs)} inputs, lengths {args.lengths}, "
          f"torch threads {torch.get_num_threads()}")

    start = time.perf_counter()
    fast = dynamic.profile_examples(model, inputs, batch_size=args.batch_size)
    fast_s = time.perf_counter() - start
    print(f"fast path (batched forward, recorded counts, closed form): {fast_s:.1f} s")

    start = time.perf_counter()
    traced = dynamic.profile_examples(model, inputs, fast=False)
    traced_s = time.perf_counter() - start
    print(f"traced path (fvcore trace of each input alone):            {traced_s:.1f} s")

    assert (fast["macs"] == traced["macs"]).all(), "per-example MACs differ between the two paths"
    assert (fast["tokens_out"] == traced["tokens_out"]).all(), "per-example unit counts differ"
    summary_fast, summary_traced = dynamic.summarize(fast), dynamic.summarize(traced)
    assert summary_fast.loc["macs", "mean"] == summary_traced.loc["macs", "mean"]
    print()
    print(summary_fast.to_string())
    vanilla_mean = dynamic.summarize(dynamic.profile_examples(build(args.preset), inputs)).loc["macs", "mean"]
    print(f"\nmean MACs: fast {summary_fast.loc['macs', 'mean']:,.1f} = traced {summary_traced.loc['macs', 'mean']:,.1f} "
          f"(vanilla {vanilla_mean:,.1f}, {vanilla_mean / summary_fast.loc['macs', 'mean']:.2f}x); "
          f"length convention: {summary_fast.loc['macs', 'length_convention']}")
    print(f"speed ratio (traced / fast): {traced_s / fast_s:.1f}x")



if __name__ == "__main__":
    main()
