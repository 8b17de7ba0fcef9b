"""``fcabench profile --check``: the traced count beside the closed form and torch's FlopCounterMode.

FlopCounterMode counts FLOPs (2 x MACs) of matmul ops only. On torch 2.13 on CPU it counts 0 for
``aten::scaled_dot_product_attention`` (CPU SDPA dispatches to an op its registry lacks), so with SDPA
attention it falls short by exactly the SDPA multiply-adds, which fcabench's own handle counts. The
check states that gap instead of hiding it, and verifies that the SDPA count closes it exactly.
"""

from __future__ import annotations

import pandas as pd
import torch
from torch.utils.flop_counter import FlopCounterMode

from fcabench import methods
from fcabench.counting.profiler import closed_form_table
from fcabench.flops.handles import MACS
from fcabench.flops.trace import count_by_module
from fcabench.models import randomly_initialised, synthetic_batch

SDPA = MACS + "scaled_dot_product_attention"


def flop_counter_macs(model: torch.nn.Module, inputs: dict) -> tuple[int, dict[str, int]]:
    """Total MACs (FLOPs / 2) that torch's FlopCounterMode sees, and its FLOPs per op."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(**inputs)
    per_op = {str(op): int(flops) for op, flops in counter.get_flop_counts()["Global"].items()}
    return counter.get_total_flops() // 2, per_op


def cross_check(model: torch.nn.Module, seq_len: int, batch_size: int = 1) -> pd.DataFrame:
    """One row per counter: its MACs per sequence, the difference from fcabench's trace, and why."""
    if next(model.parameters()).is_meta:  # FlopCounterMode runs the model for real
        model = randomly_initialised(model)
    inputs = synthetic_batch(model, seq_len, batch_size)
    traced = count_by_module(model, inputs)[""]
    traced_macs = sum(v for k, v in traced.items() if k.startswith(MACS)) // batch_size
    sdpa_macs = traced.get(SDPA, 0) // batch_size
    patched = methods.applied(model)
    units = methods.unit_record(model).example(0) if patched else None
    closed = int(closed_form_table(model, seq_len, units)["macs"].sum())
    counted, per_op = flop_counter_macs(model, inputs)
    counted //= batch_size
    sdpa_seen = any("scaled_dot_product" in op for op in per_op)
    rows = [
        dict(counter="fvcore + fcabench handles (traced)", macs=traced_macs, note="the profile's count"),
        dict(counter="closed form from recorded units", macs=closed, note="config + per-layer unit counts"),
        dict(
            counter="torch FlopCounterMode (FLOPs / 2)",
            macs=counted,
            note=(
                f"misses SDPA: {sdpa_macs:,} MACs of aten::scaled_dot_product_attention counted as 0"
                if sdpa_macs and not sdpa_seen
                else "counts every matmul op this model runs"
            ),
        ),
    ]
    if sdpa_macs and not sdpa_seen:
        rows.append(
            dict(
                counter="FlopCounterMode + fcabench's SDPA count",
                macs=counted + sdpa_macs,
                note="the gap is exactly the SDPA op",
            )
        )
    table = pd.DataFrame(rows)
    table["difference"] = table["macs"] - traced_macs
    return table
