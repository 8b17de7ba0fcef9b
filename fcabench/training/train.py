"""``fcabench.train``: fine-tune a BERT on a task with a method, stage by stage as its authors do.

Each stage (``Method.stages``: e.g. PoWER-BERT's fine-tune, search, retrain) starts from the previous
stage's weights, trains with Hugging Face ``Trainer`` (the method's loss term, parameter groups and
post-step hook included), keeps the epoch with the best validation metric (a search keeps its last),
writes a checkpoint folder ``<output_dir>/<stage>`` that rebuilds the patched model, scores the model on
the validation split and appends that as a run to the store.

Everything is checked before any work: the settings, the method's configuration against the model's
layers and the length, the output folders and the results file. A configuration the user gives is
trained as given (a search that would derive one is skipped). Run again after an interruption, the
same command resumes at the first stage without a complete checkpoint; a run already stored is not
stored again.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from fcabench import methods, tasks
from fcabench.devices import default_device
from fcabench.errors import FcabenchError
from fcabench.runs import predictions as kept
from fcabench.training import checkpoint as ckpt
from fcabench.training import data, records, scoring
from fcabench.training.settings import AT_REAL_LENGTHS, TrainSettings, check_length_and_batch, check_stage_names

__all__ = ["TrainSettings", "check_length_and_batch", "checkpoint_task", "plan_stages", "resolve_task", "train"]


def resolve_task(task, task_options: dict | None = None):
    """A registered task by name, a Task, or a local data file (CSV/TSV/JSONL/Parquet) with options."""
    if isinstance(task, tasks.Task):
        return task
    if task in tasks.names():
        if task_options:
            raise FcabenchError(f"task options are for a data file, not the registered task {task!r}")
        return tasks.get(task)
    if Path(str(task)).suffix.lower() in (".csv", ".tsv", ".jsonl", ".json", ".parquet"):
        return tasks.from_file(task, **(task_options or {}))
    return tasks.get(task)  # raises with the list of tasks


def task_record(task, task_options: dict | None) -> dict:
    """How to rebuild ``task`` from a checkpoint's manifest: a registered name, or a file and its options."""
    if task.name in tasks.names() and tasks.get(task.name) == task:
        return {"name": task.name}
    return {"name": task.name, "file": task.data_files, "options": dict(task_options or {})}


def plan_stages(method, config, stages: Sequence[str] | None, from_checkpoint: str | None, training_free: bool):
    plan = list(method.stages(config))
    if method.config_is_given(config):  # the user's configuration is used as given: no search replaces it
        plan = [
            dataclasses.replace(s, config=config) if s.config is methods.DERIVED else s for s in plan if not s.derive
        ]
    if training_free:
        if not from_checkpoint:
            raise FcabenchError("training-free needs a fine-tuned checkpoint: pass from_checkpoint (--from)")
        if stages:
            raise FcabenchError("training-free runs no stages: drop --stages")
        return [methods.Stage("training-free", config)]
    if stages:
        problem = check_stage_names([s.name for s in plan], stages)
        if problem:
            given = " (its configuration is given)" if method.config_is_given(config) else ""
            raise FcabenchError(f"--stages: {method.name}{given}: {problem}")
        return [s for s in plan if s.name in stages]
    if from_checkpoint:  # an already fine-tuned model: skip the plain fine-tuning the method starts with
        while plan and plan[0].config is None and len(plan) > 1:
            plan = plan[1:]
    return plan


@dataclasses.dataclass(frozen=True)
class Plan:
    """Everything one ``train`` call decided and checked before any work, read by every stage."""

    model: str  # the backbone the runs name (a checkpoint's own when starting from one)
    task: tasks.Task
    task_options: dict | None
    settings: TrainSettings
    method: methods.Method
    config: object  # the user's configuration of the method
    stages: list  # the stages to run, in order
    parent: dict | None  # the manifest of the starting checkpoint
    from_checkpoint: str | None
    request_id: str  # what resumes an interrupted command
    point_id: str  # the same request at any seed: what a study groups seeds by (runs.stats.group_id)
    output: Path
    results_file: Path
    self_contained: bool
    overwrite: bool
    force: bool
    progress: bool
    resumable: frozenset  # stages complete from this same command

    @property
    def deriving_stages(self) -> str:
        return "/".join(sorted(s.name for s in self.method.stages(self.config) if s.derive))


@dataclasses.dataclass(frozen=True)
class Splits:
    """The examples the stages train and score on, tokenised, and the tokenizer that did it."""

    train: object  # the training split (None: a training-free call loads none)
    eval: object  # the validation split
    encoded_train: object
    encoded_eval: object
    tokenizer: object


DEFAULT_MODEL = "minilm-l6"


def train(
    model: str | None = None,
    task=None,
    method: str = "vanilla",
    *,
    method_options: dict | None = None,
    stages: Sequence[str] | None = None,
    from_checkpoint: str | None = None,
    output_dir: str,
    settings: TrainSettings | None = None,
    training_free: bool = False,
    self_contained: bool = False,
    results: str | None = None,
    overwrite: bool = False,
    force: bool = False,
    progress: bool = True,
    data_dir: str | None = None,
    hub: bool = False,
    task_options: dict | None = None,
    **setting_values,
) -> list:
    """Train ``model`` on ``task`` with ``method`` through its stages; returns the runs of the stages.

    ``model``: a folder or hub name of any supported encoder family (:mod:`fcabench.encoders`), or
    ``minilm-l6`` (the default); with ``from_checkpoint``, the checkpoint's own (naming another is refused).
    ``settings`` (:class:`TrainSettings`: length, epochs or steps, batch, learning rate, seed, precision, subsets,
    ``macs_ratio``...), or its fields as keywords (``epochs=1``), which override it.
    ``from_checkpoint``: a fcabench checkpoint folder to start from (the plain fine-tuning stage is then
    skipped); its task and length are inherited unless given. ``training_free``: apply the method to that
    checkpoint and score it, no training (the new checkpoint refers to its weights unless ``self_contained``).
    ``results``: the run file to append to (default: ``results/runs.jsonl`` in the current folder); a run already
    there is skipped unless ``force`` (then stored marked as a repeat). ``overwrite``: replace stage
    checkpoints another command wrote. ``data_dir``/``hub``: where GLUE data comes from.
    """
    from fcabench.runs import store

    unknown = sorted(set(setting_values) - {f.name for f in dataclasses.fields(TrainSettings)})
    if unknown:
        raise TypeError(f"train() got unknown setting(s) {', '.join(unknown)}")
    settings = dataclasses.replace(settings or TrainSettings(), **setting_values)
    plan = _plan(
        model, task, method, method_options, stages, from_checkpoint, settings, training_free, task_options,
        dict(output=Path(output_dir).expanduser(), results_file=store.check_writable(results),
             self_contained=self_contained, overwrite=overwrite, force=force, progress=progress),
    )  # fmt: skip
    current, derived, splits = _start(plan, data_dir, hub, training_free)
    runs, parent_id = [], (plan.parent or {}).get("run_id")
    for stage in plan.stages:
        folder = plan.output / stage.name
        if stage.name in plan.resumable:  # complete, from this same command: resume after it
            say(f"{folder}: complete from an earlier run of this command; continuing from it")
        else:
            _run_stage(plan, splits, stage, folder, current, derived, parent_id)
        stage_runs = _record(plan, stage, folder)
        runs.extend(stage_runs)
        parent_id = stage_runs[0].run_id
        if stage.derive:
            searched, _, _ = ckpt.load_checkpoint(folder)
            derived = plan.method.derive_config(searched, plan.config)
            say(f"{stage.name}: derived {plan.method.name} configuration {methods.describe(derived, searched.config)}")
        current, _, _ = ckpt.load_checkpoint(folder, patched=False, device=plan.settings.device)  # the next start
    return runs


def _plan(
    model, task, method, method_options, stages, from_checkpoint, settings, training_free, task_options, outputs: dict
) -> Plan:
    """The call's task, settings, configuration, stages and outputs, every one of them checked against the model
    (``outputs``: the folder, run file and flags, the stages this same command completed read off the folder)."""
    from fcabench.models import checkpoint_config, resolve

    parent = ckpt.read_manifest(from_checkpoint) if from_checkpoint else None
    if parent and model is not None and model != parent.get("model"):
        raise FcabenchError(
            f"--model {model} and --from {from_checkpoint} (a checkpoint of {parent.get('model')}): the checkpoint "
            f"is the model; give one of them"
        )
    task, task_options = checkpoint_task(parent, task, task_options, from_checkpoint)
    settings = dataclasses.replace(
        settings,
        seq_len=settings.seq_len if settings.seq_len is not None else (parent or {}).get("seq_len") or task.seq_len,
        device=default_device(settings.device),
    )
    scoring.check_precision(settings.precision, settings.device)
    model = parent["model"] if parent else model or DEFAULT_MODEL  # runs name the backbone a checkpoint came from
    method_obj = methods.get(method)
    config = methods.make_config(method, **method_obj.training_options(dict(method_options or {}), settings.seq_len))
    planned = plan_stages(method_obj, config, stages, from_checkpoint, training_free)
    model_config = checkpoint_config(str(Path(from_checkpoint).expanduser()) if parent else resolve(model))
    settings.check(planned, method_obj, model_config)
    request = dict(
        model=model,
        task=task_record(task, task_options),
        method=method,
        config=ckpt.config_to_dict(config),
        **_budget(settings),
        max_train_examples=settings.max_train_examples,
        max_eval_examples=settings.max_eval_examples,
        parent=(parent or {}).get("run_id"),
    )  # what resumes an interrupted command: the same request id (these keys name the stored runs' requests)
    if settings.subset_seed is not None:  # only when set: a request without it keeps the id it has
        request["subset_seed"] = settings.subset_seed
    if settings.macs_at != "padded":  # the same: a budget met elsewhere is another request
        request["macs_at"] = settings.macs_at
    # The operating point: the request without its seed, started from its parent's point (a derived retention
    # or learned thresholds differ by seed; what was asked for does not).
    point = {**request, "seed": None, "parent": (parent or {}).get("point_id")}
    request_id = records.run_id(request)
    return Plan(
        model,
        task,
        task_options,
        settings,
        method_obj,
        config,
        planned,
        parent,
        from_checkpoint,
        request_id,
        records.run_id(point),
        resumable=frozenset(_check_outputs(outputs["output"], planned, request_id, outputs["overwrite"])),
        **outputs,
    )


def _budget(s: TrainSettings) -> dict:
    """The settings that change what a stage learns, as the request and run ids have named them since the first
    release (ids hash sorted keys, so both records share this one list)."""
    names = (
        "seed",
        "seq_len",
        "epochs",
        "max_steps",
        "batch_size",
        "learning_rate",
        "warmup_ratio",
        "weight_decay",
        "precision",
        "macs_ratio",
    )
    return {name: getattr(s, name) for name in names}


def _start(plan: Plan, data_dir, hub: bool, training_free: bool):
    """(the model the first stage starts from, the derived configuration when it needs one, the splits tokenised)."""
    from fcabench.training.backbones import load_for_task

    s = plan.settings
    seed = s.subset_seed if s.subset_seed is not None else s.seed
    train_split = (
        None
        if training_free
        else plan.task.load("train", data_dir=data_dir, hub=hub, max_examples=s.max_train_examples, seed=seed)
    )
    eval_split = plan.task.load("validation", data_dir=data_dir, hub=hub, max_examples=s.max_eval_examples, seed=seed)
    derived = None
    if plan.parent:
        if plan.stages[0].config is methods.DERIVED:
            if plan.parent.get("stage") not in plan.deriving_stages.split("/"):
                raise FcabenchError(
                    f"stage {plan.stages[0].name} needs a derived configuration: start --from the checkpoint "
                    f"of a {plan.deriving_stages} stage, not a {plan.parent.get('stage')} one"
                )
            searched, _, _ = ckpt.load_checkpoint(plan.from_checkpoint)
            derived = plan.method.derive_config(searched, plan.config)
        current, tokenizer, _ = ckpt.load_checkpoint(plan.from_checkpoint, patched=False)
    else:
        current, tokenizer = load_for_task(plan.model, plan.task, s.seed)
    splits = Splits(
        train_split,
        eval_split,
        data.tokenize(train_split, tokenizer, s.seq_len) if train_split is not None else None,
        data.tokenize(eval_split, tokenizer, s.seq_len),
        tokenizer,
    )
    return current, derived, splits


def _run_stage(plan: Plan, splits: Splits, stage, folder: Path, current, derived, parent_id) -> None:
    """Train one stage from ``current``, score it on the validation split, write its checkpoint and runs."""
    s = plan.settings
    if stage.config is methods.DERIVED and derived is None:
        raise FcabenchError(
            f"stage {stage.name} needs a derived configuration: run the stage that derives "
            f"it first, or start --from its checkpoint (a {plan.deriving_stages} checkpoint)"
        )
    config = derived if stage.config is methods.DERIVED else stage.config
    note = None
    if s.macs_ratio is not None and config is not None and not stage.derive:
        config, note = _fit_budget(plan, splits, current, config)
    if config is not None:
        methods.apply(current, config)
    trained = _train_stage(plan, splits, current, stage) if stage.trains and stage.name != "training-free" else None
    current.to(s.device).eval()
    outcomes = _outcomes(plan, splits, current, stage, config)
    if trained is None:
        start = plan.from_checkpoint if stage.name == "training-free" else "the previous stage's weights"
        trained = {"epoch_selection": f"no training: the method applied to {start}"}
    scored_runs = _validation_runs(plan, splits, stage, current, outcomes, parent_id, note, trained)
    stage_runs = [run for runs in scored_runs for run in runs]
    free = stage.name == "training-free" and not plan.self_contained
    manifest = {
        "task": plan.task.name,
        "task_source": task_record(plan.task, plan.task_options),
        "labels": list(plan.task.labels) if plan.task.labels else None,
        "seq_len": s.seq_len,
        "stage": stage.name,
        "run_id": stage_runs[0].run_id,
        "model": plan.model,
        "parent_run_id": parent_id,
        "request_id": plan.request_id,
        "point_id": plan.point_id,
        "training": {k: v for k, v in trained.items() if k.startswith("train_")} or None,
        "runs": [dataclasses.asdict(run) for run in stage_runs],
    }
    if not stage.trains:  # a search's configurations, cheapest first (evaluate --front scores each)
        manifest["front"] = [
            {"config": ckpt.config_to_dict(config), "run_id": runs[0].run_id, "macs_ratio": ratio, **scores}
            for (config, scores, _, _, ratio), runs in zip(outcomes, scored_runs)
        ]
    predictions = kept.frame(splits.eval.dataset["id"], splits.encoded_eval["labels"], outcomes[0][3].predictions)
    ckpt.save_checkpoint(
        current,
        splits.tokenizer,
        folder,
        manifest,
        predictions=predictions,
        overwrite=plan.overwrite,
        weights_from=plan.from_checkpoint if free else None,
    )


def _validation_runs(plan: Plan, splits: Splits, stage, model, outcomes, parent_id, note, trained) -> list[list]:
    """The runs (one per metric) of each scored configuration of the stage on the validation split."""
    s = plan.settings
    acting = methods.applied(model)  # FCA's search runs PoWER-BERT's soft extraction: store what ran
    run_method = acting.method.name if acting else "vanilla"
    scored_runs = []
    for run_config, scores, costs, scored, _ in outcomes:
        spec = {
            "kind": "train",
            "model": plan.model,
            "task": plan.task.name,
            "method": run_method,
            "config": ckpt.config_to_dict(run_config),
            "stage": stage.name,
            **_budget(s),
            "train_data": splits.train.fingerprint["sha256"] if splits.train else None,
            "eval_data": splits.eval.fingerprint["sha256"],
            "parent": parent_id or plan.from_checkpoint,
        }  # the run id: the keys every stored run was named by, so a stored run is recognised again
        warning = scoring.one_class_warning(plan.task, scored)
        if warning:
            say(f"warning: {stage.name}: {warning}")
        fields = dict(
            seed=s.seed,
            stage=stage.name,
            # the full configuration is in method_config; a stage another method ran (FCA's search is PoWER-BERT's
            # soft extraction, stored as what ran) says whose stage it is
            config_label=stage.name if run_method == plan.method.name else f"{stage.name} of {plan.method.name}",
            parent_run_id=parent_id,
            point_id=plan.point_id,
            source_note=note,
            warning=warning,
            precision="fp32",
            **records.data_fields(splits.eval.fingerprint, plan.task),
            **trained,
        )
        scored_runs.append(
            records.stage_runs(
                method=run_method,
                config=run_config,
                model=plan.model,
                task=plan.task,
                split="validation",
                seq_len=s.seq_len,
                scores=scores,
                costs=costs,
                spec=spec,
                device=s.device,
                **fields,
            )
        )
    return scored_runs


def _outcomes(plan: Plan, splits: Splits, model, stage, config) -> list[tuple]:
    """(configuration, metrics, cost fields, the pass, closed-form MACs / vanilla's or None) of the stage's model on
    the validation split: one for a stage that trains, one per configuration a search keeps, cheapest first."""
    s, task = plan.settings, plan.task
    acting = methods.applied(model)

    def score(encoded):
        return scoring.score(task, model, encoded, s.seq_len, max(s.batch_size, 32), s.device)

    if stage.trains:
        return [(acting.config if acting else methods.make_config("vanilla"), *score(splits.encoded_eval), None)]
    scored: dict = {}  # configuration -> its scoring on the whole split: what the runs store
    sign = 1 if tasks.metrics.higher_is_better(task.main_metric) else -1

    def validation_score(run_config, examples: int | None = None) -> float:  # the search runs the model under
        encoded = splits.encoded_eval  # run_config around this call
        if examples is not None and examples < len(encoded):
            encoded = encoded.shuffle(seed=0).select(range(examples))
        result = score(encoded)
        if encoded is splits.encoded_eval:
            scored[run_config] = result
        return sign * result[0][task.main_metric]

    kept_configs = acting.method.search(model, config, validation_score, s.seq_len, s.seed)
    return [(run_config, *scored[run_config], ratio) for run_config, ratio, _ in kept_configs]


def _record(plan: Plan, stage, folder: Path) -> list:
    """The runs a stage's checkpoint holds, appended to the run file (once)."""
    stage_runs, written = _store(folder, plan.results_file, plan.force)
    if not written:
        say(
            f"run {stage_runs[0].run_id} ({stage.name}) is already in {plan.results_file}: not stored again "
            f"(--force stores a repeat)"
        )
    return stage_runs


def say(message: str) -> None:
    print(message, file=sys.stderr)


def checkpoint_task(manifest: dict | None, task, task_options, where, any_file: bool = False):
    """(task, its file options) for work on a checkpoint (``manifest``; None: no checkpoint, ``task`` as given):
    ``task`` as given, else the checkpoint's own. A named task, or any task unless ``any_file``, must be the
    checkpoint's, with its labels; with ``any_file`` (scoring), a data file is read with the checkpoint's
    labels, matched by name."""
    if manifest is None:
        if task is None:
            raise FcabenchError("name a task (--task), or start --from a checkpoint to train on its task")
        return resolve_task(task, task_options), task_options
    labels = manifest.get("labels")
    if task is None:
        source = manifest.get("task_source") or {"name": manifest.get("task")}
        task = source.get("file") or source["name"]
        task_options = {**(source.get("options") or {}), **(task_options or {})} or None
    if any_file and not isinstance(task, tasks.Task) and str(task) not in tasks.names():
        if labels is not None:
            task_options = {**(task_options or {}), "labels": labels}
        return resolve_task(task, task_options), task_options
    task = resolve_task(task, task_options)
    if manifest.get("task") != task.name:
        raise FcabenchError(f"{where} was trained on {manifest.get('task')}, not {task.name}")
    if (list(task.labels) if task.labels else None) != labels:
        raise FcabenchError(f"{where} has the labels {labels}; {task.name} has {list(task.labels or [])}")
    return task, task_options


def _check_outputs(output: Path, plan, request_id: str, overwrite: bool) -> set[str]:
    """Stages whose checkpoint this same command already completed (to resume after); any other existing
    stage folder is refused unless ``overwrite``."""
    if output.exists() and not output.is_dir():
        raise FcabenchError(f"{output}: exists and is not a folder; --output-dir takes a folder")
    done: set[str] = set()
    for stage in plan:
        folder = output / stage.name
        if folder.is_dir() and any(folder.iterdir()):
            try:
                same = ckpt.read_manifest(folder, verify=False).get("request_id") == request_id
            except FcabenchError:
                same = False
            if same and not overwrite:
                ckpt.read_manifest(folder)  # complete and unchanged, or refused
                done.add(stage.name)
                continue
        ckpt.check_target(folder, overwrite)
    # resume only up to the first stage still to run: a later one would start from other weights
    first_missing = next((i for i, s in enumerate(plan) if s.name not in done), len(plan))
    stale = [s.name for s in plan[first_missing:] if s.name in done]
    if stale:
        raise FcabenchError(
            f"{output / stale[0]}: complete, but {plan[first_missing].name} before it is not; "
            f"pass --overwrite to train them again"
        )
    return {s.name for s in plan[:first_missing]}


def _store(folder: Path, results_file: Path, force: bool):
    """The runs a checkpoint's manifest holds, with its weights' hash, appended to the run file;
    returns (runs, rows written)."""
    from fcabench.runs import append
    from fcabench.runs.schema import Run

    manifest = ckpt.read_manifest(folder, verify=False)
    digest = ckpt.weights_sha256(folder)
    runs = [Run(**dict(record, checkpoint_sha256=digest)) for record in manifest["runs"]]
    if (folder / ckpt.PREDICTIONS_FILE).is_file():
        kept.keep(folder / ckpt.PREDICTIONS_FILE, runs[0].run_id, results_file)
    return runs, append(runs, path=results_file, duplicates="repeat" if force else "skip")


REAL_LENGTH_SAMPLE = 512  # examples whose real lengths a budget at the real lengths is met on (a fixed draw)


def _fit_budget(plan: Plan, splits: Splits, model, config):
    """``config``'s retention scaled to ``--macs-ratio`` of the unpatched model's encoder MACs, and the note saying
    where the budget was met: one input of the padded length, or a fixed sample of the training examples (the
    validation split's when a training-free run loads none), each at its real length."""
    from functools import partial

    from fcabench.counting.budget import fit_retention

    s = plan.settings
    if s.macs_at == "padded":
        config, achieved = fit_retention(model, config, s.seq_len, s.macs_ratio)
        return config, (
            f"retention scaled to {s.macs_ratio} x the unpatched encoder MACs at n = {s.seq_len} "
            f"(closed form: {achieved:.3f} x)"
        )
    split, encoded = (
        ("training", splits.encoded_train) if splits.train is not None else ("validation", splits.encoded_eval)
    )
    sample = encoded.shuffle(seed=0).select(range(min(REAL_LENGTH_SAMPLE, len(encoded))))
    measure = partial(
        scoring.real_length_encoder_macs,
        encoded=sample,
        seq_len=s.seq_len,
        batch_size=max(s.batch_size, 32),
        device=s.device,
    )
    config, achieved = fit_retention(model, config, s.seq_len, s.macs_ratio, measure=measure)
    return config, (
        f"retention scaled to {s.macs_ratio} x the unpatched encoder MACs {AT_REAL_LENGTHS} of {len(sample)} "
        f"{split} examples, padded to n = {s.seq_len} (measured: {achieved:.3f} x)"
    )


def _train_stage(plan: Plan, splits: Splits, model, stage) -> dict:
    """Train one stage; returns the run fields describing it (budget, steps, wall time, epoch choice)."""
    import tempfile

    import numpy as np
    import torch
    from transformers import PrinterCallback, TrainingArguments

    from fcabench.training.trainer import AfterStepCallback, BestEpochCallback, MethodTrainer, RichProgressCallback

    s, task = plan.settings, plan.task
    metric = task.main_metric
    keep = "last" if stage.derive else "best"
    choose = keep == "best" and s.max_steps is None and s.epochs > 1
    best = BestEpochCallback(metric, greater_is_better=tasks.metrics.higher_is_better(metric), keep=keep)
    callbacks = [best, AfterStepCallback()]
    if plan.progress:
        callbacks.append(RichProgressCallback(f"{plan.method.name} {stage.name}"))
    scratch = tempfile.TemporaryDirectory(prefix="fcabench-trainer-")  # Trainer wants a folder; nothing is saved
    args = TrainingArguments(
        output_dir=scratch.name,
        num_train_epochs=s.epochs,
        max_steps=s.max_steps or -1,
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=max(s.batch_size, 32),
        learning_rate=s.learning_rate,
        warmup_steps=s.warmup_ratio,  # < 1: a ratio
        weight_decay=s.weight_decay,
        save_strategy="no",
        eval_strategy="epoch" if choose else "no",  # one epoch or a step budget: nothing to choose between
        logging_strategy="steps",
        logging_steps=10,
        report_to=s.report_to or "none",
        seed=s.seed,
        data_seed=s.seed,
        disable_tqdm=True,
        use_cpu=s.device == "cpu",
        dataloader_num_workers=0,
        bf16=s.precision == "bf16",
        fp16=s.precision == "fp16",  # autocast; the weights stay fp32
    )

    def compute(prediction):
        return tasks.compute_metrics(task.metrics, prediction.predictions, np.asarray(prediction.label_ids))

    trainer = MethodTrainer(
        model=model,
        args=args,
        train_dataset=splits.encoded_train,
        eval_dataset=splits.encoded_eval,
        data_collator=data.collator(splits.tokenizer, s.seq_len),
        compute_metrics=compute,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # progress and runs report instead of printed log dicts
    start = time.perf_counter()
    with scratch:
        trainer.train()
    wall = time.perf_counter() - start - sum(entry.get("eval_runtime", 0.0) for entry in best.history)  # training alone
    return dict(
        train_epochs=float(s.epochs),
        train_max_steps=s.max_steps,
        train_steps=trainer.state.global_step,
        train_batch_size=s.batch_size,
        train_learning_rate=s.learning_rate,
        train_warmup_ratio=s.warmup_ratio,
        train_weight_decay=s.weight_decay,
        train_precision=s.precision,
        train_threads=torch.get_num_threads(),
        train_examples=len(splits.encoded_train),
        train_wall_time_s=wall,
        epoch_selection=best.description(),
    )
