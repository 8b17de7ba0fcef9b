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

from fcabench import encoders, methods, tasks
from fcabench.devices import default_device
from fcabench.errors import FcabenchError
from fcabench.runs import predictions as kept
from fcabench.training import checkpoint as ckpt
from fcabench.training import data, hooks, records, scoring

# The fine-tuning recipe of BERT (Devlin et al. 2019: learning rate 2e-5 to 5e-5, 2 to 4 epochs, 10 % linear
# warm-up, weight decay 0.01), which PoWER-BERT's official code also uses. The top learning rate is the
# default so that one epoch of a small data set trains (at 2e-5 an 800-row CSV stayed at its majority class).
LEARNING_RATE, EPOCHS, WARMUP_RATIO, WEIGHT_DECAY = 5e-5, 3.0, 0.1, 0.01


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
    plan = hooks.stages(method, config)
    if method.config_is_given(config):  # the user's configuration is used as given: no search replaces it
        plan = [dataclasses.replace(s, config=config) if s.config is hooks.DERIVED else s for s in plan if not s.derive]
    if training_free:
        if not from_checkpoint:
            raise FcabenchError("training-free needs a fine-tuned checkpoint: pass from_checkpoint (--from)")
        if stages:
            raise FcabenchError("training-free runs no stages: drop --stages")
        return [hooks.Stage("training-free", config)]
    if stages:
        known = [s.name for s in plan]
        unknown = [s for s in stages if s not in known]
        if unknown:
            given = " when its configuration is given" if method.config_is_given(config) else ""
            raise FcabenchError(
                f"{method.name} has no stage(s) {', '.join(unknown)}{given}; its stages: {', '.join(known)}"
            )
        return [s for s in plan if s.name in stages]
    if from_checkpoint:  # an already fine-tuned model: skip the plain fine-tuning the method starts with
        while plan and plan[0].config is None and len(plan) > 1:
            plan = plan[1:]
    return plan


def train(
    model: str = "minilm-l6",
    task=None,
    method: str = "vanilla",
    *,
    method_options: dict | None = None,
    stages: Sequence[str] | None = None,
    from_checkpoint: str | None = None,
    output_dir: str,
    seq_len: int | None = None,
    epochs: float = EPOCHS,
    max_steps: int | None = None,
    batch_size: int = 16,
    learning_rate: float = LEARNING_RATE,
    warmup_ratio: float = WARMUP_RATIO,
    weight_decay: float = WEIGHT_DECAY,
    seed: int = 0,
    device: str | None = None,
    max_train_examples: int | None = None,
    max_eval_examples: int | None = None,
    training_free: bool = False,
    self_contained: bool = False,
    results: str | None = None,
    overwrite: bool = False,
    force: bool = False,
    progress: bool = True,
    data_dir: str | None = None,
    hub: bool = False,
    task_options: dict | None = None,
    macs_ratio: float | None = None,
    precision: str = "fp32",
    report_to: str | None = None,
) -> list:
    """Train ``model`` on ``task`` with ``method`` through its stages; returns the runs of the stages.

    ``model``: a folder or hub name of any supported encoder family (:mod:`fcabench.encoders`), or
    ``minilm-l6``. ``from_checkpoint``: a fcabench checkpoint folder to start from (the plain fine-tuning stage
    is then skipped); its task and length are inherited unless given. ``training_free``: apply the method to that
    checkpoint and score it, no training (the new checkpoint refers to its weights unless ``self_contained``).
    ``macs_ratio``: scale the retention
    configuration the final stage runs with to this fraction of the unpatched encoder's MACs at ``seq_len``.
    ``precision``: fp32, or bf16 / fp16 autocast for the training steps (validation is scored in fp32).
    ``results``: the run file to append to (default: ``results/runs.jsonl`` in the current folder); a run already
    there is skipped unless ``force`` (then stored marked as a repeat). ``overwrite``: replace stage
    checkpoints another command wrote. ``data_dir``/``hub``: where GLUE data comes from.
    """
    from fcabench.models import _checkpoint_config, resolve
    from fcabench.runs import store
    from fcabench.training.backbones import load_for_task

    parent = ckpt.read_manifest(from_checkpoint) if from_checkpoint else None
    task, task_options = _task_for(task, task_options, parent, from_checkpoint)
    if seq_len is None:
        seq_len = (parent or {}).get("seq_len") or task.seq_len
    model = parent["model"] if parent else model  # runs name the backbone a checkpoint was trained from
    device = default_device(device)
    scoring.check_precision(precision, device)
    method_obj = methods.get(method)
    options = dict(method_options or {})
    if "soft_length" in _fields(method_obj.config_class) and options.get("soft_length") is None:
        options["soft_length"] = seq_len  # soft-extract weights cover the training length N, not 512 ranks
    user_config = methods.make_config(method, **options)
    plan = plan_stages(method_obj, user_config, stages, from_checkpoint, training_free)
    model_config = _checkpoint_config(str(Path(from_checkpoint).expanduser()) if parent else resolve(model))
    _check_settings(
        plan,
        method_obj,
        model_config,
        seq_len=seq_len,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_ratio=warmup_ratio,
        macs_ratio=macs_ratio,
    )
    _check_report_to(report_to)
    results_file = store.check_writable(results)
    output = Path(output_dir).expanduser()
    request = dict(
        model=model,
        task=task_record(task, task_options),
        method=method,
        config=ckpt.config_to_dict(user_config),
        seq_len=seq_len,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        learning_rate=learning_rate,
        warmup_ratio=warmup_ratio,
        weight_decay=weight_decay,
        seed=seed,
        max_train_examples=max_train_examples,
        max_eval_examples=max_eval_examples,
        macs_ratio=macs_ratio,
        precision=precision,
        parent=(parent or {}).get("run_id"),
    )
    request_id = records.run_id(request)
    resumable = _check_outputs(output, plan, request_id, overwrite)

    train_split = (
        None
        if training_free
        else task.load("train", data_dir=data_dir, hub=hub, max_examples=max_train_examples, seed=seed)
    )
    eval_split = task.load("validation", data_dir=data_dir, hub=hub, max_examples=max_eval_examples, seed=seed)

    parent_id, derived = (parent or {}).get("run_id"), None
    deriving_stages = {s.name for s in hooks.stages(method_obj, user_config) if s.derive}
    if parent:
        if plan[0].config is hooks.DERIVED:
            if parent.get("stage") not in deriving_stages:
                raise FcabenchError(
                    f"stage {plan[0].name} needs a derived configuration: start --from the checkpoint "
                    f"of a {'/'.join(sorted(deriving_stages))} stage, not a {parent.get('stage')} one"
                )
            searched, _, _ = ckpt.load_checkpoint(from_checkpoint)
            derived = hooks.derive_config(method_obj, searched, user_config)
        current, tokenizer, _ = ckpt.load_checkpoint(from_checkpoint, patched=False)
    else:
        current, tokenizer = load_for_task(model, task, seed)
    encoded_train = None if training_free else data.tokenize(train_split, tokenizer, seq_len)
    encoded_eval = data.tokenize(eval_split, tokenizer, seq_len)

    runs = []
    for stage in plan:
        folder = output / stage.name
        if stage.name in resumable:  # complete, from this same command: resume after it
            say(f"{folder}: complete from an earlier run of this command; continuing from it")
        else:
            config = derived if stage.config is hooks.DERIVED else stage.config
            if stage.config is hooks.DERIVED and derived is None:
                raise FcabenchError(
                    f"stage {stage.name} needs a derived configuration: run the stage that derives "
                    f"it first, or start --from its checkpoint (a {'/'.join(sorted(deriving_stages))} checkpoint)"
                )
            note = None
            if macs_ratio is not None and config is not None and not stage.derive:
                config, achieved = _fit(current, config, seq_len, macs_ratio)
                note = (
                    f"retention scaled to {macs_ratio} x the unpatched encoder MACs at n = {seq_len} "
                    f"(closed form: {achieved:.3f} x)"
                )
            model_obj = current
            if config is not None:
                methods.apply(model_obj, config)
            trained = None
            if stage.name != "training-free":
                trained = _train_stage(
                    model_obj,
                    task,
                    encoded_train,
                    encoded_eval,
                    tokenizer,
                    stage,
                    device,
                    progress,
                    seq_len,
                    epochs=epochs,
                    max_steps=max_steps,
                    batch_size=batch_size,
                    learning_rate=learning_rate,
                    warmup_ratio=warmup_ratio,
                    weight_decay=weight_decay,
                    precision=precision,
                    seed=seed,
                    report_to=report_to,
                )
            model_obj.to(device).eval()
            scores, costs, scored = scoring.score(task, model_obj, encoded_eval, seq_len, max(batch_size, 32), device)
            acting = methods.applied(model_obj)  # FCA's search runs PoWER-BERT's soft extraction: store what ran
            run_method, run_config = (
                (acting.method.name, acting.config) if acting else ("vanilla", methods.make_config("vanilla"))
            )
            spec = {
                "kind": "train",
                "model": model,
                "task": task.name,
                "method": run_method,
                "config": ckpt.config_to_dict(run_config),
                "stage": stage.name,
                "seed": seed,
                "seq_len": seq_len,
                "epochs": epochs,
                "max_steps": max_steps,
                "batch_size": batch_size,
                "learning_rate": learning_rate,
                "warmup_ratio": warmup_ratio,
                "weight_decay": weight_decay,
                "precision": precision,
                "train_data": train_split.fingerprint["sha256"] if train_split else None,
                "eval_data": eval_split.fingerprint["sha256"],
                "parent": parent_id or from_checkpoint,
                "macs_ratio": macs_ratio,
            }
            warning = scoring.one_class_warning(task, scored)
            if warning:
                say(f"warning: {stage.name}: {warning}")
            fields = dict(
                seed=seed,
                stage=stage.name,
                config_label=stage.name,  # the full configuration is in method_config
                parent_run_id=parent_id,
                source_note=note,
                warning=warning,
                precision="fp32",
                **records.data_fields(eval_split.fingerprint, task),
            )
            fields.update(trained or {"epoch_selection": f"no training: the method applied to {from_checkpoint}"})
            stage_runs = records.stage_runs(
                method=run_method,
                config=run_config,
                model=model,
                task=task,
                split="validation",
                seq_len=seq_len,
                scores=scores,
                costs=costs,
                spec=spec,
                device=device,
                **fields,
            )
            free = stage.name == "training-free" and not self_contained
            ckpt.save_checkpoint(
                model_obj,
                tokenizer,
                folder,
                {
                    "task": task.name,
                    "task_source": task_record(task, task_options),
                    "labels": list(task.labels) if task.labels else None,
                    "seq_len": seq_len,
                    "stage": stage.name,
                    "run_id": stage_runs[0].run_id,
                    "model": model,
                    "parent_run_id": parent_id,
                    "request_id": request_id,
                    "training": {k: v for k, v in fields.items() if k.startswith("train_")} or None,
                    "runs": [dataclasses.asdict(run) for run in stage_runs],
                },
                weights_from=from_checkpoint if free else None,
                overwrite=overwrite,
                predictions=kept.frame(eval_split.dataset["id"], encoded_eval["labels"], scored.predictions),
            )
        stage_runs, written = _store(folder, results_file, force)
        if not written:
            say(
                f"run {stage_runs[0].run_id} ({stage.name}) is already in {results_file}: not stored again "
                f"(--force stores a repeat)"
            )
        runs.extend(stage_runs)
        parent_id = stage_runs[0].run_id
        if stage.derive:
            searched, _, _ = ckpt.load_checkpoint(folder)
            derived = hooks.derive_config(method_obj, searched, user_config)
        current, _, _ = ckpt.load_checkpoint(folder, patched=False, device=device)  # the next stage's start
    return runs


def say(message: str) -> None:
    print(message, file=sys.stderr)


def _task_for(task, task_options, parent: dict | None, from_checkpoint):
    """The task to train on, and the file options it was read with: as given, else the checkpoint's; a
    checkpoint of another task, or of other labels, is refused."""
    if task is None:
        if parent is None:
            raise FcabenchError("name a task (--task), or start --from a checkpoint to train on its task")
        source = parent.get("task_source") or {"name": parent.get("task")}
        task, task_options = source.get("file") or source["name"], source.get("options") or task_options
    task = resolve_task(task, task_options)
    if parent:
        if parent.get("task") != task.name:
            raise FcabenchError(f"{from_checkpoint} was trained on {parent.get('task')}, not {task.name}")
        labels = list(task.labels) if task.labels else None
        if parent.get("labels") != labels:
            raise FcabenchError(f"{from_checkpoint} has the labels {parent.get('labels')}; {task.name} has {labels}")
    return task, task_options


def check_length_and_batch(seq_len: int, limit: int, batch_size: int) -> None:
    """The padded length a model takes (from 2, [CLS] and one more, to its maximum) and a batch of at least one."""
    if not 2 <= seq_len <= limit:
        raise FcabenchError(f"--seq-len must be from 2 to the model's maximum {limit}, got {seq_len}")
    if batch_size < 1:
        raise FcabenchError(f"--batch-size must be at least 1, got {batch_size}")


def _check_settings(
    plan, method, model_config, *, seq_len, epochs, max_steps, batch_size, learning_rate, warmup_ratio, macs_ratio
) -> None:
    """Every setting and every stage's configuration checked against the model, before any work."""
    check_length_and_batch(seq_len, encoders.max_length(model_config), batch_size)
    checks = [
        (epochs > 0, f"--epochs must be above 0, got {epochs}"),
        (max_steps is None or max_steps >= 1, f"--max-steps must be at least 1, got {max_steps}"),
        (learning_rate > 0, f"--lr must be above 0, got {learning_rate}"),
        (0 <= warmup_ratio < 1, f"--warmup-ratio must be in [0, 1), got {warmup_ratio}"),
        (macs_ratio is None or 0 < macs_ratio <= 1, f"--macs-ratio must be in (0, 1], got {macs_ratio}"),
    ]
    for ok, message in checks:
        if not ok:
            raise FcabenchError(message)
    for stage in plan:
        if stage.config is not None and stage.config is not hooks.DERIVED:
            acting = methods.method_of(stage.config)
            acting.validate(stage.config, model_config)
            acting.check_input(stage.config, seq_len)
    if macs_ratio is not None:
        if plan[-1].config is None or plan[-1].derive or "retention" not in _fields(method.config_class):
            raise FcabenchError(
                f"--macs-ratio scales a retention configuration (power-bert, fca); {method.name}'s "
                f"final stage {plan[-1].name} has none"
            )


def _check_report_to(report_to: str | None) -> None:
    """Loggers the Trainer knows and this machine has, before any work (the Trainer would fail at its start)."""
    if not report_to or report_to == "none":
        return
    from transformers.integrations import get_available_reporting_integrations
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    for name in (part.strip() for part in report_to.split(",")):
        if name not in INTEGRATION_TO_CALLBACK:
            raise FcabenchError(
                f"--report-to {name}: not a logger the Trainer knows ({', '.join(INTEGRATION_TO_CALLBACK)})"
            )
        if name not in get_available_reporting_integrations():
            raise FcabenchError(f"--report-to {name}: its package is not installed here")


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


def _fields(config_class) -> set[str]:
    return {f.name for f in dataclasses.fields(config_class)}


def _fit(model, config, seq_len, ratio):
    from fcabench.budget import fit_retention

    return fit_retention(model, config, seq_len, ratio)


def _train_stage(
    model,
    task,
    encoded_train,
    encoded_eval,
    tokenizer,
    stage,
    device: str,
    progress: bool,
    seq_len: int,
    *,
    epochs,
    max_steps,
    batch_size,
    learning_rate,
    warmup_ratio,
    weight_decay,
    precision,
    seed,
    report_to,
):
    """Train one stage; returns the run fields describing it (budget, steps, wall time, epoch choice)."""
    import tempfile

    import numpy as np
    import torch
    from transformers import PrinterCallback, TrainingArguments

    from fcabench.training.trainer import AfterStepCallback, BestEpochCallback, MethodTrainer, RichProgressCallback

    metric = task.main_metric
    keep = "last" if stage.derive else "best"
    choose = keep == "best" and max_steps is None and epochs > 1
    best = BestEpochCallback(metric, greater_is_better=tasks.metrics.higher_is_better(metric), keep=keep)
    callbacks = [best, AfterStepCallback()]
    if progress:
        callbacks.append(RichProgressCallback(f"{stage.name}"))
    scratch = tempfile.TemporaryDirectory(prefix="fcabench-trainer-")  # Trainer wants a folder; nothing is saved
    args = TrainingArguments(
        output_dir=scratch.name,
        num_train_epochs=epochs,
        max_steps=max_steps or -1,
        per_device_train_batch_size=batch_size,
        per_device_eval_batch_size=max(batch_size, 32),
        learning_rate=learning_rate,
        warmup_steps=warmup_ratio,
        weight_decay=weight_decay,
        save_strategy="no",  # < 1: a ratio
        eval_strategy="epoch" if choose else "no",  # one epoch or a step budget: nothing to choose between
        logging_strategy="steps",
        logging_steps=10,
        report_to=report_to or "none",
        seed=seed,
        data_seed=seed,
        disable_tqdm=True,
        use_cpu=device == "cpu",
        dataloader_num_workers=0,
        bf16=precision == "bf16",
        fp16=precision == "fp16",  # autocast; the weights stay fp32
    )

    def compute(prediction):
        return tasks.compute_metrics(task.metrics, prediction.predictions, np.asarray(prediction.label_ids))

    trainer = MethodTrainer(
        model=model,
        args=args,
        train_dataset=encoded_train,
        eval_dataset=encoded_eval,
        data_collator=data.collator(tokenizer, seq_len),
        compute_metrics=compute,
        callbacks=callbacks,
    )
    trainer.remove_callback(PrinterCallback)  # progress and runs report instead of printed log dicts
    start = time.perf_counter()
    with scratch:
        trainer.train()
    wall = time.perf_counter() - start - sum(entry.get("eval_runtime", 0.0) for entry in best.history)  # training alone
    return dict(
        train_epochs=float(epochs),
        train_max_steps=max_steps,
        train_steps=trainer.state.global_step,
        train_batch_size=batch_size,
        train_learning_rate=learning_rate,
        train_warmup_ratio=warmup_ratio,
        train_weight_decay=weight_decay,
        train_precision=precision,
        train_threads=torch.get_num_threads(),
        train_examples=len(encoded_train),
        train_wall_time_s=wall,
        epoch_selection=best.description(),
    )
