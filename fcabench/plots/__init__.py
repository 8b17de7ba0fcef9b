"""Figures: trade-off curves with Pareto fronts, per-layer MACs, units per layer.

Every ``plot_*`` returns a matplotlib Figure or Axes and writes nothing; :func:`save_figure` writes files.
"""

from fcabench.plots.pareto import pareto_front
from fcabench.plots.profile import plot_layers, plot_tokens, read_profile
from fcabench.plots.save import save_figure
from fcabench.plots.style import METHOD_STYLES, method_style
from fcabench.plots.tradeoff import COST_AXES, plot_pareto, tradeoff_points

__all__ = [
    "COST_AXES",
    "METHOD_STYLES",
    "method_style",
    "pareto_front",
    "plot_layers",
    "plot_pareto",
    "plot_tokens",
    "read_profile",
    "save_figure",
    "tradeoff_points",
]
