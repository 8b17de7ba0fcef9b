"""``fcabench train``: train a method on a task through its stages; every stage appends a run.

Method options are the fields of the method's config dataclass, given as ``--field value``
(``--clusters 5 --lam 0.002``), read from the registry like ``fcabench profile``'s.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from fcabench.cli.data_options import DataDir, Hub, LabelColumn, PairColumn, TextColumn, task_options
from fcabench.training.settings import DEFAULTS, TrainSettings


def _option(name: str, *short: str):
    """The option of a TrainSettings field: its flag, default and help come from the dataclass."""
    flag = next(f for f in dataclasses.fields(TrainSettings) if f.name == name).metadata["flag"]
    return typer.Option(getattr(DEFAULTS, name), flag, *short, help=TrainSettings.help(name))


def train_command(
    ctx: typer.Context,
    model: str = typer.Option(
        None,
        "--model",
        help="Encoder folder or hub name (BERT, RoBERTa, XLM-R, CamemBERT, ELECTRA, DistilBERT), "
        "or minilm-l6 (shipped, offline; the default). Not with --from: a checkpoint is its own model.",
    ),
    task: str = typer.Option(
        None,
        "--task",
        "-t",
        help="Task name (fcabench tasks list) or a CSV/TSV/JSONL/Parquet file (default with --from: the checkpoint's).",
    ),
    method: str = typer.Option(
        "vanilla", "--method", "-m", help="Token-reduction method (fcabench profile --list-methods)."
    ),
    output_dir: Path = typer.Option(
        ...,
        "--output-dir",
        "-o",
        help="Checkpoint folders go here, one per stage; run again, the command resumes after the stages it completed.",
    ),
    stages: str = typer.Option(None, "--stages", help="Only these stages, comma-separated (e.g. search,retrain)."),
    from_checkpoint: str = typer.Option(None, "--from", help="Start from this fine-tuned checkpoint folder."),
    training_free: bool = typer.Option(False, "--training-free", help="Apply the method to --from without training."),
    self_contained: bool = typer.Option(
        False,
        "--self-contained",
        help="A training-free checkpoint holds a copy of the weights instead of referring to --from's.",
    ),
    seq_len: int = _option("seq_len", "-n"),
    epochs: float = _option("epochs"),
    max_steps: int = _option("max_steps"),
    batch_size: int = _option("batch_size", "-b"),
    learning_rate: float = _option("learning_rate"),
    warmup_ratio: float = _option("warmup_ratio"),
    weight_decay: float = _option("weight_decay"),
    seed: int = _option("seed"),
    subset_seed: int = _option("subset_seed"),
    precision: str = _option("precision"),
    device: str = _option("device"),
    max_train_examples: int = _option("max_train_examples"),
    max_eval_examples: int = _option("max_eval_examples"),
    macs_ratio: float = _option("macs_ratio"),
    macs_at: str = _option("macs_at"),
    results: Path = typer.Option(
        None, "--results", help="Run file to append to (default: results/runs.jsonl in the current folder)."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace stage checkpoints another command wrote."),
    force: bool = typer.Option(False, "--force", help="Store runs already in the run file again, marked as repeats."),
    data_dir: DataDir = None,
    hub: Hub = False,
    text_column: TextColumn = None,
    pair_column: PairColumn = None,
    label_column: LabelColumn = None,
    report_to: str = _option("report_to"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
) -> None:
    """Train MODEL on TASK with METHOD, stage by stage; store one run per stage."""
    from fcabench import methods
    from fcabench.cli._runs_table import print_runs
    from fcabench.cli.options import comma_list, options_per_method
    from fcabench.runs.store import default_append_path
    from fcabench.training import train

    if method not in methods.names():
        methods.get(method)  # one error with the list of methods
    options = methods.parse_options(method, options_per_method([method], ctx.args)[method]) if ctx.args else {}
    stage_list = comma_list(stages, "--stages", "stage names") if stages is not None else None
    given = locals()
    settings = TrainSettings(**{f.name: given[f.name] for f in dataclasses.fields(TrainSettings)})  # one per option
    runs = train(
        model,
        task,
        method,
        method_options=options,
        stages=stage_list,
        from_checkpoint=from_checkpoint,
        output_dir=str(output_dir),
        settings=settings,
        training_free=training_free,
        self_contained=self_contained,
        results=str(results) if results else None,
        overwrite=overwrite,
        force=force,
        progress=progress,
        data_dir=data_dir,
        hub=hub,
        task_options=task_options(text_column, pair_column, label_column),
    )
    print_runs(
        runs, f"{len(runs)} row(s) in the run file {results or default_append_path()}; checkpoints under {output_dir}"
    )
