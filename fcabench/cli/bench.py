"""``fcabench bench``: latency and peak memory of vanilla BERT and methods, interleaved, as a table.

Each ``--method`` is ``NAME`` or ``"[LABEL=]NAME key=value key=value ..."`` (a method's config fields,
as ``fcabench profile`` takes them: ``--method "fca ratios=0.9,0.8 clusters=5"``). Vanilla is always
measured too: it is the baseline of every ratio. Options in, :mod:`fcabench.speed.bench` out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fcabench.errors import FcabenchError

SHOWN = [  # column, header (units in every header), format
    ("label", "model", "{}"),
    ("latency_ms", "median\nms", "{:.1f}"),
    ("latency_p90_ms", "p90\nms", "{:.1f}"),
    ("speedup", "speed-up\nx", "{:.2f}"),
    ("encoder_macs", "encoder\nGMACs", None),
    ("mac_cut", "MAC cut\nx", "{:.2f}"),
    ("efficiency", "speed-up /\nMAC cut", "{:.2f}"),
    ("peak_mem_mb", "peak mem\nMiB", "{:.1f}"),
    ("mem_ratio", "mem\nx vanilla", "{:.2f}"),
    ("rss_mb", "resident\nMiB", "{:.1f}"),
    ("rss_ratio", "resident\nx vanilla", "{:.2f}"),
]


def bench_command(
    model: Annotated[
        str,
        typer.Option(
            "--model",
            help="Preset (bert-base, bert-large, roberta-base, electra-base, distilbert-base) or local folder; "
            "random weights for presets.",
        ),
    ] = "bert-base",
    method: Annotated[
        Optional[list[str]],
        typer.Option(
            "--method", "-m", help='Method to time beside vanilla (repeatable): NAME or "[LABEL=]NAME key=value ...".'
        ),
    ] = None,
    seq_len: Annotated[str, typer.Option("--seq-len", "-n", help="Sequence length(s), comma-separated.")] = "128",
    batch_size: Annotated[str, typer.Option("--batch-size", "-b", help="Batch size(s), comma-separated.")] = "1",
    mode: Annotated[str, typer.Option("--mode", help="inference, train, or both comma-separated.")] = "inference",
    device: Annotated[str, typer.Option("--device", help="cpu, cuda or cuda:N.")] = "cpu",
    threads: Annotated[Optional[int], typer.Option("--threads", help="CPU threads (default: torch's).")] = None,
    dtype: Annotated[str, typer.Option("--dtype", help="fp32, bf16 or fp16.")] = "fp32",
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed steps per model first.")] = 2,
    repeats: Annotated[int, typer.Option("--repeats", "-r", help="Timed steps per model, interleaved.")] = 10,
    memory: Annotated[bool, typer.Option("--memory/--no-memory", help="Also measure peak memory.")] = True,
    store: Annotated[bool, typer.Option("--store/--no-store", help="Append the figures to the run store.")] = True,
    resident: Annotated[
        bool,
        typer.Option(
            "--resident",
            help="Also the peak resident-set growth of one step as the operating system sees it, each model in a "
            "process of its own (Linux, CPU).",
        ),
    ] = False,
    per_layer: Annotated[
        bool,
        typer.Option(
            "--per-layer",
            help="Time per layer and component (attention projections, attention, FFN, the method's own work) "
            "beside its MACs, interleaved, instead of end to end; -o writes that table (fcabench plot layers --time).",
        ),
    ] = False,
    results: Annotated[
        Optional[Path],
        typer.Option("--results", help="Run file to append to (default: results/runs.jsonl in the current folder)."),
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Also write the table: .csv, .json, .parquet or .md.")
    ] = None,
    task: Annotated[
        Optional[str],
        typer.Option(
            "--task",
            "-t",
            help="Time real examples of this task (or CSV/TSV/JSONL/Parquet file), tokenised as training does, "
            "instead of random tokens; --model a named model, a folder or a checkpoint (its method and weights).",
        ),
    ] = None,
    split: Annotated[str, typer.Option("--split", "-s", help="With --task: the split whose examples run.")] = "test",
    max_examples: Annotated[
        Optional[int], typer.Option("--max-examples", help="With --task: a fixed random draw of the split.")
    ] = None,
    padding: Annotated[
        str,
        typer.Option(
            "--padding",
            help="With --task: max (pad to n), dynamic (to each batch's longest), sorted (length-sorted batches), "
            "comma-separated; every model under each.",
        ),
    ] = "max,dynamic,sorted",
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario", help="With --task: single-stream, fixed-batch (at -b), offline (best batch), comma-separated."
        ),
    ] = "single-stream,fixed-batch,offline",
    passes: Annotated[int, typer.Option("--passes", help="With --task: timed passes over the examples.")] = 3,
    compile: Annotated[
        bool,
        typer.Option(
            "--compile",
            help="With --task: also every model compiled (torch.compile, inductor; dynamic where widths vary): "
            "compile time, graphs compiled, graph breaks.",
        ),
    ] = False,
    runtime: Annotated[
        Optional[str],
        typer.Option(
            "--runtime",
            help="With --task: onnxruntime also runs every model exported to ONNX (pip install 'fcabench[onnx]'); "
            "a method that cannot be exported is refused.",
        ),
    ] = None,
) -> None:
    """Wall-clock latency (median, p90) and peak memory, every model interleaved with vanilla; with --task, real
    examples under batching policies and deployment scenarios."""
    from rich.console import Console

    from fcabench.cli.options import comma_list, positive_ints
    from fcabench.runs.store import check_writable
    from fcabench.speed import bench
    from fcabench.tables import check_output, write_table

    if output:
        check_output(output)  # before any timing, as the run file below
    target = check_writable(results) if store else None  # before any timing: a run file that can take the runs
    protocol = bench.Protocol(
        device=device, threads=threads, dtype=dtype, warmup=warmup, repeats=repeats, memory=memory
    )
    lengths, batches = positive_ints(seq_len, "--seq-len"), positive_ints(batch_size, "--batch-size")
    modes = comma_list(mode, "--mode")  # every list read before any model is built
    unknown = [m for m in modes if m not in bench.MODES]
    if unknown:
        raise FcabenchError(f"unknown --mode {unknown[0]!r}; modes: {', '.join(bench.MODES)}")
    setups = [bench.Setup.of("vanilla")] + [_setup(spec) for spec in method or []]
    if task is not None:
        if len(lengths) > 1 or len(batches) > 1:
            raise FcabenchError("with --task, give one --seq-len and one --batch-size (the fixed-batch scenario's)")
        if runtime not in (None, "onnxruntime"):
            raise FcabenchError(f"unknown --runtime {runtime!r}; runtimes: onnxruntime (eager always, --compile)")
        runtimes = ("eager", *(("compiled",) if compile else ()), *((runtime,) if runtime else ()))
        if device != "cpu" or dtype != "fp32":
            raise FcabenchError("--task times real examples on the CPU in fp32; leave --device and --dtype out")
        plan = dict(padding=padding, scenario=scenario, passes=passes, runtimes=runtimes, output=output)
        plan.update(threads=threads, warmup=warmup)
        length = lengths[0] if seq_len != "128" else None  # the default: a checkpoint's own length
        _real_examples(model, setups, task, split, max_examples, length, batches[0], **plan)
        return
    models = bench.build_models(setups, model, device=device, dtype=dtype)
    if per_layer:
        _per_layer(models, lengths, batches, protocol, output)
        return
    table = bench.bench(models, lengths, batches, modes, protocol, progress=True)
    if resident:
        table = _with_resident(table, setups, model, protocol)
    console = Console() if Console().is_terminal else Console(width=170)
    _print(console, table)
    if output:
        console.print(f"wrote {write_table(table.drop(columns=['config']), output)}")
    if store:
        from fcabench.runs import append

        count = append(bench.to_runs(table, model), target)
        console.print(f"appended {count} measured runs to {target}")


def _real_examples(
    model, setups, task, split, max_examples, seq_len, batch_size, *, padding, scenario, passes, runtimes, output,
    threads, warmup,
):  # fmt: skip
    """``bench --task``: the split's examples through every model under each padding and scenario, and the verdict
    (printed, and written with -o; the run store keeps the synthetic figures). ``seq_len`` None: a checkpoint's own
    length (else 128)."""
    import pandas as pd
    import torch
    from rich.console import Console

    from fcabench.cli.options import comma_list
    from fcabench.speed import scenarios, workload
    from fcabench.tables import write_table
    from fcabench.training import workloads
    from fcabench.training.train import resolve_task

    paddings, kinds = comma_list(padding, "--padding"), comma_list(scenario, "--scenario")
    for value, known, option in (
        (paddings, workload.PADDINGS, "--padding"),
        (kinds, scenarios.SCENARIOS, "--scenario"),
    ):
        unknown = [v for v in value if v not in known]
        if unknown:
            raise FcabenchError(f"unknown {option} {unknown[0]!r}; choose from {', '.join(known)}")
    if passes < 1:
        raise FcabenchError(f"--passes must be at least 1, got {passes}")
    models, tokenizer, trained_length = workloads.models_for(model, setups)
    n = seq_len or trained_length or 128
    work = workloads.from_task(resolve_task(task), split, tokenizer, n, max_examples)
    console = Console() if Console().is_terminal else Console(width=170)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads or previous)
    try:
        frames = [
            scenarios.run(models, work, kind, paddings, batch_size, passes, warmup, runtimes=runtimes) for kind in kinds
        ]
    finally:
        torch.set_num_threads(previous)
    table = pd.concat(frames, ignore_index=True)
    threads = threads or previous
    console.print(f"{work.source}, n = {n}; cpu {threads} threads, fp32; {passes} interleaved passes")
    shown = ["scenario", "label", "padding", "runtime", "batch_size", "latency_p50_ms", "latency_p90_ms"]
    shown += ["latency_p99_ms", "examples_per_s", "speedup", "mac_cut", "efficiency", "compile_s", "graphs"]
    shown += ["graph_breaks", "max_abs_diff"]
    with pd.option_context("display.width", 250, "display.max_columns", None):
        console.print(table.reindex(columns=shown).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        console.print("verdict: speed-up over eager vanilla at max padding, and over the fastest vanilla measured")
        console.print(scenarios.verdict(table).to_string(index=False, float_format=lambda v: f"{v:.3g}"))
    if output:
        console.print(f"wrote {write_table(table, output)}")


def _with_resident(table, setups, preset: str, protocol):
    """``rss_mb`` (peak resident growth of one step, a process per model) and ``rss_ratio`` to vanilla's."""
    from fcabench.speed.resident import resident_growth_mb

    by_label = {setup.label: setup for setup in setups}
    table = table.copy()
    table["rss_mb"] = [
        resident_growth_mb(by_label[row.label], preset, int(row.seq_len), int(row.batch_size), row.mode, protocol)
        for row in table.itertuples()
    ]
    base = table[table["label"] == "vanilla"].set_index(["mode", "seq_len", "batch_size"])["rss_mb"]
    keys = zip(table["mode"], table["seq_len"], table["batch_size"])
    table["rss_ratio"] = [r / base[k] if r is not None and base.get(k) else None for r, k in zip(table["rss_mb"], keys)]
    return table


def _per_layer(models, seq_lens, batch_sizes, protocol, output) -> None:
    import pandas as pd
    from rich.console import Console
    from rich.table import Table

    from fcabench.models import synthetic_batch
    from fcabench.speed.layer_time import COMPONENTS, per_layer_times
    from fcabench.tables import write_table

    console = Console() if Console().is_terminal else Console(width=170)
    frames = []
    for n in seq_lens:
        for batch in batch_sizes:
            frame = per_layer_times(models, synthetic_batch(next(iter(models.values())), n, batch), protocol)
            frames.append(frame.assign(seq_len=n, batch_size=batch))
            wide = frame.pivot_table(index=["model", "layer"], columns="component", values="ms", sort=False)
            macs = frame.groupby(["model", "layer"], sort=False)["macs"].sum()
            speedup = frame.groupby(["model", "layer"], sort=False)["layer_speedup"].first()
            view = Table(title=f"per layer · inference · n = {n} · batch {batch} · ms (median of {protocol.repeats})")
            for header in ("model", "layer", *COMPONENTS, "total ms", "x vanilla", "GMACs"):
                view.add_column(header, justify="left" if header == "model" else "right")
            for (label, layer), row in wide.iterrows():
                view.add_row(
                    label,
                    str(layer),
                    *(f"{row[c]:.2f}" for c in COMPONENTS),
                    f"{row.sum():.2f}",
                    f"{speedup[(label, layer)]:.2f}",
                    f"{macs[(label, layer)] / 1e9:.3f}",
                )
            console.print(view)
    console.print(
        "x vanilla: vanilla's time of the layer / the model's, per repeat, median; components as the MAC split "
        "(fcabench/speed/layer_time.py); forward-hook timing, a few microseconds per module call"
    )
    if output:
        console.print(f"wrote {write_table(pd.concat(frames, ignore_index=True), output)}")


def _setup(spec: str):
    from fcabench import methods
    from fcabench.speed import bench

    parts = spec.split()
    if not parts:
        raise FcabenchError("--method needs a method name")
    label, _, name = parts[0].rpartition("=")
    raw = {}
    for part in parts[1:]:
        key, sep, value = part.partition("=")
        if not sep:
            raise FcabenchError(f"method option {part!r} is not key=value (in --method {spec!r})")
        raw[key.replace("-", "_")] = value
    options = methods.parse_options(name, raw)
    methods.make_config(name, **options)  # refuses unknown or invalid options now, before any model is built
    return bench.Setup.of(label or spec.strip(), name, **options)


def _print(console, table) -> None:
    from rich.table import Table

    for (mode, n, batch), part in table.groupby(["mode", "seq_len", "batch_size"], sort=False):
        view = Table(
            title=f"{mode} · n = {n} · batch {batch}",
            title_justify="left",
            caption=part["protocol"].iloc[0],
            caption_justify="left",
        )
        shown = [entry for entry in SHOWN if entry[0] in part.columns]  # resident memory only when measured
        for _, header, _ in shown:
            view.add_column(header, justify="left" if header == "model" else "right")
        for _, row in part.iterrows():
            cells = []
            for column, _, fmt in shown:
                value = row[column]
                if value is None or value != value:
                    cells.append("")
                elif fmt is None:
                    cells.append(f"{value / 1e9:.2f}")
                else:
                    cells.append(fmt.format(value))
            view.add_row(*cells)
        console.print(view)
