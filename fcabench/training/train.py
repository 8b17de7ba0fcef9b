"""``fcabench.train``: fine-tune a BERT on a task with a method, stage by stage as its authors do.

Each stage (``Method.stages``: e.g. PoWER-BERT's fine-tune, search, retrain) starts from the previous
stage's weights, trains with Hugging Face ``Trainer`` (the method's loss term, parameter groups and
post-step hook included), keeps the epoch with the best validation metric (a search keeps its last),
writes a checkpoint folder ``<output_dir>/<stage>`` that rebuilds the patched model, scores the model on
the validation split and appends that as a run to the store.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from fcabench import methods, tasks
from fcabench.errors import FcabenchError
from fcabench.training import checkpoint as ckpt
from fcabench.training import data, hooks, records, scoring
from fcabench.training.backbones import load_for_task


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


def default_device(device: str | None) -> str:
    if device:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def plan_stages(method, config, stages: Sequence[str] | None, from_checkpoint: str | None, training_free: bool):
    plan = hooks.stages(method, config)
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
            raise FcabenchError(f"{method.name} has no stage(s) {', '.join(unknown)}; its stages: {', '.join(known)}")
        return [s for s in plan if s.name in stages]
    if from_checkpoint:  # an already fine-tuned model: skip the plain fine-tuning the method starts with
        while plan and plan[0].config is None and len(plan) > 1:
            plan = plan[1:]
    return plan


def train(model: str, task, method: str = "vanilla", *, method_options: dict | None = None,
          stages: Sequence[str] | None = None, from_checkpoint: str | None = None, output_dir: str,
          seq_len: int | None = None, epochs: float = 3.0, max_steps: int | None = None, batch_size: int = 16,
          learning_rate: float = 2e-5, seed: int = 0, device: str | None = None,
          max_train_examples: int | None = None, max_eval_examples: int | None = None,
          training_free: bool = False, results: str | None = None, progress: bool = True,
          data_dir: str | None = None, hub: bool = False, task_options: dict | None = None,
          macs_ratio: float | None = None, weight_decay: float = 0.01, report_to: str | None = None) -> list:
    """Train ``model`` on ``task`` with ``method`` through its stages; returns the stored runs.

    ``model``: a BERT folder, hub name or ``minilm-l6``. ``from_checkpoint``: a fcabench checkpoint folder
    to start from (the plain fine-tuning stage is then skipped). ``training_free``: apply the method to
    that checkpoint and score it, no training. ``macs_ratio``: scale a derived retention configuration to
    this fraction of the unpatched encoder's MACs at ``seq_len``. ``results``: the run file to append to
    (default: the checkout's ``results/runs.jsonl``). ``data_dir``/``hub``: where GLUE data comes from.
    """
    from fcabench.runs import append

    task = resolve_task(task, task_options)
    seq_len = seq_len or task.seq_len
    device = default_device(device)
    method_obj = methods.get(method)
    options = dict(method_options or {})
    if "soft_length" in _fields(method_obj.config_class) and options.get("soft_length") is None:
        options["soft_length"] = seq_len  # soft-extract weights cover the training length N, not 512 ranks
    user_config = methods.make_config(method, **options)
    plan = plan_stages(method_obj, user_config, stages, from_checkpoint, training_free)
    output = Path(output_dir)

    train_split = None if training_free else task.load("train", data_dir=data_dir, hub=hub,
                                                        max_examples=max_train_examples, seed=seed)
    eval_split = task.load("validation", data_dir=data_dir, hub=hub, max_examples=max_eval_examples, seed=seed)

    parent_id, derived, source = None, None, None
    deriving_stages = {s.name for s in hooks.stages(method_obj, user_config) if s.derive}
    if from_checkpoint:
        meta = ckpt.read_meta(from_checkpoint)
        if meta.get("task") and meta["task"] != task.name:
            raise FcabenchError(f"{from_checkpoint} was trained on {meta['task']}, not {task.name}")
        parent_id, source = meta.get("run_id"), str(from_checkpoint)
        model = meta.get("model") or model  # runs name the backbone the checkpoint was trained from
        if plan[0].config is hooks.DERIVED and meta.get("stage") in deriving_stages:  # --stages retrain --from a search
            searched, _, _ = ckpt.load_checkpoint(from_checkpoint)
            derived = hooks.derive_config(method_obj, searched, user_config)
        current, tokenizer, _ = ckpt.load_checkpoint(from_checkpoint, patched=False)
    else:
        current, tokenizer = load_for_task(model, task, seed)
    encoded_train = None if training_free else data.tokenize(train_split, tokenizer, seq_len)
    encoded_eval = data.tokenize(eval_split, tokenizer, seq_len)

    runs = []
    for stage in plan:
        config = stage.config
        note = None
        if config is hooks.DERIVED:
            if derived is None:
                raise FcabenchError(f"stage {stage.name} needs a derived configuration: run the stage that derives "
                                    f"it first, or start --from its checkpoint (a {'/'.join(sorted(deriving_stages))} checkpoint)")
            config = derived
            if macs_ratio is not None:
                config, achieved = _fit(current, config, seq_len, macs_ratio)
                note = (f"retention derived by the search, scaled to {macs_ratio} x the unpatched encoder MACs at "
                        f"n = {seq_len} (closed form: {achieved:.3f} x)")
        model_obj = current
        if config is not None:
            methods.apply(model_obj, config)
        trained = None
        if stage.name != "training-free":
            trained = _train_stage(model_obj, task, encoded_train,
                                   encoded_eval, tokenizer, output / stage.name, stage, device, progress, seq_len,
                                   epochs=epochs, max_steps=max_steps, batch_size=batch_size,
                                   learning_rate=learning_rate, seed=seed, weight_decay=weight_decay,
                                   report_to=report_to)
        if stage.derive:
            derived = hooks.derive_config(method_obj, model_obj, user_config)
        model_obj.to(device).eval()
        scores, costs = scoring.score(task, model_obj, encoded_eval, seq_len, max(batch_size, 32), device)
        acting = methods.applied(model_obj)  # FCA's search runs PoWER-BERT's soft extraction: store what ran
        run_method, run_config = (acting[0].name, acting[1]) if acting else ("vanilla", methods.make_config("vanilla"))
        spec = {"kind": "train", "model": model, "task": task.name, "method": run_method,
                "config": ckpt.config_to_dict(run_config), "stage": stage.name, "seed": seed, "seq_len": seq_len,
                "epochs": epochs, "max_steps": max_steps, "batch_size": batch_size, "learning_rate": learning_rate,
                "train_data": train_split.fingerprint["sha256"] if train_split else None,
                "eval_data": eval_split.fingerprint["sha256"], "parent": parent_id or source,
                "macs_ratio": macs_ratio}
        identifier = records.run_id(spec)
        folder = ckpt.save_checkpoint(model_obj, tokenizer, output / stage.name, {
            "task": task.name, "labels": list(task.labels) if task.labels else None, "seq_len": seq_len,
            "stage": stage.name, "run_id": identifier, "model": model, "parent_run_id": parent_id,
        })
        fields = dict(
            seed=seed, stage=stage.name, config_label=stage.name,  # the full configuration is in method_config
            parent_run_id=parent_id, checkpoint_sha256=ckpt.checkpoint_hash(folder),
            source_note=note, **records.data_fields(eval_split.fingerprint, task),
        )
        if trained:
            fields.update(trained)
        else:
            fields["epoch_selection"] = f"no training: the method applied to {from_checkpoint}"
        stage_runs = records.stage_runs(method=run_method, config=run_config, model=model, task=task,
                                        split="validation", seq_len=seq_len, scores=scores, costs=costs,
                                        spec=spec, device=device, **fields)
        append(stage_runs, path=results)
        runs.extend(stage_runs)
        parent_id = identifier
        current, _, _ = ckpt.load_checkpoint(folder, patched=False, device=device)  # the next stage's start
    return runs


def _fields(config_class) -> set[str]:
    import dataclasses

    return {f.name for f in dataclasses.fields(config_class)}


def _fit(model, config, seq_len, ratio):
    from fcabench.training.fitting import fit_retention

    return fit_retention(model, config, seq_len, ratio)


def _train_stage(model, task, encoded_train, encoded_eval, tokenizer, folder: Path, stage, device: str,
                 progress: bool, seq_len: int, *, epochs, max_steps, batch_size, learning_rate, seed, weight_decay, report_to):
    """Train one stage; returns the run fields describing it (budget, steps, wall time, epoch choice)."""
    import numpy as np
    from transformers import PrinterCallback, TrainingArguments

    from fcabench.training.trainer import AfterStepCallback, BestEpochCallback, MethodTrainer, RichProgressCallback

    metric = task.main_metric
    keep = "last" if stage.derive else "best"
    choose = keep == "best" and max_steps is None and epochs > 1
    best = BestEpochCallback(metric, greater_is_better=True, keep=keep)
    callbacks = [best, AfterStepCallback()]
    if progress:
        callbacks.append(RichProgressCallback(f"{stage.name}"))
    args = TrainingArguments(
        output_dir=str(folder / "trainer"), num_train_epochs=epochs, max_steps=max_steps or -1,
        per_device_train_batch_size=batch_size, per_device_eval_batch_size=max(batch_size, 32),
        learning_rate=learning_rate, weight_decay=weight_decay, save_strategy="no",
        eval_strategy="epoch" if choose else "no",  # one epoch or a step budget: nothing to choose between
        logging_strategy="steps", logging_steps=10, report_to=report_to or "none", seed=seed, data_seed=seed,
        disable_tqdm=True, use_cpu=device == "cpu", dataloader_num_workers=0,
    )

    def compute(prediction):
        return tasks.compute_metrics(task.metrics, prediction.predictions, np.asarray(prediction.label_ids))

    trainer = MethodTrainer(model=model, args=args, train_dataset=encoded_train, eval_dataset=encoded_eval,
                            data_collator=data.collator(tokenizer, seq_len), compute_metrics=compute, callbacks=callbacks)
    trainer.remove_callback(PrinterCallback)  # progress and runs report instead of printed log dicts
    start = time.perf_counter()
    trainer.train()
    wall = time.perf_counter() - start
    return dict(train_epochs=float(epochs), train_max_steps=max_steps, train_steps=trainer.state.global_step,
                train_batch_size=batch_size, train_learning_rate=learning_rate, train_examples=len(encoded_train),
                train_wall_time_s=wall, epoch_selection=best.description())
