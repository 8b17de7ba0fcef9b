"""Timing a workload as a deployment runs it, in the scenarios MLPerf Inference and the Efficiency Pentathlon name.

- ``single-stream``: one example at a time (batch 1); latency per example, p50, p90 and p99;
- ``fixed-batch``: batches of ``batch_size``; latency per batch (median, p90) and examples per second;
- ``offline``: the whole workload as fast as possible: examples per second at the best batch of
  ``OFFLINE_BATCHES`` for each unit.

Every (model, padding) pair is a *unit*. A pass runs the whole workload once per unit, batch by batch, the units
interleaved in an order that rotates from batch to batch, so that a drift of the machine falls on all of them
alike. Ratios are paired: single-stream's speed-up is the median over examples of the baseline's time / the
unit's on the same example; the other scenarios' the median over passes of the baseline's pass time / the
unit's. The baseline is vanilla under ``max`` padding (what fcabench's synthetic figures compare with);
:func:`verdict` also sets every method against the fastest vanilla unit measured.

MACs are counted at the lengths that ran: each example's units as its batch ran them (padding included), priced
by the closed form; ``mac_cut`` is the baseline's mean per example / the unit's.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from fcabench import methods
from fcabench.errors import FcabenchError
from fcabench.speed.bench import synchronize
from fcabench.speed.compiled import compiled, graph_breaks
from fcabench.speed.workload import Workload, batches

SCENARIOS = ("single-stream", "fixed-batch", "offline")
RUNTIMES = ("eager", "compiled", "onnxruntime")
OFFLINE_BATCHES = (1, 8, 32)
BASELINE = ("vanilla", "max", "eager")


def quantiles(values) -> dict[str, float]:
    """p50, p90 and p99 of ``values`` (linear interpolation between order statistics, numpy's default)."""
    q = np.quantile(np.asarray(values, dtype=float), [0.5, 0.9, 0.99])
    return {"p50": float(q[0]), "p90": float(q[1]), "p99": float(q[2])}


def examples_per_second(examples: int, total_ms: float) -> float:
    return 1000.0 * examples / total_ms


@dataclass(frozen=True)
class Unit:
    label: str  # the model's label
    padding: str
    runtime: str = "eager"  # "compiled": torch.compile, inductor; "onnxruntime": exported, an ONNX Runtime session


@dataclass
class Timed:
    """One unit's passes: per pass, per batch, (example indices, ms); MACs per example as run; for a compiled or
    exported unit, the graphs inductor compiled (or the exports), the wall time of the untimed first pass that
    made them, and an export's largest difference from the eager logits."""

    passes: list[list[tuple[tuple[int, ...], float]]]
    macs: list[float]
    graphs: int | None = None
    compile_s: float | None = None
    max_abs_diff: float | None = None

    def pass_ms(self) -> list[float]:
        return [sum(ms for _, ms in one) for one in self.passes]

    def per_example_ms(self) -> dict[int, float]:
        """Batch 1: each example's median time over passes."""
        times: dict[int, list[float]] = {}
        for one in self.passes:
            for index, ms in one:
                times.setdefault(index[0], []).append(ms)
        return {i: statistics.median(values) for i, values in times.items()}


def time_units(models: dict, units: list[Unit], workload: Workload, batch_size: int, passes: int, warmup: int):
    """{unit: Timed}; each pass runs every unit's batches interleaved, the order rotating from batch to batch. A
    compiled unit first runs one untimed pass (it compiles, and recompiles for new shapes, there)."""
    device = next(next(iter(models.values())).parameters()).device
    plans = {unit: batches(workload, batch_size, unit.padding, device) for unit in units}
    count = len(plans[units[0]])
    timed = {unit: Timed([], _macs_as_run(models[unit.label], plans[unit], len(workload.ids))) for unit in units}
    runners = {unit: _runner(models[unit.label], unit, timed[unit]) for unit in units}
    with torch.inference_mode():
        for unit in units:  # allocator and kernel choice; a compiled unit compiles (an exported one exports) here
            start = time.perf_counter()
            for batch in plans[unit] if unit.runtime != "eager" else (plans[unit] * warmup)[:warmup]:
                runners[unit](**batch.inputs)
            if unit.runtime != "eager":
                timed[unit].compile_s = time.perf_counter() - start
        for unit in units:
            if unit.runtime == "onnxruntime":
                timed[unit].graphs, timed[unit].max_abs_diff = runners[unit].exports, runners[unit].max_abs_diff
        for _ in range(passes):
            for unit in units:
                timed[unit].passes.append([])
            for j in range(count):
                shift = j % len(units)
                for unit in units[shift:] + units[:shift]:
                    batch = plans[unit][j]
                    synchronize(device)
                    start = time.perf_counter()
                    runners[unit](**batch.inputs)
                    synchronize(device)
                    timed[unit].passes[-1].append((batch.index, 1000 * (time.perf_counter() - start)))
    return timed


def _runner(model, unit: Unit, timed: Timed):
    """The model as the unit runs it: eager, compiled by inductor (``dynamic`` where batch widths vary; each graph
    counted), or exported to an ONNX Runtime session."""
    if unit.runtime == "eager":
        return model
    if unit.runtime == "onnxruntime":
        from fcabench.speed.onnx import OnnxRunner

        return OnnxRunner(model, unit.label)
    timed.graphs = 0

    def count():
        timed.graphs += 1

    return compiled(model, dynamic=unit.padding != "max", on_graph=count)


@torch.inference_mode()
def _macs_as_run(model, plan, examples: int) -> list[float]:
    """Encoder MACs of every example as its batch ran it (its units at the batch's width), closed form."""
    from fcabench.encoders import base_model
    from fcabench.flops.closed_form import Shape, encoder_macs_from_units

    shape, patched = Shape.of(base_model(model).config), methods.applied(model)
    macs = [0.0] * examples
    for batch in plan:
        lengths = batch.inputs["attention_mask"].sum(dim=1).tolist()
        if patched:
            model(**batch.inputs)
            units = methods.unit_record(model).per_example(batch.width)
        for row, i in enumerate(batch.index):
            if patched:
                macs[i] = encoder_macs_from_units(shape, int(lengths[row]), units[row], patched)
            else:
                macs[i] = encoder_macs_from_units(shape, batch.width)
    return macs


def run(
    models: dict,
    workload: Workload,
    scenario: str,
    paddings=("max",),
    batch_size: int = 8,
    passes: int = 3,
    warmup: int = 2,
    runtimes=("eager",),
    skip_unexportable: bool = False,
) -> pd.DataFrame:
    """One row per (model, padding, runtime): the scenario's latency or throughput, speed-up over eager vanilla
    at ``max`` padding, MACs per example as run and the cut, efficiency (speed-up / MAC cut); compiled units also
    their compile time, graphs compiled and graph breaks. ``skip_unexportable``: a model that cannot be exported
    gets no ONNX Runtime rows, instead of the run being refused."""
    if scenario not in SCENARIOS:
        raise FcabenchError(f"unknown scenario {scenario!r}; scenarios: {', '.join(SCENARIOS)}")
    if "vanilla" not in models:
        raise FcabenchError("the scenarios compare with vanilla: it must be among the models")
    unknown = [r for r in runtimes if r not in RUNTIMES]
    if unknown:
        raise FcabenchError(f"unknown runtime {unknown[0]!r}; runtimes: {', '.join(RUNTIMES)}")
    units = [Unit(label, padding, runtime) for runtime in runtimes for padding in paddings for label in models]
    first = batches(workload, 1, "max")[0].inputs
    breaks = {label: graph_breaks(m, first) for label, m in models.items()} if set(runtimes) - {"eager"} else {}
    if "onnxruntime" in runtimes:
        from fcabench.speed import onnx

        onnx.check_available()
        for label, model in models.items():
            try:
                onnx.check_exportable(label, model, breaks[label])
            except FcabenchError:
                if not skip_unexportable:
                    raise
                units = [u for u in units if not (u.label == label and u.runtime == "onnxruntime")]
    if Unit(*BASELINE) not in units:
        units.insert(0, Unit(*BASELINE))
    sizes = {"single-stream": [1], "fixed-batch": [batch_size], "offline": _offline_sizes(len(workload.ids))}
    best: dict[Unit, dict] = {}
    for size in sizes[scenario]:
        timed = time_units(models, units, workload, size, passes, warmup)
        for unit, row in _rows(timed, scenario, size, len(workload.ids)).items():
            if unit not in best or row["examples_per_s"] > best[unit]["examples_per_s"]:
                best[unit] = row
    if scenario == "offline":  # each unit at its own best batch: the baseline's pass time is its best's
        base = best[Unit(*BASELINE)]["examples_per_s"]
        for row in best.values():
            row["speedup"] = row["examples_per_s"] / base
    frame = pd.DataFrame(best.values())
    if "compiled" in runtimes:
        frame["graph_breaks"] = frame["label"].map(breaks).where(frame["runtime"] == "compiled")
    base = (frame["label"] == BASELINE[0]) & (frame["padding"] == BASELINE[1]) & (frame["runtime"] == BASELINE[2])
    base_macs = frame.loc[base, "macs"].iloc[0]
    frame["mac_cut"] = base_macs / frame["macs"]
    frame["efficiency"] = frame["speedup"] / frame["mac_cut"]
    frame["method"] = [_method(models[label]) for label in frame["label"]]
    frame["scenario"], frame["workload"], frame["passes"] = scenario, workload.source, passes
    return frame


def _offline_sizes(examples: int) -> list[int]:
    return [b for b in OFFLINE_BATCHES if b <= examples] or [examples]


def _rows(timed: dict, scenario: str, batch_size: int, examples: int) -> dict:
    base = timed[Unit(*BASELINE)]
    rows = {}
    for unit, result in timed.items():
        pass_ms = result.pass_ms()
        row = dict(
            label=unit.label,
            padding=unit.padding,
            runtime=unit.runtime,
            batch_size=batch_size,
            compile_s=result.compile_s,
            graphs=result.graphs,
            max_abs_diff=result.max_abs_diff,
            examples_per_s=examples_per_second(examples, statistics.median(pass_ms)),
            macs=statistics.mean(result.macs),
        )
        if scenario == "single-stream":
            mine, theirs = result.per_example_ms(), base.per_example_ms()
            row.update({f"latency_{k}_ms": v for k, v in quantiles(list(mine.values())).items()})
            row["speedup"] = statistics.median(theirs[i] / mine[i] for i in mine)
        else:
            per_batch = [ms for one in result.passes for _, ms in one]
            row.update(latency_p50_ms=statistics.median(per_batch), latency_p90_ms=quantiles(per_batch)["p90"])
            row["speedup"] = statistics.median(b / m for b, m in zip(base.pass_ms(), pass_ms))
        rows[unit] = row
    return rows


def _method(model) -> str:
    patched = methods.applied(model)
    return patched.method.name if patched else "vanilla"


def verdict(frame: pd.DataFrame) -> pd.DataFrame:
    """Per method, padding and runtime: its speed-up over eager vanilla at ``max`` padding (the figure fcabench
    printed so far) and over the fastest vanilla unit of the same scenario, eager or compiled, any padding (the
    ratio of the two speed-ups over that one baseline), and its efficiency against the MAC cut as run."""
    rows = []
    for scenario, part in frame.groupby("scenario", sort=False):
        vanilla = part[part["method"] == "vanilla"]
        fastest = vanilla.loc[vanilla["speedup"].idxmax()]
        for row in part[part["method"] != "vanilla"].itertuples():
            rows.append(
                dict(
                    scenario=scenario,
                    model=row.label,
                    padding=row.padding,
                    runtime=row.runtime,
                    over_padded_vanilla=row.speedup,
                    best_vanilla=f"vanilla · {fastest['padding']} · {fastest['runtime']}",
                    over_best_vanilla=row.speedup / fastest["speedup"],
                    mac_cut=row.mac_cut,
                    efficiency=row.efficiency,
                )
            )
    return pd.DataFrame(rows)
