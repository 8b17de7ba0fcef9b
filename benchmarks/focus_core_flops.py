"""Focus on the Core on BERT-base at n = 512: FLOPs relative to BERT, fcabench's count and the paper's.

    python benchmarks/focus_core_flops.py [--seq-len 512] [--trace]

Counts come from the closed form on the units each layer processed in one forward pass of a randomly
initialised BERT-base (no checkpoint is needed for the shapes; the fuzzy cap reads the attention, so the
PF rows depend on the weights). ``--trace`` also traces the layer-7 PFC model with fvcore and checks that
the traced count equals the closed form. The paper's convention counts linear layers only (its P and PF
rows read 1x); fcabench counts the attention matmuls as really computed too.
"""

from __future__ import annotations

import argparse
import csv

import torch

import fcabench
from fcabench import methods
from fcabench.counting.profiler import prepare_model
from fcabench.methods.focus_core import compare_conventions
from fcabench.models import synthetic_batch
from fcabench.runs.published import TABLES


def published() -> dict:
    """Table 3 relative FLOPs and Table 5 reduction factors, as printed."""
    rows = {}
    for name, metric in (
        ("focus_core_t3_efficiency.csv", "flops_relative_to_bert"),
        ("focus_core_t5_combining_layer.csv", "flops_reduction_factor_vs_bert"),
    ):
        path = TABLES / name  # the published tables bundled in the package
        for row in csv.DictReader(path.open()):
            if row["metric"] == metric:
                rows[(name[11:13], row["method"].split(" ")[0], row["setting"])] = row["value"]
    return rows


def measure(seq_len: int, **options) -> tuple[int, int, torch.nn.Module]:
    """(fcabench encoder MACs, paper-convention encoder MACs, model) for one sequence."""
    model, _ = prepare_model("bert-base", "focus-core", **options)
    with torch.no_grad():
        model(**synthetic_batch(model, seq_len))
    table = compare_conventions(model, seq_len, methods.unit_record(model).example(0))
    return int(table["macs"].sum()), int(table["macs_paper"].sum()), model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--trace", action="store_true", help="check the layer-7 PFC count against fvcore")
    args = parser.parse_args()
    n = args.seq_len
    vanilla, _ = prepare_model("bert-base")
    base = compare_conventions(vanilla, n)
    base_macs, base_paper = int(base["macs"].sum()), int(base["macs_paper"].sum())
    print(f"BERT-base, n = {n}, batch 1: encoder {base_macs:,} MACs (linear layers only: {base_paper:,})")
    paper = published()
    header = (
        f"{'setting':<22}{'encoder MACs':>16}{'fcabench x':>12}{'paper-conv x':>14}{'reduction':>11}{'published':>22}"
    )
    print(header)
    settings = [
        ("P", {}, ("t3", "ours-P", "")),
        ("PF", {}, ("t3", "ours-PF", "")),
        ("C", dict(combine_layer=11), ("t3", "ours-C", "combining module at layer 11")),
        ("PFC", dict(combine_layer=11), ("t3", "ours-PFC", "combining module at layer 11")),
        ("PFC", dict(combine_layer=7), ("t3", "ours-PFC", "combining module at layer 7")),
    ]
    settings += [
        ("PFC", dict(combine_layer=l), ("t5", "token", f"combining module at layer {l}")) for l in range(5, 13)
    ]
    layer7 = None
    for variant, extra, key in settings:
        macs, linear, model = measure(n, variant=variant, **extra)
        label = variant + (f" @ layer {extra['combine_layer']}" if extra else "")
        shown = paper.get(key, "-")
        shown = f"{shown} ({'T5 reduction' if key[0] == 't5' else 'T3 relative'})" if shown != "-" else shown
        print(
            f"{label:<22}{macs:>16,}{macs / base_macs:>11.3f}x{linear / base_paper:>13.3f}x"
            f"{base_macs / macs:>10.2f}x{shown:>22}"
        )
        if variant == "PFC" and extra.get("combine_layer") == 7 and key[0] == "t3":
            layer7 = model
    if args.trace:
        traced = fcabench.encoder_macs(fcabench.profile(layer7, seq_len=n))
        units = methods.unit_record(layer7).example(0)
        closed = fcabench.encoder_macs(fcabench.closed_form_table(layer7, n, units))
        print(f"layer-7 PFC traced with fvcore: {traced:,} MACs; closed form {closed:,}; equal: {traced == closed}")


if __name__ == "__main__":
    main()
