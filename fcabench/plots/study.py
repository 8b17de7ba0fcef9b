"""The study's figure: accuracy against MACs relative to vanilla, one line per variant, in the method colours
of every other figure (:mod:`fcabench.plots.style`); the points come from :mod:`fcabench.runs.study`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from fcabench.plots.style import method_style
from fcabench.runs.study import TRIVIAL

FREE_LABEL = "best trivial baseline at that cost or less\n(truncation, layer dropping): a point above it pays"
VARIANT_MARKERS = ("o", "^", "v", "<", ">")  # a method's further variants (FCA's cluster counts, Focus's ablations)


def variant_styles(points: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """(colour, marker) per variant: its method's colour; the method's marker for its first variant, then others."""
    styles, seen = {}, {}
    for variant, method in sorted(set(zip(points["variant"], points["method"]))):
        style, k = method_style(method), seen.get(method, 0)
        styles[variant] = (style.color, style.marker if k == 0 else VARIANT_MARKERS[(k - 1) % len(VARIANT_MARKERS)])
        seen[method] = k + 1
    return styles


def plot_study(
    points: pd.DataFrame,
    published: pd.DataFrame | None = None,
    ax=None,
    title: str | None = None,
    split: str = "test",
    fronts: pd.DataFrame | None = None,
):
    """Accuracy (of ``split``) against MACs / vanilla, one line per variant: solid and filled retrained, dotted
    and hollow training-free, the vanilla star, 95 % intervals over seeds as bars (within the 0-100 scale a
    t-interval over three seeds can leave), the trivial baselines' frontier as a grey staircase; ``published``
    rows (score, flops_rel_bert_base) as crosses; ``fronts`` (``study_points(..., fronts=True)``): each trained
    model's front as a thin line of small dots.
    Returns the Axes; writing files is the caller's business."""
    if ax is None:
        _, ax = plt.subplots(figsize=(9.5, 4.5), layout="constrained")
    styles = variant_styles(points)
    if fronts is not None and not fronts.empty:
        draw_fronts(ax, fronts)
    for (name, regime), group in points.groupby(["variant", "regime"]):
        group = group.sort_values("macs_rel")
        if name == "vanilla":
            ax.plot(
                group["macs_rel"],
                group["score"],
                marker="*",
                markersize=14,
                linestyle="none",
                color="black",
                label="vanilla (fine-tuned)",
            )
            _interval_bars(ax, group, "black")
            continue
        filled, (color, marker) = regime == "retrained", styles[name]
        ax.plot(
            group["macs_rel"],
            group["score"],
            marker=marker,
            markersize=5,
            linestyle="-" if filled else ":",
            color=color,
            markerfacecolor=color if filled else "white",
            label=f"{name}, {regime}",
        )
        _interval_bars(ax, group, color)
    _free_frontier(ax, points)
    if published is not None and not published.empty:
        ax.scatter(
            published["flops_rel_bert_base"],
            published["score"],
            marker="x",
            color="grey",
            label=_published_label(published),
        )
    ax.set_xlabel("MACs / vanilla's (padded length)")
    ax.set_ylabel(f"{split} accuracy (%)")
    if title:
        ax.set_title(title)
    if points["score"].notna().any():  # the points readable; a wide interval may run off the bottom
        ax.set_ylim(max(0.0, points["score"].min() - 5.0), 101.0)
    ax.grid(alpha=0.3)
    # beside the axes, not over them: a collapsed training-free point may sit anywhere in the plot
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    return ax


def draw_fronts(ax, fronts: pd.DataFrame) -> None:
    """One thin line per front (its rows share ``parent_run_id``: one trained model), in its method's colour."""
    for index, (method, group) in enumerate(fronts.groupby("method")):
        color = method_style(method).color
        for number, (_, front) in enumerate(group.groupby("parent_run_id")):
            front = front.sort_values("macs_rel")
            ax.plot(
                front["macs_rel"],
                front["score"],
                marker=".",
                markersize=3,
                linewidth=0.8,
                alpha=0.55,
                color=color,
                label=f"{method}: the front of each trained model ({group['parent_run_id'].nunique()})"
                if number == 0
                else None,
            )


def _free_frontier(ax, points: pd.DataFrame) -> None:
    """The best score the trivial baselines reach at each cost or less (a staircase, shaded below): a method's
    point above it pays, one on or below it does not."""
    free = points[points["method"].isin(TRIVIAL)]
    if free.empty:
        return
    best = free.groupby("macs_rel")["score"].max().cummax()  # by cost, ascending
    costs = [*best.index, max(1.0, best.index[-1])]
    scores = [*best, best.iloc[-1]]
    ax.step(costs, scores, where="post", color="grey", linewidth=2.5, alpha=0.35, zorder=0, label=FREE_LABEL)
    ax.fill_between(costs, 0, scores, step="post", color="grey", alpha=0.08, zorder=0)


def _published_label(published: pd.DataFrame) -> str:
    """Whose rows the crosses are, on which backbone and length, on two lines to keep the legend narrow."""

    def listed(column: str) -> str:
        return ", ".join(sorted({str(value) for value in published[column].dropna()}))

    return f"published ({listed('model')}, n = {listed('seq_len')}):\n{listed('citation')}"


def _interval_bars(ax, points: pd.DataFrame, color: str) -> None:
    spread = points[points["score_ci_low"].notna()]
    low, high = spread["score_ci_low"].clip(lower=0.0), spread["score_ci_high"].clip(upper=100.0)
    ax.vlines(spread["macs_rel"], low, high, color=color, linewidth=0.8)


def study_figure(panels: list[tuple], split: str = "test") -> Figure:
    """One panel per (title, points, published rows or None[, fronts]), side by side."""
    fig, axes = plt.subplots(1, len(panels), figsize=(9.5 * len(panels), 4.5), squeeze=False, layout="constrained")
    for ax, (title, points, published, *fronts) in zip(axes[0], panels):
        plot_study(points, published, ax=ax, title=title, split=split, fronts=fronts[0] if fronts else None)
    return fig
