"""Per-example predictions of a scored run, kept beside the run store so that a later comparison needs no re-run.

One Parquet file per run, ``<store folder>/predictions/<run_id>.parquet``: a row per example of the scored
split in its fixed order (``example``, its position; ``example_id``, the data set's id), the ``label``, the
``prediction`` (class id, or the score for regression) and the ``logits``. The file's metadata names the run
and the SHA-256 of the scored examples (the run's ``data_sha256``), so a file is never read for other data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from fcabench.errors import FcabenchError
from fcabench.tables import replace_file

FOLDER = "predictions"


def path_for(run_id: str, store: str | os.PathLike) -> Path:
    """Where the predictions of ``run_id`` are kept for the run file ``store``."""
    return Path(store).expanduser().parent / FOLDER / f"{run_id}.parquet"


def frame(example_ids, labels, logits) -> pd.DataFrame:
    """The predictions table of one scored split: ``logits`` (examples, outputs), one output for regression."""
    logits = np.asarray(logits, dtype=np.float32)
    regression = logits.shape[1] == 1
    return pd.DataFrame(
        {
            "example": np.arange(len(logits)),
            "example_id": [str(i) for i in example_ids],
            "label": np.asarray(labels, dtype=float if regression else np.int64),
            "prediction": logits[:, 0] if regression else logits.argmax(axis=1),
            "logits": list(logits),
        }
    )


def write(table: pd.DataFrame, path: str | os.PathLike, *, run_id: str, data_sha256: str) -> Path:
    """Write ``table`` to ``path`` whole (:func:`fcabench.tables.replace_file`); an existing file is kept."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    meta = {b"fcabench": json.dumps({"run_id": run_id, "data_sha256": data_sha256}).encode()}
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}), **meta})
    return replace_file(path, lambda partial: pq.write_table(arrow, partial), (".parquet",))


def keep(source: str | os.PathLike, run_id: str, store: str | os.PathLike) -> Path:
    """Copy a predictions file (e.g. a checkpoint's) to where the run file ``store`` keeps ``run_id``'s."""
    import shutil

    target = path_for(run_id, store)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, lambda partial: shutil.copyfile(source, partial), (".parquet",))
    return target


def read(path: str | os.PathLike, data_sha256: str | None = None, run_id: str | None = None) -> pd.DataFrame:
    """The predictions in ``path``; refused if they belong to another run than ``run_id`` or to other data than
    ``data_sha256``, or if the file cannot be read whole."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FcabenchError(
            f"{path}: no predictions stored for this run (runs scored before predictions were kept "
            f"have none: evaluate the checkpoint again)"
        )
    try:
        table = pq.read_table(path)
        meta = json.loads((table.schema.metadata or {}).get(b"fcabench", b"{}"))
    except (pa.ArrowException, OSError, ValueError) as error:
        raise FcabenchError(f"{path}: not a readable predictions file ({str(error).splitlines()[0]})") from None
    if run_id is not None and meta.get("run_id") != run_id:
        raise FcabenchError(f"{path}: the predictions are of run {meta.get('run_id')}, not of run {run_id}")
    if data_sha256 is not None and meta.get("data_sha256") != data_sha256:
        raise FcabenchError(f"{path}: the predictions are of other data than the run's ({meta.get('data_sha256')})")
    return table.to_pandas()


def of_run(run: dict | pd.Series, store: str | os.PathLike) -> pd.DataFrame:
    """The predictions of a stored run (a row of :func:`fcabench.runs.load`), read beside its run file."""
    run_id = run.get("repeat_of") or run["run_id"]
    if isinstance(run_id, float):  # a missing repeat_of in a pandas row
        run_id = run["run_id"]
    data = run.get("data_sha256")
    return read(path_for(run_id, store), data if isinstance(data, str) else None, run_id)  # a missing one reads as NaN
