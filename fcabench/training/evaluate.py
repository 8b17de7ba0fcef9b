"""``fcabench.evaluate``: score a checkpoint folder on a task split and store the run.

The run carries the metrics, MACs per sequence at the padded length and at each example's real length
(mean and quantiles), latency and peak memory under the protocol of :func:`fcabench.training.scoring.measure_latency`
(recorded with the run), the data fingerprint and the hash of the scored weights; ``parent_run_id`` is the
run of the stage that wrote the checkpoint. The data's labels are matched to the checkpoint's by name: a
data file whose labels the checkpoint does not know is refused, so is a registered task other than the
one it was trained on. The run id follows everything that changes the result, so the same evaluation
stored twice is one run. A checkpoint whose search kept a front of configurations (LAT) is scored at every
configuration of it (``front``), or at the best one within a MAC budget (``macs_ratio``).
"""

from __future__ import annotations

import dataclasses

from fcabench import encoders, methods, tasks
from fcabench.devices import default_device
from fcabench.errors import FcabenchError
from fcabench.runs import predictions as kept
from fcabench.runs.schema import FRONT_LABEL
from fcabench.training import checkpoint as ckpt
from fcabench.training import data, records, scoring
from fcabench.training.settings import check_length_and_batch
from fcabench.training.train import checkpoint_task, say


def evaluate(
    checkpoint: str,
    task=None,
    split: str = "validation",
    *,
    seq_len: int | None = None,
    batch_size: int = 32,
    device: str | None = None,
    max_examples: int | None = None,
    measure_latency: bool = True,
    precision: str = "fp32",
    results: str | None = None,
    force: bool = False,
    data_dir: str | None = None,
    hub: bool = False,
    task_options: dict | None = None,
    seed: int = 0,
    front: bool = False,
    macs_ratio: float | None = None,
) -> list:
    """Score ``checkpoint`` (a folder written by :func:`fcabench.train`) on ``split`` of ``task`` (default: the
    task it was trained on); append the run to ``results`` unless it is there already (``force``: stored
    again, marked as a repeat) and return it (one row per metric). ``precision``: fp32, or bf16 / fp16 autocast
    for the scoring passes and the latency timing. A checkpoint with a front (LAT's search): ``front`` scores
    every configuration on it, one run each; ``macs_ratio`` the best on validation at or under that fraction of
    vanilla's encoder MACs."""
    from fcabench.runs import store

    manifest = ckpt.read_manifest(checkpoint)
    task, _ = checkpoint_task(manifest, task, task_options, checkpoint, any_file=True)
    if seq_len is None:
        seq_len = manifest.get("seq_len") or task.seq_len
    device = default_device(device)
    scoring.check_precision(precision, device)
    if max_examples is not None and max_examples < 1:
        raise FcabenchError(f"--max-examples must be at least 1, got {max_examples}")
    members = front_members(manifest, checkpoint, front, macs_ratio, task.main_metric)
    results_file = store.check_writable(results)
    model, tokenizer, _ = ckpt.load_checkpoint(checkpoint, device=device)
    check_length_and_batch(seq_len, encoders.max_length(model.config), batch_size)
    examples = task.load(split, data_dir=data_dir, hub=hub, max_examples=max_examples, seed=seed)
    encoded = data.tokenize(examples, tokenizer, seq_len)
    scope = _Scope(checkpoint, manifest, task, split, seq_len, batch_size, device, precision, examples, encoded)
    if members is None:
        return _score_and_store(model, scope, measure_latency, results_file, force)
    runs = []
    for config in members:
        model, _, _ = ckpt.load_checkpoint(checkpoint, patched=False, device=device)
        pick = _Pick(macs_ratio, manifest.get("point_id")) if macs_ratio is not None else _Pick()
        runs += _score_and_store(methods.apply(model, config), scope, measure_latency, results_file, force, pick)
    return runs


@dataclasses.dataclass(frozen=True)
class _Pick:
    """How a configuration of a front is stored: one of the whole front (a point of one seed's front, grouped by
    what ran), or the front's pick at a MAC budget (the seeds' picks at that budget are one operating point)."""

    macs_ratio: float | None = None
    point_id: str | None = None

    @property
    def label(self) -> str:
        return FRONT_LABEL if self.macs_ratio is None else f"front at {self.macs_ratio:g}x"

    @property
    def spec(self) -> dict:
        return {"front": self.macs_ratio or "all"}

    @property
    def point(self) -> str | None:
        if self.macs_ratio is None or self.point_id is None:
            return None
        return records.run_id({"point": self.point_id, "front_at": self.macs_ratio})


def front_members(manifest: dict, checkpoint, front: bool, macs_ratio: float | None, metric: str):
    """The configurations of the checkpoint's front to score (None: the checkpoint as it is): all of them, or the
    one with the best validation ``metric`` at or under ``macs_ratio``."""
    if not front and macs_ratio is None:
        return None
    if front and macs_ratio is not None:
        raise FcabenchError("--front scores every configuration of the front; --macs-ratio picks one: give one")
    members = manifest.get("front")
    if not members:
        raise FcabenchError(f"{checkpoint}: has no front (the search stage of lat writes one)")
    method = manifest["runs"][0]["method"]
    if macs_ratio is not None:
        if not 0 < macs_ratio <= 1:
            raise FcabenchError(f"--macs-ratio must be in (0, 1], got {macs_ratio}")
        within = [m for m in members if m["macs_ratio"] <= macs_ratio]
        if not within:
            cheapest = min(m["macs_ratio"] for m in members)
            raise FcabenchError(
                f"{checkpoint}: no configuration of its front is at or under {macs_ratio} x vanilla's MACs "
                f"(the cheapest: {cheapest:.3f})"
            )
        higher = tasks.metrics.higher_is_better(metric)
        members = [max(within, key=lambda m: m[metric] if higher else -m[metric])]
    return [methods.config_from_dict(method, m["config"]) for m in members]


@dataclasses.dataclass(frozen=True)
class _Scope:
    """What every configuration scored by one ``evaluate`` call shares."""

    checkpoint: str
    manifest: dict
    task: object
    split: str
    seq_len: int
    batch_size: int
    device: str
    precision: str
    examples: object
    encoded: object


def _score_and_store(model, scope: _Scope, measure_latency: bool, results_file, force: bool, pick=None) -> list:
    """Score ``model`` (the checkpoint's, or one configuration of its front: ``pick``) and append its run."""
    from fcabench.runs import append

    task, seq_len, device, batch_size = scope.task, scope.seq_len, scope.device, scope.batch_size
    patched = methods.applied(model)
    method, config = (patched.method.name, patched.config) if patched else ("vanilla", methods.make_config("vanilla"))
    if patched:
        patched.method.check_input(config, seq_len)
    scores, costs, scored = scoring.score(task, model, scope.encoded, seq_len, batch_size, device, scope.precision)
    warning = scoring.one_class_warning(task, scored)
    if warning:
        say(f"warning: {warning}")
    timing: dict = {}
    if measure_latency:
        with scoring.autocast(scope.precision, device):
            ms, peak, protocol = scoring.measure_latency(
                model, data.input_ids(scope.encoded)[:batch_size], seq_len, batch_size, device
            )
        timing = dict(
            latency_ms=ms,
            peak_mem_mb=peak,
            batch_size=protocol["batch_size"],
            latency_device=protocol["device"],
            latency_threads=protocol["threads"],
            latency_warmup=protocol["warmup"],
            latency_repeats=protocol["repeats"],
            latency_note=f"{protocol['timer']}: {protocol['description']}",
        )
    digest = ckpt.weights_sha256(scope.checkpoint)
    spec = {
        "kind": "evaluate",
        "method": method,
        "config": ckpt.config_to_dict(config),
        "weights": digest,
        "task": task.name,
        "split": scope.split,
        "seq_len": seq_len,
        "data": scope.examples.fingerprint["sha256"],
        "batch_size": batch_size,
        "device": device,
        "latency": measure_latency,
        "precision": scope.precision,
        **(pick.spec if pick else {}),
    }
    manifest = scope.manifest
    training = manifest.get("training") or {}
    runs = records.stage_runs(
        method=method,
        config=config,
        model=manifest.get("model") or str(scope.checkpoint),
        task=task,
        split=scope.split,
        seq_len=seq_len,
        scores=scores,
        costs=costs,
        spec=spec,
        device=device,
        stage=manifest.get("stage"),
        config_label=pick.label if pick else manifest.get("stage"),
        parent_run_id=manifest.get("run_id"),
        point_id=pick.point if pick else manifest.get("point_id"),
        checkpoint_sha256=digest,
        seed=_seed_of(manifest),
        warning=warning,
        precision=scope.precision,
        **training,
        **records.data_fields(scope.examples.fingerprint, task),
        **timing,
    )
    kept.write(
        kept.frame(scope.examples.dataset["id"], scope.encoded["labels"], scored.predictions),
        kept.path_for(runs[0].run_id, results_file),
        run_id=runs[0].run_id,
        data_sha256=scope.examples.fingerprint["sha256"],
    )
    if not append(runs, path=results_file, duplicates="repeat" if force else "skip"):
        say(f"run {runs[0].run_id} is already in {results_file}: not stored again (--force stores a repeat)")
    return runs


def _seed_of(manifest: dict) -> int | None:
    runs = manifest.get("runs") or [{}]
    return runs[0].get("seed")
