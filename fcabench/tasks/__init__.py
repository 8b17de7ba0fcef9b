"""Tasks: what to train and score on, where its data comes from, its fixed splits and its metrics.

>>> from fcabench import tasks
>>> tasks.names()
['bbc-news', 'tweet-sentiment', 'glue-cola', ...]
>>> split = tasks.get("bbc-news").load("validation")
>>> split.dataset, split.fingerprint            # a datasets.Dataset and its source/split/count/sha256
>>> tasks.get("glue-rte").load("train", data_dir="~/glue")   # GLUE from its standard TSV layout
>>> tasks.from_file("reviews.csv", text="review", label="stars")  # a user's own file

Nothing downloads unless a hub data set is asked for (``hub=True``).
"""

from __future__ import annotations

from fcabench.errors import FcabenchError
from fcabench.tasks import glue, packaged
from fcabench.tasks.base import Example, Task, TaskSplit
from fcabench.tasks.files import from_file
from fcabench.tasks.metrics import compute as compute_metrics

_REGISTRY: dict[str, Task] = {}


def register(task: Task) -> Task:
    """Add ``task`` under its name (a user's file task can be registered like a built-in one)."""
    _REGISTRY[task.name] = task
    return task


def names() -> list[str]:
    return list(_REGISTRY)


def get(name_or_task: str | Task) -> Task:
    """A registered task by name (a :class:`Task` passes through)."""
    if isinstance(name_or_task, Task):
        return name_or_task
    if name_or_task not in _REGISTRY:
        raise FcabenchError(
            f"unknown task {name_or_task!r}; tasks: {', '.join(_REGISTRY)} (or a CSV/TSV/JSONL/Parquet file)"
        )
    return _REGISTRY[name_or_task]


def titles(names) -> set[str]:
    """The titles stored runs carry (``Run.task``) of those ``names`` that are registered tasks."""
    return {_REGISTRY[name].title for name in names if name in _REGISTRY}


def describe():
    """The registry as a DataFrame, one row per task."""
    import pandas as pd

    return pd.DataFrame([task.describe() for task in _REGISTRY.values()])


for _task in [*packaged.TASKS, *glue.TASKS]:
    register(_task)

__all__ = [
    "Example",
    "Task",
    "TaskSplit",
    "compute_metrics",
    "describe",
    "from_file",
    "get",
    "names",
    "register",
    "titles",
]
