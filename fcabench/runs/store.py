"""The run store: JSON Lines files under ``results/``, appended to and never rewritten, and the published
tables bundled in the package (``fcabench/data/published``), converted to runs when read.

* One JSON object per line (pandas reads the files directly: ``pd.read_json(path, lines=True)``).
* :func:`append` validates every row first, then writes all of them under an inter-process file lock, so
  concurrent writers neither interleave nor lose lines; a write that fails midway (a full disk) is cut back, so
  a store gains all the rows or none. A store that :func:`load` would refuse is never appended to; a torn last
  line (a writer killed mid-line) is cut off and kept in ``<store>.torn`` first.
* :func:`load` validates every line; a malformed one is reported with its file, line and field, and the
  file is never touched. ``errors="warn"`` loads the valid rows and warns about the rest. Rows written by
  older versions are read with today's names (:mod:`fcabench.runs.legacy`). A row read twice (same run and
  metric) counts once: a store concatenated with itself never doubles its seeds.
* Runs are stored by default in ``results/runs.jsonl`` of the current folder (``$FCABENCH_RESULTS`` names
  another folder); by default :func:`load` reads the bundled published tables and every ``*.jsonl`` of that
  folder, or of the checkout's ``results/`` when it does not exist. The published tables are stored only in
  the package (as printed), never as converted rows.
"""

from __future__ import annotations

import dataclasses
import json
import os
import typing
import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from filelock import FileLock

from fcabench.errors import FcabenchError
from fcabench.runs import published
from fcabench.runs.legacy import upgrade
from fcabench.runs.schema import COLUMNS, RowError, Run, validate_record

REPO_RESULTS = Path(__file__).resolve().parents[2] / "results"  # the checkout's results/ (editable install)
RESULTS_ENV = "FCABENCH_RESULTS"  # a folder for stored runs, instead of ./results
DEFAULT_RUNS_FILE = "runs.jsonl"  # where measured runs go inside results/
LOCK_TIMEOUT_S = 60

# Extra columns load() adds so that every row can be traced back to its line.
LOCATION_COLUMNS = ("store_file", "store_line")
_DTYPES = {int: "Int64", float: "float64", str: "str"}  # a missing whole number stays a whole number


def _column_dtypes() -> dict[str, str]:
    """The pandas dtype of every typed schema column, read from its annotation, so that a frame's types never
    depend on which rows it happens to hold (a column that is empty in every row included)."""
    dtypes = {}
    for name, hint in typing.get_type_hints(Run).items():
        kinds = [k for k in typing.get_args(hint) or (hint,) if k is not type(None)]
        if len(kinds) == 1 and kinds[0] in _DTYPES:
            dtypes[name] = _DTYPES[kinds[0]]
    return dtypes | {"store_file": "str", "store_line": "Int64"}


def results_folder() -> Path:
    """Where runs are stored by default: the folder ``$FCABENCH_RESULTS`` names, else ``results/`` in the
    current folder."""
    return Path(os.environ.get(RESULTS_ENV) or Path.cwd() / "results").expanduser()


def default_results_dir() -> Path | None:
    """The run folder read by default: :func:`results_folder` where it exists, else ``results/`` beside the
    package when fcabench runs from a checkout, else None."""
    for folder in (results_folder(), REPO_RESULTS):
        if folder.is_dir():
            return folder
    return None


def default_sources() -> list[Path]:
    """The bundled published tables, then the ``*.jsonl`` run files of :func:`default_results_dir`."""
    results = default_results_dir()
    return [published.TABLES] + (sorted(results.glob("*.jsonl")) if results else [])


def _files(path: str | os.PathLike | Iterable | None) -> list[Path]:
    """Run files (``.jsonl``) and published tables (``.csv``) to read, a folder expanded to its files."""
    if path is None:
        path = default_sources()
    if isinstance(path, (str, os.PathLike)):
        path = [path]
    files: list[Path] = []
    for item in path:
        item = Path(item)
        if item.is_dir():
            found = sorted(item.glob("*.jsonl"))
            if not found and published.is_published_table(item):
                found = sorted(item.glob("*.csv"))
            if not found:
                raise FcabenchError(f"{item}: no .jsonl run files or published tables in this folder")
            files.extend(found)
        elif item.is_file():
            files.append(item)
        else:
            raise FcabenchError(f"{item}: no such run file or folder")
    return files


def _parse_line(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise RowError("<json>", f"not valid JSON ({error.msg} at column {error.colno})") from None


def _published_records(table: Path) -> list[dict]:
    """The runs of one published table (converted and validated); ``store_line`` is empty: a run may come
    from several printed rows, ``source_note`` says which."""
    records = [validate_record(dataclasses.asdict(run)) for run in published.convert_table(table)]
    for record in records:
        record["store_file"], record["store_line"] = str(table), None
    return records


def read_records(path: str | os.PathLike | Iterable | None = None, errors: str = "raise") -> list[dict]:
    """Validated records with their ``store_file`` and ``store_line``; see :func:`load` for ``errors``."""
    if errors not in ("raise", "warn", "ignore"):
        raise FcabenchError(f"errors must be 'raise', 'warn' or 'ignore', not {errors!r}")
    records, problems = [], []
    bundled: set = set()  # (run_id, metric) of the bundled published rows, by default only
    seen: set = set()  # row keys read so far: a run stored twice (an appended copy, a re-run) is one run, not two seeds
    for file in _files(path):
        if published.is_published_table(file):
            found = _published_records(file)
            if path is None:
                bundled.update(row_key(record) for record in found)
            records.extend(found)
            continue
        with open(file, encoding="utf-8") as handle:
            for number, text in enumerate(handle, start=1):
                if not text.strip():
                    continue  # blank lines carry nothing
                try:
                    record = validate_record(upgrade(_parse_line(text)))
                except RowError as error:
                    problems.append(f"{file}:{number}: {error}")
                    continue
                key = row_key(record)
                if key in bundled:
                    continue  # a copy of a bundled published row (`fcabench runs import`): the tables are the source
                if key in seen:
                    continue  # the first row of a run counts; `repeat` appends keep re-runs apart on purpose
                seen.add(key)
                record["store_file"], record["store_line"] = str(file), number
                records.append(record)
    if problems and errors == "raise":
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise FcabenchError(
            f"{len(problems)} malformed run row(s): "
            + "; ".join(problems[:5])
            + more
            + ". The files were not changed; fix or remove these lines, or load with errors='warn'."
        )
    if problems and errors == "warn":
        for problem in problems:
            warnings.warn(f"skipped malformed run row {problem}", stacklevel=3)
    return records


def to_frame(records: list[dict]) -> pd.DataFrame:
    """Records to a typed DataFrame in schema column order; ``method_config`` as canonical JSON text."""
    columns = list(COLUMNS) + [c for c in LOCATION_COLUMNS if any(c in r for r in records)]
    frame = pd.DataFrame.from_records(records, columns=columns)
    # Canonical JSON text (sorted keys) so configurations can be grouped, compared and written to CSV.
    frame["method_config"] = [json.dumps(c, sort_keys=True) for c in frame["method_config"]]
    return frame.astype({name: dtype for name, dtype in _column_dtypes().items() if name in frame})


def load(path: str | os.PathLike | Iterable | None = None, errors: str = "raise") -> pd.DataFrame:
    """Load and validate runs.

    ``path``: a ``.jsonl`` file, a published table (``.csv``), a folder (all its ``*.jsonl``, or all its
    published tables), or a list of them; default: the published tables bundled in the package and the
    checkout's ``results/*.jsonl`` (only the tables when fcabench is installed without a checkout). A row
    of a store file that repeats a bundled published row (same run_id and metric) is left out by default.
    ``errors``: ``"raise"`` (default) raises :class:`~fcabench.errors.FcabenchError` naming file, line and
    field of every malformed row; ``"warn"`` loads the valid rows and warns; ``"ignore"`` just skips.
    """
    return to_frame(read_records(path, errors=errors))


def _as_record(run: Run | dict) -> dict:
    if isinstance(run, Run):
        return dataclasses.asdict(run)
    if isinstance(run, dict):
        return dict(run)
    raise FcabenchError(f"cannot store a {type(run).__name__}: pass fcabench.runs.Run objects or dicts")


def default_append_path() -> Path:
    """``runs.jsonl`` in :func:`results_folder`; the folder is created when it is the default one."""
    folder = results_folder()
    if not folder.is_dir() and RESULTS_ENV not in os.environ:
        folder.mkdir()
    return folder / DEFAULT_RUNS_FILE


def check_writable(path: str | os.PathLike | None = None) -> Path:
    """The run file ``path`` (default ``results/runs.jsonl``), refused before any work if it cannot be appended to:
    a folder, a missing folder, a file or folder that cannot be written, or a file that is not JSON Lines of runs."""
    target = _writable_target(path)
    if target.is_file():
        _stored_ids(target.read_bytes(), target)
    return target


def _writable_target(path: str | os.PathLike | None) -> Path:
    from fcabench.tables import check_writable_folder

    target = Path(path).expanduser() if path is not None else default_append_path()
    if target.is_dir():
        raise FcabenchError(f"{target}: is a folder; --results takes a .jsonl file")
    if not target.parent.is_dir():
        raise FcabenchError(f"{target}: the folder {target.parent} does not exist")
    if not target.exists():
        check_writable_folder(target)
        return target
    try:
        with open(target, "ab"):
            pass
    except OSError as error:
        raise FcabenchError(f"{target}: cannot be written ({error.strerror or error})") from None
    check_writable_folder(target)  # the lock and the predictions beside the store are new files there
    return target


def _stored_ids(data: bytes, target: Path) -> set[str]:
    """run_id of every line of a run file's bytes, each line checked as :func:`load` checks it (one rule for
    reading and appending: a store that ``runs list`` refuses is never appended to). A torn last line (a writer
    killed mid-line) is passed over here; :func:`_repair_torn_tail` removes it before anything is appended."""
    ids = set()
    *complete, _torn = data.split(b"\n")  # the piece after the last newline is empty, or a torn line
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = validate_record(upgrade(_parse_line(line.decode("utf-8"))))
        except UnicodeDecodeError:
            raise FcabenchError(
                f"{target}, line {number}: not a JSON Lines run file (not UTF-8); nothing was appended"
            ) from None
        except RowError as error:
            raise FcabenchError(f"{target}, line {number}: {error}; nothing was appended") from None
        ids.add(record["run_id"])
    return ids


def _repair_torn_tail(handle, data: bytes, target: Path) -> None:
    """Cut a torn last line (no newline: a writer killed mid-line) off the open store whose bytes are ``data``,
    keeping it in ``<store>.torn``, so that the next row starts a line of its own instead of turning the torn one
    into a corrupt middle line."""
    if not data or data.endswith(b"\n"):
        return
    keep = data.rfind(b"\n") + 1
    with open(f"{target}.torn", "ab") as kept:
        kept.write(data[keep:] + b"\n")
    handle.truncate(keep)
    warnings.warn(
        f"{target}: a torn last line ({len(data) - keep} bytes) was cut off, kept in {target}.torn", stacklevel=3
    )


def _write_rows(handle, data: bytes) -> None:
    """Append ``data`` to the open file whole, or nothing: on any failure (a full disk) the file is cut back to its
    size before the write. Written through the descriptor, so that no buffered byte is left to flush later."""
    handle.flush()
    fd = handle.fileno()
    size = os.lseek(fd, 0, os.SEEK_END)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except OSError as error:
        os.ftruncate(fd, size)  # giving space back needs none
        raise FcabenchError(
            f"{handle.name}: cannot be written ({error.strerror or error}); nothing was appended"
        ) from None


def append(
    runs: Run | dict | Iterable[Run | dict], path: str | os.PathLike | None = None, duplicates: str = "skip"
) -> int:
    """Validate ``runs`` and append them to ``path`` (default ``results/runs.jsonl``); return how many rows were
    written.

    All rows are checked before anything is written: one bad row writes nothing; nor does a target in a missing
    folder, or a file that is not JSON Lines of runs. Safe to call from many
    processes at once (a lock file ``<path>.lock`` sits beside the store). A run whose ``run_id`` is already
    in the file is not stored again (``duplicates="skip"``), is stored marked as a repeat of it
    (``"repeat"``: ``run_id`` gains a ``.repeat-N`` suffix, ``repeat_of`` names the original), or is stored
    as it is (``"keep"``, for importing rows whose ids another check already vetted).
    """
    if duplicates not in ("skip", "repeat", "keep"):
        raise ValueError(f"duplicates must be skip, repeat or keep, got {duplicates!r}")
    if isinstance(runs, (Run, dict)):
        runs = [runs]
    records = []
    for index, run in enumerate(runs):
        try:
            records.append(validate_record(_as_record(run)))
        except RowError as error:
            raise FcabenchError(f"run #{index} not stored: {error}") from None
    if not records:
        return 0
    target = _writable_target(path)  # an existing folder: never created
    with FileLock(str(target) + ".lock", timeout=LOCK_TIMEOUT_S):
        with open(target, "r+b" if target.exists() else "w+b") as handle:
            data = handle.read()  # read once: checked line by line, and its torn tail (if any) repaired
            stored = _stored_ids(data, target)  # JSON Lines of runs, or nothing is appended
            if duplicates != "keep":
                records = _without_duplicates(records, stored) if duplicates == "skip" else _as_repeats(records, stored)
            lines = [json.dumps(record, ensure_ascii=False, allow_nan=False) + "\n" for record in records]
            if lines:
                _repair_torn_tail(handle, data, target)
                _write_rows(handle, "".join(lines).encode("utf-8"))
    return len(lines)


def _without_duplicates(records: list[dict], stored: set[str]) -> list[dict]:
    return [record for record in records if record["run_id"] not in stored]


def _as_repeats(records: list[dict], stored: set[str]) -> list[dict]:
    """Rows of runs already stored, renamed ``<run_id>.repeat-N`` (the first free N) with ``repeat_of`` set."""
    renamed: dict[str, str] = {}
    out = []
    for record in records:
        original = record["run_id"]
        if original in stored or original in renamed:
            if original not in renamed:
                n = 1
                while f"{original}.repeat-{n}" in stored:
                    n += 1
                renamed[original] = f"{original}.repeat-{n}"
            record = dict(record, run_id=renamed[original], repeat_of=original)
        out.append(record)
    return out


def row_key(record: dict) -> tuple[str, str | None]:
    """What identifies a stored row: its run and its metric (a run's metrics share the run_id)."""
    return record["run_id"], record.get("metric")


def existing_row_keys(path: str | os.PathLike) -> set[tuple[str, str | None]]:
    """Row keys already in ``path`` (empty when the file does not exist yet)."""
    if not Path(path).exists():
        return set()
    return {row_key(record) for record in read_records(path)}
