"""Scoring a model on a task split: its metrics and its MACs, from one pass over the examples.

Every batch is padded to the run's length ``seq_len`` (as at training time, and as PoWER-BERT and FCA
count), and the patched encoder records the units each example kept in each layer
(:class:`~fcabench.methods.base.UnitRecord`); the closed form turns them into MACs per example under the
two conventions of :mod:`fcabench.counting.dynamic`: at the padded length (padding slots cost what real units cost
for as long as a layer still runs on the padded layout) and at the example's real length. One pass gives
the predictions and both counts (``fcabench.counting.dynamic.profile_examples`` runs a pass of its own; here a
slow CPU would pay for three). :func:`measure_latency` times the scored model on the examples it scored.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch

from fcabench import methods
from fcabench.encoders import base_model
from fcabench.errors import FcabenchError
from fcabench.flops.closed_form import Shape, encoder_macs_from_units
from fcabench.models import padded_inputs
from fcabench.speed import bench
from fcabench.tasks import compute_metrics


@dataclass
class Scored:
    predictions: np.ndarray  # (examples, outputs) logits, or scores for regression
    macs_padded: np.ndarray  # (examples,) MACs per sequence at the padded length
    macs_real: np.ndarray  # (examples,) MACs per sequence at the example's real length
    lengths: np.ndarray  # (examples,) real lengths (tokens, after truncation)


PRECISIONS = ("fp32", "bf16", "fp16")


def check_precision(precision: str, device: str) -> None:
    """fp32 anywhere; bf16 on a CPU or a CUDA device that computes it natively; fp16 on CUDA (autocast)."""
    import torch

    if precision not in PRECISIONS:
        raise FcabenchError(f"--precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    cuda = str(device).startswith("cuda")
    if precision == "fp16" and not cuda:
        raise FcabenchError("--precision fp16 needs a CUDA device (on a CPU, use bf16)")
    if precision == "bf16" and cuda and not torch.cuda.is_bf16_supported():
        raise FcabenchError(f"--precision bf16: {device} does not support bfloat16")
    if precision == "bf16" and not cuda and not cpu_has_bf16():
        raise FcabenchError(
            "--precision bf16: this CPU has no native bfloat16 (AVX-512 BF16 or AMX), so autocast "
            "would emulate it, slower than fp32; use fp32"
        )


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX-512 BF16 or AMX tiles)."""
    import torch

    checks = (getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
    return any(check() for check in checks if check is not None)


def autocast(precision: str, device: str):
    """The autocast context of ``precision`` on ``device`` (none for fp32)."""
    import contextlib

    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast("cuda" if str(device).startswith("cuda") else "cpu", dtype=dtype)


def run_pass(model, encoded, seq_len: int, batch_size: int, device: str, precision: str = "fp32") -> Scored:
    """Predictions and per-example MACs (padded and real length) from one pass, batches padded to ``seq_len``,
    in ``precision`` (autocast)."""
    from fcabench.counting.profiler import head_macs

    ids = [list(x) for x in encoded["input_ids"]]
    types = [list(x) for x in encoded["token_type_ids"]] if "token_type_ids" in encoded.column_names else None
    shape = Shape.of(base_model(model).config)
    outside = {n: sum(head_macs(model, n).values()) for n in {seq_len, *map(len, ids)}}  # ELECTRA's projection
    patched = methods.applied(model)
    predictions: list = [None] * len(ids)
    padded, real = np.zeros(len(ids)), np.zeros(len(ids))
    model.to(device).eval()
    with torch.no_grad(), autocast(precision, device):
        for start in range(0, len(ids), batch_size):
            chunk = range(start, min(start + batch_size, len(ids)))
            segments = [types[i] for i in chunk] if types else None  # DistilBERT's tokenizer gives none
            inputs = padded_inputs([ids[i] for i in chunk], seq_len, segments, device)
            logits = model(**inputs).logits
            if patched:
                record = methods.unit_record(model)
                reals, paddeds = record.per_example(), record.per_example(seq_len)
            for row, i in enumerate(chunk):
                predictions[i] = logits[row].float().cpu().numpy()
                n0 = len(ids[i])
                if patched:  # the units each layer ran on, priced by the method at the example's length
                    real[i] = encoder_macs_from_units(shape, n0, reals[row], patched)
                    padded[i] = encoder_macs_from_units(shape, n0, paddeds[row], patched)
                else:
                    real[i], padded[i] = encoder_macs_from_units(shape, n0), encoder_macs_from_units(shape, seq_len)
                real[i] += outside[n0]
                padded[i] += outside[seq_len]
    return Scored(np.stack(predictions), padded, real, np.array([len(x) for x in ids]))


def real_length_encoder_macs(model, encoded, seq_len: int, batch_size: int, device: str) -> float:
    """Encoder MACs of the examples of ``encoded``, each at its real length, summed (the head's left out): what
    a MAC budget at the real lengths is of (``fcabench.counting.budget.fit_retention``'s measure)."""
    from collections import Counter

    from fcabench.counting.profiler import head_macs

    scored = run_pass(model, encoded, seq_len, batch_size, device)
    heads = sum(count * sum(head_macs(model, int(n)).values()) for n, count in Counter(scored.lengths).items())
    return float(scored.macs_real.sum() - heads)


def score(
    task, model, encoded, seq_len: int, batch_size: int, device: str, precision: str = "fp32"
) -> tuple[dict[str, float], dict[str, float], Scored]:
    """(metrics, cost fields of a run, the pass itself) of ``model`` on the tokenised split ``encoded``."""
    scored = run_pass(model, encoded, seq_len, batch_size, device, precision)
    metrics = compute_metrics(task.metrics, scored.predictions, np.asarray(encoded["labels"]))
    real = scored.macs_real
    costs = {
        "macs": float(scored.macs_padded.mean()),
        "macs_real_mean": float(real.mean()),
        "macs_real_p10": float(np.quantile(real, 0.10)),
        "macs_real_median": float(np.quantile(real, 0.50)),
        "macs_real_p90": float(np.quantile(real, 0.90)),
        "length_real_mean": float(scored.lengths.mean()),
    }
    return metrics, costs, scored


def one_class_warning(task, scored: Scored) -> str | None:
    """A warning when a classifier predicts the same class for every example (it has learned nothing but the
    prior: too few steps, or a learning rate too low for them); None otherwise."""
    if task.regression or len(scored.predictions) < 2:
        return None
    predicted = np.unique(scored.predictions.argmax(axis=1))
    if len(predicted) > 1:
        return None
    return (
        f"the model predicts {task.labels[int(predicted[0])]!r} for all {len(scored.predictions)} examples: "
        f"it has learned no more than the majority class (train longer or with a higher learning rate)"
    )


# --- speed and memory of the scored model ---------------------------------------------------------------

WARMUP = 3  # untimed passes: allocator and kernel caches settle
REPEATS = 10  # timed passes; the median is reported


def measure_latency(
    model,
    ids: list[list[int]],
    seq_len: int,
    batch_size: int,
    device: str,
    warmup: int = WARMUP,
    repeats: int = REPEATS,
) -> tuple[float, float, dict]:
    """(median latency in ms, peak memory in MiB, protocol) of ``model`` on ``batch_size`` real examples of the
    split padded to ``seq_len`` (the model meets what it is scored on), timed by ``fcabench.speed.bench``: ``warmup``
    untimed forward passes, then ``repeats`` timed ones, the median reported; peak memory is what one pass
    allocates beyond what was held. The protocol travels with the result."""
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
            "timer": "fcabench.speed.bench",
            "device": str(device),
            "threads": torch.get_num_threads(),
            "batch_size": len(rows),
            "seq_len": seq_len,
            "warmup": warmup,
            "repeats": repeats,
            "description": described,
        },
    )
