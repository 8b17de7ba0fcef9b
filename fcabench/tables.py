"""Writing results to the file a user names, with one policy for every command that writes.

- The format follows the suffix; an unknown suffix is an error.
- The folder must already exist: a typo in a path must not create folders somewhere unexpected.
- A folder is not a file: naming one is an error.
- An existing file is replaced (``OVERWRITE_NOTE`` says so in every ``--help``), and only once the new
  content is complete: it is written beside the target and renamed over it, so a failure leaves the old
  file as it was.

:func:`check_output` applies the policy before any work is done; :func:`write_table` writes a DataFrame,
:func:`write_text` a finished text, :func:`replace_file` anything else (figures).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from fcabench.errors import FcabenchError

OVERWRITE_NOTE = "An existing file is replaced; the folder must exist."

WRITERS = {
    ".csv": lambda frame, path: frame.to_csv(path, index=False),
    ".json": lambda frame, path: frame.to_json(path, orient="records", indent=1),
    ".parquet": lambda frame, path: frame.to_parquet(path, index=False),
    ".md": lambda frame, path: Path(path).write_text(frame.to_markdown(index=False) + "\n", encoding="utf-8"),
}


def check_output(path: str | Path, formats: Iterable[str] = WRITERS) -> Path:
    """``path`` as a Path if a file of one of ``formats`` (suffixes) can be written there, else FcabenchError."""
    path = Path(path).expanduser()
    formats = tuple(formats)
    if path.is_dir():
        raise FcabenchError(f"cannot write {path}: it is a folder; name a file ({', '.join(formats)})")
    if path.suffix.lower() not in formats:
        raise FcabenchError(f"cannot write {path.name!r}: use one of {', '.join(formats)}")
    if not path.parent.is_dir():
        raise FcabenchError(f"cannot write {path}: folder {path.parent} does not exist")
    check_writable_folder(path)
    return path


def check_writable_folder(path: Path, folder: Path | None = None) -> None:
    """Refuse, before any work, a ``path`` whose folder (``folder``, default its parent) does not take new files
    (permissions, an immutable or read-only folder, root included): a file is made there and removed."""
    import tempfile

    folder = path.parent if folder is None else folder
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".fcabench-check-"):
            pass
    except OSError as error:
        raise FcabenchError(f"cannot write {path}: {error.strerror or error} in {folder}") from None


def replace_file(path: str | Path, write: Callable[[Path], object], formats: Iterable[str]) -> Path:
    """Check ``path``, let ``write`` fill a temporary file beside it, then rename it over ``path``."""
    path = check_output(path, formats)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")  # same suffix: writers pick formats by it
    try:
        write(partial)
        os.replace(partial, path)
    except OSError as error:  # a full disk, a folder that went away: the old file stays as it was
        raise FcabenchError(f"cannot write {path}: {error.strerror or error}; nothing was replaced") from None
    finally:
        partial.unlink(missing_ok=True)
    return path


def write_table(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write ``frame`` to ``path`` in the format of its extension (.csv, .json, .parquet, .md)."""
    writer = WRITERS.get(Path(path).suffix.lower())
    return replace_file(path, lambda target: writer(frame, target), WRITERS)


def write_text(text: str, path: str | Path, formats: Iterable[str]) -> Path:
    """Write finished ``text`` (a Markdown or LaTeX table) to ``path`` under the same policy."""
    return replace_file(path, lambda target: target.write_text(text, encoding="utf-8"), formats)
