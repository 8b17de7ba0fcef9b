"""``fcabench evaluate CHECKPOINT --task T --split S``: metrics, MACs, latency and memory of a checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer

from fcabench.cli.data_options import DataDir, Hub, LabelColumn, LabelMap, PairColumn, TextColumn, task_options


def evaluate_command(
    checkpoint: str = typer.Argument(..., help="Checkpoint folder (written by fcabench train)."),
    task: str = typer.Option(
        None,
        "--task",
        "-t",
        help="Task name or a CSV/TSV/JSONL/Parquet file (default: the "
        "checkpoint's); a file's labels are matched by name.",
    ),
    split: str = typer.Option(
        "validation", "--split", "-s", help="train, validation, test (MNLI: validation_mismatched ...)."
    ),
    seq_len: int = typer.Option(None, "--seq-len", "-n", help="Padded length (default: the checkpoint's)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="Batch for scoring and for the latency timing."),
    precision: str = typer.Option(
        "fp32",
        "--precision",
        help="fp32, bf16 (CPU with AVX-512 BF16 or AMX, CUDA) or fp16 "
        "(CUDA): autocast for the scoring and the latency timing.",
    ),
    device: str = typer.Option(None, "--device"),
    max_examples: int = typer.Option(None, "--max-examples", help="A fixed random subset of the split."),
    latency: bool = typer.Option(True, "--latency/--no-latency", help="Time forward passes (median of repeats)."),
    front: bool = typer.Option(
        False, "--front", help="A checkpoint with a front (lat's search): score every configuration on it, a run each."
    ),
    macs_ratio: float = typer.Option(
        None,
        "--macs-ratio",
        help="A checkpoint with a front: score its best configuration (on validation) at or under this fraction "
        "of vanilla's encoder MACs.",
    ),
    results: Path = typer.Option(
        None, "--results", help="Run file to append to (default: results/runs.jsonl in the current folder)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Store the run again if it is already there, marked as a repeat."
    ),
    data_dir: DataDir = None,
    hub: Hub = False,
    text_column: TextColumn = None,
    pair_column: PairColumn = None,
    label_column: LabelColumn = None,
    label_map: LabelMap = None,
) -> None:
    """Score CHECKPOINT on a task split and store the run (one row per metric)."""
    from fcabench.cli._runs_table import print_runs
    from fcabench.runs.store import default_append_path
    from fcabench.training import evaluate

    runs = evaluate(
        checkpoint,
        task,
        split,
        seq_len=seq_len,
        batch_size=batch_size,
        device=device,
        max_examples=max_examples,
        measure_latency=latency,
        results=str(results) if results else None,
        force=force,
        precision=precision,
        data_dir=data_dir,
        hub=hub,
        task_options=task_options(text_column, pair_column, label_column, label_map),
        front=front,
        macs_ratio=macs_ratio,
    )
    print_runs(runs, f"{len(runs)} row(s) in the run file {results or default_append_path()}")
