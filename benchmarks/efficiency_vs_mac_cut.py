"""Does each method's MAC cut show up on the clock and in memory? Every method beside vanilla, one run.

    python benchmarks/efficiency_vs_mac_cut.py                       # CPU, 2 threads: n 128, 512 x batch 1, 8
    python benchmarks/efficiency_vs_mac_cut.py --memory-first --points 512x1,128x8,512x8 --output efficiency.csv
    python benchmarks/efficiency_vs_mac_cut.py --configs default     # every method as its defaults configure it
    python benchmarks/efficiency_vs_mac_cut.py --device cuda --dtype bf16 --points 128x1,128x32,512x128 --linear-bound

BERT-base with random weights (shapes, not values, set the cost; the value-dependent methods, LTP and
Focus on the Core's fuzzy cap, prune what these weights make them prune). With ``--configs cut`` (the
default), for every n the methods are configured for about 2x fewer encoder MACs where the method allows it:

- PoWER-BERT, FCA (5 clusters), token-drop (span [1, 12): every layer after the first sees only the kept
  tokens) and ToMe: each method's budget knob bisected on the closed form (:func:`fcabench.counting.budget.for_cut`:
  the keep-ratio schedule x^((l+1)/L), the keep ratio, the merges per layer r);
- LTP: thresholds c (l + 1) / L, c bisected on the MACs the model records on the benchmark input;
- Focus on the Core PFC@7 (keep 0.9, combining at layer 7): the paper's configuration, its own cut.

``--configs default`` runs every method on its defaults instead, as a new user first meets them.

Then :func:`fcabench.speed.bench.bench` times all models interleaved at n in {128, 512} x batch in {1, 8}
(inference), and measures inference peak memory; efficiency = speed-up / encoder MAC cut.
``--linear-bound`` also times the encoder's linear layers alone, at the row counts each model gave them
(:class:`EncoderLinears`): where even they fall short of their MAC cut, the matrix library's rate on
fewer rows, not the method, sets the limit. A training step (forward + backward) of vanilla and PFC@7
gives the speed-up and memory ratio to set beside the paper's 1.64x and 0.61x. Every figure carries its
protocol; the script prints the load average before and after (the machine may be shared: the
interleaving keeps ratios fair, not absolute times).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

import pandas as pd
import torch

from fcabench import methods
from fcabench.counting import budget
from fcabench.flops.closed_form import Shape
from fcabench.models import preset_config
from fcabench.speed import bench

PAPER_FOCUS_TRAIN = {"speedup": 1.64, "mem_ratio": 0.61}  # Focus on the Core, PFC: training speed-up, memory


def recorded_cut(reference, n: int, name: str, **options) -> float:
    """Encoder MAC cut the method makes on the benchmark input (one example of n tokens), as recorded."""
    import copy

    from fcabench.models import synthetic_batch

    model = methods.apply(copy.deepcopy(reference), name, **options)
    with torch.inference_mode():
        model(**synthetic_batch(reference, n, 1))
    macs, _ = bench.macs_of_last_pass(model, n)
    return _vanilla_encoder(n) / macs


def ltp_for_cut(reference, n: int, cut: float, layers: int = 12) -> dict:
    """Thresholds c (l+1)/L with c bisected on the encoder MAC cut recorded on the benchmark input (LTP's cost
    follows the weights, so the closed-form budget of fcabench.counting.budget does not apply)."""

    def thresholds(c):
        return tuple(round(c * (l + 1) / layers, 5) for l in range(layers))

    c, _ = budget.bisect(lambda c: recorded_cut(reference, n, "ltp", thresholds=thresholds(c)), 0.0, 3.0, cut, steps=6)
    return dict(thresholds=thresholds(c))


def _vanilla_encoder(n: int) -> int:
    from fcabench.flops.closed_form import vanilla_encoder_macs

    return vanilla_encoder_macs(Shape.of(preset_config("bert-base")), n)


def setups_for(n: int, cut: float, reference) -> list[bench.Setup]:
    """Every method configured for about ``cut`` x fewer encoder MACs at n tokens (PFC@7: the paper's own)."""
    return [
        bench.Setup.of("vanilla"),
        bench.Setup.of("PoWER-BERT", "power-bert", **budget.for_cut("power-bert", n, cut)),
        bench.Setup.of("FCA", "fca", **budget.for_cut("fca", n, cut, clusters=5)),
        bench.Setup.of("token-drop", "token-drop", **budget.for_cut("token-drop", n, cut, span=(1, 12))),
        bench.Setup.of("LTP", "ltp", **ltp_for_cut(reference, n, cut)),
        bench.Setup.of("PFC@7", "focus-core", variant="PFC", combine_layer=7),
        bench.Setup.of("ToMe", "tome", **budget.for_cut("tome", n, cut)),
    ]


def default_setups() -> list[bench.Setup]:
    """Every method with its defaults, as a new user first runs it (PFC@7: the paper's configuration)."""
    return [
        bench.Setup.of("vanilla"),
        *(
            bench.Setup.of(label, name)
            for label, name in [
                ("PoWER-BERT", "power-bert"),
                ("FCA", "fca"),
                ("token-drop", "token-drop"),
                ("LTP", "ltp"),
            ]
        ),
        bench.Setup.of("PFC@7", "focus-core", variant="PFC", combine_layer=7),
        bench.Setup.of("ToMe", "tome"),
    ]


class EncoderLinears(torch.nn.Module):
    """The encoder's Linear layers alone, each on as many rows as the model gave it in its last pass.

    Timing these beside vanilla's separates what the matrix library makes of fewer rows from what the
    method itself costs: at batch 1 a BLAS runs small row counts at a lower rate, so even the linears
    alone fall short of their MAC cut.
    """

    def __init__(self, model, n: int, batch: int, device: str = "cpu", dtype: str = "fp32"):
        super().__init__()
        from fcabench.encoders import base_model
        from fcabench.models import synthetic_batch

        with torch.inference_mode():
            model(**synthetic_batch(model, n, batch))
        record = methods.unit_record(model) if methods.applied(model) else None
        self.work, self.macs = [], 0
        for l, layer in enumerate(base_model(model).encoder.layer):
            width_in = record.masks_in[l].shape[1] if record else n
            width_out = record.masks_out[l].shape[1] if record else n
            attention = layer.attention
            for linear, width in [
                (attention.self.query, width_in),
                (attention.self.key, width_in),
                (attention.self.value, width_in),
                (attention.output.dense, width_in),
                (layer.intermediate.dense, width_out),
                (layer.output.dense, width_out),
            ]:
                rows = torch.randn(batch * width, linear.in_features, device=device, dtype=bench.DTYPES[dtype])
                self.work.append((rows, linear))
                self.macs += batch * width * linear.in_features * linear.out_features

    def forward(self, **inputs):
        for rows, linear in self.work:
            linear(rows)


def linear_bound(models, n: int, batch: int, protocol: bench.Protocol) -> pd.DataFrame:
    """Speed-up and efficiency of the encoder's linear layers alone at each model's row counts."""
    linears = {
        label: EncoderLinears(model, n, batch, protocol.device, protocol.dtype) for label, model in models.items()
    }
    times = bench.time_interleaved(linears, {}, "inference", protocol)
    rows = []
    for label, work in linears.items():
        speedup, cut = bench.paired_speedup(times["vanilla"], times[label]), linears["vanilla"].macs / work.macs
        rows.append(
            dict(
                label=label,
                seq_len=n,
                batch_size=batch,
                linear_speedup=speedup,
                linear_mac_cut=cut,
                linear_efficiency=speedup / cut,
            )
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--points", default="128x1,512x1,128x8,512x8", help="NxBATCH inference points, run in this order"
    )
    parser.add_argument("--cut", type=float, default=2.0, help="target encoder MAC cut of the configurable methods")
    parser.add_argument(
        "--configs",
        choices=["cut", "default"],
        default="cut",
        help="cut: every method bisected to --cut (default); default: every method's defaults",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (a GPU: threads do not apply)")
    parser.add_argument("--dtype", choices=list(bench.DTYPES), default="fp32", help="weights and activations")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3, help="timed inference steps per model (interleaved)")
    parser.add_argument("--memory-point", default="512x8", help="NxBATCH where inference peak memory is measured")
    parser.add_argument(
        "--memory-first",
        action="store_true",
        help="measure memory (deterministic, one untimed step per model) before any timing",
    )
    parser.add_argument("--train-point", default="512x1", help="NxBATCH of the PFC@7 training step ('' skips it)")
    parser.add_argument("--train-repeats", type=int, default=2)
    parser.add_argument(
        "--linear-bound",
        action="store_true",
        help="also time the encoder's linear layers alone at each model's row counts (see EncoderLinears)",
    )
    parser.add_argument("--output", default=None, help="also write the whole table (.csv, .md, ...)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    begin = time.perf_counter()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()}", flush=True)
    where = dict(device=args.device, dtype=args.dtype)
    print(f"device {args.device}, {args.dtype}", flush=True)
    reference = bench.build_models([bench.Setup.of("vanilla")])["vanilla"]  # on the CPU: LTP's bisection counts
    points = [_point(p) for p in args.points.split(",") if p]
    memory_point = _point(args.memory_point)
    train_point = _point(args.train_point) if args.train_point else None
    tables, models_at = [], {}

    def models_for(n):
        if n not in models_at:
            setups = setups_for(n, args.cut, reference) if args.configs == "cut" else default_setups()
            for setup in setups:
                print(f"n={n} {setup.label}: {dict(setup.options)}", flush=True)
            models_at[n] = bench.build_models(setups, **where)
        return models_at[n]

    def run(n, batch, mode, protocol, labels=None):
        models = models_for(n)
        chosen = {label: models[label] for label in (labels or models)}
        table = bench.bench(chosen, [n], [batch], [mode], protocol)
        tables.append(table)
        print(_view(table).to_string(index=False), f"\n  load average {os.getloadavg()}", flush=True)
        return table

    if args.memory_first:
        memory = _memory_only(models_for(memory_point[0]), *memory_point, device=args.device)
        tables.append(memory)
        print(
            memory[
                [
                    "label",
                    "seq_len",
                    "batch_size",
                    "encoder_macs",
                    "mac_cut",
                    "peak_mem_mb",
                    "mem_ratio",
                    "bytes_over_vanilla",
                ]
            ]
            .round(3)
            .to_string(index=False),
            flush=True,
        )
    if train_point:
        table = run(
            *train_point,
            "train",
            bench.Protocol(threads=args.threads, warmup=1, repeats=args.train_repeats, **where),
            labels=["vanilla", "PFC@7"],
        )
        row = table[table["label"] == "PFC@7"].iloc[0]
        print(
            f"PFC@7 training step: speed-up {row['speedup']:.2f}x (paper {PAPER_FOCUS_TRAIN['speedup']}x), "
            f"memory {row['mem_ratio']:.2f}x vanilla (paper {PAPER_FOCUS_TRAIN['mem_ratio']}x)",
            flush=True,
        )
    for point in points:  # in the order given; each length's models are built once
        memory = point == memory_point and not args.memory_first
        protocol = bench.Protocol(
            threads=args.threads, warmup=args.warmup, repeats=args.repeats, memory=memory, **where
        )
        table = run(*point, "inference", protocol)
        if args.linear_bound:
            bound = linear_bound(models_for(point[0]), *point, dataclasses.replace(protocol, memory=False))
            tables[-1] = table.merge(bound, on=["label", "seq_len", "batch_size"], how="left")
        if args.output:
            _write(tables, args.output)
    frame = pd.concat(tables, ignore_index=True)
    timed = (
        frame[(frame["mode"] == "inference") & frame["latency_ms"].notna()] if "latency_ms" in frame else frame.iloc[:0]
    )
    if len(timed):
        print("\nefficiency = speed-up / encoder MAC cut (target >= 0.9)")
        print(
            timed.pivot_table(index="label", columns=["seq_len", "batch_size"], values="efficiency", sort=False)
            .round(2)
            .to_string()
        )
        if "linear_efficiency" in timed:
            print("\nthe encoder's linear layers alone at each model's row counts: speed-up / their MAC cut")
            print(
                timed.pivot_table(
                    index="label", columns=["seq_len", "batch_size"], values="linear_efficiency", sort=False
                )
                .round(2)
                .to_string()
            )
        print("\nspeed-up over vanilla (target >= 1.0)")
        print(
            timed.pivot_table(index="label", columns=["seq_len", "batch_size"], values="speedup", sort=False)
            .round(2)
            .to_string()
        )
    if args.output:
        _write(tables, args.output)
    print(f"\ntotal {time.perf_counter() - begin:.0f} s; load average at the end {os.getloadavg()}")


def _point(text: str) -> tuple[int, int]:
    n, batch = text.lower().split("x")
    return int(n), int(batch)


def _memory_only(models, n, batch, device: str = "cpu") -> pd.DataFrame:
    """Inference peak memory (deterministic: one untimed step per model) and encoder MACs at one point."""
    from fcabench.models import synthetic_batch

    inputs = synthetic_batch(next(iter(models.values())), n, batch)
    rows = []
    for label, model in models.items():
        model.eval()
        peak = bench.peak_memory_mb(model, inputs, "inference", device)
        encoder, _ = bench.macs_of_last_pass(model, n)
        rows.append(
            dict(label=label, mode="inference", seq_len=n, batch_size=batch, peak_mem_mb=peak, encoder_macs=encoder)
        )
        print(f"  memory {label}: {peak:.1f} MiB", flush=True)
    frame = pd.DataFrame(rows)
    frame["mac_cut"] = frame["encoder_macs"].iloc[0] / frame["encoder_macs"]
    frame["mem_ratio"] = frame["peak_mem_mb"] / frame["peak_mem_mb"].iloc[0]
    frame["bytes_over_vanilla"] = ((frame["peak_mem_mb"] - frame["peak_mem_mb"].iloc[0]) * 2**20).round().astype(int)
    frame["protocol"] = (
        "peak of torch CUDA allocations (max_memory_allocated)"
        if bench.is_cuda(device)
        else "peak of torch CPU allocations (profiler memory trace)"
    ) + " during one forward (inference_mode) beyond those held before; deterministic, untimed"
    return frame


def _write(tables, path) -> None:
    from fcabench.tables import write_table

    frame = pd.concat(tables, ignore_index=True)
    write_table(frame.drop(columns=[c for c in ("config",) if c in frame]), path)


def _view(table: pd.DataFrame) -> pd.DataFrame:
    columns = [
        "label",
        "mode",
        "seq_len",
        "batch_size",
        "latency_ms",
        "latency_p90_ms",
        "speedup",
        "encoder_macs",
        "mac_cut",
        "efficiency",
        "peak_mem_mb",
        "mem_ratio",
    ]
    view = table[columns].copy()
    view["encoder_macs"] = (view["encoder_macs"] / 1e9).round(2)
    return view.round(3)


if __name__ == "__main__":
    main()
