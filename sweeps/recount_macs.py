"""Recount the stored MACs of a study's Focus-on-the-Core runs that append combination tokens (C, PFC).

Until commit 9630ec8 the padded-length convention counted the layers that still run on the input's layout
at the padded length alone, without the 8 combination tokens Focus on the Core appends (the real-length
count had them): the stored ``macs`` (and ``flops``) of C and PFC runs are short by those tokens. Their
predictions, scores and real-length counts are right. For every such row of SPEC's store this scores the
job's checkpoint again (the sweep's out folder keeps it) on the row's split with the current counter,
checks that the score is the stored one to 1e-9, and then rewrites that row's padded-length cost fields
(``macs``, ``flops``, ``flops_rel_bert_base``) and nothing else; a row whose score differs, or whose
checkpoint is gone, is left as it is and named. Idempotent: a row already right is not rewritten.

Usage (repository root, with the sweep's out folder present): python sweeps/recount_macs.py SPEC [SPEC ...]
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from filelock import FileLock

import fcabench
from fcabench import sweep
from fcabench.sweep import state

COST_FIELDS = ("macs", "flops", "flops_rel_bert_base")


def appends_tokens(row: dict) -> bool:
    config = row.get("method_config") or {}
    return row.get("method") == "focus-core" and config.get("variant") in ("C", "PFC")


def recount(spec_path: str) -> None:
    spec = sweep.load_spec(spec_path)
    store = Path(spec.results)
    rows = [json.loads(line) for line in store.read_text(encoding="utf-8").splitlines()]
    scored: dict[tuple[str, str], dict] = {}  # (job, split) -> {metric: (score, costs)}
    costs_of: dict[str, dict] = {}  # run_id -> the recounted cost fields
    with tempfile.TemporaryDirectory() as scratch:
        for row in rows:
            if not appends_tokens(row) or not row.get("sweep_job"):
                continue
            key = (row["sweep_job"], row["split"])
            if key not in scored:
                scored[key] = _score_again(spec, row, Path(scratch) / f"{len(scored)}.jsonl")
            found = scored[key].get(row["metric"])
            if found is None:
                print(f"left: {row['run_id']} ({row['sweep_job']}, {row['split']}): no checkpoint to score", flush=True)
            elif abs(found[0] - row["score"]) > 1e-9:
                print(f"left: {row['run_id']}: scored {found[0]} now, {row['score']} stored", flush=True)
            elif any(row[f] != found[1][f] for f in COST_FIELDS):
                print(
                    f"{row['run_id']} {row['split']} {row['metric']}: macs {row['macs']:.0f} -> {found[1]['macs']:.0f}"
                )
                costs_of[row["run_id"]] = found[1]
    if costs_of:
        with FileLock(f"{store}.lock"):  # the lock the store's writers take; read again, a merge may have landed
            lines = store.read_text(encoding="utf-8").splitlines()
            for i, line in enumerate(lines):
                row = json.loads(line)
                if row["run_id"] in costs_of:
                    lines[i] = json.dumps({**row, **costs_of[row["run_id"]]}, ensure_ascii=False, allow_nan=False)
            state.atomic_write(store, "\n".join(lines) + "\n")  # whole or not at all, as the sweep's files
    print(f"{store}: {len(costs_of)} run(s) recounted (one row per metric)", flush=True)


def _score_again(spec, row: dict, results: Path) -> dict:
    outcome = state.read_status(spec.out_dir, row["sweep_job"])
    checkpoint = outcome.get("checkpoint") if outcome else None
    if not checkpoint or not Path(checkpoint).is_dir():
        return {}
    runs = fcabench.evaluate(
        checkpoint,
        split=row["split"],
        seq_len=row["seq_len"],
        measure_latency=False,
        results=str(results),
        seed=row["seed"],
    )
    return {r.metric: (r.score, {f: getattr(r, f) for f in COST_FIELDS}) for r in runs}


if __name__ == "__main__":
    for path in sys.argv[1:]:
        recount(path)
