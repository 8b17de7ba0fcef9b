"""Progress bars for work that takes more than a few seconds, on stderr, never in the results.

Two calls, both with an ``enabled`` flag (library functions pass their own ``progress=`` argument on):

    for batch in track(batches, "Training", total=len(batches), enabled=progress): ...

    with progress_bar("Counting examples", total=n, enabled=progress) as advance:
        ...; advance(len(chunk))

Bars are drawn with rich on stderr and only when stderr is a terminal: piped or captured output (CI
logs, tests, ``--format json > file``) stays free of them. They disappear when the work is done.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def _bar(enabled: bool):
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )


@contextmanager
def progress_bar(
    description: str, total: float | None = None, *, enabled: bool = True
) -> Iterator[Callable[..., None]]:
    """A bar for ``total`` steps (None: unknown); yields ``advance(steps=1)``."""
    with _bar(enabled) as bar:
        task = bar.add_task(description, total=total)
        yield lambda steps=1: bar.advance(task, steps)


def track(iterable: Iterable[T], description: str, *, total: float | None = None, enabled: bool = True) -> Iterator[T]:
    """Yield from ``iterable`` while a bar counts the items (``total`` defaults to ``len(iterable)``)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with progress_bar(description, total, enabled=enabled) as advance:
        for item in iterable:
            yield item
            advance()
