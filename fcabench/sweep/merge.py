"""Merging the runs of finished jobs into the run store, and listing the jobs that failed.

Merging is idempotent: a row whose (run_id, metric) is already in the store is skipped, so merging
twice, or merging after a resumed sweep, stores every run once. Each job's rows go in with one
``fcabench.runs.append`` call (all or nothing).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from fcabench.sweep import state


@dataclass
class MergeReport:
    """What one merge did."""

    store: str  # the run file merged into
    rows_added: int = 0  # rows appended to the store
    rows_present: int = 0  # rows skipped because the store already had them
    jobs_merged: list[str] = field(default_factory=list)  # done jobs that contributed rows now
    failed: list[dict] = field(default_factory=list)  # {job_id, entry, label, error} of failed jobs
    differs: list[str] = field(default_factory=list)  # rows stored already whose score this job's run changed

    def __str__(self) -> str:
        text = (
            f"merged {len(self.jobs_merged)} job(s) into {self.store}: {self.rows_added} row(s) added, "
            f"{self.rows_present} already stored"
        )
        if self.differs:  # a job run again (its checkpoint rebuilt) that did not give the stored result
            text += f"; {len(self.differs)} stored row(s) scored otherwise now, the store keeps its own:" + "".join(
                f"\n  {line}" for line in self.differs
            )
        if self.failed:
            text += f"; {len(self.failed)} job(s) failed:" + "".join(
                f"\n  {f['job_id']} {f['label']}: {f['error']}" for f in self.failed
            )
        return text


def merge(out: str | Path, store: str | Path | None = None, job_ids=None) -> MergeReport:
    """Append the rows of every done job under ``out`` (or only ``job_ids``) to ``store``; write
    ``<out>/failures.jsonl`` listing the failed ones. ``store`` defaults to results/runs.jsonl."""
    from fcabench.runs import predictions
    from fcabench.runs.store import append, default_append_path, read_records, row_key
    from fcabench.sweep.jobs import Job

    out = Path(out)
    target = Path(store) if store is not None else default_append_path()
    report = MergeReport(store=str(target))
    present = {row_key(r): r.get("score") for r in read_records(target)} if target.exists() else {}
    wanted = set(job_ids) if job_ids is not None else None
    for status in state.all_statuses(out):
        if wanted is not None and status["job_id"] not in wanted:
            continue
        if status["status"] != state.DONE:
            job = Job.from_dict(status["job"])
            report.failed.append(
                dict(
                    job_id=job.job_id,
                    entry=job.entry,
                    label=job.label,
                    error=status["error"],
                    finished_utc=status.get("finished_utc"),
                )
            )
            continue
        rows = [
            {**{k: v for k, v in r.items() if k not in ("store_file", "store_line")}, "sweep_job": status["job_id"]}
            for r in read_records(state.rows_path(out, status["job_id"]))
        ]
        for path in sorted(state.predictions_dir(out, status["job_id"]).glob("*.parquet")):
            predictions.keep(path, path.stem, target)  # beside the store, where paired comparisons read them
        new = [r for r in rows if row_key(r) not in present]
        report.rows_present += len(rows) - len(new)
        report.differs += [
            f"{r['run_id']} {r.get('metric')} ({status['job_id']}): stored {present[row_key(r)]}, now {r.get('score')}"
            for r in rows
            if row_key(r) in present and not _same_score(present[row_key(r)], r.get("score"))
        ]
        if new:
            report.rows_added += append(new, target, duplicates="keep")  # filtered by row key above
            present.update((row_key(r), r.get("score")) for r in new)
            report.jobs_merged.append(status["job_id"])
    state.atomic_write(out / "failures.jsonl", "".join(json.dumps(f, sort_keys=True) + "\n" for f in report.failed))
    return report


def _same_score(stored, now) -> bool:
    if stored is None or now is None:
        return stored is None and now is None
    return abs(float(stored) - float(now)) < 1e-9
