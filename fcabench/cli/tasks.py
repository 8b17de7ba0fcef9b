"""``fcabench tasks list``: the registered tasks, their labels, metrics, default lengths and data sources."""

from __future__ import annotations

import typer

app = typer.Typer(help="Tasks to train and score on.", no_args_is_help=True)


@app.command("list")
def list_command() -> None:
    """Every registered task: labels, metrics (the first chooses the best epoch), default length, source."""
    from rich.console import Console
    from rich.table import Table

    from fcabench import tasks

    table = Table(title="fcabench tasks (seq_len: default padded length, tokens)", title_justify="left")
    frame = tasks.describe()
    for column in frame.columns:
        table.add_column(column, justify="right" if column == "seq_len" else "left", overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(str(value) for value in row))
    Console(width=200).print(table)
