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
from fcabench.plots.style import (
    COLUMN_WIDTH_IN,
    PAPER_RC,
    REFERENCE_METHODS,
    TEXT_WIDTH_IN,
    method_order,
    method_style,
    reference_label,
)
from fcabench.runs import schema
from fcabench.runs.schema import intermediate
from fcabench.runs.study import relative_points
from fcabench.tasks import metrics


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
    "macs-rel": CostAxis("macs_rel", "MACs relative to the same backbone unreduced", "lower"),
}
TRAINING_FREE = "training-free"  # the stage of a method applied without training: drawn hollow

# Tasks that are not text classification with BERT, the setting fcabench measures: their claims (ToMe's
# ImageNet, LAT's SQuAD) are drawn only when asked for.
OTHER_MODALITIES = {"imagenet": "image classification", "squad": "question answering"}
PANEL_MIN_WIDTH_IN = 1.6  # narrower panels cannot hold a title like "MNLI-mm, test, n = 128" and tick labels
FRONT_STYLE = dict(color="0.35", linewidth=0.8, linestyle="--", zorder=1)
FRONT_LABEL = "Pareto front"


def other_modality(task) -> bool:
    """Whether ``task`` is of another modality than BERT text classification (ImageNet, SQuAD)."""
    return isinstance(task, str) and any(key in task.lower() for key in OTHER_MODALITIES)


def cost_axis(x: str) -> CostAxis:
    if x not in COST_AXES:
        raise FcabenchError(f"unknown x axis {x!r}; choose one of {', '.join(COST_AXES)}")
    return COST_AXES[x]


def choose_metric(names: pd.Series) -> str:
    """The facet's metric when none was asked for: the first of metrics.PREFERRED present, else the most
    frequent (ties alphabetically)."""
    present = set(names)
    for metric in metrics.PREFERRED:
        if metric in present:
            return metric
    counts = names.value_counts()
    return sorted(counts[counts == counts.max()].index)[0]


def facet_title(task: str, split: str, seq_len) -> str:
    parts = [task] + ([split] if split else []) + ([f"n = {seq_len}"] if pd.notna(seq_len) else [])
    return ", ".join(parts)


def tradeoff_points(
    runs: pd.DataFrame,
    x: str = "speedup",
    metric: str | None = None,
    tasks=None,
    methods=None,
    include_claims: bool = False,
    other_modalities: bool = False,
) -> pd.DataFrame:
    """The rows to draw, one per point, with ``x_value``, ``facet``, ``facet_order`` and ``on_front`` added.

    Keeps scored rows that have the cost ``x``, except those of intermediate training stages (a search's
    model is not the method's result); drops claims unless asked, and rows of other modalities
    (ImageNet, SQuAD: see ``OTHER_MODALITIES``) unless asked; keeps facets with at least one point that is
    not the reference.
    """
    axis = cost_axis(x)
    rows = runs[runs["score"].notna() & runs["metric"].notna()].copy()
    if "stage" in rows:
        rows = rows[~intermediate(rows)]
    if not include_claims:
        rows = rows[rows["source"] != "claim"]
    if not other_modalities:
        rows = rows[~rows["task"].map(other_modality)]
    if tasks:
        from pathlib import Path

        from fcabench.tasks import titles  # a registry name ("bbc-news") selects its stored title ("BBC News")

        stems = {Path(t).stem for t in tasks if Path(t).suffix}  # a data file's runs carry its stem as the task
        rows = rows[rows["task"].isin(set(tasks) | titles(tasks) | stems)]
    if methods:
        rows = rows[rows["method"].isin(set(methods) | set(REFERENCE_METHODS))]
    if metric:
        rows = rows[rows["metric"] == metric]
    # a configuration's seeds: one point, its mean and interval; costs relative to the same backbone's vanilla
    rows = relative_points(rows, runs, collapse=("score", axis.column))
    other_axes = [
        name
        for name, other in COST_AXES.items()
        if name != x and other.column in rows and rows[other.column].notna().any()
    ]
    rows = rows[rows[axis.column].notna()]
    for suffix in ("", "_ci_low", "_ci_high"):
        rows[f"x_value{suffix}"] = rows[f"{axis.column}{suffix}"] * axis.scale
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
        raise FcabenchError(
            f"no scored runs with '{axis.column}'{what} beside a reference to draw "
            f"(x={x!r}{', metric=' + repr(metric) if metric else ''}"
            f"{'' if include_claims else ', claims excluded'})"
            f"{'; these runs have --x ' + ' or '.join(other_axes) if other_axes else ''}"
        )
    points = pd.concat(facets, ignore_index=True)
    order = {name: i for i, name in enumerate(dict.fromkeys(points["facet"]))}
    points["facet_order"] = points["facet"].map(order)
    return points


def draw_tradeoff(
    points: pd.DataFrame, x: str = "speedup", ax: Axes | None = None, labels: bool = False, short_labels: bool = False
) -> Axes:
    """One facet: points by method, the front as a staircase, the reference as dotted lines.

    With ``labels``, each point's configuration is written beside it; call :func:`place_labels` once the
    figure's layout is final to move them off each other, the points and the front."""
    axis = cost_axis(x)
    ax = ax if ax is not None else plt.gca()
    reference = points[points["method"].isin(REFERENCE_METHODS)]
    backbones = reference.groupby(reference["model"].fillna(""), sort=True)
    for model, level in backbones:  # one level per backbone: a method is read against its own unreduced model
        ax.axhline(level["score"].mean(), color="0.6", linewidth=0.6, linestyle=":", zorder=0)
        ax.axvline(level["x_value"].mean(), color="0.6", linewidth=0.6, linestyle=":", zorder=0)
        if len(backbones) > 1:
            ax.annotate(
                reference_label(model),
                (1, level["score"].mean()),
                xycoords=("axes fraction", "data"),
                fontsize=4.5,
                color="0.45",
                ha="right",
                va="bottom",
            )
    front = points[points["on_front"]].sort_values("x_value")
    if len(front) > 1:
        # The best score attainable at a given cost: a staircase, not a straight interpolation.
        ax.step(front["x_value"], front["score"], where="post" if axis.better == "lower" else "pre", **FRONT_STYLE)
    _model_fronts(ax, points)
    texts = []
    for method in method_order(points["method"]):
        style = method_style(method)
        mine = points[points["method"] == method]
        _interval_bars(ax, mine, style.color)
        kind = mine["source"].eq("claim").map({True: "claim", False: "point"})
        if "stage" in mine:
            kind = kind.where(mine["stage"] != TRAINING_FREE, "free")
        for what, group in mine.groupby(kind):
            ax.scatter(
                group["x_value"],
                group["score"],
                marker=style.marker,
                s=22 if style.marker != "*" else 45,
                facecolors="none" if what == "free" else style.color,
                edgecolors=style.color,
                alpha=0.35 if what == "claim" else 1.0,
                linewidths=0.7,
                zorder=3 if method not in REFERENCE_METHODS else 4,
            )
        if labels:
            for row in mine.itertuples():
                if isinstance(row.config_label, str) and row.config_label:
                    texts.append(
                        ax.text(
                            row.x_value,
                            row.score,
                            row.config_label,
                            fontsize=4.5,
                            color="0.2",
                            zorder=5,
                            va="bottom",
                            ha="left",
                        )
                    )
    ax.fcabench_labels = texts  # placed by place_labels() once the layout is final
    ax.margins(x=0.08, y=0.1)  # markers on the extremes stay whole inside the frame
    ax.set_ylabel(metrics.label(points["metric"].iloc[0], short=short_labels))
    ax.set_xlabel(axis.label)
    ax.set_title(points["facet"].iloc[0])
    return ax


def _model_fronts(ax: Axes, points: pd.DataFrame) -> None:
    """The configurations of one trained model's front (LAT: ``evaluate --front``; they share the search run as
    ``parent_run_id``) joined by a thin line in its method's colour."""
    if "config_label" not in points or "parent_run_id" not in points:
        return
    fronts = points[points["config_label"] == schema.FRONT_LABEL]
    for (method, _), front in fronts.groupby(["method", "parent_run_id"]):
        front = front.sort_values("x_value")
        ax.plot(front["x_value"], front["score"], color=method_style(method).color, linewidth=0.8, alpha=0.6)


def _interval_bars(ax: Axes, points: pd.DataFrame, color: str) -> None:
    """95 % intervals over seeds: vertical for the score (drawn within the 0-100 scale a t-interval can leave);
    horizontal where the cost varies between seeds."""
    for row in points.itertuples():
        if pd.notna(getattr(row, "score_ci_low", math.nan)) and row.score_ci_high > row.score_ci_low:
            ax.plot(
                [row.x_value, row.x_value],
                [max(row.score_ci_low, -100.0), min(row.score_ci_high, 100.0)],
                color=color,
                linewidth=0.6,
                zorder=2,
            )
        if pd.notna(getattr(row, "x_value_ci_low", math.nan)) and row.x_value_ci_high > row.x_value_ci_low:
            ax.plot(
                [row.x_value_ci_low, row.x_value_ci_high], [row.score, row.score], color=color, linewidth=0.6, zorder=2
            )


LABEL_DIRECTIONS = ((1, 1), (1, -1), (-1, 1), (-1, -1), (1, 0), (-1, 0), (0, 1), (0, -1))  # NE first: reading order
LABEL_RINGS = (
    1.0,
    1.8,
    2.6,
    3.5,
    4.5,
    6.0,
    8.0,
    10.0,
    13.0,
)  # offsets tried, in marker radii; beyond the first a leader line shows


def place_labels(ax: Axes, points: pd.DataFrame, x: str) -> None:
    """Put each configuration label of ``ax`` where it overlaps no other label, no point and no segment of
    the Pareto front, inside the axes: candidate spots around the point, nearest first (greedy, deterministic).
    A label that had to move away from its point gets a thin leader line. Call once the layout is final."""
    texts = getattr(ax, "fcabench_labels", [])
    if not texts:
        return
    from matplotlib.transforms import Bbox

    renderer = ax.figure.canvas.get_renderer()
    frame = ax.get_window_extent(renderer)
    radius = 3.0 * ax.figure.dpi / 72  # about a marker's radius, in pixels
    to_display = ax.transData.transform
    obstacles = [
        Bbox.from_extents(px - radius, py - radius, px + radius, py + radius)
        for px, py in to_display(points[["x_value", "score"]].to_numpy(float))
    ]
    for line in ax.get_lines():  # the front staircase, sampled densely (dotted reference lines may be crossed)
        if line.get_linestyle() != "--":
            continue
        vertices = line._get_transformed_path().get_fully_transformed_path().vertices  # display space, steps drawn
        for (x0, y0), (x1, y1) in zip(vertices[:-1], vertices[1:]):
            steps = max(12, int(math.hypot(x1 - x0, y1 - y0) / 2))
            for t in [i / steps for i in range(steps + 1)]:
                px, py = x0 + t * (x1 - x0), y0 + t * (y1 - y0)
                obstacles.append(Bbox.from_extents(px - 1, py - 1, px + 1, py + 1))
    anchors = to_display(points[["x_value", "score"]].to_numpy(float))
    placed: list = []
    for text in sorted(texts, key=lambda t: (-t.get_position()[1], t.get_position()[0])):
        anchor = to_display(text.get_position())
        box = text.get_window_extent(renderer)
        width, height = box.width, box.height
        choice, least = None, None
        for ring in LABEL_RINGS:
            for dx, dy in LABEL_DIRECTIONS:
                cx, cy = anchor[0] + dx * ring * radius, anchor[1] + dy * ring * radius
                x0 = cx if dx > 0 else cx - width if dx < 0 else cx - width / 2
                y0 = cy if dy > 0 else cy - height if dy < 0 else cy - height / 2
                candidate = Bbox.from_bounds(x0, y0, width, height)
                inside = (
                    frame.x0 <= candidate.x0
                    and candidate.x1 <= frame.x1
                    and frame.y0 <= candidate.y0
                    and candidate.y1 <= frame.y1
                )
                if not inside:
                    continue
                overlap = sum(_overlap_area(candidate, other) for other in placed + obstacles)
                if overlap == 0:
                    choice = (candidate, ring)
                    break
                if least is None or overlap < least[0]:
                    least = (overlap, (candidate, ring))
            if choice:
                break
        if choice is None:  # nowhere free: the spot that covers the least
            choice = (
                least[1]
                if least
                else (Bbox.from_bounds(anchor[0] + radius, anchor[1] + radius, width, height), LABEL_RINGS[0])
            )
        candidate, ring = choice
        placed.append(candidate)
        text.set_position(ax.transData.inverted().transform((candidate.x0, candidate.y0)))
        text.set_horizontalalignment("left")
        text.set_verticalalignment("bottom")
        if ring > LABEL_RINGS[0] or _closer_to_another(candidate, anchor, anchors):
            nearest = (min(max(anchor[0], candidate.x0), candidate.x1), min(max(anchor[1], candidate.y0), candidate.y1))
            ends = ax.transData.inverted().transform([anchor, nearest])
            ax.plot(ends[:, 0], ends[:, 1], color="0.6", linewidth=0.3, zorder=2)


def _distance(box, point) -> float:
    dx = max(box.x0 - point[0], 0.0, point[0] - box.x1)
    dy = max(box.y0 - point[1], 0.0, point[1] - box.y1)
    return math.hypot(dx, dy)


def _closer_to_another(box, anchor, anchors) -> bool:
    """Whether a label box sits nearer another point than its own (then it needs a leader line)."""
    own = _distance(box, anchor)
    return any(
        _distance(box, other) < own - 0.5
        for other in anchors
        if abs(other[0] - anchor[0]) + abs(other[1] - anchor[1]) > 0.5
    )


def _overlap_area(a, b) -> float:
    return max(0.0, min(a.x1, b.x1) - max(a.x0, b.x0)) * max(0.0, min(a.y1, b.y1) - max(a.y0, b.y0))


CLAIM_LABEL = "Faint: headline claim"
TRAINING_FREE_LABEL = "Hollow: training-free (filled: trained)"
INTERVAL_LABEL = "Bars: 95 % interval over seeds"
REFERENCE_LABEL = "Dotted: reference level"


def method_handles(methods, backbones=()) -> list[Line2D]:
    """Legend handles: one per method, in the fixed order; the unreduced model named by its backbones."""
    handles = []
    for method in method_order(methods):
        style = method_style(method)
        label = style.label
        if method in REFERENCE_METHODS and len(backbones):
            label = " / ".join(dict.fromkeys(reference_label(b) for b in backbones)) + " (no reduction)"
        handles.append(
            Line2D(
                [],
                [],
                linestyle="",
                marker=style.marker,
                color=style.color,
                markersize=4 if style.marker != "*" else 6,
                label=label,
            )
        )
    return handles


def grid_shape(n: int, width_in: float | None = None) -> tuple[int, int]:
    """(rows, columns) of a grid of ``n`` panels: as many columns as the width holds at PANEL_MIN_WIDTH_IN."""
    ncols = 1 if n == 1 else 2 if n <= 4 else 3 if n <= 9 else 4
    if width_in is not None:
        ncols = max(1, min(ncols, int(width_in // PANEL_MIN_WIDTH_IN)))
    return math.ceil(n / ncols), ncols


def parse_range(text: str | None) -> tuple[float | None, float | None] | None:
    """``"80:95"``, ``"80:"`` or ``":95"`` -> (low, high) with None for an open end."""
    if text is None:
        return None
    parts = text.split(":")
    try:
        if len(parts) != 2 or not any(p.strip() for p in parts):
            raise ValueError
        low, high = (float(p) if p.strip() else None for p in parts)
        if any(v is not None and not math.isfinite(v) for v in (low, high)):
            raise ValueError
    except ValueError:
        raise FcabenchError(f"cannot read range {text!r}; use LOW:HIGH, LOW: or :HIGH (finite numbers)") from None
    if low is not None and high is not None and low >= high:
        raise FcabenchError(f"range {text!r}: LOW must be below HIGH")
    return low, high


def plot_pareto(
    runs: pd.DataFrame,
    x: str = "speedup",
    metric: str | None = None,
    tasks=None,
    methods=None,
    labels: bool = False,
    include_claims: bool = False,
    width_in: float | None = None,
    y_range: tuple[float | None, float | None] | None = None,
    other_modalities: bool = False,
) -> Figure:
    """Score against cost per facet (task, split, length), each with its Pareto front and the unreduced model
    as reference (dotted); one legend entry per method. Claims, if included, are hollow markers; tasks of
    other modalities (ImageNet, SQuAD) only with ``other_modalities``.

    ``x``: "speedup" (default: the one cost every bundled table reports), "flops", "flops-rel" (to BERT-base) or
    "macs-rel" (to the same backbone's unreduced run at the same length). A measured configuration's seeds are
    one point, their mean, with its 95 % t-interval; training-free points are hollow.
    ``y_range``: (low, high) of every panel's score axis, None for an end left automatic.
    """
    points = tradeoff_points(
        runs,
        x=x,
        metric=metric,
        tasks=tasks,
        methods=methods,
        include_claims=include_claims,
        other_modalities=other_modalities,
    )
    facets = [f for _, f in points.groupby("facet_order", sort=True)]
    default_cols = grid_shape(len(facets))[1]
    width = width_in or (COLUMN_WIDTH_IN if default_cols <= 2 else TEXT_WIDTH_IN)
    nrows, ncols = grid_shape(len(facets), width)
    panel = width / ncols
    grid = len(facets) > 1
    with plt.rc_context(PAPER_RC):
        aspect = 1.0 if labels else 0.8  # labelled panels get more height to put their labels in
        fig, axes = plt.subplots(
            nrows, ncols, figsize=(width, panel * aspect * nrows + 0.45), squeeze=False, layout="constrained"
        )
        for ax, facet in zip(axes.flat, facets):
            draw_tradeoff(facet, x=x, ax=ax, labels=labels, short_labels=grid)
            if y_range is not None:
                ax.set_ylim(*y_range)
            if grid:
                ax.set_xlabel("")  # one shared x label below the grid instead of one per panel
                ax.title.set_fontsize(PAPER_RC["axes.titlesize"] - (1 if panel < 2 else 0))
        if grid:
            fig.supxlabel(cost_axis(x).label, fontsize=PAPER_RC["axes.labelsize"])
        for ax in axes.flat[len(facets) :]:
            ax.set_visible(False)
        reference = points[points["method"].isin(REFERENCE_METHODS)]
        handles = method_handles(points["method"], sorted(reference["model"].dropna().unique()))
        if points.groupby("facet")["on_front"].sum().max() > 1:  # a front is drawn where a facet has two points on it
            handles.append(Line2D([], [], **FRONT_STYLE, label=FRONT_LABEL))
        handles.append(Line2D([], [], color="0.6", linewidth=0.6, linestyle=":", label=REFERENCE_LABEL))
        if "stage" in points and (points["stage"] == TRAINING_FREE).any():
            handles.append(
                Line2D(
                    [],
                    [],
                    linestyle="",
                    marker="o",
                    markerfacecolor="none",
                    markeredgecolor="0.3",
                    markersize=4,
                    label=TRAINING_FREE_LABEL,
                )
            )
        if (points["source"] == "claim").any():
            handles.append(
                Line2D([], [], linestyle="", marker="o", color="0.3", alpha=0.35, markersize=4, label=CLAIM_LABEL)
            )
        if (points["n"] > 1).any():
            handles.append(Line2D([], [], color="0.3", linewidth=0.6, marker="|", markersize=5, label=INTERVAL_LABEL))
        fig.legend(
            handles=handles,
            loc="outside upper center",
            ncol=min(len(handles), 2 if width < 4 else 4),
            frameon=False,
            handletextpad=0.3,
            columnspacing=1.0,
        )
        if labels:
            fig.draw_without_rendering()  # final axes positions first: labels are placed in display space
            for ax, facet in zip(axes.flat, facets):
                place_labels(ax, facet, x)
    return fig
