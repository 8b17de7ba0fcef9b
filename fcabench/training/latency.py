"""Latency and peak memory of a scored model under a stated protocol, through ``fcabench.bench``.

Inputs: ``batch_size`` real examples of the split, padded to the run's length ``seq_len`` (the model
meets what it is scored on, which matters for methods whose work depends on the input); timing and
memory are ``fcabench.bench``'s: ``warmup`` untimed forward passes (inference mode), then ``repeats``
timed ones, the median reported; peak memory is what one pass allocates beyond what was held (CUDA's
allocator counter, or on the CPU torch's own allocations replayed from a profiler trace). The protocol
travels with the result so that every stored timing says how it was taken.
"""

from __future__ import annotations

import statistics

import torch

from fcabench import bench
from fcabench.models import padded_inputs

WARMUP = 3  # untimed passes: allocator and kernel caches settle
REPEATS = 10  # timed passes; the median is reported


def measure(
    model,
    ids: list[list[int]],
    seq_len: int,
    batch_size: int,
    device: str,
    warmup: int = WARMUP,
    repeats: int = REPEATS,
) -> tuple[float, float, dict]:
    """(median latency in ms, peak memory in MiB, protocol)."""
    rows = (ids * (batch_size // max(len(ids), 1) + 1))[:batch_size]  # repeat examples when there are few
    inputs = padded_inputs([row[:seq_len] for row in rows], seq_len, device=device)
    protocol = bench.Protocol(device=device, warmup=warmup, repeats=repeats)
    times = bench.time_interleaved({"model": model}, inputs, "inference", protocol)["model"]
    peak = bench.peak_memory_mb(model, inputs, "inference", device)
    model.eval()
    described = protocol.describe("inference", seq_len, len(rows)).replace(
        "(unpadded copies)", "(real examples, padded)"
    )
    return (
        statistics.median(times),
        peak,
        {
            "timer": "fcabench.bench",
            "device": str(device),
            "threads": torch.get_num_threads(),
            "batch_size": len(rows),
            "seq_len": seq_len,
            "warmup": warmup,
            "repeats": repeats,
            "description": described,
        },
    )
