"""Writing a DataFrame to the format its file name asks for: CSV, JSON, Parquet or Markdown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fcabench.errors import FcabenchError

WRITERS = {
    ".csv": lambda frame, path: frame.to_csv(path, index=False),
    ".json": lambda frame, path: frame.to_json(path, orient="records", indent=1),
    ".parquet": lambda frame, path: frame.to_parquet(path, index=False),
    ".md": lambda frame, path: Path(path).write_text(frame.to_markdown(index=False) + "\n"),
}


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` in the format of its extension."""
    path = Path(path)
    writer = WRITERS.get(path.suffix.lower())
    if writer is None:
        raise FcabenchError(f"cannot write {path.name!r}: use one of {', '.join(WRITERS)}")
    if not path.parent.exists():
        raise FcabenchError(f"cannot write {path}: folder {path.parent} does not exist")
    writer(frame, path)
    return path
