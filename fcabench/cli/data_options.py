"""Where a task's data comes from: the options `fcabench train` and `fcabench evaluate` share."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from fcabench.errors import FcabenchError

DataDir = Annotated[Optional[str], typer.Option("--data-dir", help="Local GLUE folder (standard TSV layout).")]
Hub = Annotated[bool, typer.Option("--hub", help="Allow downloading the data set from the Hugging Face hub.")]
TextColumn = Annotated[Optional[str], typer.Option("--text-column", help="Data file: the text column (default text).")]
PairColumn = Annotated[Optional[str], typer.Option("--pair-column", help="Data file: the second text column, if any.")]
LabelColumn = Annotated[
    Optional[str], typer.Option("--label-column", help="Data file: the label column (default label).")
]
LabelMap = Annotated[
    Optional[str], typer.Option("--label-map", help="Data file: rename its label values, e.g. 0=ham,1=spam.")
]


def task_options(text_column, pair_column, label_column, label_map: str | None = None) -> dict | None:
    """The column names (and label renaming) given, as the task loader takes them (None: the file's defaults)."""
    options: dict = {k: v for k, v in (("text", text_column), ("pair", pair_column), ("label", label_column)) if v}
    if label_map is not None:
        options["label_map"] = parse_label_map(label_map)
    return options or None


def parse_label_map(text: str) -> dict[str, str]:
    """``"0=ham,1=spam"`` -> ``{"0": "ham", "1": "spam"}``."""
    pairs = [part.split("=", 1) for part in text.split(",") if part.strip()]
    if not pairs or any(len(p) != 2 or not p[0].strip() or not p[1].strip() for p in pairs):
        raise FcabenchError(f"--label-map takes value=label pairs separated by commas (0=ham,1=spam), got {text!r}")
    return {value.strip(): label.strip() for value, label in pairs}
