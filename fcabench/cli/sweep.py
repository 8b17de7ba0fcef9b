"""``fcabench sweep run|list|table|merge SPEC``: a sweep specification's jobs, run here or on Ray, merged into the
store, listed, and read back as the study's table (its figure: ``fcabench plot study SPEC``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fcabench.errors import FcabenchError

app = typer.Typer(help="Sweeps: run a specification's jobs, list them, print its table, merge.", no_args_is_help=True)

Spec = Annotated[Path, typer.Argument(help="Sweep specification (TOML), e.g. sweeps/bbc-news-minilm.toml.")]
Out = Annotated[
    Optional[Path],
    typer.Option(help="Folder for job files and checkpoints; default: the spec's sweep.out, else out/sweeps/<name>."),
]
Results = Annotated[
    Optional[Path],
    typer.Option(help="Run store to merge into and read; default: the spec's sweep.results, else results/runs.jsonl."),
]
Only = Annotated[
    Optional[list[str]],
    typer.Option(
        "--only",
        help="Only the entries whose name matches this glob, e.g. '*@2x' (repeatable); run: the jobs they start "
        "from come along; table: one row per configuration of those entries.",
    ),
]


def _loaded(spec: Path, out: Path | None = None):
    """(the specification, its out folder), the folder checked."""
    from fcabench import sweep

    loaded = sweep.load_spec(spec)
    folder = out or loaded.out_dir
    if folder.exists() and not folder.is_dir():
        raise FcabenchError(f"--out {folder}: is a file; name a folder for job files and checkpoints")
    return loaded, folder


@app.command("run")
def run_command(
    spec: Spec,
    only: Only = None,
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
    out: Out = None,
    results: Results = None,
    no_merge: Annotated[
        bool, typer.Option("--no-merge", help="Run the jobs but leave their runs in the job files.")
    ] = False,
) -> None:
    """Run every pending job of a specification (resuming an interrupted sweep), then merge their runs."""
    from fcabench import sweep

    loaded, folder = _loaded(spec, out)
    store = results or loaded.results
    executor = "ray" if (ray or address) else "local"
    if jobs < 1:
        raise FcabenchError(f"--jobs must be at least 1, got {jobs}")
    if jobs > 1 and executor == "ray":
        raise FcabenchError("--jobs is for the local executor; Ray places jobs by their resources")
    if jobs > 1:
        from fcabench.sweep.executors import core_sets

        core_sets(jobs)  # refused before any work when there are fewer cores than jobs
    options = dict(executor=executor, address=address, out=folder, store=store, echo=typer.echo, parallel=jobs)
    if no_merge:
        failed = [r for r in sweep.run_jobs(loaded, only=tuple(only or ()), **options) if r["status"] != "done"]
    else:
        failed = sweep.run(loaded, only=tuple(only or ()), **options).failed
    if failed:
        typer.echo(
            f"{len(failed)} job(s) failed (their errors: {folder}/jobs/<job_id>.json); "
            f"run the same command again to retry them",
            err=True,
        )
        raise typer.Exit(1)


@app.command("list")
def list_command(spec: Spec, only: Only = None, out: Out = None, results: Results = None) -> None:
    """Print the jobs with their ids and status; run nothing."""
    from fcabench import sweep

    loaded, folder = _loaded(spec, out)
    _print_jobs(sweep.select(sweep.expand(loaded), only or ()), folder, results or loaded.results)


@app.command("table")
def table_command(spec: Spec, only: Only = None, results: Results = None) -> None:
    """Print, per task, each method's best accuracy at about 2x fewer MACs (0.4-0.6x vanilla), retrained and
    training-free, from the store; with --only, every configuration of those entries."""
    from fcabench import sweep

    loaded = sweep.load_spec(spec)
    _print_tables(loaded, results or loaded.results, only or ())


@app.command("merge")
def merge_command(spec: Spec, out: Out = None, results: Results = None) -> None:
    """Merge the runs of the specification's finished jobs into the store."""
    from fcabench import sweep

    loaded, folder = _loaded(spec, out)
    typer.echo(str(sweep.merge_done(loaded, out=folder, store=results or loaded.results)))


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
