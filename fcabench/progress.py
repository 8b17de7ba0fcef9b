"""Progress bars for work that takes more than a few seconds, on stderr, never in the results.

Two calls, both with an ``enabled`` flag (library functions pass their own ``progress=`` argument on):

    for batch in track(batches, "Training", total=len(batches), enabled=progress): ...

    with progress_bar("Counting examples", total=n, enabled=progress) as advance:
        ...; advance(len(chunk))        # or advance.to(done), advance.note("loss=0.31")

The one bar of every command: counting examples, benchmarking, training (its Trainer callback).

Bars are drawn with rich on stderr and only when stderr is a terminal: piped or captured output (CI
logs, tests, ``--format json > file``) stays free of them. They disappear when the work is done.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class Bar:
    """The handle ``progress_bar`` yields: advance it, set its count, or show a short note beside it."""

    def __init__(self, progress, task):
        self._progress, self._task = progress, task

    def __call__(self, steps: float = 1) -> None:
        self._progress.advance(self._task, steps)

    def to(self, completed: float) -> None:
        self._progress.update(self._task, completed=completed)

    def note(self, text: str) -> None:
        self._progress.update(self._task, info=text)


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
        TextColumn("{task.fields[info]}"),
        console=console,
        transient=True,
        disable=not (enabled and console.is_terminal),
    )


@contextmanager
def progress_bar(description: str, total: float | None = None, *, enabled: bool = True) -> Iterator[Bar]:
    """A bar for ``total`` steps (None: unknown); yields its :class:`Bar` (``advance(steps=1)``)."""
    with _bar(enabled) as bar:
        yield Bar(bar, bar.add_task(description, total=total, info=""))


def track(iterable: Iterable[T], description: str, *, total: float | None = None, enabled: bool = True) -> Iterator[T]:
    """Yield from ``iterable`` while a bar counts the items (``total`` defaults to ``len(iterable)``)."""
    if total is None and hasattr(iterable, "__len__"):
        total = len(iterable)
    with progress_bar(description, total, enabled=enabled) as advance:
        for item in iterable:
            yield item
            advance()
