"""``fcabench plot``: Pareto trade-offs from stored runs, per-layer MACs and units from profiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Figures: pareto (runs), layers and tokens (profiles).", no_args_is_help=True)

Outputs = Annotated[Optional[list[Path]], typer.Option("--output", "-o", help="Figure file(s): .png, .svg or .pdf (repeatable).")]
Width = Annotated[Optional[float], typer.Option("--width", help="Figure width in inches (default: 3.3, one paper column; 6.9 for many panels).")]


def _save(fig, outputs: list[Path] | None, default: str) -> None:
    import matplotlib.pyplot as plt

    from fcabench.plots import save_figure

    for output in outputs or [Path(default)]:
        typer.echo(f"wrote {save_figure(fig, output)}")
    plt.close(fig)


def _profiles(paths: list[Path]):
    from fcabench.plots import read_profile

    return [read_profile(path) for path in paths]


@app.command("pareto")
def pareto_command(
    runs: Annotated[Optional[list[Path]], typer.Argument(help="Run files or folders; default: results/.")] = None,
    output: Outputs = None,
    x: Annotated[str, typer.Option("--x", help="Cost axis: speedup, flops (G, = 2 x MACs) or flops-rel (to BERT-base).")] = "speedup",
    metric: Annotated[Optional[str], typer.Option(help="Metric to plot; default: accuracy, else the task's main one.")] = None,
    task: Annotated[Optional[list[str]], typer.Option("--task", "-t", help="Only these tasks (repeatable).")] = None,
    method: Annotated[Optional[list[str]], typer.Option("--method", "-m", help="Only these methods, plus the reference.")] = None,
    labels: Annotated[bool, typer.Option("--labels", help="Write each point's configuration beside it.")] = False,
    claims: Annotated[bool, typer.Option("--claims", help="Add headline claims (hollow markers).")] = False,
    width: Width = None,
) -> None:
    """A metric against FLOPs or speed-up, one panel per task, each with its Pareto front."""
    from fcabench.plots import plot_pareto
    from fcabench.runs import load

    fig = plot_pareto(load(runs or None), x=x, metric=metric, tasks=task, methods=method, labels=labels,
                      include_claims=claims, width_in=width)
    _save(fig, output, "pareto.png")


@app.command("layers")
def layers_command(
    profiles: Annotated[list[Path], typer.Argument(help="Profiles from `fcabench profile --output` (.csv/.json/.parquet).")],
    output: Outputs = None, width: Width = None,
) -> None:
    """Per-layer MACs stacked by component, one panel per profile (e.g. vanilla beside a method)."""
    from fcabench.plots import plot_layers

    _save(plot_layers(_profiles(profiles), width_in=width), output, "layers.png")


@app.command("tokens")
def tokens_command(
    profiles: Annotated[list[Path], typer.Argument(help="Profiles from `fcabench profile --output` (.csv/.json/.parquet).")],
    output: Outputs = None, width: Width = None,
) -> None:
    """Units entering each layer's attention, one line per profile."""
    from fcabench.plots import plot_tokens

    _save(plot_tokens(_profiles(profiles), width_in=width).figure, output, "tokens.png")
