"""The Pareto front, by its definition: nothing returned is dominated, everything else is."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fcabench.plots.pareto import pareto_front


def dominates(a, b, x_better, y_better):
    """a dominates b: at least as good on both axes, strictly better on one."""
    sx = 1 if x_better == "lower" else -1
    sy = 1 if y_better == "higher" else -1
    ge_x, ge_y = sx * a[0] <= sx * b[0], sy * a[1] >= sy * b[1]
    return ge_x and ge_y and (sx * a[0] < sx * b[0] or sy * a[1] > sy * b[1])


# Small integer grids produce many ties and duplicates, the cases a sweep gets wrong.
coords = st.one_of(st.integers(-5, 5).map(float), st.floats(-1e6, 1e6, allow_nan=False))
points = st.lists(st.tuples(coords, coords), min_size=0, max_size=40)
directions = st.sampled_from(["lower", "higher"])


@settings(max_examples=300, deadline=None)
@given(points, directions, directions)
def test_front_is_exactly_the_undominated_points(pts, x_better, y_better):
    x = np.array([p[0] for p in pts], dtype=float)
    y = np.array([p[1] for p in pts], dtype=float)
    front = pareto_front(x, y, x_better=x_better, y_better=y_better)
    for i, p in enumerate(pts):
        dominated = any(dominates(q, p, x_better, y_better) for q in pts)
        assert front[i] == (not dominated), (p, pts)


@settings(max_examples=100, deadline=None)
@given(points)
def test_every_point_off_the_front_is_dominated_by_one_on_it(pts):
    x = np.array([p[0] for p in pts], dtype=float)
    y = np.array([p[1] for p in pts], dtype=float)
    front = pareto_front(x, y)
    on = [p for p, f in zip(pts, front) if f]
    for p, f in zip(pts, front):
        if not f:
            assert any(dominates(q, p, "lower", "higher") for q in on)
    if pts:
        assert front.any()  # a non-empty finite set always has a front


def test_worked_example():
    # cost, score: (1, 90) is cheapest; (2, 95) is better for more; (3, 94) pays more for less; (2, 95) twice.
    x = [1, 2, 3, 2, 4]
    y = [90, 95, 94, 95, 96]
    assert pareto_front(x, y).tolist() == [True, True, False, True, True]
    # speed-up: higher is better
    assert pareto_front([1.0, 2.0, 2.0], [90, 89, 88], x_better="higher").tolist() == [True, True, False]


def test_nan_points_are_never_on_the_front_and_hide_nothing():
    assert pareto_front([1, np.nan, 2], [90, 99, 91]).tolist() == [True, False, True]


def test_bad_arguments():
    with pytest.raises(ValueError):
        pareto_front([1, 2], [1])
    with pytest.raises(ValueError):
        pareto_front([1], [1], x_better="smaller")
