"""``fcabench evaluate CHECKPOINT --task T --split S``: metrics, MACs, latency and memory of a checkpoint."""

from __future__ import annotations

from pathlib import Path

import typer


def evaluate_command(
    checkpoint: str = typer.Argument(..., help="Checkpoint folder (written by fcabench train)."),
    task: str = typer.Option(..., "--task", "-t", help="Task name or a CSV/TSV/JSONL/Parquet file."),
    split: str = typer.Option("validation", "--split", "-s", help="train, validation, test (MNLI: validation_mismatched ...)."),
    seq_len: int = typer.Option(None, "--seq-len", "-n", help="Padded length (default: the checkpoint's)."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="Batch for scoring and for the latency timing."),
    device: str = typer.Option(None, "--device"),
    max_examples: int = typer.Option(None, "--max-examples", help="A fixed random subset of the split."),
    latency: bool = typer.Option(True, "--latency/--no-latency", help="Time forward passes (median of repeats)."),
    results: Path = typer.Option(None, "--results", help="Run file to append to (default: results/runs.jsonl)."),
    data_dir: str = typer.Option(None, "--data-dir", help="Local GLUE folder (standard TSV layout)."),
    hub: bool = typer.Option(False, "--hub", help="Allow downloading the data set from the Hugging Face hub."),
    text_column: str = typer.Option(None, "--text-column"),
    pair_column: str = typer.Option(None, "--pair-column"),
    label_column: str = typer.Option(None, "--label-column"),
) -> None:
    """Score CHECKPOINT on a task split and store the run (one row per metric)."""
    from fcabench.cli._runs_table import print_runs
    from fcabench.cli.train import _task_options
    from fcabench.training import evaluate

    runs = evaluate(checkpoint, task, split, seq_len=seq_len, batch_size=batch_size, device=device,
                    max_examples=max_examples, measure_latency=latency, results=str(results) if results else None,
                    data_dir=data_dir, hub=hub, task_options=_task_options(text_column, pair_column, label_column))
    print_runs(runs, f"stored {len(runs)} row(s)")
