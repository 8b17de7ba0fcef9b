"""Running a sweep's jobs: one after another here, or as Ray tasks on a cluster.

Both executors skip every job whose status file says "done" (an interrupted sweep resumes where it
stopped; a failed job runs again) or whose runs the store holds (unless a pending job starts from its
checkpoint), run each job through :func:`execute_job`, which never raises, and store each outcome in the
job's own files (:mod:`fcabench.sweep.state`). A job whose ``from`` job failed fails too, with that reason.
``job_function`` is what a job does; the default trains with ``fcabench.train``.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
import traceback
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timezone
from pathlib import Path

from fcabench.errors import FcabenchError
from fcabench.sweep import state
from fcabench.sweep.jobs import Job

TRACEBACK_CHARS = 6000  # the end of a traceback is what says what went wrong

JobFunction = Callable[..., "str | None"]
# job_function(job, *, output_dir, results, from_checkpoint) -> the job's final checkpoint folder (or None);
# it appends the runs it measures to the run file ``results``.


def train_job(job: Job, *, output_dir: str, results: str, from_checkpoint: str | None) -> str | None:
    """The default job: ``fcabench.train`` with the job's settings, then ``fcabench.evaluate`` of its final
    checkpoint on each of ``job.score_splits`` (a checkpoint with a front: the whole front, then its best
    configuration at each of ``job.front_picks``); returns that checkpoint."""
    import fcabench
    from fcabench.training.checkpoint import read_manifest

    options = {k: tuple(v) if isinstance(v, list) else v for k, v in job.options.items()}
    runs = fcabench.train(
        job.model,
        job.task,
        job.method,
        method_options=options or None,
        stages=list(job.stages) if job.stages else None,
        from_checkpoint=from_checkpoint,
        output_dir=output_dir,
        seed=job.seed,
        training_free=job.training_free,
        results=results,
        progress=False,
        **job.train,
    )
    checkpoint = final_checkpoint(output_dir, runs)
    has_front = checkpoint is not None and bool(read_manifest(checkpoint).get("front"))
    scorings = [dict(front=True), *(dict(macs_ratio=r) for r in job.front_picks)] if has_front else [{}]
    for split in job.score_splits:  # accuracy only: speed is fcabench bench's job, on an idle machine
        for scoring in scorings:
            fcabench.evaluate(
                checkpoint,
                split=split,
                seq_len=job.train.get("seq_len"),
                measure_latency=False,
                results=results,
                data_dir=job.train.get("data_dir"),
                seed=job.seed,
                **scoring,
            )
    return checkpoint


def final_checkpoint(output_dir: str, runs) -> str | None:
    """The folder a later job starts from: ``fcabench.train`` saves each stage in <output_dir>/<stage>."""
    stages = [run.stage for run in runs if getattr(run, "stage", None)]
    return str(Path(output_dir) / stages[-1]) if stages else None


def execute_job(
    job: Job, out: str | Path, from_checkpoint: str | None = None, job_function: JobFunction = train_job
) -> dict:
    """Run one job; return its outcome (status, error, rows, checkpoint, timing). Never raises."""
    started, clock = _now(), time.perf_counter()
    outcome = dict(
        job_id=job.job_id,
        job=job.to_dict(),
        status=state.FAILED,
        error=None,
        traceback=None,
        checkpoint=None,
        run_ids=[],
        rows=[],
        started_utc=started,
        host=platform.node(),
        pid=os.getpid(),
    )
    with tempfile.TemporaryDirectory(prefix=f"fcabench-{job.job_id}-") as scratch:
        results = Path(scratch) / "runs.jsonl"  # node-local: the collecting process writes the job's file
        try:
            output_dir = state.checkpoint_dir(Path(out), job.job_id)
            output_dir.parent.mkdir(parents=True, exist_ok=True)
            start = from_checkpoint or job.from_checkpoint
            checkpoint = job_function(job, output_dir=str(output_dir), results=str(results), from_checkpoint=start)
            outcome["rows"] = _read_rows(results)
            if not outcome["rows"]:
                raise FcabenchError("the job finished without storing a run")
            outcome["predictions"] = _read_predictions(results)
            outcome.update(status=state.DONE, checkpoint=str(checkpoint) if checkpoint else None)
        except BaseException as error:  # noqa: BLE001 - a job's failure is data; Ctrl-C still stops the sweep
            if isinstance(error, KeyboardInterrupt):
                raise
            outcome["rows"] = _read_rows(results, strict=False)
            outcome["error"] = f"{type(error).__name__}: {error}"
            outcome["traceback"] = traceback.format_exc()[-TRACEBACK_CHARS:]
    outcome["run_ids"] = sorted({r["run_id"] for r in outcome["rows"]})
    outcome["finished_utc"], outcome["wall_s"] = _now(), round(time.perf_counter() - clock, 3)
    return outcome


def _read_predictions(results: Path) -> dict[str, bytes]:
    """The predictions the job kept beside its node-local run file, by run id (they travel with the outcome,
    also from a Ray worker)."""
    from fcabench.runs.predictions import FOLDER

    folder = results.parent / FOLDER
    return {p.stem: p.read_bytes() for p in sorted(folder.glob("*.parquet"))} if folder.is_dir() else {}


def dependency_failed(job: Job, reason: str) -> dict:
    """The outcome of a job that cannot start because the job it starts from did not finish."""
    now = _now()
    return dict(
        job_id=job.job_id,
        job=job.to_dict(),
        status=state.FAILED,
        error=f"not run: the job it starts from ({job.depends_on}) {reason}",
        traceback=None,
        checkpoint=None,
        run_ids=[],
        rows=[],
        started_utc=now,
        finished_utc=now,
        wall_s=0.0,
        host=platform.node(),
        pid=os.getpid(),
    )


def _read_rows(path: Path, strict: bool = True) -> list[dict]:
    from fcabench.runs.store import LOCATION_COLUMNS, read_records

    if not path.is_file():
        return []
    try:
        records = read_records(path)
    except FcabenchError:
        if strict:
            raise
        return []
    return [{k: v for k, v in r.items() if k not in LOCATION_COLUMNS} for r in records]


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def pending(jobs: Sequence[Job], out: Path, stored: Collection[str] = ()) -> list[Job]:
    """The jobs to run: those without a "done" status here (failed ones run again), less the ``stored`` ones
    (whose runs the store holds: done in another clone or on another machine), unless a job that runs starts
    from one. That one runs again to rebuild its checkpoint; the merge does not store it twice and says if a
    rebuilt score differs from the stored one (:func:`fcabench.sweep.merge.merge`)."""
    done = {job.job_id for job in jobs if (state.read_status(out, job.job_id) or {}).get("status") == state.DONE}
    by_id = {job.job_id: job for job in jobs}
    run = {job.job_id for job in jobs if job.job_id not in done and job.job_id not in stored}
    waiting = list(run)
    while waiting:  # the stored jobs the running ones start from, and theirs
        parent = by_id.get(by_id[waiting.pop()].depends_on)
        if parent is not None and parent.job_id not in done | run:
            run.add(parent.job_id)
            waiting.append(parent.job_id)
    # A seed's jobs one after another (each after the job it starts from, as expanded): a rebuilt checkpoint is
    # used while it is here, and a sweep cut short leaves whole seeds done rather than every seed's first stage.
    first: dict[tuple, int] = {}
    for index, job in enumerate(jobs):
        first.setdefault((job.model, job.task, job.seed), index)
    return sorted((job for job in jobs if job.job_id in run), key=lambda job: first[job.model, job.task, job.seed])


def run_local(
    jobs: Sequence[Job],
    out: str | Path,
    job_function: JobFunction = train_job,
    echo: Callable[[str], None] = print,
    parallel: int = 1,
    stored: Collection[str] = (),
) -> list[dict]:
    """Run the pending jobs here (:func:`pending`: ``stored`` names the jobs the store already holds); return
    their status records.

    One at a time in this process by default, so two trainings never share the cores. ``parallel=N`` runs N
    jobs at once, each in its own process on its own share of the cores (the cores this process may use,
    split into N disjoint sets; torch's threads set to match), and a job starts only once the job it
    starts from is done.
    """
    out = Path(out)
    todo = pending(jobs, out, stored)
    echo(
        f"{len(jobs) - len(todo)} of {len(jobs)} jobs already done; running {len(todo)}"
        + _rebuilt(todo, stored)
        + (f", {parallel} at a time" if parallel > 1 else "")
    )
    if parallel > 1:
        return _run_parallel(todo, out, job_function, echo, parallel)
    records = []
    for number, job in enumerate(todo, start=1):
        parent = state.read_status(out, job.depends_on) if job.depends_on else None
        if job.depends_on and (parent is None or parent["status"] != state.DONE):
            outcome = dependency_failed(job, "failed" if parent else "has not run")
        else:
            echo(f"[{number}/{len(todo)}] {job.job_id} {job.model} {job.task} seed {job.seed}: {job.label}")
            outcome = execute_job(job, out, parent["checkpoint"] if parent else None, job_function)
        records.append(state.write_outcome(out, outcome))
        echo(_summary(records[-1]))
    return records


def _rebuilt(todo: Sequence[Job], stored: Collection[str]) -> str:
    again = sum(job.job_id in stored for job in todo)
    return f" ({again} stored already, run again for the checkpoints other jobs start from)" if again else ""


def core_sets(parallel: int) -> list[list[int]]:
    """The cores this process may use, split into ``parallel`` disjoint sets (refused if there are fewer)."""
    cores = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else list(range(os.cpu_count() or 1))
    if parallel > len(cores):
        raise FcabenchError(f"--jobs {parallel}: only {len(cores)} core(s) here; each job needs one of its own")
    share = len(cores) // parallel
    return [cores[i * share : (i + 1) * share] for i in range(parallel)]


def _pin(queue) -> None:
    """Worker start: take a set of cores of its own and run torch's threads on them."""
    import torch

    cores = queue.get()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cores)
    torch.set_num_threads(len(cores))


def _run_parallel(todo: Sequence[Job], out: Path, job_function: JobFunction, echo, parallel: int) -> list[dict]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")  # no threads or torch state inherited
    queue = context.Manager().Queue()
    for cores in core_sets(parallel):
        queue.put(cores)
    records, waiting, running = [], list(todo), {}
    with ProcessPoolExecutor(parallel, mp_context=context, initializer=_pin, initargs=(queue,)) as pool:
        while waiting or running:
            for job in list(waiting):
                parent = state.read_status(out, job.depends_on) if job.depends_on else None
                if job.depends_on and any(j.job_id == job.depends_on for j in waiting) or job.depends_on in running:
                    continue  # its start is still to come
                waiting.remove(job)
                if job.depends_on and (parent is None or parent["status"] != state.DONE):
                    records.append(
                        state.write_outcome(out, dependency_failed(job, "failed" if parent else "has not run"))
                    )
                    echo(_summary(records[-1]))
                    continue
                echo(f"[start] {job.job_id} {job.model} {job.task} seed {job.seed}: {job.label}")
                future = pool.submit(execute_job, job, out, parent["checkpoint"] if parent else None, job_function)
                running[job.job_id] = future
            if not running:
                continue
            done, _ = wait(list(running.values()), return_when=FIRST_COMPLETED)
            for job_id, future in list(running.items()):
                if future in done:
                    del running[job_id]
                    records.append(state.write_outcome(out, future.result()))
                    echo(_summary(records[-1]))
    return records


def _summary(record: dict) -> str:
    if record["status"] == state.DONE:
        return f"  done {record['job_id']} in {record['wall_s']:.1f} s: {len(record['run_ids'])} run(s)"
    return f"  FAILED {record['job_id']}: {record['error']}"


def run_ray(
    jobs: Sequence[Job],
    out: str | Path,
    job_function: JobFunction = train_job,
    address: str | None = None,
    echo: Callable[[str], None] = print,
    stored: Collection[str] = (),
) -> list[dict]:
    """Run the pending jobs (:func:`pending`) as Ray tasks, each with its own resource request; return their
    status records.

    Connects to ``address`` (e.g. "auto" or "ray://head:10001"), or uses the Ray instance this process
    already started, or starts a local one. A job that starts from another job's checkpoint is given that
    job's result, so Ray runs it after; checkpoints must then be on storage every node sees. Outcomes
    (the run rows included) come back to this process, which writes each job's files.
    """
    try:
        import ray
    except ImportError:
        raise FcabenchError("Ray is not installed; install the extra: pip install 'fcabench[ray]'") from None
    out = Path(out).resolve()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=True)
    try:
        todo = pending(jobs, out, stored)
        echo(
            f"{len(jobs) - len(todo)} of {len(jobs)} jobs already done; submitting {len(todo)} to Ray"
            + _rebuilt(todo, stored)
        )
        task = ray.remote(_ray_job)
        refs: dict[str, object] = {}
        for job in todo:
            parent_ref = refs.get(job.depends_on) if job.depends_on else None
            parent = state.read_status(out, job.depends_on) if job.depends_on and parent_ref is None else None
            request = _ray_request(job.resources)
            refs[job.job_id] = task.options(max_retries=0, **request).remote(
                job.to_dict(),
                str(out),
                job_function,
                parent_ref,
                parent,
            )
        records, waiting = [], list(refs.values())
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            records.append(state.write_outcome(out, ray.get(ready[0])))
            echo(_summary(records[-1]))
        return records
    finally:
        if started_here:
            ray.shutdown()


def _ray_request(resources: dict) -> dict:
    request = {k: resources[k] for k in ("num_cpus", "num_gpus", "memory") if k in resources}
    if "memory" in request:
        request["memory"] = int(request["memory"])
    return request


def _ray_job(
    job: dict, out: str, job_function: JobFunction, parent_outcome: dict | None, parent_status: dict | None
) -> dict:
    """Body of one Ray task (Ray resolves ``parent_outcome`` first: the job's ``from`` job)."""
    job = Job.from_dict(job)
    parent = parent_outcome or parent_status
    if job.depends_on and (parent is None or parent["status"] != state.DONE):
        return dependency_failed(job, "failed" if parent else "has not run")
    return execute_job(job, out, parent["checkpoint"] if parent else None, job_function)
