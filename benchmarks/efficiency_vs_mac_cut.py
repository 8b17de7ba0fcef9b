"""Does each method's MAC cut show up on the clock and in memory? Every method beside vanilla, one run.

    python benchmarks/efficiency_vs_mac_cut.py                       # CPU, 2 threads, the issue's grid
    python benchmarks/efficiency_vs_mac_cut.py --repeats 3 --train-repeats 2 --output results/efficiency.csv

BERT-base with random weights (shapes, not values, set the cost; the value-dependent methods, LTP and
Focus on the Core's fuzzy cap, prune what these weights make them prune). For every n, the methods are
configured for about 2x fewer encoder MACs where the method allows it:

- PoWER-BERT, FCA (5 clusters): keep ratios q^(l+1), q bisected on the closed form
  (:func:`fcabench.bench.ratio_schedule_for_cut`);
- token-drop: span [1, 12) (every layer after the first sees only the kept tokens), keep ratio
  bisected on the closed form;
- LTP: thresholds c (l + 1) / L, c bisected on the MACs the model records on the benchmark input;
- Focus on the Core PFC@7 (keep 0.9, combining at layer 7): the paper's configuration, its own cut;
- ToMe when a method of that name is registered: its ``example_config``.

Then :func:`fcabench.bench.bench` times all models interleaved at n in {128, 512} x batch in {1, 8}
(inference), and measures inference peak memory; efficiency = speed-up / encoder MAC cut. A training
step (forward + backward) of vanilla and PFC@7 gives the speed-up and memory ratio to set beside the
paper's 1.64x and 0.61x. Every figure carries its protocol; the script prints the load average before
and after (the machine may be shared: the interleaving keeps ratios fair, not absolute times).
"""

from __future__ import annotations

import argparse
import os
import time

import pandas as pd
import torch

from fcabench import bench, methods
from fcabench.flops.closed_form import Shape
from fcabench.models import preset_config

PAPER_FOCUS_TRAIN = {"speedup": 1.64, "mem_ratio": 0.61}  # Focus on the Core, PFC: training speed-up, memory


def token_drop_for_cut(n: int, cut: float, layers: int = 12) -> dict:
    """span [1, L) and the keep ratio whose closed-form encoder MACs are vanilla's / ``cut``."""
    from fcabench.flops.closed_form import vanilla_encoder_macs

    shape = Shape.of(preset_config("bert-base"))
    target = vanilla_encoder_macs(shape, n) / cut
    method = methods.get("token-drop")
    low, high = 0.01, 1.0
    for _ in range(30):
        ratio = (low + high) / 2
        config = methods.make_config("token-drop", keep_ratio=ratio, span=(1, layers))
        kept = min(n, int(config.counts(torch.tensor([n]))[0]))
        units = [n] + [kept] * (layers - 1)
        macs = sum(sum(method.layer_macs(shape, config, l, units[l], units[l], shape.heads * units[l], n).values())
                   for l in range(layers))
        low, high = (ratio, high) if macs < target else (low, ratio)
    return dict(keep_ratio=round(ratio, 4), span=(1, layers))


def ltp_for_cut(reference, n: int, cut: float, layers: int = 12) -> dict:
    """Thresholds c (l+1)/L with c bisected on the encoder MACs recorded on the benchmark input."""
    import copy

    from fcabench.models import synthetic_batch

    inputs = synthetic_batch(reference, n, 1)
    vanilla_macs = _vanilla_encoder(n)
    low, high = 0.0, 3.0
    best = None
    for _ in range(8):
        c = (low + high) / 2
        thresholds = tuple(c * (l + 1) / layers for l in range(layers))
        model = methods.apply(copy.deepcopy(reference), "ltp", thresholds=thresholds)
        with torch.inference_mode():
            model(**inputs)
        macs, _ = bench.macs_of_last_pass(model, n)
        best = (c, macs / vanilla_macs)
        low, high = (low, c) if macs < vanilla_macs / cut else (c, high)
    return dict(thresholds=tuple(round(best[0] * (l + 1) / layers, 5) for l in range(layers)))


def _vanilla_encoder(n: int) -> int:
    from fcabench.flops.closed_form import vanilla_encoder_macs

    return vanilla_encoder_macs(Shape.of(preset_config("bert-base")), n)


def setups_for(n: int, cut: float, reference) -> list[bench.Setup]:
    setups = [
        bench.Setup.of("vanilla"),
        bench.Setup.of("PoWER-BERT", "power-bert", ratios=bench.ratio_schedule_for_cut("power-bert", n, cut)),
        bench.Setup.of("FCA", "fca", clusters=5, ratios=bench.ratio_schedule_for_cut("fca", n, cut, clusters=5)),
        bench.Setup.of("token-drop", "token-drop", **token_drop_for_cut(n, cut)),
        bench.Setup.of("LTP", "ltp", **ltp_for_cut(reference, n, cut)),
        bench.Setup.of("PFC@7", "focus-core", variant="PFC", combine_layer=7),
    ]
    if "tome" in methods.names() and hasattr(methods.get("tome"), "example_config"):
        config = methods.get("tome").example_config(12)
        import dataclasses

        setups.append(bench.Setup.of("ToMe", "tome", **{f.name: getattr(config, f.name) for f in dataclasses.fields(config)}))
    return setups


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-lens", default="128,512")
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--cut", type=float, default=2.0, help="target encoder MAC cut of the configurable methods")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed inference steps per model (interleaved)")
    parser.add_argument("--memory-point-repeats", type=int, default=2,
                        help="timed steps at n=512, batch 8 (the slowest point; 0 warm-up there)")
    parser.add_argument("--train-seq-len", type=int, default=512)
    parser.add_argument("--train-batch", type=int, default=1)
    parser.add_argument("--train-repeats", type=int, default=2, help="0 skips the training step")
    parser.add_argument("--output", default=None, help="also write the whole table (.csv, .md, ...)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    begin = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()}")
    reference = bench.build_models([bench.Setup.of("vanilla")])["vanilla"]
    tables = []
    memory_point = (512, 8)
    for n in [int(x) for x in args.seq_lens.split(",")]:
        setups = setups_for(n, args.cut, reference)
        for setup in setups:
            print(f"n={n} {setup.label}: {dict(setup.options)}", flush=True)
        models = bench.build_models(setups)
        for batch in [int(x) for x in args.batches.split(",")]:
            slowest = (n, batch) == memory_point
            protocol = bench.Protocol(threads=args.threads, warmup=0 if slowest else args.warmup,
                                      repeats=args.memory_point_repeats if slowest else args.repeats, memory=slowest)
            table = bench.bench(models, [n], [batch], ["inference"], protocol)
            tables.append(table)
            print(_view(table).to_string(index=False), flush=True)
        if n == args.train_seq_len and args.train_repeats:
            pair = {label: models[label] for label in ("vanilla", "PFC@7")}
            protocol = bench.Protocol(threads=args.threads, warmup=1, repeats=args.train_repeats)
            table = bench.bench(pair, [n], [args.train_batch], ["train"], protocol)
            tables.append(table)
            print(_view(table).to_string(index=False), flush=True)
            row = table[table["label"] == "PFC@7"].iloc[0]
            print(f"PFC@7 training step: speed-up {row['speedup']:.2f}x (paper {PAPER_FOCUS_TRAIN['speedup']}x), "
                  f"memory {row['mem_ratio']:.2f}x vanilla (paper {PAPER_FOCUS_TRAIN['mem_ratio']}x)", flush=True)
        del models
    frame = pd.concat(tables, ignore_index=True)
    summary = frame[frame["mode"] == "inference"].pivot_table(index="label", columns=["seq_len", "batch_size"],
                                                               values="efficiency", sort=False)
    print("\nefficiency = speed-up / encoder MAC cut (target >= 0.9)")
    print(summary.round(2).to_string())
    print("\nspeed-up over vanilla (target >= 1.0)")
    print(frame[frame["mode"] == "inference"].pivot_table(index="label", columns=["seq_len", "batch_size"],
                                                          values="speedup", sort=False).round(2).to_string())
    if args.output:
        from fcabench.tables import write_table

        write_table(frame.drop(columns=["config"]), args.output)
    print(f"\nprotocol: {frame['protocol'].iloc[0]}")
    print(f"total {time.perf_counter() - begin:.0f} s; load average at the end {os.getloadavg()}")


def _view(table: pd.DataFrame) -> pd.DataFrame:
    columns = ["label", "mode", "seq_len", "batch_size", "latency_ms", "latency_p90_ms", "speedup", "encoder_macs",
               "mac_cut", "efficiency", "peak_mem_mb", "mem_ratio"]
    view = table[columns].copy()
    view["encoder_macs"] = (view["encoder_macs"] / 1e9).round(2)
    return view.round(3)


if __name__ == "__main__":
    main()
