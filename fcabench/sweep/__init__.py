"""Sweeps: many trainings from one TOML specification, run here or on Ray, merged into the run store.

>>> from fcabench import sweep
>>> spec = sweep.load_spec("sweeps/bbc-news-minilm.toml")
>>> jobs = sweep.expand(spec)                       # deterministic order and ids
>>> sweep.run(spec)                                 # local; resumes; then merges into the store
>>> sweep.run(spec, executor="ray", address="auto") # each job a Ray task with its own CPU/GPU request
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
    "owned",
    "parse_spec",
    "read_status",
    "run",
    "run_local",
    "run_ray",
    "scored_split",
    "select",
    "stored_in",
    "study_points",
    "train_job",
]


def run(
    spec: SweepSpec,
    *,
    executor: str = "local",
    address: str | None = None,
    out: str | Path | None = None,
    store: str | Path | None = None,
    job_function=train_job,
    echo=print,
    do_merge: bool = True,
    parallel: int = 1,
    only: tuple[str, ...] = (),
):
    """Expand ``spec``, run its pending jobs, merge the done ones into the store; return the MergeReport
    (or the jobs' status records when ``do_merge`` is False). ``parallel``: jobs at once on the local executor,
    each on its own share of the cores. ``only``: glob patterns over entry names; the matching jobs run (with
    the jobs they start from), the store still receives every done job of the spec."""
    from fcabench.errors import FcabenchError

    out = Path(out) if out is not None else spec.out_dir
    store = store if store is not None else spec.results
    if executor not in ("local", "ray"):
        raise FcabenchError(f"unknown executor {executor!r}: local or ray")
    jobs = expand(spec)
    chosen = select(jobs, only)
    with owned(out):
        stored = stored_in(jobs, store)
        if executor == "local":
            records = run_local(chosen, out, job_function, echo=echo, parallel=parallel, stored=stored)
        else:
            records = run_ray(chosen, out, job_function, address=address, echo=echo, stored=stored)
        if not do_merge:
            return records
        report = merge(out, store, job_ids=[j.job_id for j in jobs], stored=stored)
    echo(str(report))
    return report


def stored_in(jobs, store: str | Path | None) -> set[str]:
    """Ids of the ``jobs`` whose runs the run file ``store`` (None: results/runs.jsonl) already holds."""
    from fcabench.runs import load
    from fcabench.runs.store import default_append_path

    store = Path(store) if store is not None else default_append_path()
    return stored_jobs(jobs, load(store) if store.is_file() else load([]))
