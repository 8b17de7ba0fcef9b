"""``fcabench sweep SPEC``: expand a sweep specification, run its jobs (here or on Ray), merge the runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fcabench.errors import FcabenchError


def sweep_command(
    spec: Annotated[Path, typer.Argument(help="Sweep specification (TOML), e.g. sweeps/bbc-news-minilm.toml.")],
    list_jobs: Annotated[
        bool, typer.Option("--list", help="Print the jobs with their ids and status; run nothing.")
    ] = False,
    only: Annotated[
        Optional[list[str]],
        typer.Option(
            "--only",
            help="Run (or list) only the entries whose name matches this glob, e.g. '*@2x' (repeatable); "
            "the jobs they start from come along. With --table: one row per configuration of those entries.",
        ),
    ] = None,
    ray: Annotated[
        bool, typer.Option("--ray", help="Run each job as a Ray task (pip install 'fcabench[ray]').")
    ] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            help="Local jobs at once, each on its own share of the cores "
            "(default 1: two trainings never share the cores).",
        ),
    ] = 1,
    address: Annotated[
        Optional[str],
        typer.Option(help="Ray cluster to join, e.g. auto or ray://head:10001 (implies --ray); default: a local Ray."),
    ] = None,
    out: Annotated[
        Optional[Path],
        typer.Option(
            help="Folder for job files and checkpoints; default: the spec's sweep.out, else out/sweeps/<name>."
        ),
    ] = None,
    results: Annotated[
        Optional[Path],
        typer.Option(help="Run store to merge into; default: the spec's sweep.results, else results/runs.jsonl."),
    ] = None,
    merge_only: Annotated[
        bool, typer.Option("--merge-only", help="Only merge the runs of finished jobs into the store.")
    ] = False,
    no_merge: Annotated[
        bool, typer.Option("--no-merge", help="Run the jobs but leave their runs in the job files.")
    ] = False,
    table: Annotated[
        bool,
        typer.Option(
            "--table",
            help="Print, per task, each method's best accuracy at about 2x fewer "
            "MACs (0.4-0.6x vanilla), retrained and training-free, from the store.",
        ),
    ] = False,
    figure: Annotated[
        Optional[Path],
        typer.Option(
            "--figure",
            help="Write the study's figure (accuracy against MACs / vanilla, one panel per task; the "
            "papers' rows at the same length that print a cost as crosses) to this .png/.svg/.pdf.",
        ),
    ] = None,
) -> None:
    """Run every job of a sweep specification, skipping those already done, then merge their runs."""
    from fcabench import sweep

    if merge_only and no_merge:
        raise FcabenchError("--merge-only and --no-merge exclude each other: give one")
    spec_ = sweep.load_spec(spec)
    folder = out or spec_.out_dir
    if folder.exists() and not folder.is_dir():
        raise FcabenchError(f"--out {folder}: is a file; name a folder for job files and checkpoints")
    store = results or spec_.results
    if list_jobs:
        _print_jobs(sweep.select(sweep.expand(spec_), only or ()), folder, store)
        return
    if table or figure:
        if table:
            _print_tables(spec_, store, only or ())
        if figure:
            _write_figure(spec_, store, figure)
        return
    if merge_only:
        jobs_ = sweep.expand(spec_)
        with sweep.owned(folder):
            report = sweep.merge(folder, store, job_ids=[j.job_id for j in jobs_], stored=sweep.stored_in(jobs_, store))
        typer.echo(str(report))
        return
    executor = "ray" if (ray or address) else "local"
    if jobs < 1:
        raise FcabenchError(f"--jobs must be at least 1, got {jobs}")
    if jobs > 1 and executor == "ray":
        raise FcabenchError("--jobs is for the local executor; Ray places jobs by their resources")
    if jobs > 1:
        from fcabench.sweep.executors import core_sets

        core_sets(jobs)  # refused before any work when there are fewer cores than jobs
    outcome = sweep.run(
        spec_,
        executor=executor,
        address=address,
        out=folder,
        store=store,
        echo=typer.echo,
        do_merge=not no_merge,
        parallel=jobs,
        only=tuple(only or ()),
    )
    failed = outcome.failed if not no_merge else [r for r in outcome if r["status"] != "done"]
    if failed:
        typer.echo(
            f"{len(failed)} job(s) failed (their errors: {folder}/jobs/<job_id>.json); "
            f"run the same command again to retry them",
            err=True,
        )
        raise typer.Exit(1)


def _print_jobs(jobs, folder: Path, store) -> None:
    import pandas as pd

    from fcabench.sweep import read_status, stored_in
    from fcabench.sweep.executors import pending

    merged = stored_in(jobs, store)  # the store a run of this sweep would skip jobs by (none named: runs.jsonl)
    again = {job.job_id for job in pending(jobs, folder, merged)} & merged  # to rebuild a checkpoint
    rows, statuses = [], []
    for job in jobs:
        status = read_status(folder, job.job_id) or {}
        statuses.append(status)
        done_elsewhere = not status and job.job_id in merged  # its files are gone (a fresh clone), its runs stored
        rows.append(
            dict(
                job_id=job.job_id,
                status=(
                    ("done (store, runs again)" if job.job_id in again else "done (store)")
                    if done_elsewhere
                    else status.get("status", "pending")
                ),
                model=job.model,
                task=job.task,
                seed=job.seed,
                entry=job.entry,
                budget=job.budget_target,
                macs_closed_form=job.budget_closed_form,
                options=", ".join(f"{k}={v}" for k, v in job.options.items()),
                start=job.depends_on or "",
                run_ids=" ".join(status.get("run_ids", [])),
            )
        )
    table = pd.DataFrame(rows)
    with pd.option_context("display.max_colwidth", 70, "display.width", 250, "display.max_rows", None):
        typer.echo(table.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3g}"))
    counts = table["status"].value_counts().to_dict()
    hours = sum(s.get("wall_s") or 0.0 for s in statuses if s.get("status") == "done") / 3600
    elsewhere = set(table.loc[table["status"].str.startswith("done (store"), "job_id"])
    typer.echo(
        f"{len(table)} jobs: "
        + ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        + f"; folder {folder}; the done jobs' wall time here: {hours:.2f} h"
        + (f"; the jobs done elsewhere trained {_stored_training_hours(store, elsewhere):.2f} h" if elsewhere else "")
    )


def _stored_training_hours(store, job_ids: set[str]) -> float:
    """Training hours of the stored runs of ``job_ids`` (their train_wall_time_s, scoring left out): what a fresh
    clone, which has no job files, can still say of the time a study took."""
    from fcabench.runs import load
    from fcabench.runs.store import default_append_path

    path = Path(store) if store is not None else default_append_path()
    runs = load(path) if path.is_file() else load([])
    if "sweep_job" not in runs:
        return 0.0
    # each stage trained once; its rows scored on other splits repeat its training time
    mine = runs[runs["sweep_job"].isin(job_ids)].drop_duplicates(["sweep_job", "stage"])
    return float(mine["train_wall_time_s"].fillna(0).sum()) / 3600


def _points(spec, store, only=()):
    """(task, points, stored runs) of the spec's tasks, from its store (the checkout's when none is named);
    with ``only``, the points of the matching entries, each with its entry name."""
    from fcabench import sweep
    from fcabench.runs import load

    stored = load(store) if store is not None else load()
    found = sweep.entry_points(spec, stored, only) if only else sweep.study_points(spec, stored)
    for task, points in found.items():
        yield task, points, stored


def _write_figure(spec, store, path: Path) -> None:
    import matplotlib.pyplot as plt

    from fcabench import sweep
    from fcabench.plots import save_figure
    from fcabench.plots.study import study_figure
    from fcabench.runs import load, study
    from fcabench.runs.published import TABLES

    seq_len = spec.train.get("seq_len")
    title = f"{', '.join(spec.models)}, n = {seq_len}; bars: 95 % interval over seeds"
    published = load(TABLES)  # the papers' rows at the study's length, where they print a cost
    panels = [
        (
            f"{task}: {title}",
            points,
            study.published_points(published, task, seq_len),
            sweep.study_points(spec, stored, fronts=True)[task],
        )
        for task, points, stored in _points(spec, store)
    ]
    fig = study_figure(panels, sweep.scored_split(spec))
    typer.echo(f"wrote {save_figure(fig, path)}")
    plt.close(fig)


def _print_tables(spec, store, only: list[str]) -> None:
    from fcabench import sweep
    from fcabench.runs import study

    for task, points, stored in _points(spec, store, only):
        if only:
            typer.echo(
                f"{task}: each configuration of the entries {' '.join(only)}: {sweep.scored_split(spec)} accuracy "
                "(mean ± half of the 95 % interval over seeds), its encoder MACs / vanilla's at the padded and at the "
                "real lengths, and its paired difference to vanilla on the same examples and seeds (95 % paired "
                "bootstrap)"
            )
            typer.echo(study.entry_table(points, runs=stored).to_markdown(index=False))
            continue
        typer.echo(
            f"{task}: {len(points)} scored models; best {sweep.scored_split(spec)} accuracy at about 2x fewer "
            "encoder MACs (MACs / vanilla), and its paired difference to vanilla on the same examples and seeds "
            "(95 % paired bootstrap)"
        )
        typer.echo(study.summary_table(points, runs=stored).to_markdown(index=False))
