"""Where a task's data comes from: the options `fcabench train` and `fcabench evaluate` share."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

DataDir = Annotated[Optional[str], typer.Option("--data-dir", help="Local GLUE folder (standard TSV layout).")]
Hub = Annotated[bool, typer.Option("--hub", help="Allow downloading the data set from the Hugging Face hub.")]
TextColumn = Annotated[Optional[str], typer.Option("--text-column", help="Data file: the text column (default text).")]
PairColumn = Annotated[Optional[str], typer.Option("--pair-column", help="Data file: the second text column, if any.")]
LabelColumn = Annotated[Optional[str], typer.Option("--label-column", help="Data file: the label column (default label).")]


def task_options(text_column, pair_column, label_column) -> dict | None:
    """The column names given, as the task loader takes them (None: the file's defaults)."""
    options = {k: v for k, v in (("text", text_column), ("pair", pair_column), ("label", label_column)) if v}
    return options or None
