"""``fcabench runs``: list, show, import and export stored runs. Options in, library calls out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from fcabench.errors import FcabenchError
from fcabench.tables import OVERWRITE_NOTE

app = typer.Typer(help="Stored accuracy and FLOPs runs: list, show, import, export.", no_args_is_help=True)

StorePath = Annotated[
    Optional[list[Path]], typer.Option("--runs", "-r", help="Run file(s) or folder(s); default: results/.")
]
Methods = Annotated[Optional[list[str]], typer.Option("--method", "-m", help="Keep these methods (repeatable).")]
Tasks = Annotated[Optional[list[str]], typer.Option("--task", "-t", help="Keep these tasks (repeatable).")]
Sources = Annotated[Optional[list[str]], typer.Option("--source", "-s", help="measured, published, claim, derived.")]
SkipInvalid = Annotated[bool, typer.Option("--skip-invalid", help="Load valid rows, warn about malformed ones.")]

LIST_COLUMNS = [
    "run_id",
    "method",
    "config_label",
    "task",
    "split",
    "metric",
    "score",
    "seq_len",
    "flops_rel_bert_base",
    "speedup",
    "source",
]


def _load(paths, methods, tasks, sources, skip_invalid: bool) -> pd.DataFrame:
    from fcabench.runs import load
    from fcabench.runs.schema import SOURCES

    unknown = sorted(set(sources or ()) - set(SOURCES))
    if unknown:
        raise FcabenchError(f"--source {', '.join(unknown)}: not a source; the sources are {', '.join(SOURCES)}")
    runs = load(paths or None, errors="warn" if skip_invalid else "raise")
    for column, wanted in (("method", methods), ("task", tasks), ("source", sources)):
        if wanted:
            runs = runs[runs[column].isin(wanted)]
    return runs


LIST_FORMATS = ("table", "json", "csv")


AGGREGATE_COLUMNS = [
    "group_id",
    "method",
    "method_config",
    "model",
    "task",
    "split",
    "metric",
    "seq_len",
    "stage",
    "n",
    "seeds",
    "mean",
    "std",
    "ci_low",
    "ci_high",
    "macs_mean",
]


# Headers that say what a column holds: "n" was read as the length
AGGREGATE_HEADERS = {"method_config": "config", "seq_len": "length", "n": "runs"}


@app.command("list")
def list_command(
    runs_path: StorePath = None,
    method: Methods = None,
    task: Tasks = None,
    source: Sources = None,
    skip_invalid: SkipInvalid = False,
    aggregate: Annotated[
        bool,
        typer.Option(
            "--aggregate", help="One row per configuration over its seeds: n, mean, std, 95 % t-interval (and MACs)."
        ),
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="table (for people), or json / csv of every stored column on stdout.")
    ] = "table",
) -> None:
    """One line per stored row (a run scored on several metrics has several), or per configuration (--aggregate)."""
    if fmt not in LIST_FORMATS:
        raise FcabenchError(f"unknown --format {fmt!r}; choose one of {', '.join(LIST_FORMATS)}")
    runs = _load(runs_path, method, task, source, skip_invalid)
    if aggregate:
        from fcabench.runs.stats import aggregate as grouped

        runs = grouped(runs)
        if fmt == "table" and not runs.empty:
            with pd.option_context("display.max_colwidth", 40, "display.width", 250, "display.max_rows", None):
                shown = runs[AGGREGATE_COLUMNS].rename(columns=AGGREGATE_HEADERS)
                typer.echo(shown.to_string(index=False, na_rep="", float_format=lambda v: f"{v:.4g}"))
            typer.echo(f"{len(runs)} configurations; interval: 95 % t-interval over seeds (none for one seed)")
            return
    if fmt == "json":
        typer.echo(runs.to_json(orient="records", indent=1, default_handler=str))
        return
    if fmt == "csv":
        typer.echo(runs.to_csv(index=False), nl=False)
        return
    if runs.empty:
        typer.echo("no runs match")
        return
    with pd.option_context("display.max_colwidth", 48, "display.width", 250, "display.max_rows", None):
        typer.echo(runs[LIST_COLUMNS].to_string(index=False, na_rep="", float_format=lambda v: f"{v:.3g}"))
    typer.echo(f"{len(runs)} rows, {runs['run_id'].nunique()} runs, {runs['method'].nunique()} methods")


@app.command("compare")
def compare_command(
    a: Annotated[str, typer.Argument(help="A: a run_id, or a group_id of `runs list --aggregate` (all its seeds).")],
    b: Annotated[str, typer.Argument(help="B: the same, e.g. vanilla's group at the same seeds.")],
    metric: Annotated[Optional[str], typer.Option(help="Metric to compare (default: A's first).")] = None,
    runs_path: StorePath = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Paired difference A - B on the same examples and seeds, with a paired bootstrap interval."""
    from fcabench.runs.stats import compare_runs, group_ids, select

    runs = _load(runs_path, None, None, None, skip_invalid)
    ids = group_ids(runs)
    for side, name in (("A", a), ("B", b)):
        typer.echo(f"{side}: {_described(select(runs, name, ids), name)}")
    typer.echo(str(compare_runs(runs, a, b, metric)))


def _described(rows, name: str) -> str:
    """What a compared side is: its id, method and configuration, model, task, length and seeds."""
    first = rows.iloc[0]
    config = first["method_config"] if first["method_config"] not in ("null", "{}") else "default"
    seeds = ",".join(sorted({str(s) for s in rows["seed"].dropna()}, key=str)) or "none"
    return (
        f"{name} = {first['method']} {config} on {first['task']} ({first['model']}, n = {first['seq_len']}), "
        f"seed(s) {seeds}"
    )


@app.command("show")
def show_command(
    run_id: Annotated[str, typer.Argument(help="A run_id from `fcabench runs list`.")],
    runs_path: StorePath = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Every field of one run (all its metrics), with the file and line it is stored on."""
    from fcabench.runs.stats import select

    runs = _load(runs_path, None, None, None, skip_invalid)
    rows = runs[runs["run_id"] == run_id]
    if rows.empty:
        rows = select(runs, run_id, runs["run_id"])  # a unique prefix of a run_id
    for _, row in rows.iterrows():
        width = max(len(c) for c in row.index)
        for column, value in row.items():
            if value is None or (not isinstance(value, str) and pd.isna(value)):
                continue
            typer.echo(f"{column:<{width}}  {value}")
        typer.echo("")


@app.command("import")
def import_command(
    source: Annotated[
        Path, typer.Argument(help="Published tables (folder or CSV) or run files (.jsonl, exported .csv).")
    ],
    to: Annotated[
        Optional[Path],
        typer.Option(
            "--to",
            help="Store file to append to; default: results/published.jsonl "
            "for published tables, results/runs.jsonl otherwise.",
        ),
    ] = None,
) -> None:
    """Append rows to the store; rows already there (same run_id and metric) are skipped."""
    from fcabench.runs import published
    from fcabench.runs.importing import check_source, import_runs
    from fcabench.runs.store import check_writable, default_append_path

    check_source(source)  # before the --to checks: a wrong source is the first thing to say
    if to is not None and to.suffix.lower() != ".jsonl":
        raise FcabenchError(f"--to {to}: the store is a JSON Lines file; name a .jsonl file")
    if to is not None and not to.parent.is_dir():
        raise FcabenchError(f"--to {to}: folder {to.parent} does not exist")
    if to is None:
        target = default_append_path()
        to = target.with_name("published.jsonl") if published.is_published_table(source) else target
    check_writable(to)
    report = import_runs(source, to)
    typer.echo(f"imported {report.added} rows into {report.target} ({report.already_present} already there)")
    for reason in report.skipped:
        typer.echo(f"  skipped {reason}")


@app.command("export")
def export_command(
    output: Annotated[
        Path,
        typer.Argument(
            help=f"File to write: .md or .tex (paper table), .csv or .parquet (all columns). {OVERWRITE_NOTE}"
        ),
    ],
    runs_path: StorePath = None,
    method: Methods = None,
    task: Tasks = None,
    source: Sources = None,
    caption: Annotated[Optional[str], typer.Option(help="LaTeX caption.")] = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Write the selected runs as a Markdown or LaTeX table, or as CSV / Parquet."""
    from fcabench.runs.export import FORMATS, export
    from fcabench.tables import check_output

    check_output(output, FORMATS)  # before reading the store
    runs = _load(runs_path, method, task, source, skip_invalid)
    if runs.empty:
        raise FcabenchError("no runs match the filters; nothing exported")
    path = export(runs, output, caption=caption)
    typer.echo(f"wrote {len(runs)} rows to {path}")
