"""The files a sweep keeps under its output folder; the only state an interrupted sweep resumes from.

    <out>/jobs/<job_id>.json     status of a finished job: "done" or "failed" (error, traceback), its
                                 checkpoint, run ids, timing, and the job itself
    <out>/jobs/<job_id>.jsonl    the runs a done job produced, one validated run row per line
    <out>/jobs/<job_id>.predictions/<run_id>.parquet
                                 each run's kept predictions (fcabench.runs.predictions), for paired comparisons
    <out>/checkpoints/<job_id>/  the job's training output (fcabench.train's output_dir)
    <out>/failures.jsonl         one line per failed job (derived from the status files by merge)
    <out>/sweep.lock, sweep.owner  held by the one sweep process that runs or merges this folder, and who it is

Each job has files of its own, written by the process that collects its outcome with a rename (atomic
on one file system), so no two processes ever write to the same file and no lock is needed, also on
network file systems where file locks are unreliable. The rows file is written before the status file:
a job is done only once its runs are on disk.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from filelock import FileLock, Timeout

from fcabench.errors import FcabenchError

DONE, FAILED = "done", "failed"


@contextlib.contextmanager
def owned(out: Path):
    """Hold ``out`` for this process while it runs or merges jobs: two sweeps of one folder at once would mark
    each other's finished jobs failed; the second is refused with one line naming the first."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FcabenchError(f"{out}: is a file; a sweep's out is a folder")
    out.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(out / "sweep.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        owner = (out / "sweep.owner").read_text().strip() if (out / "sweep.owner").is_file() else "another process"
        raise FcabenchError(f"{out}: another sweep is running there ({owner}); wait for it or stop it") from None
    try:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        (out / "sweep.owner").write_text(f"pid {os.getpid()} on {socket.gethostname()}, since {stamp}\n")
        yield out
    finally:
        lock.release()


def jobs_dir(out: Path) -> Path:
    return Path(out) / "jobs"


def checkpoint_dir(out: Path, job_id: str) -> Path:
    return Path(out) / "checkpoints" / job_id


def status_path(out: Path, job_id: str) -> Path:
    return jobs_dir(out) / f"{job_id}.json"


def rows_path(out: Path, job_id: str) -> Path:
    return jobs_dir(out) / f"{job_id}.jsonl"


def predictions_dir(out: Path, job_id: str) -> Path:
    return jobs_dir(out) / f"{job_id}.predictions"


def read_status(out: Path, job_id: str) -> dict | None:
    """The status record of a finished job, or None if it never finished."""
    path = status_path(out, job_id)
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def all_statuses(out: Path) -> list[dict]:
    """Every status record under ``out``, oldest first (then by id, for a stable order)."""
    folder = jobs_dir(out)
    records = (
        [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    )
    return sorted(records, key=lambda r: (r.get("finished_utc") or "", r["job_id"]))


def write_outcome(out: Path, outcome: dict) -> dict:
    """Store one job's outcome (rows first, then status); returns the status record."""
    folder = jobs_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    rows = outcome.pop("rows", [])
    kept = outcome.pop("predictions", {})
    if outcome["status"] == DONE:
        for run_id, data in kept.items():
            path = predictions_dir(out, outcome["job_id"]) / f"{run_id}.parquet"
            path.parent.mkdir(exist_ok=True)
            atomic_write(path, data)
        atomic_write(
            rows_path(out, outcome["job_id"]),
            "".join(json.dumps(r, ensure_ascii=False, allow_nan=False) + "\n" for r in rows),
        )
    else:
        outcome["partial_rows"] = len(rows)  # runs of stages that finished before the failure are not kept
    atomic_write(status_path(out, outcome["job_id"]), json.dumps(outcome, indent=1, sort_keys=True) + "\n")
    return outcome


def atomic_write(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path`` whole or not at all: a temporary file beside it, synced, then renamed."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(content.encode("utf-8") if isinstance(content, str) else content)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
