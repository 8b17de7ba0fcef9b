"""A task: what the data is, where it comes from, how it is split and scored.

A task's :meth:`Task.load` returns a :class:`TaskSplit`: a Hugging Face ``datasets.Dataset`` with the
columns ``id``, ``text``, ``text_pair`` (pair tasks only) and ``label`` (class id, or a float for
regression), and its fingerprint (source, split, example count, SHA-256 of the rows), which every run
records so that two runs on different data are never mistaken for one another.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fcabench.errors import FcabenchError


@dataclass(frozen=True)
class Example:
    """One row as a reader produces it, before it becomes a Dataset row."""

    id: str  # stable id: file name, line number or the corpus's own id
    text: str
    label: Any  # class name (str) or number (regression); None where a split has no labels (GLUE test)
    text_pair: str | None = None
    row: int | None = None  # line or row number in the source file, for error messages


@dataclass(frozen=True)
class TaskSplit:
    """The examples of one split and their fingerprint."""

    dataset: Any  # datasets.Dataset: id, text, [text_pair], label
    fingerprint: dict  # source, split, examples, sha256, and the subset rule if one was taken

    def __len__(self) -> int:
        return len(self.dataset)


@dataclass(frozen=True)
class LoadOptions:
    """Where data comes from when the task itself does not ship it."""

    data_dir: str | None = None  # a local folder in the data set's standard layout (GLUE TSVs)
    hub: bool = False  # allow a download from the Hugging Face hub (never implicit)


@dataclass(frozen=True)
class Task:
    """A registered task. ``labels`` is None for regression (one output, mean squared error)."""

    name: str  # registry key, e.g. "bbc-news", "glue-sst2"
    title: str  # the name papers print and stored runs carry, e.g. "BBC News", "SST-2"
    labels: tuple[str, ...] | None  # class names in label-id order; None = regression
    metrics: tuple[str, ...]  # metric names (fcabench.tasks.metrics); the first chooses the best epoch
    seq_len: int  # default padded length (tokens)
    source: str  # where the data comes from, in words
    splits: tuple[str, ...]  # split names :meth:`load` accepts
    reader: Callable[[str, LoadOptions], tuple[list[Example], str]] = field(repr=False, compare=False, default=None)
    # reader(split, options) -> (examples, where they were read from)
    pair: bool = False  # two text fields (sentence pairs)
    split_note: str | None = None  # how the splits are made when the data set has no official ones
    data_files: str | dict | None = None  # the local file (or {split: file}) a task over a user's data reads

    @property
    def num_labels(self) -> int:
        return 1 if self.labels is None else len(self.labels)

    @property
    def regression(self) -> bool:
        return self.labels is None

    @property
    def main_metric(self) -> str:
        return self.metrics[0]

    def load(
        self,
        split: str = "train",
        *,
        data_dir: str | None = None,
        hub: bool = False,
        max_examples: int | None = None,
        seed: int = 0,
    ) -> TaskSplit:
        """The examples of ``split`` as a Dataset with their fingerprint.

        ``max_examples`` takes a fixed random subset (``seed``), stratified by label for a classification task
        (each class keeps its share), recorded in the fingerprint.
        """
        if split not in self.splits:
            raise FcabenchError(f"task {self.name} has no split {split!r}; splits: {', '.join(self.splits)}")
        examples, origin = self.reader(split, LoadOptions(data_dir=data_dir, hub=hub))
        if not examples:
            raise FcabenchError(f"{origin}: split {split!r} of {self.name} has no examples")
        examples = [self._checked(example, origin) for example in examples]
        fingerprint = {"task": self.name, "source": origin, "split": split}
        if max_examples is not None and max_examples < len(examples):
            if max_examples < 1:
                raise FcabenchError(f"max_examples must be at least 1, got {max_examples}")
            chosen, how = _subset([e.label for e in examples], max_examples, seed, stratify=not self.regression)
            examples = [examples[i] for i in chosen]
            fingerprint["subset"] = f"{max_examples} examples drawn {how}"
        fingerprint.update(examples=len(examples), sha256=rows_hash(examples))
        return TaskSplit(dataset=self._dataset(examples), fingerprint=fingerprint)

    def _checked(self, example: Example, origin: str) -> Example:
        """Label names become ids; a label outside the set is an error naming the row."""
        where = f"{origin}, row {example.row if example.row is not None else example.id}"
        if example.label is None:
            return example
        if self.regression:
            try:
                value = float(example.label)
            except (TypeError, ValueError):
                raise FcabenchError(f"{where}, field label: {example.label!r} is not a number") from None
            return dataclasses.replace(example, label=value)
        label = str(example.label)
        if label not in self.labels:
            hint = ""
            if _is_number(label) and not all(_is_number(name) for name in self.labels):
                hint = f"; numbers are not matched to named labels: map them (--label-map {label}={self.labels[0]},...)"
            raise FcabenchError(f"{where}, field label: {label!r} is not one of {', '.join(self.labels)}{hint}")
        return dataclasses.replace(example, label=self.labels.index(label))

    def _dataset(self, examples: Sequence[Example]):
        import datasets

        columns: dict[str, list] = {"id": [e.id for e in examples], "text": [e.text for e in examples]}
        if self.pair:
            columns["text_pair"] = [e.text_pair for e in examples]
        columns["label"] = [e.label for e in examples]
        features = {"id": datasets.Value("string"), "text": datasets.Value("string")}
        if self.pair:
            features["text_pair"] = datasets.Value("string")
        if self.regression:
            features["label"] = datasets.Value("float32")
        else:
            features["label"] = datasets.Value("int64")  # -1 where a split has no labels
            columns["label"] = [-1 if label is None else label for label in columns["label"]]
        return datasets.Dataset.from_dict(columns, features=datasets.Features(features))

    def describe(self) -> dict:
        """One row of ``fcabench tasks list``."""
        return {
            "task": self.name,
            "title": self.title,
            "labels": "regression" if self.regression else ", ".join(self.labels),
            "metrics": ", ".join(self.metrics),
            "seq_len": self.seq_len,
            "splits": ", ".join(self.splits),
            "source": self.source,
        }


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def rows_hash(examples: Sequence[Example]) -> str:
    """SHA-256 over the rows (id, text, pair, label) in order: equal on every machine for equal data."""
    digest = hashlib.sha256()
    for e in examples:
        digest.update(json.dumps([e.id, e.text, e.text_pair, e.label], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def _subset(labels: list, k: int, seed: int, stratify: bool) -> tuple[list[int], str]:
    """Indices of a fixed subset of ``k`` examples, in file order, and how it was drawn: stratified by label
    (scikit-learn's ``train_test_split``) when asked and every class can keep a share, else uniformly at random."""
    if stratify and len(set(labels)) <= k:
        from sklearn.model_selection import train_test_split

        try:
            chosen, _ = train_test_split(np.arange(len(labels)), train_size=k, stratify=labels, random_state=seed)
            return sorted(int(i) for i in chosen), f"stratified by label with scikit-learn, random_state {seed}"
        except ValueError:  # a class too small to split: draw uniformly instead
            pass
    chosen = np.sort(np.random.Generator(np.random.PCG64(seed)).permutation(len(labels))[:k])
    return [int(i) for i in chosen], f"with numpy PCG64 seed {seed}"
