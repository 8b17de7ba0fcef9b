"""Build a stored row from a run fcabench measured: normalise the cost, attach provenance."""

from __future__ import annotations

import uuid
from typing import Any

from fcabench.errors import FcabenchError
from fcabench.runs.provenance import provenance as current_provenance
from fcabench.runs.reference import bert_base_macs
from fcabench.runs.schema import Run

PROFILER_SCOPE = "fcabench profiler: every matmul MAC per sequence (encoder, pooler, classifier); no elementwise ops"


def _config(method: str, config: Any) -> tuple[dict, str | None]:
    """The configuration as stored (a dict) and its label (the options that differ from the defaults)."""
    from fcabench import methods

    if not config:
        return {}, None
    if isinstance(config, dict):  # a stored configuration: labelled when its method is known here
        try:
            config = methods.config_from_dict(method, config)
        except FcabenchError:
            return dict(config), None
    return methods.config_to_dict(config, drop_tensors=True), methods.config_label(config)


def measured_run(
    method: str,
    method_config: Any,
    model: str,
    task: str,
    seq_len: int,
    macs: int | None = None,
    latency_ms: float | None = None,
    peak_mem_mb: float | None = None,
    *,
    metric: str | None = None,
    score: float | None = None,
    split: str | None = None,
    batch_size: int | None = None,
    speedup: float | None = None,
    speedup_basis: str | None = None,
    count_length: str = "padded",
    device: str | None = None,
    provenance: dict | None = None,
    run_id: str | None = None,
    **fields: Any,
) -> Run:
    """A :class:`Run` for a measurement made now; provenance (versions, git commit, UTC date, hardware) is
    filled in unless given. ``macs`` is the profiler's per-sequence count at ``seq_len``; FLOPs = 2 x MACs
    and the ratio to BERT-base use the closed-form BERT-base encoder at the same length."""
    config, label = _config(method, method_config)
    cost: dict[str, Any] = {"normalisation": "not-normalisable"}
    if macs is not None:
        cost = {
            "macs": float(macs),
            "flops": 2.0 * float(macs),
            "flops_rel_bert_base": float(macs) / bert_base_macs(seq_len),
            "count_scope": PROFILER_SCOPE,
            "normalisation": "exact",
            "normalisation_note": "measured by the fcabench profiler; relative to the BERT-base encoder closed form",
        }
    values = dict(
        run_id=run_id or uuid.uuid4().hex,
        method=method,
        method_config=config,
        config_label=label,
        model=model,
        task=task,
        split=split,
        metric=metric,
        score=score,
        seq_len=seq_len,
        batch_size=batch_size,
        latency_ms=latency_ms,
        peak_mem_mb=peak_mem_mb,
        speedup=speedup,
        speedup_basis=speedup_basis,
        count_length=count_length,
        source="measured",
        **cost,
        **(provenance if provenance is not None else current_provenance(device)),
    )
    values.update(fields)
    return Run(**values)
