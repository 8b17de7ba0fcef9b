"""A small latency and peak-memory measurement under a stated protocol.

Timed: ``repeats`` forward passes (no gradients, eval mode) over one batch of ``batch_size`` real
examples padded to ``seq_len``, after ``warmup`` untimed passes; reported: the median, in ms per pass.
Peak memory is the accelerator's peak allocation during the timed passes (``torch.cuda``); on the CPU
it is not measured (None): the host allocator has no per-pass peak counter. The protocol travels with
the result so that every stored timing says how it was taken.
"""

from __future__ import annotations

import statistics
import time

import torch

WARMUP = 3  # untimed passes: allocator and kernel caches settle
REPEATS = 10  # timed passes; the median is reported


def measure(model, ids: list[list[int]], seq_len: int, batch_size: int, device: str,
            warmup: int = WARMUP, repeats: int = REPEATS) -> tuple[float, float | None, dict]:
    """(median latency in ms, peak memory in MiB or None, protocol)."""
    rows = (ids * (batch_size // max(len(ids), 1) + 1))[:batch_size]  # repeat examples when there are few
    input_ids = torch.zeros(len(rows), seq_len, dtype=torch.long)
    mask = torch.zeros_like(input_ids)
    for b, row in enumerate(rows):
        row = row[:seq_len]
        input_ids[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = 1
    inputs = {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}
    cuda = str(device).startswith("cuda")
    model.eval()
    times = []
    with torch.no_grad():
        for _ in range(warmup):
            model(**inputs)
        if cuda:
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        for _ in range(repeats):
            start = time.perf_counter()
            model(**inputs)
            if cuda:
                torch.cuda.synchronize(device)
            times.append(1000.0 * (time.perf_counter() - start))
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None
    protocol = {
        "timer": "fcabench.training.latency", "device": str(device), "threads": torch.get_num_threads(),
        "batch_size": len(rows), "seq_len": seq_len, "inputs": "real examples padded to seq_len",
        "warmup": warmup, "repeats": repeats, "statistic": "median", "grad": False,
        "peak_memory": "torch.cuda.max_memory_allocated" if cuda else "not measured on CPU",
    }
    return statistics.median(times), peak, protocol
