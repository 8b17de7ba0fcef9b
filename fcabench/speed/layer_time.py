"""Where the time goes, layer by layer: measured time per layer and component beside the MACs, vanilla and methods
interleaved (``fcabench bench --per-layer``, ``fcabench plot layers --time``).

Every module inside the encoder's layers gets a forward pre-hook and a forward hook; a stack of open modules
turns the wall time of each call into its *exclusive* time (its own work, not its children's). Each module is
put in a component by its path within the layer, the same split as the MAC counts (``fcabench.flops.trace``):

- ``attn_proj``: the query, key, value and output projections;
- ``attn_matmul``: the rest of the attention block (Q K^T, softmax, A V; the attention's Add & LayerNorm; the
  attention statistics a scoring method reads are computed there too, so that cost shows beside vanilla's);
- ``ffn``: the FFN and its Add & LayerNorm;
- ``method``: everything else the layer runs (scoring, selecting, gathering, merging, a replacement module).

Protocol: ``warmup`` untimed passes per model, then ``repeats`` timed passes, every repeat running each model
once in a rotating order (as ``fcabench.speed.bench``); a component's figure is the median over repeats, and a
method's ratio to vanilla per layer is the median of the per-repeat ratios. The hooks cost a few
microseconds per module call, the same for every model; on CUDA each hook synchronises, so the figures show
where time goes, not an end-to-end latency (``fcabench bench`` gives that).
"""

from __future__ import annotations

import statistics
import time

import pandas as pd
import torch

from fcabench import encoders, methods
from fcabench.devices import check_device
from fcabench.speed.bench import Protocol, rotating, step, synchronize, warm_up

COMPONENTS = ("attn_proj", "attn_matmul", "ffn", "method")


def component_of(path: str, family: encoders.Family) -> str:
    """The component of the module at ``path`` within a layer ("" is the layer itself)."""
    if any(path == p or path.startswith(p + ".") for p in family.projections):
        return "attn_proj"
    if any(path == p or path.startswith(p + ".") for p in family.attention_modules):
        return "attn_matmul"
    if any(path == p or path.startswith(p + ".") for p in family.ffn_modules):
        return "ffn"
    return "method"


class LayerClock:
    """Exclusive wall time per (layer, component) of the forward passes run while it is attached."""

    def __init__(self, model: torch.nn.Module, device):
        self.device, self.handles, self.stack = device, [], []
        self.totals: dict[tuple[int, str], float] = {}
        family = encoders.family_of(model)
        for index, layer in enumerate(encoders.layers(model)):
            for path, module in layer.named_modules():
                key = (index, component_of(path, family))
                self.handles.append(module.register_forward_pre_hook(self._open))
                self.handles.append(module.register_forward_hook(self._closer(key)))

    def _open(self, module, args):
        synchronize(self.device)
        self.stack.append([time.perf_counter(), 0.0])  # start, time spent in timed children

    def _closer(self, key):
        def close(module, args, output):
            synchronize(self.device)
            start, children = self.stack.pop()
            spent = time.perf_counter() - start
            self.totals[key] = self.totals.get(key, 0.0) + spent - children
            if self.stack:
                self.stack[-1][1] += spent

        return close

    def take(self) -> dict[tuple[int, str], float]:
        totals, self.totals = self.totals, {}
        return totals

    def detach(self) -> None:
        for handle in self.handles:
            handle.remove()


def per_layer_times(models: dict[str, torch.nn.Module], inputs: dict, protocol: Protocol) -> pd.DataFrame:
    """One row per model, layer and component: median milliseconds over ``protocol.repeats`` interleaved passes
    (inference), the unit counts and MACs of that layer in that pass, and the ratios to the first model's
    (vanilla's) time in the same repeat: of the component (``speedup``) and of the whole layer
    (``layer_speedup``), medians over repeats."""
    device = check_device(protocol.device)
    labels = list(models)
    clocks = {label: LayerClock(model, device) for label, model in models.items()}
    samples: dict[str, list[dict]] = {label: [] for label in labels}
    try:
        warm_up(models, inputs, "inference", protocol)
        for clock in clocks.values():
            clock.take()
        for order in rotating(labels, protocol.repeats):
            for label in order:
                step(models[label], inputs, "inference")
                samples[label].append(clocks[label].take())
    finally:
        for clock in clocks.values():
            clock.detach()
    reference = samples[labels[0]]
    rows = []
    for label in labels:
        costs = _layer_macs(models[label], inputs["input_ids"].shape[1])
        for layer in range(len(encoders.layers(models[label]))):
            totals = [sum(s.get((layer, c), 0.0) for c in COMPONENTS) for s in samples[label]]
            base_totals = [sum(s.get((layer, c), 0.0) for c in COMPONENTS) for s in reference]
            layer_speedup = statistics.median(b / t for b, t in zip(base_totals, totals))
            for component in COMPONENTS:
                key = (layer, component)
                times = [1000 * s.get(key, 0.0) for s in samples[label]]
                base = [1000 * s.get(key, 0.0) for s in reference]
                ratios = [b / t for b, t in zip(base, times) if t > 0 and b > 0]
                rows.append(
                    dict(
                        model=label,
                        layer=layer,
                        component=component,
                        ms=statistics.median(times),
                        speedup=statistics.median(ratios) if ratios else None,
                        layer_speedup=layer_speedup,
                        macs=costs[layer].get(f"macs_{component}", 0),
                        tokens_in=costs[layer]["tokens_in"],
                    )
                )
    return pd.DataFrame(rows)


def _layer_macs(model, seq_len: int) -> list[dict]:
    """Closed-form MACs per layer and component of the model's last pass (its first example)."""
    from fcabench.counting.profiler import closed_form_table

    patched = methods.applied(model)
    units = methods.unit_record(model).example(0) if patched else None
    table = closed_form_table(model, seq_len, units)
    return table[table["layer"].notna()].sort_values("layer").to_dict("records")
