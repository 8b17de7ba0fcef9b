"""Stored runs of training stages and evaluations: one row per metric, ids derived from the specification."""

from __future__ import annotations

import hashlib
import json

from fcabench.runs import measured_run


def run_id(spec: dict) -> str:
    """A run id derived from what was run: the same specification gives the same id on any machine."""
    text = json.dumps(spec, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def data_fields(fingerprint: dict, task) -> dict:
    note = task.split_note
    if "subset" in fingerprint:
        note = f"{note}; {fingerprint['subset']}" if note else fingerprint["subset"]
    return {
        "data_source": fingerprint["source"],
        "data_examples": fingerprint["examples"],
        "data_sha256": fingerprint["sha256"],
        "data_split_note": note,
    }


def stage_runs(
    *,
    method: str,
    config,
    model: str,
    task,
    split: str,
    seq_len: int,
    scores: dict,
    costs: dict,
    spec: dict,
    device: str,
    **fields,
):
    """One :class:`~fcabench.runs.Run` per metric of ``scores``, sharing the run id of ``spec``."""
    identifier = run_id(spec)
    return [
        measured_run(
            method,
            config,
            model,
            task.title,
            seq_len,
            macs=costs["macs"],
            metric=metric,
            score=value,
            split=split,
            device=device,
            run_id=identifier,
            count_length="padded",
            **{k: v for k, v in costs.items() if k != "macs"},
            **fields,
        )
        for metric, value in scores.items()
    ]
