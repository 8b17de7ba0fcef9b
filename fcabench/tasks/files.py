"""A user's own data: a local CSV, TSV, JSON Lines or Parquet file with named columns.

One file is split with the fixed stratified 80/10/10 split (:mod:`fcabench.tasks.splits`); a dict of
files (``{"train": ..., "validation": ..., "test": ...}``) is used as it is. Labels are the sorted set
of label values of all given files unless ``labels`` names them (then a value outside is an error);
``regression=True`` reads numbers.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fcabench.errors import FcabenchError
from fcabench.tasks import splits
from fcabench.tasks.base import Example, LoadOptions, Task

READERS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


def read_table(path: Path) -> pd.DataFrame:
    kind = READERS.get(path.suffix.lower())
    if kind is None:
        raise FcabenchError(f"{path}: unknown file type {path.suffix!r}; use one of {', '.join(READERS)}")
    if not path.is_file():
        raise FcabenchError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise FcabenchError(f"{path}: the file is empty")
    try:
        if kind in ("csv", "tsv"):
            frame = pd.read_csv(
                path, sep="," if kind == "csv" else "\t", dtype=str, keep_default_na=False, encoding="utf-8"
            )
        elif kind == "jsonl":
            frame = pd.read_json(path, lines=True, dtype=False)
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as error:
        raise FcabenchError(
            f"{path}: not UTF-8 text ({decode_position(path, error)}); convert it, e.g. iconv -f latin1 -t UTF-8"
        ) from None
    except (ValueError, pd.errors.ParserError, OSError) as error:
        raise FcabenchError(f"{path}: cannot read as {kind} ({str(error).splitlines()[0]})") from None
    if frame.empty:
        raise FcabenchError(f"{path}: the file has no rows")
    if kind == "csv" and len(frame.columns) == 1 and "\t" in str(frame.columns[0]):
        raise FcabenchError(f"{path}: looks tab-separated (its header is {frame.columns[0]!r}); name it .tsv")
    return frame


def decode_position(path: Path, error: UnicodeDecodeError) -> str:
    """Where the first byte that is not UTF-8 lies, as a person finds it: line and byte within the line (the
    reader's ``error`` counts from the start of its chunk, so the file is decoded whole to find it)."""
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8")
        offset = error.start
    except UnicodeDecodeError as whole:
        offset = whole.start
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, byte {column} of the line (0x{data[offset]:02x})"


def _examples(
    path: Path, frame: pd.DataFrame, text: str, pair: str | None, label: str, label_map: dict | None = None
) -> list[Example]:
    for column in (text, pair, label):
        if column is not None and column not in frame.columns:
            raise FcabenchError(
                f"{path}, row 1, field {column}: missing column (columns: {', '.join(map(str, frame.columns))})"
            )
    first = 2 if READERS[path.suffix.lower()] in ("csv", "tsv") else 1  # CSV/TSV rows count the header line
    examples = []
    for offset, row in enumerate(frame.itertuples(index=False)):
        values = dict(zip(frame.columns, row))
        number = first + offset
        for column in (text, pair):
            if column is not None and not isinstance(values[column], str):
                raise FcabenchError(f"{path}, row {number}, field {column}: expected text, got {values[column]!r}")
            if column is not None and not values[column].strip():
                raise FcabenchError(f"{path}, row {number}, field {column}: empty text")
        value = values[label]
        if (
            value is None
            or (isinstance(value, float) and value != value)
            or (isinstance(value, str) and not value.strip())
        ):
            raise FcabenchError(f"{path}, row {number}, field {label}: empty label")
        if isinstance(value, (dict, list, tuple)):  # a JSON object or list names no class
            raise FcabenchError(f"{path}, row {number}, field {label}: a label is a name or a number, got {value!r}")
        value = value.strip() if isinstance(value, str) else value
        if label_map:
            value = label_map.get(str(value), value)
        examples.append(
            Example(
                id=f"{path.name}:{number}",
                text=values[text],
                text_pair=values[pair] if pair else None,
                label=value,
                row=number,
            )
        )
    return examples


def from_file(
    path,
    *,
    text: str = "text",
    pair: str | None = None,
    label: str = "label",
    labels=None,
    label_map: dict | None = None,
    regression: bool = False,
    metrics=None,
    seq_len: int = 128,
    name: str | None = None,
) -> Task:
    """A :class:`Task` over a local file (or ``{"train": f, "validation": f, "test": f}``).

    ``labels``: the class names in id order (a checkpoint's); a value outside them is an error naming the row.
    ``label_map``: the file's values renamed before that, e.g. ``{"0": "ham", "1": "spam"}``.
    """
    files = (
        {split: Path(p).expanduser() for split, p in path.items()}
        if isinstance(path, dict)
        else Path(path).expanduser()
    )
    cache: dict = {}

    def all_examples(file: Path) -> list[Example]:
        if file not in cache:
            cache[file] = _examples(file, read_table(file), text, pair, label, label_map)
        return cache[file]

    if regression:
        label_set = None
    elif labels is not None:
        label_set = tuple(str(value) for value in labels)
    else:
        every = [e for f in (files.values() if isinstance(files, dict) else [files]) for e in all_examples(f)]
        label_set = tuple(sorted({str(e.label) for e in every}))  # as text: "1" and 1 are one class
        if len(label_set) < 2:
            raise FcabenchError(f"{path}, field {label}: needs at least two classes, found {', '.join(label_set)}")

    def read(split: str, options: LoadOptions) -> tuple[list[Example], str]:
        if isinstance(files, dict):
            return all_examples(files[split]), str(files[split])
        every = all_examples(files)
        for example in every:  # every row's label, not only those of the split read: one answer for the file
            task._checked(example, str(files))
        keys = [0] * len(every) if regression else [str(e.label) for e in every]
        return [every[i] for i in splits.stratified_split(keys, split)], str(files)

    default_metrics = ("pearson", "spearman") if regression else ("accuracy", "f1_macro")
    where = ", ".join(str(f) for f in files.values()) if isinstance(files, dict) else str(files)
    task = Task(
        name=name or (Path(where.split(",")[0]).stem),
        title=name or Path(where.split(",")[0]).stem,
        labels=label_set,
        metrics=tuple(metrics or default_metrics),
        seq_len=seq_len,
        pair=pair is not None,
        source=f"local file(s) {where} (text={text!r}, pair={pair!r}, label={label!r})",
        splits=tuple(files) if isinstance(files, dict) else tuple(splits.FRACTIONS),
        reader=read,
        split_note=None if isinstance(files, dict) else splits.describe(),
        data_files={k: str(v.resolve()) for k, v in files.items()} if isinstance(files, dict) else str(files.resolve()),
    )
    return task
