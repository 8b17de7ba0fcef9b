"""``fcabench plot``: Pareto trade-offs from stored runs, a sweep's study, per-layer MACs and units from profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from fcabench.tables import OVERWRITE_NOTE

app = typer.Typer(help="Figures: pareto (runs), study (a sweep), layers and tokens (profiles).", no_args_is_help=True)

Outputs = Annotated[
    Optional[list[Path]],
    typer.Option("--output", "-o", help=f"Figure file(s): .png, .svg or .pdf (repeatable). {OVERWRITE_NOTE}"),
]
Profiles = Annotated[
    list[Path], typer.Argument(help="Profiles from `fcabench profile --output` (.csv/.json/.parquet).")
]


def _width(value: float | None) -> float | None:
    if value is not None and not 1 <= value <= 100:  # not a comparison nan passes
        raise typer.BadParameter(f"{value} is not a width from 1 to 100 inches")
    return value


Width = Annotated[
    Optional[float],
    typer.Option(
        "--width",
        callback=_width,
        help="Figure width in inches, 1 to 100 (default: 3.3, one paper column; 6.9 for many panels).",
    ),
]


def _targets(outputs: list[Path] | None, default: str) -> list[Path]:
    """The files to write, checked before anything is read or drawn."""
    from fcabench.plots.save import check_figure_path

    return [check_figure_path(path) for path in outputs or [Path(default)]]


def _save(fig, targets: list[Path]) -> None:
    import matplotlib.pyplot as plt

    from fcabench.plots import save_figure

    for output in targets:
        typer.echo(f"wrote {save_figure(fig, output)}")
    plt.close(fig)


def _profiles(paths: list[Path]):
    from fcabench.plots import read_profile

    return [read_profile(path) for path in paths]


@app.command("pareto")
def pareto_command(
    runs: Annotated[Optional[list[Path]], typer.Argument(help="Run files or folders; default: results/.")] = None,
    output: Outputs = None,
    x: Annotated[
        str,
        typer.Option(
            "--x",
            help="Cost axis: speedup, flops (G, = 2 x MACs), flops-rel (to BERT-base) or macs-rel "
            "(to the same backbone unreduced).",
        ),
    ] = "speedup",
    metric: Annotated[
        Optional[str], typer.Option(help="Metric to plot; default: accuracy, else the task's main one.")
    ] = None,
    task: Annotated[
        Optional[list[str]],
        typer.Option(
            "--task",
            "-t",
            help="Only these tasks (repeatable); default: the tasks of the measured runs (every task when only "
            "published rows are read).",
        ),
    ] = None,
    method: Annotated[
        Optional[list[str]], typer.Option("--method", "-m", help="Only these methods, plus the reference.")
    ] = None,
    labels: Annotated[bool, typer.Option("--labels", help="Write each point's configuration beside it.")] = False,
    claims: Annotated[bool, typer.Option("--claims", help="Add headline claims (hollow markers).")] = False,
    other_modalities: Annotated[
        bool,
        typer.Option(
            "--other-modalities", help="Also draw tasks that are not text classification (ImageNet, SQuAD claims)."
        ),
    ] = False,
    y_range: Annotated[
        Optional[str], typer.Option("--y-range", help="Score axis of every panel: LOW:HIGH, LOW: or :HIGH.")
    ] = None,
    width: Width = None,
) -> None:
    """A metric against FLOPs or speed-up, one panel per task, each with its Pareto front."""
    from fcabench.errors import FcabenchError
    from fcabench.plots import plot_pareto
    from fcabench.plots.tradeoff import parse_range
    from fcabench.runs import load

    targets = _targets(output, "pareto.png")
    stored = load(runs or None)
    if stored.empty:
        raise FcabenchError(f"no runs in {', '.join(map(str, runs or ['results/']))}: nothing to draw")
    measured = stored[stored["source"] == "measured"]
    if not task and not measured.empty:  # a user's own runs: no panels of the bundled papers' other tasks
        task = sorted(measured["task"].dropna().unique())
    fig = plot_pareto(
        stored,
        x=x,
        metric=metric,
        tasks=task,
        methods=method,
        labels=labels,
        include_claims=claims,
        width_in=width,
        y_range=parse_range(y_range),
        other_modalities=other_modalities,
    )
    _save(fig, targets)


@app.command("layers")
def layers_command(
    profiles: Profiles,
    output: Outputs = None,
    width: Width = None,
    label: Annotated[
        Optional[list[str]],
        typer.Option(
            "--label", help="Panel title of each profile, in order (repeatable); default: method and configuration."
        ),
    ] = None,
    time: Annotated[
        bool,
        typer.Option("--time", help="Draw a per-layer timing table (fcabench bench --per-layer -o) instead of MACs."),
    ] = False,
) -> None:
    """Per-layer MACs stacked by component, one panel per profile, a row per length; each panel's ratio is to
    vanilla at its own length. With --time: measured time per layer and component, MACs beside it."""
    from fcabench.plots import plot_layers

    targets = _targets(output, "layers.png")
    if time:
        from fcabench.errors import FcabenchError
        from fcabench.plots.profile import TIME_COLUMNS, plot_layer_times, read_profile

        if len(profiles) != 1:
            raise FcabenchError("--time draws one timing table (fcabench bench --per-layer -o FILE)")
        times = read_profile(profiles[0], TIME_COLUMNS, kind="per-layer timing table")
        _save(plot_layer_times(times, width_in=width), targets)
        return
    _save(plot_layers(_profiles(profiles), width_in=width, labels=label), targets)


@app.command("tokens")
def tokens_command(
    profiles: Profiles,
    output: Outputs = None,
    width: Width = None,
    label: Annotated[
        Optional[list[str]],
        typer.Option(
            "--label", help="Legend text of each profile, in order (repeatable); default: method and configuration."
        ),
    ] = None,
) -> None:
    """Units entering each layer's attention, one step line per profile; a colour per length."""
    from fcabench.plots import plot_tokens

    targets = _targets(output, "tokens.png")
    _save(plot_tokens(_profiles(profiles), width_in=width, labels=label).figure, targets)


@app.command("study")
def study_command(
    spec: Annotated[Path, typer.Argument(help="Sweep specification (TOML) whose study to draw.")],
    output: Outputs = None,
    results: Annotated[
        Optional[Path],
        typer.Option(help="Run store to read; default: the spec's sweep.results, else results/runs.jsonl."),
    ] = None,
) -> None:
    """The study's figure: accuracy against MACs / vanilla, one panel per task, every variant a line, the trivial
    baselines' frontier, each trained model's front (LAT), the papers' rows at the same length as crosses."""
    from fcabench import sweep
    from fcabench.plots.study import study_figure
    from fcabench.runs import load, study
    from fcabench.runs.published import TABLES

    loaded = sweep.load_spec(spec)
    targets = _targets(output, f"out/{loaded.name}.png")
    store = results or loaded.results
    stored = load(store) if store is not None else load()
    seq_len = loaded.train.get("seq_len")
    title = f"{', '.join(loaded.models)}, n = {seq_len}; bars: 95 % interval over seeds"
    published = load(TABLES)  # the papers' rows at the study's length, where they print a cost
    fronts = sweep.study_points(loaded, stored, fronts=True)
    panels = [
        (f"{task}: {title}", points, study.published_points(published, task, seq_len), fronts[task])
        for task, points in sweep.study_points(loaded, stored).items()
    ]
    _save(study_figure(panels, sweep.scored_split(loaded)), targets)
