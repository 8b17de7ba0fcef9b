"""What the CLI writes beside its results: warnings on stderr, human lines out of the way of piped data."""

from __future__ import annotations

import typer


def warn(text: str) -> None:
    typer.secho(f"warning: {text}", fg="yellow", err=True)


def say(fmt: str, line: str) -> None:
    """Human lines go to stdout with a table, to stderr when stdout carries JSON or CSV."""
    typer.echo(line, err=fmt != "table")
