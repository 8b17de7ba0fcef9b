"""Quality against cost, one facet per task, with each facet's Pareto front: ``fcabench plot pareto``.

Facets are (task, split, padded length): a score on GLUE's test server and one on a paper's own split, or
costs at n = 64 and n = 512, do not belong on one front. Functions here return figures; nothing is written
(see :func:`fcabench.plots.save.save_figure`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from fcabench.errors import FcabenchError
from fcabench.plots.pareto import pareto_front
from fcabench.plots.style import COLUMN_WIDTH_IN, PAPER_RC, REFERENCE_METHODS, TEXT_WIDTH_IN, method_order, method_style


@dataclass(frozen=True)
class CostAxis:
    column: str  # stored column (flops is scaled to G)
    label: str  # axis label, with its unit
    better: str  # "lower" or "higher"
    scale: float = 1.0


COST_AXES = {
    "speedup": CostAxis("speedup", "Speed-up over the unreduced model (×)", "higher"),
    "flops": CostAxis("flops", "FLOPs per sequence (G, = 2 × MACs)", "lower", 1e-9),
    "flops-rel": CostAxis("flops_rel_bert_base", "FLOPs relative to BERT-base", "lower"),
}

METRIC_LABELS = {
    "accuracy": "Accuracy (%)",
    "f1": "F1 (%)",
    "f1_macro": "Macro-F1 (%)",
    "f1_micro": "Micro-F1 (%)",
    "matthews_corr": "Matthews corr. (×100)",
    "spearman": "Spearman corr. (×100)",
    "top1_accuracy": "Top-1 accuracy (%)",
}
PREFERRED_METRICS = ("accuracy", "f1", "matthews_corr", "spearman", "f1_macro", "top1_accuracy")
FRONT_STYLE = dict(color="0.35", linewidth=0.8, linestyle="--", zorder=1)
FRONT_LABEL = "Pareto front"


def metric_label(metric: str) -> str:
    return METRIC_LABELS.get(metric, f"{metric} (as stored)")


def cost_axis(x: str) -> CostAxis:
    if x not in COST_AXES:
        raise FcabenchError(f"unknown x axis {x!r}; choose one of {', '.join(COST_AXES)}")
    return COST_AXES[x]


def choose_metric(metrics: pd.Series) -> str:
    """The facet's metric when none was asked for: the first of PREFERRED_METRICS present, else the most
    frequent (ties alphabetically)."""
    present = set(metrics)
    for metric in PREFERRED_METRICS:
        if metric in present:
            return metric
    counts = metrics.value_counts()
    return sorted(counts[counts == counts.max()].index)[0]


def facet_title(task: str, split: str, seq_len) -> str:
    parts = [task] + ([split] if split else []) + ([f"n = {seq_len}"] if pd.notna(seq_len) else [])
    return ", ".join(parts)


def tradeoff_points(runs: pd.DataFrame, x: str = "speedup", metric: str | None = None, tasks=None, methods=None,
                    include_claims: bool = False) -> pd.DataFrame:
    """The rows to draw, one per point, with ``x_value``, ``facet``, ``facet_order`` and ``on_front`` added.

    Keeps scored rows that have the cost ``x``; drops claims unless asked; keeps facets with at least one
    point that is not the reference.
    """
    axis = cost_axis(x)
    rows = runs[runs["score"].notna() & runs[axis.column].notna() & runs["metric"].notna()].copy()
    if not include_claims:
        rows = rows[rows["source"] != "claim"]
    if tasks:
        from fcabench.tasks import titles  # a registry name ("bbc-news") selects its stored title ("BBC News")

        rows = rows[rows["task"].isin(set(tasks) | titles(tasks))]
    if methods:
        rows = rows[rows["method"].isin(set(methods) | set(REFERENCE_METHODS))]
    if metric:
        rows = rows[rows["metric"] == metric]
    rows["x_value"] = rows[axis.column] * axis.scale
    rows["split"] = rows["split"].fillna("")
    facets = []
    for (task, split, seq_len), facet in rows.groupby(["task", "split", "seq_len"], sort=False, dropna=False):
        facet = facet[facet["metric"] == (metric or choose_metric(facet["metric"]))].copy()
        if facet["method"].isin(REFERENCE_METHODS).all():
            continue  # nothing but the reference: no trade-off to show
        facet["facet"] = facet_title(task, split, seq_len)
        facet["on_front"] = pareto_front(facet["x_value"], facet["score"], x_better=axis.better)
        facets.append(facet)
    if not facets:
        what = f" for tasks {', '.join(tasks)}" if tasks else ""
        raise FcabenchError(f"no scored runs with '{axis.column}'{what} beside a reference to draw "
                            f"(x={x!r}{', metric=' + repr(metric) if metric else ''}"
                            f"{'' if include_claims else ', claims excluded'})")
    points = pd.concat(facets, ignore_index=True)
    order = {name: i for i, name in enumerate(dict.fromkeys(points["facet"]))}
    points["facet_order"] = points["facet"].map(order)
    return points


def draw_tradeoff(points: pd.DataFrame, x: str = "speedup", ax: Axes | None = None, labels: bool = False) -> Axes:
    """One facet: points by method, the front as a staircase, the reference as dotted lines."""
    axis = cost_axis(x)
    ax = ax if ax is not None else plt.gca()
    reference = points[points["method"].isin(REFERENCE_METHODS)]
    if len(reference):
        ax.axhline(reference["score"].mean(), color="0.6", linewidth=0.6, linestyle=":", zorder=0)
        ax.axvline(reference["x_value"].mean(), color="0.6", linewidth=0.6, linestyle=":", zorder=0)
    front = points[points["on_front"]].sort_values("x_value")
    if len(front) > 1:
        # The best score attainable at a given cost: a staircase, not a straight interpolation.
        ax.step(front["x_value"], front["score"], where="post" if axis.better == "lower" else "pre", **FRONT_STYLE)
    for method in method_order(points["method"]):
        style = method_style(method)
        mine = points[points["method"] == method]
        for is_claim, group in mine.groupby(mine["source"] == "claim"):
            ax.scatter(group["x_value"], group["score"], marker=style.marker, s=22 if style.marker != "*" else 45,
                       facecolors="none" if is_claim else style.color, edgecolors=style.color,
                       linewidths=0.7, zorder=3 if method not in REFERENCE_METHODS else 4)
        if labels:
            for row in mine.itertuples():
                if isinstance(row.config_label, str) and row.config_label:
                    ax.annotate(row.config_label, (row.x_value, row.score), xytext=(2, 2), textcoords="offset points",
                                fontsize=4.5, color="0.25")
    ax.set_ylabel(metric_label(points["metric"].iloc[0]))
    ax.set_xlabel(axis.label)
    ax.set_title(points["facet"].iloc[0])
    return ax


def method_handles(methods) -> list[Line2D]:
    """Legend handles: one per method, in the fixed order."""
    handles = []
    for method in method_order(methods):
        style = method_style(method)
        handles.append(Line2D([], [], linestyle="", marker=style.marker, color=style.color,
                              markersize=4 if style.marker != "*" else 6, label=style.label))
    return handles


def grid_shape(n: int) -> tuple[int, int]:
    ncols = 1 if n == 1 else 2 if n <= 4 else 3
    return math.ceil(n / ncols), ncols


def plot_pareto(runs: pd.DataFrame, x: str = "speedup", metric: str | None = None, tasks=None, methods=None,
                labels: bool = False, include_claims: bool = False, width_in: float | None = None) -> Figure:
    """Score against cost per facet (task, split, length), each with its Pareto front and BERT-base as
    reference (dotted); one legend entry per method. Claims, if included, are hollow markers.

    ``x``: "speedup" (default: the one cost every bundled table reports), "flops" or "flops-rel".
    """
    points = tradeoff_points(runs, x=x, metric=metric, tasks=tasks, methods=methods, include_claims=include_claims)
    facets = [f for _, f in points.groupby("facet_order", sort=True)]
    nrows, ncols = grid_shape(len(facets))
    width = width_in or (COLUMN_WIDTH_IN if ncols <= 2 else TEXT_WIDTH_IN)
    panel = width / ncols
    with plt.rc_context(PAPER_RC):
        fig, axes = plt.subplots(nrows, ncols, figsize=(width, panel * 0.75 * nrows + 0.5), squeeze=False,
                                 layout="constrained")
        for ax, facet in zip(axes.flat, facets):
            draw_tradeoff(facet, x=x, ax=ax, labels=labels)
            if len(facets) > 1:
                ax.set_xlabel("")  # one shared x label below the grid instead of one per panel
        if len(facets) > 1:
            fig.supxlabel(cost_axis(x).label, fontsize=PAPER_RC["axes.labelsize"])
        for ax in axes.flat[len(facets):]:
            ax.set_visible(False)
        handles = method_handles(points["method"])
        if points["on_front"].sum() > 1:
            handles.append(Line2D([], [], **FRONT_STYLE, label=FRONT_LABEL))
        fig.legend(handles=handles, loc="outside upper center", ncol=min(len(handles), 3 if width < 4 else 5),
                   frameon=False, handletextpad=0.3, columnspacing=1.0)
    return fig
