"""``fcabench runs import``: bring rows into the store without duplicating any.

A source is either published tables (a folder of them, or one CSV whose header starts ``paper,table``),
converted by :mod:`fcabench.runs.published`, or run files in the store's own schema (``.jsonl``, or ``.csv``
as written by ``fcabench runs export``). Rows whose (run_id, metric) the target already holds are skipped,
so importing twice changes nothing.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from fcabench.errors import FcabenchError
from fcabench.runs import published
from fcabench.runs.legacy import upgrade
from fcabench.runs.schema import COLUMNS, RowError, validate_record
from fcabench.runs.store import append, existing_row_keys, read_records, row_key


@dataclass
class ImportReport:
    target: Path
    added: int = 0
    already_present: int = 0
    skipped: list[str] = field(default_factory=list)  # source rows that are not runs, with the reason


def _csv_records(path: Path) -> list[dict]:
    """Rows of an exported CSV back to records; empty cells are missing values, method_config is JSON."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except UnicodeDecodeError:
        raise FcabenchError(f"{path}: not UTF-8 text (exported run tables are UTF-8); nothing was imported") from None
    unknown = [c for c in frame.columns if c not in COLUMNS and c not in ("store_file", "store_line")]
    if unknown:
        raise FcabenchError(f"{path}:1: field '{unknown[0]}' is not a schema field")
    records = []
    for number, row in enumerate(frame.to_dict("records"), start=2):
        record = {}
        for name, text in row.items():
            if name in ("store_file", "store_line") or text == "":
                continue
            record[name] = text
        try:
            records.append(validate_record(upgrade(_typed(record))))
        except RowError as error:
            raise FcabenchError(f"{path}:{number}: {error}") from None
    return records


def _typed(record: dict) -> dict:
    """CSV text to the schema's types (the validator then checks them)."""
    from fcabench.runs.schema import _TYPES, _base_type  # one source of truth for field types

    out = {}
    for name, text in record.items():
        base = _base_type(_TYPES.get(name, str))
        try:
            if base is float:
                out[name] = float(text)
            elif base is int:
                value = float(text)
                out[name] = int(value) if math.isfinite(value) and value.is_integer() else value
            elif base is dict:
                out[name] = json.loads(text)
            else:
                out[name] = text
        except ValueError:
            raise RowError(name, f"cannot read {text!r} as {base.__name__}") from None
    return out


IMPORTABLE = (".jsonl", ".csv")  # run files; a folder holds published tables or .jsonl run files


def check_source(source: str | Path) -> Path:
    """``source`` as a Path, or one clear error when it is not a file or folder runs can come from."""
    source = Path(source)
    if not source.exists():
        raise FcabenchError(f"{source}: no such file or folder")
    if source.is_file() and source.suffix.lower() not in IMPORTABLE:
        raise FcabenchError(
            f"{source}: runs are imported from JSON Lines (.jsonl) or CSV (.csv) files, or from a "
            f"folder of published tables; not from a {source.suffix or 'suffix-less'!r} file"
        )
    return source


def source_records(source: str | Path) -> tuple[list[dict], list[str]]:
    source = check_source(source)
    if published.is_published_table(source):
        if source.is_dir():
            runs, skipped = published.convert_folder(source)
        else:
            skipped = []
            runs = published.convert_table(source, skipped)
        return [validate_record(dataclasses.asdict(run)) for run in runs], skipped
    if source.suffix == ".csv":
        return _csv_records(source), []
    return read_records(source), []  # .jsonl file or a folder of them; raises on malformed rows


def import_runs(source: str | Path, target: str | Path) -> ImportReport:
    """Append the rows of ``source`` that ``target`` lacks; nothing is written if any source row is bad."""
    records, skipped = source_records(source)
    report = ImportReport(target=Path(target), skipped=skipped)
    present = existing_row_keys(target)
    new = []
    for record in records:
        record = {k: v for k, v in record.items() if k in COLUMNS}
        if row_key(record) in present:
            report.already_present += 1
            continue
        present.add(row_key(record))
        new.append(record)
    report.added = append(new, target, duplicates="keep") if new else 0  # filtered by row key above
    return report
