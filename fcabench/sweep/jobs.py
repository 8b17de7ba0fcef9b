"""Expanding a specification into jobs: one job = one ``fcabench.train`` call (all its stages).

The expansion is deterministic: entries in dependency order (a ``from`` before its dependents, else file
order), then models, tasks, seeds and points in the order the file gives them. A job's id is a hash of
everything that changes its result (model, task, seed, method, options, stages, training settings, and
the id of the job whose checkpoint it starts from), so the same specification always gives the same
ids, and editing one entry changes the ids of that entry's jobs (and their dependents) only.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import hashlib
import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field

import pandas as pd

from fcabench.errors import FcabenchError
from fcabench.sweep.spec import MethodEntry, SweepSpec
from fcabench.training.settings import AT_REAL_LENGTHS

ID_PREFIX = "job-"
ID_HEX = 12  # 48 bits: no collision among the jobs of any realistic sweep


@dataclass(frozen=True)
class Job:
    """One training (or training-free evaluation) of one configuration."""

    job_id: str  # hash of the fields below that change the result
    entry: str  # the [[methods]] entry it comes from
    model: str
    task: str
    seed: int
    method: str
    options: dict  # method options, JSON-ready (lists for tuples)
    stages: tuple[str, ...] | None  # None: all of the method's stages
    training_free: bool
    train: dict  # fcabench.train keywords (seq_len, max_steps, ...)
    depends_on: str | None = None  # job id whose final checkpoint this job starts from
    from_checkpoint: str | None = None  # a fixed starting checkpoint folder
    resources: dict = field(default_factory=dict)  # Ray request; does not change the result
    budget_target: float | None = None  # requested encoder MACs / vanilla's, when set by a budget
    budget_closed_form: float | None = None  # what the resolved options cost by the closed form; None when
    #                                           a search derives the configuration and train scales it (macs_ratio)
    score_splits: tuple[str, ...] = ()  # splits the final checkpoint is also scored on after training
    front_picks: tuple[float, ...] = ()  # on those splits, a front's best configuration at each of these budgets

    @property
    def label(self) -> str:
        """A short readable name: entry, options, budget."""
        options = ", ".join(f"{k}={_short(v)}" for k, v in self.options.items())
        budget = f" @{self.budget_target:g}x" if self.budget_target is not None else ""
        return f"{self.entry}{budget}" + (f" [{options}]" if options else "")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict) -> "Job":
        record = dict(record)
        record["stages"] = tuple(record["stages"]) if record.get("stages") else None
        record["score_splits"] = tuple(record.get("score_splits") or ())
        record["front_picks"] = tuple(record.get("front_picks") or ())
        return cls(**record)


def _short(value) -> str:
    if isinstance(value, list):
        return "(" + ",".join(_short(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def job_id(fields: dict) -> str:
    """The id of a job: a hash of the canonical JSON of what changes its result."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return ID_PREFIX + hashlib.sha256(text.encode("utf-8")).hexdigest()[:ID_HEX]


def expand(spec: SweepSpec) -> list[Job]:
    """All jobs of ``spec`` in execution order (every job after the job it starts from)."""
    jobs: list[Job] = []
    first_job: dict[tuple[str, str, str, int], Job] = {}  # (entry, model, task, seed) -> its single job
    seen: dict[str, Job] = {}
    for entry in spec.methods:
        train = {**spec.train, **entry.train}
        resources = {**spec.resources, **entry.resources}
        for model in spec.models:
            _check_length(train.get("seq_len"), model, entry, spec)
            points = _points(entry, model, train, spec)
            for task, seed in itertools.product(spec.tasks, entry.seeds or spec.seeds):
                depends_on = None
                if entry.depends_on:
                    parent = first_job.get((entry.depends_on, model, task, seed))
                    if parent is None:
                        raise FcabenchError(
                            f"{spec.source}: key 'methods.{entry.name}.from': entry {entry.depends_on!r} "
                            f"has no job for seed {seed} (give it that seed too)"
                        )
                    depends_on = parent.job_id
                for options, target, achieved in points:
                    job_train = train
                    if target is not None and achieved is None:  # the search derives it: train scales to the budget
                        job_train = {**train, "macs_ratio": target}
                    if job_train.get("macs_at", "padded") != "padded" and "macs_ratio" not in job_train:
                        raise FcabenchError(
                            f"{spec.source}: key 'methods.{entry.name}.train.macs_at': a budget is met at the real "
                            f"lengths only where training scales a searched retention (a budget from a search)"
                        )
                    fields = dict(
                        model=model,
                        task=task,
                        seed=seed,
                        method=entry.method,
                        options=options,
                        stages=list(entry.stages) if entry.stages else None,
                        training_free=entry.training_free,
                        train=job_train,
                        depends_on=depends_on,
                        from_checkpoint=entry.from_checkpoint,
                    )
                    if spec.score_splits:  # only when set, so the ids of sweeps without it stay as they were
                        fields["score_splits"] = list(spec.score_splits)
                    if entry.front_picks:  # the same
                        fields["front_picks"] = list(entry.front_picks)
                    job = Job(
                        job_id=job_id(fields),
                        entry=entry.name,
                        model=model,
                        task=task,
                        seed=seed,
                        method=entry.method,
                        options=options,
                        stages=entry.stages,
                        training_free=entry.training_free,
                        train=job_train,
                        depends_on=depends_on,
                        from_checkpoint=entry.from_checkpoint,
                        resources=resources,
                        budget_target=target,
                        budget_closed_form=achieved,
                        score_splits=spec.score_splits,
                        front_picks=entry.front_picks,
                    )
                    if job.job_id in seen:
                        raise FcabenchError(
                            f"{spec.source}: key 'methods.{entry.name}': the same job as in entry "
                            f"{seen[job.job_id].entry!r} ({job.label}); remove one"
                        )
                    seen[job.job_id] = job
                    jobs.append(job)
                    first_job.setdefault((entry.name, model, task, seed), job)
                if entry.name in _dependency_names(spec) and len(points) != 1:
                    raise FcabenchError(
                        f"{spec.source}: key 'methods.{entry.name}': other entries start from it ('from'), so it "
                        f"must be a single configuration, not {len(points)}"
                    )
    return jobs


def matches(entry: str, patterns: Sequence[str]) -> bool:
    """Whether an entry name matches one of the glob ``patterns`` (``--only``)."""
    return any(fnmatch.fnmatchcase(entry, pattern) for pattern in patterns)


def select(jobs: Sequence[Job], patterns: Sequence[str]) -> list[Job]:
    """The jobs whose entry name matches one of the glob ``patterns`` (``"*@2x"``, ``"fca*"``), with every job
    they start from, in execution order; all of ``jobs`` when no pattern is given."""
    if not patterns:
        return list(jobs)
    by_id = {job.job_id: job for job in jobs}
    wanted: set[str] = set()
    for job in jobs:
        if matches(job.entry, patterns):
            while job is not None and job.job_id not in wanted:
                wanted.add(job.job_id)
                job = by_id.get(job.depends_on)
    if not wanted:
        entries = ", ".join(dict.fromkeys(job.entry for job in jobs))
        raise FcabenchError(f"--only {' '.join(patterns)}: no entry matches (entries: {entries})")
    return [job for job in jobs if job.job_id in wanted]


def _dependency_names(spec: SweepSpec) -> set[str]:
    return {e.depends_on for e in spec.methods if e.depends_on}


def _check_length(seq_len: int | None, model: str, entry: MethodEntry, spec: SweepSpec) -> None:
    """A padded length the model takes, refused when the spec loads rather than when its job starts."""
    from fcabench import encoders

    config = _model_config(model, spec) if seq_len is not None else None
    if config is not None and seq_len > encoders.max_length(config):
        raise FcabenchError(
            f"{spec.source}: key 'methods.{entry.name}.train.seq_len': {seq_len} is beyond {model}'s maximum "
            f"length {encoders.max_length(config)}"
        )


def _model_config(model: str, spec: SweepSpec):
    """The configuration of a preset, a named or a local model (None for a hub name: not checked offline)."""
    from pathlib import Path

    from fcabench.models import NAMED, PRESETS, checkpoint_config, preset_config, resolve

    if model in PRESETS:
        return preset_config(model)
    local = model in NAMED or Path(model).expanduser().exists() or model.startswith((".", "/", "~"))
    if not local:
        return None
    try:
        return checkpoint_config(resolve(model))
    except FcabenchError as error:
        raise FcabenchError(f"{spec.source}: key 'sweep.models': {error}") from None


def _points(
    entry: MethodEntry, model: str, train: dict, spec: SweepSpec
) -> list[tuple[dict, float | None, float | None]]:
    """(options, budget target, closed-form cost) of each configuration of an entry, in file order."""
    from fcabench import methods

    keys = list(entry.grid)
    combos = [dict(zip(keys, values)) for values in itertools.product(*(entry.grid[k] for k in keys))]
    configs = list(entry.configs) or [{}]
    points = []
    model_config = _model_config(model, spec)
    for config, combo in itertools.product(configs, combos):
        options = {**entry.options, **config, **combo}
        try:
            made = methods.make_config(entry.method, **_as_config_values(options))
            if model_config is not None:  # the checks profile and train make, before any job runs
                methods.get(entry.method).validate(made, model_config)
            if "seq_len" in train:
                methods.get(entry.method).check_input(made, train["seq_len"])
        except FcabenchError as error:
            raise FcabenchError(f"{spec.source}: key 'methods.{entry.name}': {error}") from None
        points.append(_json_ready(options))
    if entry.budget is None:
        return [(p, None, None) for p in points]
    if not entry.training_free and _derives(entry):
        # The configuration these jobs end with is derived by their search stage; the budget scales it
        # (fcabench.train's macs_ratio), so there is nothing to resolve here.
        return [(p, t, None) for p in points for t in entry.budget.encoder_macs]
    if "seq_len" not in train:
        raise FcabenchError(f"{spec.source}: key 'train.seq_len': a budget is a cost at the padded length; set it")
    from fcabench.counting.budget import resolve

    resolved = []
    for options in points:
        try:
            found = resolve(
                model,
                entry.method,
                _as_config_values(options),
                entry.budget.encoder_macs,
                train["seq_len"],
                knob=entry.budget.knob,
                interval=entry.budget.range,
                tolerance=entry.budget.tolerance,
            )
        except FcabenchError as error:
            raise FcabenchError(f"{spec.source}: key 'methods.{entry.name}.budget': {error}") from None
        resolved += [(_json_ready(r.options), r.target, round(r.achieved, 6)) for r in found]
    return resolved


def _derives(entry: MethodEntry) -> bool:
    """Whether a stage of this entry trains with a configuration derived by an earlier stage."""
    from fcabench import methods

    return any(s.config is methods.DERIVED for s in _planned(entry.method, entry.options, entry.stages, False))


def _planned(method: str, options: dict, stages, training_free: bool, start: str | None = "from"):
    """The stages ``fcabench.train`` runs for a job of this method and options (one rule: train.plan_stages)."""
    from fcabench import methods
    from fcabench.training.train import plan_stages

    config = methods.make_config(method, **_as_config_values(options))
    return plan_stages(methods.get(method), config, list(stages) if stages else None, start, training_free)


def _as_config_values(options: dict) -> dict:
    """TOML lists become the tuples config dataclasses hold."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}


def _json_ready(options: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


def stored_jobs(jobs, stored) -> set[str]:
    """Ids of the jobs whose runs ``stored`` (a frame of :func:`fcabench.runs.load`) already holds: the rows a
    sweep merged name their job (``sweep_job``); rows merged before that are matched by what the job ran
    (backbone, task, seed, length, method, final stage, its options, its budget)."""
    from fcabench import tasks

    found = set(stored["sweep_job"].dropna()) if "sweep_job" in stored else set()
    measured = stored[(stored["source"] == "measured") & stored["stage"].notna()] if "stage" in stored else stored[:0]
    for job in jobs:
        if job.job_id in found:
            continue
        title = tasks.get(job.task).title if job.task in tasks.names() else job.task
        mine = measured[
            (measured["model"] == job.model)
            & (measured["task"] == title)
            & (measured["seed"] == job.seed)
            & (measured["seq_len"] == job.train.get("seq_len"))
        ]
        final = mine[(mine["method"] == job.method) & (mine["stage"] == _final_stage(job))]
        by_id = {row["run_id"]: row for _, row in mine.iterrows()}
        for _, row in final.iterrows():
            # a derived final configuration (LTP's learned thresholds) no longer holds the options: its parent does
            holders = [row] + ([by_id[row["parent_run_id"]]] if row["parent_run_id"] in by_id else [])
            if _budget_met(job, row) and any(_options_met(job, holder) for holder in holders):
                found.add(job.job_id)
                break
    return found


def _budget_met(job, row) -> bool:
    """The row was trained with the job's budget: its epochs or step count, batch and learning rate, its MAC
    target."""
    for key, column in (
        ("max_steps", "train_max_steps"),
        ("epochs", "train_epochs"),
        ("batch_size", "train_batch_size"),
        ("learning_rate", "train_learning_rate"),
    ):
        if key in job.train and not job.training_free and pd.notna(row.get(column)) and row[column] != job.train[key]:
            return False
    if job.budget_target is None or job.budget_closed_form is not None:  # none, or resolved into the options
        return True
    note = str(row.get("source_note") or "")  # fcabench.train's note says where the budget was met
    at_real = job.train.get("macs_at", "padded") == "real"
    return f"scaled to {job.budget_target:g} x" in note and (AT_REAL_LENGTHS in note) == at_real


def _options_met(job, row) -> bool:
    config = json.loads(row["method_config"]) if isinstance(row["method_config"], str) else row["method_config"]
    return all(_same(config.get(key), value) for key, value in job.options.items())


def _final_stage(job) -> str:
    return _planned(job.method, job.options, job.stages, job.training_free)[-1].name


def _same(stored, wanted) -> bool:
    if isinstance(wanted, (list, tuple)):
        return isinstance(stored, (list, tuple)) and len(stored) == len(wanted) and all(map(_same, stored, wanted))
    if isinstance(wanted, float) or isinstance(stored, float):
        return stored is not None and abs(float(stored) - float(wanted)) <= 1e-6 * max(1.0, abs(float(wanted)))
    return stored == wanted
