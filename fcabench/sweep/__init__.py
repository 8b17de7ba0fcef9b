"""Sweeps: many trainings from one TOML specification, run here or on Ray, merged into the run store.

>>> from fcabench import sweep
>>> spec = sweep.load_spec("sweeps/bbc-news-minilm.toml")
>>> jobs = sweep.expand(spec)                       # deterministic order and ids
>>> sweep.run(spec)                                 # local; resumes; then merges into the store: a MergeReport
>>> sweep.run(spec, executor="ray", address="auto") # each job a Ray task with its own CPU/GPU request
>>> sweep.run_jobs(spec)                            # the jobs alone: their status records
>>> sweep.merge_done(spec)                          # the merge alone
"""

from __future__ import annotations

from pathlib import Path

from fcabench.sweep.executors import execute_job, run_local, run_ray, train_job
from fcabench.sweep.jobs import Job, expand, job_id, select, stored_jobs
from fcabench.sweep.merge import MergeReport, merge
from fcabench.sweep.points import entry_points, scored_split, study_points
from fcabench.sweep.spec import SweepSpec, load_spec, parse_spec
from fcabench.sweep.state import owned, read_status

__all__ = [
    "Job",
    "MergeReport",
    "SweepSpec",
    "entry_points",
    "execute_job",
    "expand",
    "job_id",
    "load_spec",
    "merge",
    "merge_done",
    "owned",
    "parse_spec",
    "read_status",
    "run",
    "run_jobs",
    "run_local",
    "run_ray",
    "scored_split",
    "select",
    "stored_in",
    "study_points",
    "train_job",
]


def run_jobs(
    spec: SweepSpec,
    *,
    executor: str = "local",
    address: str | None = None,
    out: str | Path | None = None,
    store: str | Path | None = None,
    job_function=train_job,
    echo=print,
    parallel: int = 1,
    only: tuple[str, ...] = (),
) -> list[dict]:
    """Expand ``spec`` and run its pending jobs (the store's jobs are skipped); return the jobs' status records,
    their runs left in the job files. ``parallel``: jobs at once on the local executor, each on its own share of
    the cores. ``only``: glob patterns over entry names; the matching jobs run, with the jobs they start from."""
    out, store = _places(spec, out, store)
    with owned(out):
        return _run_jobs(spec, out, store, executor, address, job_function, echo, parallel, only)


def run(
    spec: SweepSpec, *, out: str | Path | None = None, store: str | Path | None = None, echo=print, **options
) -> MergeReport:
    """:func:`run_jobs`, then every done job of the spec merged into the store, under one hold of the out folder;
    returns the MergeReport."""
    out, store = _places(spec, out, store)
    options = dict(executor="local", address=None, job_function=train_job, parallel=1, only=()) | options
    with owned(out):
        _run_jobs(spec, out, store, echo=echo, **options)
        report = _merge(spec, out, store)
    echo(str(report))
    return report


def merge_done(spec: SweepSpec, *, out: str | Path | None = None, store: str | Path | None = None) -> MergeReport:
    """Merge the runs of the spec's finished jobs into the store (the spec's, else results/runs.jsonl)."""
    out, store = _places(spec, out, store)
    with owned(out):
        return _merge(spec, out, store)


def _places(spec: SweepSpec, out, store) -> tuple[Path, str | Path | None]:
    return (Path(out) if out is not None else spec.out_dir), (store if store is not None else spec.results)


def _run_jobs(spec, out, store, executor, address, job_function, echo, parallel, only) -> list[dict]:
    from fcabench.errors import FcabenchError

    if executor not in ("local", "ray"):
        raise FcabenchError(f"unknown executor {executor!r}: local or ray")
    jobs = expand(spec)
    chosen = select(jobs, only)
    stored = stored_in(jobs, store)
    if executor == "local":
        return run_local(chosen, out, job_function, echo=echo, parallel=parallel, stored=stored)
    return run_ray(chosen, out, job_function, address=address, echo=echo, stored=stored)


def _merge(spec: SweepSpec, out: Path, store) -> MergeReport:
    jobs = expand(spec)
    return merge(out, store, job_ids=[j.job_id for j in jobs], stored=stored_in(jobs, store))


def stored_in(jobs, store: str | Path | None) -> set[str]:
    """Ids of the ``jobs`` whose runs the run file ``store`` (None: results/runs.jsonl) already holds."""
    from fcabench.runs import load
    from fcabench.runs.store import default_append_path

    store = Path(store) if store is not None else default_append_path()
    return stored_jobs(jobs, load(store) if store.is_file() else load([]))
