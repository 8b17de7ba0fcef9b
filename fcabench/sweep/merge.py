"""Merging the runs of finished jobs into the run store, and listing the jobs that failed.

Merging is idempotent: a row whose (run_id, metric) is already in the store is skipped, so merging
twice, or merging after a resumed sweep, stores every run once; a job the store held before it ran (run
again to rebuild a checkpoint) is compared with the store, not added to it. Each job's rows go in with one
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
    differs: list[str] = field(default_factory=list)  # stored scores a job run again here did not reproduce

    def __str__(self) -> str:
        text = (
            f"merged {len(self.jobs_merged)} job(s) into {self.store}: {self.rows_added} row(s) added, "
            f"{self.rows_present} already stored"
        )
        if self.differs:  # a stored job run again (its checkpoint rebuilt) that did not give the stored result
            text += f"; {len(self.differs)} stored row(s) scored otherwise now, the store keeps its own:" + "".join(
                f"\n  {line}" for line in self.differs
            )
        if self.failed:
            text += f"; {len(self.failed)} job(s) failed:" + "".join(
                f"\n  {f['job_id']} {f['label']}: {f['error']}" for f in self.failed
            )
        return text


def merge(out: str | Path, store: str | Path | None = None, job_ids=None, stored=()) -> MergeReport:
    """Append the rows of every done job under ``out`` (or only ``job_ids``) to ``store``; write
    ``<out>/failures.jsonl`` listing the failed ones. ``store`` defaults to results/runs.jsonl.

    ``stored``: jobs whose runs the store already holds (:func:`fcabench.sweep.jobs.stored_jobs`). One that ran
    here again (to rebuild a checkpoint) is not stored twice: its scores are compared with the stored ones, by
    stage, split and metric, and any difference is reported (its weights need not be bit-identical, so its
    evaluations' run ids, which follow the weights, may be new)."""
    from fcabench.runs import predictions
    from fcabench.runs.store import append, default_append_path, read_records, row_key

    out = Path(out)
    target = Path(store) if store is not None else default_append_path()
    report = MergeReport(store=str(target))
    records = read_records(target) if target.exists() else []
    present = {row_key(r) for r in records}
    scores = {_score_key(r["sweep_job"], r): r.get("score") for r in records if r.get("sweep_job") in stored}
    wanted = set(job_ids) if job_ids is not None else None
    for status in state.all_statuses(out):
        job_id = status["job_id"]
        if wanted is not None and job_id not in wanted:
            continue
        if status["status"] != state.DONE:
            report.failed.append(_failure(status))
            continue
        rows = [
            {**{k: v for k, v in r.items() if k not in ("store_file", "store_line")}, "sweep_job": job_id}
            for r in read_records(state.rows_path(out, job_id))
        ]
        if job_id in stored:
            report.rows_present += len(rows)
            report.differs += [
                f"{' '.join(str(part) for part in key if part)}: stored {scores[key]}, now {r.get('score')}"
                for r in rows
                if (key := _score_key(job_id, r)) in scores and not _same_score(scores[key], r.get("score"))
            ]
            continue
        for path in sorted(state.predictions_dir(out, job_id).glob("*.parquet")):
            predictions.keep(path, path.stem, target)  # beside the store, where paired comparisons read them
        new = [r for r in rows if row_key(r) not in present]
        report.rows_present += len(rows) - len(new)
        if new:
            report.rows_added += append(new, target, duplicates="keep")  # filtered by row key above
            present.update(row_key(r) for r in new)
            report.jobs_merged.append(job_id)
    state.atomic_write(out / "failures.jsonl", "".join(json.dumps(f, sort_keys=True) + "\n" for f in report.failed))
    return report


def _failure(status: dict) -> dict:
    from fcabench.sweep.jobs import Job

    job = Job.from_dict(status["job"])
    return dict(
        job_id=job.job_id,
        entry=job.entry,
        label=job.label,
        error=status["error"],
        finished_utc=status.get("finished_utc"),
    )


def _score_key(job_id: str, row: dict) -> tuple:
    return job_id, row.get("stage"), row.get("split"), row.get("metric")


def _same_score(stored, now) -> bool:
    if stored is None or now is None:
        return stored is None and now is None
    return abs(float(stored) - float(now)) < 1e-9
