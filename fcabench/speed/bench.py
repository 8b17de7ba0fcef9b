"""Wall-clock latency and peak memory of vanilla BERT and token-reduction methods, side by side.

``fcabench.speed.bench`` times every model on the same input, **interleaved**: each repeat runs every model
once, in an order that rotates from repeat to repeat, so load from other processes on a shared machine
falls on all models alike, and each ratio to vanilla is the median of the ratios within a repeat
(:func:`paired_speedup`), so it holds even when the absolute times drift.

Protocol (every figure carries it, see :class:`Protocol` and the ``protocol`` column):

- inputs: ``batch_size`` copies of one random unpadded sequence of ``seq_len`` tokens
  (:func:`fcabench.models.synthetic_batch`), so every sequence costs the same;
- ``mode="inference"``: one forward pass under ``torch.inference_mode``, model in eval mode;
  ``mode="train"``: one training step = forward with labels (train mode: dropout, the method's training
  behaviour) and backward; no optimiser step (the same for every method, it would only dilute the ratio);
  gradients stay allocated from the warm-up (``zero_grad(set_to_none=False)``), so memory is activations;
- ``warmup`` untimed steps per model, then ``repeats`` timed ones; statistics: median and 90th percentile;
  speed-up: the median over repeats of the baseline's time / the model's in the same repeat;
- CUDA: ``torch.cuda.synchronize`` before starting and before stopping the clock;
- ``threads``: ``torch.set_num_threads`` for the measurement (CPU intra-op threads);
- ``dtype``: fp32, bf16 or fp16 weights and activations (``model.to(dtype)``).

Peak memory (``peak_mem_mb``, MiB) is what one step allocates beyond what was held when it started
(activations and temporaries; weights, and in training their already-allocated gradients, excluded):

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the bytes held before;
- CPU: the peak of torch's own allocations during one step, replayed from the ``[memory]`` events of a
  ``torch.profiler`` trace. Chosen over peak RSS growth of a fresh process because it counts exactly the
  tensors the step creates, as the CUDA figure does: it does not depend on glibc's arena reuse, on
  MKL/oneDNN workspaces or on pages left from an earlier step, it is the same on every run (no repeats
  needed), and it runs in the benchmark's own process. It leaves out the framework's non-tensor memory,
  which is the same for every method. The trace slows that step, so memory is measured in a separate,
  untimed step.

Encoder MACs come from the closed form on the units the model recorded in that step (equal to the
traced count, ``fcabench.profile``), per sequence.
"""

from __future__ import annotations

import contextlib
import copy
import json
import statistics
import tempfile
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import torch

from fcabench import methods
from fcabench.devices import check_device
from fcabench.errors import FcabenchError
from fcabench.models import check_lengths, load_model, synthetic_batch
from fcabench.progress import progress_bar

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
MODES = ("inference", "train")

COLUMNS = [
    "label",
    "method",
    "mode",
    "seq_len",
    "batch_size",
    "latency_ms",
    "latency_p90_ms",
    "speedup",
    "peak_mem_mb",
    "mem_ratio",
    "encoder_macs",
    "macs",
    "mac_cut",
    "efficiency",
    "device",
    "threads",
    "dtype",
    "warmup",
    "repeats",
    "protocol",
]


@dataclass(frozen=True)
class Protocol:
    """How a figure was measured; stored with it."""

    device: str = "cpu"  # "cpu", "cuda" or "cuda:N"
    threads: int | None = None  # torch intra-op threads for the measurement; None = torch's current setting
    dtype: Literal["fp32", "bf16", "fp16"] = "fp32"  # weights and activations
    warmup: int = 2  # untimed steps per model before timing (allocator, oneDNN/cuBLAS kernel choice)
    repeats: int = 10  # timed steps per model, interleaved across models
    memory: bool = True  # also measure peak memory (one extra untimed step per model)

    def __post_init__(self):
        if self.dtype not in DTYPES:
            raise FcabenchError(f"unknown dtype {self.dtype!r}; dtypes: {', '.join(DTYPES)}")
        if self.repeats < 1 or self.warmup < 0:
            raise FcabenchError("repeats must be >= 1 and warmup >= 0")
        if self.threads is not None and self.threads < 1:
            raise FcabenchError(f"threads must be >= 1, got {self.threads}")
        check_device(self.device)

    def describe(self, mode: str, seq_len: int, batch_size: int) -> str:
        """One line that says how a figure was measured."""
        threads = self.threads or torch.get_num_threads()
        where = f"{self.device}" + ("" if is_cuda(self.device) else f" {threads} threads")
        memory = (
            "cuda max_memory_allocated growth"
            if is_cuda(self.device)
            else "torch CPU allocator peak growth (profiler trace)"
        )
        step = "forward, inference_mode" if mode == "inference" else "train step: forward with labels + backward"
        return (
            f"{step}; {where}, {self.dtype}; batch {batch_size} x {seq_len} tokens (unpadded copies); "
            f"{self.warmup} warm-up + {self.repeats} timed steps per model, interleaved (rotating order); "
            f"median and p90 wall-clock; speed-up: median of per-repeat ratios"
            f"{'; cuda synchronised' if is_cuda(self.device) else ''}; memory: {memory}"
        )


def is_cuda(device: str | torch.device) -> bool:
    return str(device).startswith("cuda")


@dataclass(frozen=True)
class Setup:
    """One model to benchmark: a label, a method (None = vanilla) and its options."""

    label: str
    method: str | None = None
    options: tuple[tuple[str, object], ...] = ()

    @classmethod
    def of(cls, label: str, method: str | None = None, **options) -> "Setup":
        return cls(label, method, tuple(options.items()))


def build_models(
    setups: Sequence[Setup],
    preset: str = "bert-base",
    *,
    head: str = "sequence-classification",
    device: str = "cpu",
    dtype: str = "fp32",
    seed: int = 0,
) -> dict[str, torch.nn.Module]:
    """One model per setup, all with the same random weights (shapes, not values, set the cost)."""
    labels = [s.label for s in setups]
    if len(set(labels)) != len(labels):
        raise FcabenchError(f"setup labels must be unique, got {labels}")
    torch.manual_seed(seed)
    reference = load_model(preset, head=head, device="cpu")
    models = {}
    for setup in setups:
        model = copy.deepcopy(reference)
        if setup.method is not None and setup.method != "vanilla":
            methods.apply(model, setup.method, **dict(setup.options))
        models[setup.label] = model.to(device=check_device(device), dtype=DTYPES[dtype])
    return models


def synchronize(device) -> None:
    if is_cuda(device):
        torch.cuda.synchronize(device)


def step(model, inputs: dict, mode: str) -> None:
    if mode == "inference":
        with torch.inference_mode():
            model(**inputs)
        return
    model.zero_grad(set_to_none=False)  # gradients stay allocated (from the warm-up): the peak is activations
    labels = torch.zeros(inputs["input_ids"].shape[0], dtype=torch.long, device=inputs["input_ids"].device)
    output = model(**inputs, labels=labels) if hasattr(model, "classifier") else model(**inputs)
    loss = output.loss if getattr(output, "loss", None) is not None else output.last_hidden_state.float().pow(2).mean()
    loss.backward()


def warm_up(models: dict[str, torch.nn.Module], inputs: dict, mode: str, protocol: Protocol) -> None:
    """Put every model in ``mode`` and run its ``protocol.warmup`` untimed steps."""
    for model in models.values():
        model.train(mode == "train")
        for _ in range(protocol.warmup):
            step(model, inputs, mode)


def rotating(labels: list[str], repeats: int):
    """The order of each repeat: every label once, starting one later than the repeat before, so that load
    from other processes falls on all models alike."""
    for repeat in range(repeats):
        shift = repeat % len(labels)
        yield labels[shift:] + labels[:shift]


def time_interleaved(
    models: dict[str, torch.nn.Module], inputs: dict, mode: str, protocol: Protocol, progress=None
) -> dict[str, list[float]]:
    """Milliseconds of ``protocol.repeats`` steps per model; each repeat runs every model once, rotating."""
    device = check_device(protocol.device)
    warm_up(models, inputs, mode, protocol)
    times: dict[str, list[float]] = {label: [] for label in models}
    for order in rotating(list(models), protocol.repeats):
        for label in order:
            synchronize(device)
            start = time.perf_counter()
            step(models[label], inputs, mode)
            synchronize(device)
            times[label].append(1000 * (time.perf_counter() - start))
        if progress is not None:
            progress()
    return times


def paired_speedup(baseline_ms: Sequence[float], model_ms: Sequence[float]) -> float:
    """Median over repeats of the baseline's time / the model's in the same interleaved repeat. The two
    ran seconds apart, so a drift of the machine's own speed cancels in each ratio; a ratio of the two
    medians keeps it when the drift falls unevenly on their repeats."""
    return statistics.median(base / model for base, model in zip(baseline_ms, model_ms, strict=True))


@contextlib.contextmanager
def native_stderr_muted():
    """The profiler's own C++ lines (USDT profiler_start/stop, an allocator warning) kept off the user's
    stderr: file descriptor 2 points to /dev/null while it starts and stops. Python's errors still raise."""
    import os
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def peak_memory_mb(model: torch.nn.Module, inputs: dict, mode: str, device: str = "cpu") -> float:
    """MiB one step allocates beyond what was held when it started (see the module docstring)."""
    if is_cuda(device):
        synchronize(device)
        held = torch.cuda.memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)
        step(model, inputs, mode)
        synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - held) / 2**20
    from torch.profiler import ProfilerActivity, profile

    with native_stderr_muted(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as trace:
        step(model, inputs, mode)
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        trace.export_chrome_trace(file.name)
        events = json.loads(open(file.name).read())["traceEvents"]
    held = peak = 0
    for event in sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"]):
        if event["args"].get("Device Type", 0) == 0:  # 0 = CPU
            held += event["args"]["Bytes"]
            peak = max(peak, held)
    return peak / 2**20


def macs_of_last_pass(model: torch.nn.Module, seq_len: int) -> tuple[float, float]:
    """(encoder, whole-model) MACs per sequence of the model's last forward pass, averaged over its examples:
    the closed form on the units each recorded (equal to the traced count, ``fcabench.profile``). A method
    whose examples keep different counts is credited with their mean cut; padding the batch to its widest
    example is then a cost the timing shows."""
    from fcabench.counting.profiler import closed_form_table, encoder_macs

    if not methods.applied(model):
        table = closed_form_table(model, seq_len, None)
        return encoder_macs(table), int(table["macs"].sum())
    record = methods.unit_record(model)
    examples = [tuple(record.example(i)) for i in range(record.masks_in[0].shape[0])]
    totals = {}  # one closed form per distinct unit record: bench's batches are copies of one sequence
    for units in set(examples):
        table = closed_form_table(model, seq_len, list(units))
        totals[units] = encoder_macs(table), int(table["macs"].sum())
    return (
        statistics.mean(totals[units][0] for units in examples),
        statistics.mean(totals[units][1] for units in examples),
    )


def _percentile(values: list[float], q: float) -> float:
    return float(torch.tensor(values, dtype=torch.float64).quantile(q))


def bench(
    models: dict[str, torch.nn.Module],
    seq_lens: Iterable[int] = (128,),
    batch_sizes: Iterable[int] = (1,),
    modes: Iterable[str] = ("inference",),
    protocol: Protocol = Protocol(),
    *,
    baseline: str | None = "vanilla",
    progress: bool = False,
) -> pd.DataFrame:
    """Latency (median, p90), peak memory and encoder MACs of every model at every point, interleaved.

    ``models``: label -> model (e.g. from :func:`build_models`), already on ``protocol.device`` in its
    dtype. ``baseline``: the label ratios are taken against (``speedup``: :func:`paired_speedup`,
    ``mem_ratio`` = the model's peak / its peak, ``mac_cut`` = its encoder MACs / the model's,
    ``efficiency`` = speedup / mac_cut); None for no ratios. One row per (mode, seq_len, batch, model).
    """
    if not models:
        raise FcabenchError("nothing to benchmark: no models")
    if baseline is not None and baseline not in models:
        raise FcabenchError(f"baseline {baseline!r} is not among the models ({', '.join(models)})")
    modes, seq_lens, batch_sizes = list(modes), list(seq_lens), list(batch_sizes)
    for mode in modes:
        if mode not in MODES:
            raise FcabenchError(f"unknown mode {mode!r}; modes: {', '.join(MODES)}")
    first = next(iter(models.values()))
    check_lengths(first, seq_lens, max(batch_sizes) if batch_sizes else 0)
    for model in models.values():
        patched = methods.applied(model)
        for n in seq_lens:
            if patched:
                patched.method.check_input(patched.config, n)
    previous_threads = torch.get_num_threads()
    if protocol.threads:
        torch.set_num_threads(protocol.threads)
    points = [(m, n, b) for m in modes for n in seq_lens for b in batch_sizes]
    rows = []
    try:
        with progress_bar(
            "benchmarking (interleaved repeats)", len(points) * protocol.repeats, enabled=progress
        ) as advance:
            for mode, n, batch in points:
                inputs = synthetic_batch(first, n, batch)
                times = time_interleaved(models, inputs, mode, protocol, progress=advance)
                for label, model in models.items():
                    model.eval()
                    if mode != "inference":  # the units of this input in eval mode (a timed inference step left them)
                        with torch.inference_mode():
                            model(**inputs)
                    encoder, total = macs_of_last_pass(model, n)
                    memory = (
                        peak_memory_mb(model.train(mode == "train"), inputs, mode, protocol.device)
                        if protocol.memory
                        else None
                    )
                    patched = methods.applied(model)
                    rows.append(
                        dict(
                            label=label,
                            method=patched.method.name if patched else "vanilla",
                            mode=mode,
                            seq_len=n,
                            batch_size=batch,
                            latency_ms=statistics.median(times[label]),
                            latency_p90_ms=_percentile(times[label], 0.9),
                            peak_mem_mb=memory,
                            encoder_macs=encoder,
                            macs=total,
                            speedup=paired_speedup(times[baseline], times[label])
                            if baseline is not None
                            else float("nan"),
                            device=protocol.device,
                            threads=None if is_cuda(protocol.device) else (protocol.threads or torch.get_num_threads()),
                            dtype=protocol.dtype,
                            warmup=protocol.warmup,
                            repeats=protocol.repeats,
                            protocol=protocol.describe(mode, n, batch),
                            config=methods.config_to_dict(patched.config, drop_tensors=True) if patched else {},
                        )
                    )
                    model.eval()
    finally:
        torch.set_num_threads(previous_threads)
    frame = pd.DataFrame(rows)
    frame["mac_cut"] = frame["efficiency"] = frame["mem_ratio"] = float("nan")
    if baseline is not None:
        for _, group in frame.groupby(["mode", "seq_len", "batch_size"], sort=False):
            base = group[group["label"] == baseline].iloc[0]
            index = group.index
            frame.loc[index, "mac_cut"] = base["encoder_macs"] / group["encoder_macs"]
            if protocol.memory:
                frame.loc[index, "mem_ratio"] = group["peak_mem_mb"] / base["peak_mem_mb"]
        frame["efficiency"] = frame["speedup"] / frame["mac_cut"]
    return frame[COLUMNS + ["config"]]


def to_runs(frame: pd.DataFrame, model: str = "bert-base") -> list:
    """Measured runs (:func:`fcabench.runs.measured_run`) of a :func:`bench` table, protocol attached."""
    from fcabench.runs import measured_run

    runs = []
    for row in frame.itertuples():
        vanilla = row.method == "vanilla"
        step = "inference" if row.mode == "inference" else "training step"
        basis = f"{step}, {row.device}, {row.dtype}, batch {row.batch_size}"
        runs.append(
            measured_run(
                row.method,
                row.config,
                model,
                "any",
                int(row.seq_len),
                macs=float(row.macs),
                latency_ms=float(row.latency_ms),
                peak_mem_mb=None if pd.isna(row.peak_mem_mb) else float(row.peak_mem_mb),
                batch_size=int(row.batch_size),
                speedup=None if vanilla or pd.isna(row.speedup) else float(row.speedup),
                speedup_basis=None
                if vanilla or pd.isna(row.speedup)
                else basis + "; vs vanilla in the same interleaved run",
                device=row.device,
                source_note=f"fcabench bench ({row.label}): {row.protocol}",
            )
        )
    return runs
