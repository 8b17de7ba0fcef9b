"""Progress bars for work that takes more than a few seconds, on stderr, never in the results.

One call, with an ``enabled`` flag (library functions pass their own ``progress=`` argument on):

    with progress_bar("Counting examples", total=n, enabled=progress) as advance:
        ...; advance(len(chunk))        # or advance.to(done), advance.note("loss=0.31")

The one bar of every command: counting examples, benchmarking, training (its Trainer callback).

Bars are drawn with rich on stderr when stderr is a terminal, and disappear when the work is done. When it is
not (a log file, ``nohup``, CI), a plain line says what runs at the start, then every ``PLAIN_EVERY_S`` seconds
(steps done, elapsed, estimated remaining) and at the end: a redirected training is never silent for an hour.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

PLAIN_EVERY_S = 60.0  # seconds between two plain progress lines


class PlainLines:
    """The :class:`Bar` interface as plain lines on stderr, for a stderr that is not a terminal."""

    def __init__(self, description: str, total: float | None):
        self.description, self.total, self.done, self.info = description, total, 0.0, ""
        self.start = self.last = time.monotonic()
        self._say(f"{description}: started" + (f", {total:g} steps" if total else ""))

    def _say(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def line(self, final: bool = False) -> str:
        elapsed = time.monotonic() - self.start
        text = f"{self.description}: {self.done:g}" + (f"/{self.total:g}" if self.total else "")
        text += f" steps, {_duration(elapsed)} {'in all' if final else 'elapsed'}"
        if self.total and self.done and not final:
            text += f", about {_duration(elapsed * (self.total - self.done) / self.done)} left"
        return text + (f" ({self.info})" if self.info else "")

    def _maybe_say(self) -> None:
        if time.monotonic() - self.last >= PLAIN_EVERY_S:
            self.last = time.monotonic()
            self._say(self.line())

    def __call__(self, steps: float = 1) -> None:
        self.done += steps
        self._maybe_say()

    def to(self, completed: float) -> None:
        self.done = completed
        self._maybe_say()

    def note(self, text: str) -> None:
        self.info = text

    def close(self) -> None:
        self._say(self.line(final=True))


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}h{seconds // 60 % 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"


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
    """A bar for ``total`` steps (None: unknown); yields its :class:`Bar` (``advance(steps=1)``), or plain lines
    when stderr is not a terminal."""
    if enabled and not sys.stderr.isatty():
        lines = PlainLines(description, total)
        try:
            yield lines
        finally:
            lines.close()
        return
    with _bar(enabled) as bar:
        yield Bar(bar, bar.add_task(description, total=total, info=""))
