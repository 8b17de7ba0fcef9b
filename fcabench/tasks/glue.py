"""The GLUE tasks, from a local folder in GLUE's standard TSV layout or, when asked, the Hugging Face hub.

Local layout (what GLUE's download script writes): ``<data_dir>/<CoLA|SST-2|MRPC|STS-B|QQP|MNLI|QNLI|RTE>/``
with ``train.tsv``, ``dev.tsv`` (MNLI: ``dev_matched.tsv``, ``dev_mismatched.tsv``) and ``test*.tsv``;
``data_dir`` may also point at one task's folder. Files are tab-separated without quoting (GLUE's own
reading); CoLA's train and dev files have no header. The test files carry no labels (GLUE scores them on
its server): they load with label -1 and cannot be scored.

Hub (``hub=True``, never implicit): ``datasets.load_dataset("nyu-mll/glue", <config>)``. Label order
follows the hub's, so ids are the same from either source.

Default lengths are PoWER-BERT's: 64 for CoLA, SST-2 and STS-B, 256 for RTE, 128 for the rest.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path

from fcabench.errors import FcabenchError
from fcabench.tasks.base import Example, LoadOptions, Task

csv.field_size_limit(sys.maxsize)  # QQP and MNLI have long parse-tree columns


@dataclass(frozen=True)
class GlueLayout:
    folder: str  # folder name in the GLUE layout
    hub_config: str  # configuration of nyu-mll/glue
    text: str  # TSV column (or CoLA's column index) of the first text
    pair: str | None  # TSV column of the second text
    label: str  # TSV column of the label
    files: dict  # split -> file name
    header: bool = True  # CoLA's train/dev files have none
    hub_fields: tuple[str, ...] = ("sentence",)  # text fields of the hub version
    hub_splits: dict | None = None  # split -> hub split name where they differ


STANDARD = {"train": "train.tsv", "validation": "dev.tsv", "test": "test.tsv"}

LAYOUTS = {
    "glue-cola": GlueLayout("CoLA", "cola", "3", None, "1", STANDARD, header=False),
    "glue-sst2": GlueLayout("SST-2", "sst2", "sentence", None, "label", STANDARD),
    "glue-mrpc": GlueLayout(
        "MRPC", "mrpc", "#1 String", "#2 String", "Quality", STANDARD, hub_fields=("sentence1", "sentence2")
    ),
    "glue-stsb": GlueLayout(
        "STS-B", "stsb", "sentence1", "sentence2", "score", STANDARD, hub_fields=("sentence1", "sentence2")
    ),
    "glue-qqp": GlueLayout(
        "QQP", "qqp", "question1", "question2", "is_duplicate", STANDARD, hub_fields=("question1", "question2")
    ),
    "glue-mnli": GlueLayout(
        "MNLI",
        "mnli",
        "sentence1",
        "sentence2",
        "gold_label",
        {
            "train": "train.tsv",
            "validation": "dev_matched.tsv",
            "validation_mismatched": "dev_mismatched.tsv",
            "test": "test_matched.tsv",
            "test_mismatched": "test_mismatched.tsv",
        },
        hub_fields=("premise", "hypothesis"),
        hub_splits={"validation": "validation_matched", "test": "test_matched"},
    ),
    "glue-qnli": GlueLayout(
        "QNLI", "qnli", "question", "sentence", "label", STANDARD, hub_fields=("question", "sentence")
    ),
    "glue-rte": GlueLayout(
        "RTE", "rte", "sentence1", "sentence2", "label", STANDARD, hub_fields=("sentence1", "sentence2")
    ),
}

# Test files: the id column and the text columns where they differ from train/dev.
TEST_COLUMNS = {"glue-cola": ("sentence", None), "glue-mrpc": ("#1 String", "#2 String")}


def _task_folder(layout: GlueLayout, data_dir: str) -> Path:
    root = Path(data_dir).expanduser()
    for candidate in (root / layout.folder, root):
        if (candidate / layout.files["train"]).is_file() or (candidate / layout.files["validation"]).is_file():
            return candidate
    raise FcabenchError(
        f"{root}: no GLUE {layout.folder} folder (expected {root / layout.folder}/{layout.files['validation']})"
    )


def read_tsv(path: Path, layout: GlueLayout, split: str, name: str) -> list[Example]:
    """Rows of one GLUE TSV file, each checked for its columns; errors name file, row and field."""
    if not path.is_file():
        raise FcabenchError(f"{path}: no such file (split {split!r} of {name})")
    is_test = split.startswith("test")
    header = layout.header or is_test
    text, pair = TEST_COLUMNS.get(name, (layout.text, layout.pair)) if is_test else (layout.text, layout.pair)
    with open(path, encoding="utf-8", newline="") as handle:
        try:
            lines = handle.read().splitlines()
        except UnicodeDecodeError as error:
            raise FcabenchError(f"{path}: not UTF-8 text (byte {error.start})") from None
    rows = [line.split("\t") for line in lines]
    if not rows or (header and len(rows) < 2):
        raise FcabenchError(f"{path}: the file is empty")
    columns = rows[0] if header else [str(i) for i in range(len(rows[0]))]
    body, first = (rows[1:], 2) if header else (rows, 1)  # row numbers are file line numbers
    wanted = [c for c in (text, pair, None if is_test else layout.label) if c is not None]
    for column in wanted:
        if column not in columns:
            raise FcabenchError(f"{path}, row 1, field {column}: missing column (columns: {', '.join(columns)})")
    index = {column: columns.index(column) for column in wanted}
    examples = []
    for number, row in enumerate(body, start=first):
        if not any(cell.strip() for cell in row):
            continue
        for column in wanted:
            if index[column] >= len(row):
                raise FcabenchError(f"{path}, row {number}, field {column}: the row has only {len(row)} fields")
        label = None if is_test else row[index[layout.label]].strip()
        if label == "":
            raise FcabenchError(f"{path}, row {number}, field {layout.label}: empty label")
        examples.append(
            Example(
                id=f"{path.name}:{number}",
                text=row[index[text]],
                text_pair=row[index[pair]] if pair else None,
                label=label,
                row=number,
            )
        )
    return examples


def glue_reader(name: str):
    layout = LAYOUTS[name]

    def read(split: str, options: LoadOptions) -> tuple[list[Example], str]:
        if options.data_dir:
            folder = _task_folder(layout, options.data_dir)
            path = folder / layout.files[split]
            return read_tsv(path, layout, split, name), str(path)
        if options.hub:
            return _read_hub(name, layout, split)
        raise FcabenchError(
            f"{name}: give a local GLUE folder (--data-dir, TSV layout) or allow a hub download (--hub)"
        )

    return read


def _read_hub(name: str, layout: GlueLayout, split: str) -> tuple[list[Example], str]:
    import datasets

    hub_split = (layout.hub_splits or {}).get(split, split)
    try:
        data = datasets.load_dataset("nyu-mll/glue", layout.hub_config, split=hub_split)
    except Exception as error:  # offline, hub changes: one line, not the hub client's traceback
        raise FcabenchError(
            f"cannot load nyu-mll/glue/{layout.hub_config} split {hub_split} from the hub: {error}"
        ) from None
    task = TASKS_BY_NAME[name]
    fields = layout.hub_fields
    examples = []
    for i, row in enumerate(data):
        label = row["label"]
        if task.regression:
            value = label
        else:
            value = None if label < 0 else task.labels[label]
        examples.append(
            Example(
                id=f"{hub_split}:{row.get('idx', i)}",
                text=row[fields[0]],
                text_pair=row[fields[1]] if len(fields) > 1 else None,
                label=value,
            )
        )
    return examples, f"hub nyu-mll/glue/{layout.hub_config}:{hub_split}"


def _task(name, title, labels, metrics, seq_len, pair=True):
    layout = LAYOUTS[name]
    return Task(
        name=name,
        title=title,
        labels=labels,
        metrics=metrics,
        seq_len=seq_len,
        pair=pair,
        source=f"GLUE {layout.folder}: local TSV folder (--data-dir) or hub nyu-mll/glue (--hub)",
        splits=tuple(layout.files),
        reader=glue_reader(name),
    )


TASKS = [
    _task("glue-cola", "CoLA", ("0", "1"), ("matthews_corr",), 64, pair=False),
    _task("glue-sst2", "SST-2", ("0", "1"), ("accuracy",), 64, pair=False),
    _task("glue-mrpc", "MRPC", ("0", "1"), ("f1", "accuracy"), 128),
    _task("glue-stsb", "STS-B", None, ("pearson", "spearman"), 64),
    _task("glue-qqp", "QQP", ("0", "1"), ("f1", "accuracy"), 128),
    _task("glue-mnli", "MNLI", ("entailment", "neutral", "contradiction"), ("accuracy",), 128),
    _task("glue-qnli", "QNLI", ("entailment", "not_entailment"), ("accuracy",), 128),
    _task("glue-rte", "RTE", ("entailment", "not_entailment"), ("accuracy",), 256),
]
TASKS_BY_NAME = {task.name: task for task in TASKS}
