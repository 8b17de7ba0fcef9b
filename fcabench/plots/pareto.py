"""The Pareto front of a cost/quality trade-off: a pure function of the points, nothing drawn."""

from __future__ import annotations

import numpy as np


def pareto_front(x, y, *, x_better: str = "lower", y_better: str = "higher") -> np.ndarray:
    """Boolean mask of the points no other point dominates.

    A point dominates another if it is at least as good on both axes and strictly better on one. Identical
    points do not dominate each other, so duplicates of a front point are all on the front. Points with a
    NaN coordinate are never on the front (and dominate nothing). O(n log n): one sort, one sweep.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D and of equal length, got {x.shape} and {y.shape}")
    for name, value in (("x_better", x_better), ("y_better", y_better)):
        if value not in ("lower", "higher"):
            raise ValueError(f"{name} must be 'lower' or 'higher', not {value!r}")
    # Work in "lower x is better, higher y is better".
    cost = x if x_better == "lower" else -x
    gain = y if y_better == "higher" else -y
    on_front = np.zeros(x.shape, dtype=bool)
    finite = np.flatnonzero(~(np.isnan(cost) | np.isnan(gain)))
    # Cheapest first; among equal cost, best first. Every point is then dominated exactly when an earlier
    # one reached at least its gain (strictly more, or equal gain at strictly lower cost).
    order = finite[np.lexsort((-gain[finite], cost[finite]))]
    best_gain = best_cost = None
    for i in order:
        if best_gain is None or gain[i] > best_gain:
            on_front[i] = True
            best_gain, best_cost = gain[i], cost[i]
        elif gain[i] == best_gain and cost[i] == best_cost:
            on_front[i] = True  # an exact duplicate of the front point that set best_gain
    return on_front
