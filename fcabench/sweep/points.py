"""A sweep's own points in the run store: its tasks, models and length, the split it scores, so that the
table, the figure and the notebook read the same runs whatever else the store holds."""

from __future__ import annotations

import pandas as pd

from fcabench.sweep.spec import SweepSpec


def scored_split(spec: SweepSpec) -> str:
    """The test split where the sweep scores it (score_splits), else validation."""
    return "test" if "test" in spec.score_splits else "validation"


def study_points(spec: SweepSpec, stored: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per task of ``spec``, its points (:func:`fcabench.runs.study.study_points`) among the ``stored`` runs,
    restricted to the spec's models and length and read on its scored split."""
    from fcabench.runs import study

    found = {}
    for task in spec.tasks:
        points = study.study_points(stored, task, split=scored_split(spec))
        found[task] = points[points["model"].isin(spec.models) & points["seq_len"].isin([spec.train.get("seq_len")])]
    return found
