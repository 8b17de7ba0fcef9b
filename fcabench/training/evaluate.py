"""``fcabench.evaluate``: score a checkpoint folder on a task split and store the run.

The run carries the metrics, MACs per sequence at the padded length and at each example's real length
(mean and quantiles), latency and peak memory under the protocol of :mod:`fcabench.training.latency`
(recorded with the run), the data fingerprint and the checkpoint's hash; ``parent_run_id`` is the run
of the stage that wrote the checkpoint.
"""

from __future__ import annotations

from fcabench import methods
from fcabench.errors import FcabenchError
from fcabench.training import checkpoint as ckpt
from fcabench.training import data, latency, records, scoring
from fcabench.training.train import default_device, resolve_task


def evaluate(checkpoint: str, task, split: str = "validation", *, seq_len: int | None = None, batch_size: int = 32,
             device: str | None = None, max_examples: int | None = None, measure_latency: bool = True,
             results: str | None = None, data_dir: str | None = None, hub: bool = False,
             task_options: dict | None = None, seed: int = 0) -> list:
    """Score ``checkpoint`` (a folder written by :func:`fcabench.train`, or any BERT sequence-classification
    folder) on ``split`` of ``task``; append the run to ``results`` and return it (one row per metric)."""
    from fcabench.runs import append

    task = resolve_task(task, task_options)
    device = default_device(device)
    meta = ckpt.read_meta(checkpoint)
    if meta.get("task") and meta["task"] != task.name:
        raise FcabenchError(f"{checkpoint} was trained on {meta['task']}, not {task.name}")
    model, tokenizer, meta = ckpt.load_checkpoint(checkpoint, device=device)
    if model.config.num_labels != task.num_labels:
        raise FcabenchError(f"{checkpoint} has {model.config.num_labels} outputs; {task.name} needs {task.num_labels}")
    seq_len = seq_len or meta.get("seq_len") or task.seq_len
    examples = task.load(split, data_dir=data_dir, hub=hub, max_examples=max_examples, seed=seed)
    encoded = data.tokenize(examples, tokenizer, seq_len)
    scores, costs = scoring.score(task, model, encoded, seq_len, batch_size, device)
    timing: dict = {}
    if measure_latency:
        ms, peak, protocol = latency.measure(model, data.input_ids(encoded)[:batch_size], seq_len, batch_size, device)
        timing = dict(latency_ms=ms, peak_mem_mb=peak, batch_size=protocol["batch_size"],
                      latency_device=protocol["device"], latency_threads=protocol["threads"],
                      latency_warmup=protocol["warmup"], latency_repeats=protocol["repeats"],
                      latency_note=f"{protocol['timer']}: {protocol['description']}")
    patched = methods.applied(model)
    method, config = (patched[0].name, patched[1]) if patched else ("vanilla", methods.make_config("vanilla"))
    digest = ckpt.checkpoint_hash(checkpoint)
    spec = {"kind": "evaluate", "checkpoint": digest, "task": task.name, "split": split, "seq_len": seq_len,
            "data": examples.fingerprint["sha256"], "batch_size": batch_size, "device": device,
            "latency": measure_latency}
    runs = records.stage_runs(
        method=method, config=config, model=meta.get("model") or str(checkpoint), task=task, split=split,
        seq_len=seq_len, scores=scores, costs=costs, spec=spec, device=device, stage=meta.get("stage"),
        config_label=meta.get("stage"),
        parent_run_id=meta.get("run_id"), checkpoint_sha256=digest,
        **records.data_fields(examples.fingerprint, task), **timing,
    )
    append(runs, path=results)
    return runs
