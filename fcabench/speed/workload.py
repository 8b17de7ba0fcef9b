"""What a speed benchmark runs: real examples of a task split (or synthetic sequences), batched as a server would.

Batching policies, applied to vanilla and every method alike:

- ``max``: every batch padded to the length ``n`` (what fcabench's synthetic benchmark and its training do);
- ``dynamic``: each batch, in the split's order, padded to its longest example;
- ``sorted``: the examples sorted by length (longest first), batched, each batch padded to its longest; outputs
  are put back in the split's order.

A method that removes tokens is credited with the padding it drops under ``max``; under ``dynamic`` and
``sorted`` vanilla drops most of it too, which is the comparison a deployment makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from fcabench.errors import FcabenchError
from fcabench.models import padded_inputs

PADDINGS = ("max", "dynamic", "sorted")


@dataclass(frozen=True)
class Workload:
    """Token ids per example (each at most ``seq_len`` long, [CLS] first), and where they came from."""

    ids: tuple[tuple[int, ...], ...]
    seq_len: int
    source: str  # "bbc-news test, 223 examples" or "synthetic: ..."
    segments: tuple[tuple[int, ...], ...] | None = None  # token type ids of sentence pairs

    def __post_init__(self):
        if not self.ids:
            raise FcabenchError(f"{self.source}: no examples to time")
        longest = max(map(len, self.ids))
        if longest > self.seq_len:
            raise FcabenchError(f"{self.source}: an example has {longest} tokens, more than n = {self.seq_len}")

    @property
    def lengths(self) -> list[int]:
        return [len(row) for row in self.ids]


@dataclass(frozen=True)
class Batch:
    index: tuple[int, ...]  # the examples it holds, positions in the workload
    inputs: dict  # input_ids, attention_mask (token_type_ids), padded to ``width``
    width: int


def batches(workload: Workload, batch_size: int, padding: str, device="cpu") -> list[Batch]:
    """The workload in batches of ``batch_size`` under a batching policy (see the module docstring)."""
    if padding not in PADDINGS:
        raise FcabenchError(f"unknown padding {padding!r}; paddings: {', '.join(PADDINGS)}")
    if batch_size < 1:
        raise FcabenchError(f"batch size must be at least 1, got {batch_size}")
    order = list(range(len(workload.ids)))
    if padding == "sorted":
        order.sort(key=lambda i: -len(workload.ids[i]))
    out = []
    for start in range(0, len(order), batch_size):
        index = tuple(order[start : start + batch_size])
        rows = [workload.ids[i] for i in index]
        width = workload.seq_len if padding == "max" else max(map(len, rows))
        segments = [workload.segments[i] for i in index] if workload.segments else None
        out.append(Batch(index, padded_inputs(rows, width, segments, device), width))
    return out


@torch.inference_mode()
def predict(model, workload: Workload, batch_size: int, padding: str) -> torch.Tensor:
    """Logits of every example, in the workload's order, whatever order the batches ran in."""
    device = next(model.parameters()).device
    logits: list = [None] * len(workload.ids)
    for batch in batches(workload, batch_size, padding, device):
        out = model(**batch.inputs).logits.float().cpu()
        for row, i in enumerate(batch.index):
            logits[i] = out[row]
    return torch.stack(logits)
