"""A sweep's own points in the run store: its tasks, models and length, the split it scores, so that the
table, the figure and the notebook read the same runs whatever else the store holds."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from fcabench.sweep.spec import SweepSpec


def scored_split(spec: SweepSpec) -> str:
    """The test split where the sweep scores it (score_splits), else validation."""
    return "test" if "test" in spec.score_splits else "validation"


def study_points(spec: SweepSpec, stored: pd.DataFrame, fronts: bool = False) -> dict[str, pd.DataFrame]:
    """Per task of ``spec``, its points (:func:`fcabench.runs.study.study_points`; ``fronts``: its fronts' points)
    among the ``stored`` runs, restricted to the spec's models and length and read on its scored split."""
    from fcabench.runs import study

    found = {}
    for task in spec.tasks:
        points = study.study_points(stored, task, split=scored_split(spec), fronts=fronts)
        found[task] = points[points["model"].isin(spec.models) & points["seq_len"].isin([spec.train.get("seq_len")])]
    return found


def entry_points(spec: SweepSpec, stored: pd.DataFrame, patterns: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Per task, :func:`study_points` with the name of the entry that ran each point (``entry``), kept where it
    matches one of the glob ``patterns`` (vanilla's point stays, the reference); a pattern that matches no
    entry of the spec is refused."""
    from fcabench.sweep.jobs import expand, matches, select

    jobs = expand(spec)
    select(jobs, patterns)  # refuses a pattern that matches no entry, in --only's words
    entry_of_job = {job.job_id: job.entry for job in jobs if matches(job.entry, patterns)}
    runs_of_jobs = stored.drop_duplicates("run_id").set_index("run_id")["sweep_job"]
    found = {}
    for task, points in study_points(spec, stored).items():
        points = points.assign(entry=points["run_id"].map(runs_of_jobs).map(entry_of_job))
        found[task] = points[points["entry"].notna() | (points["method"] == "vanilla")]
    return found
