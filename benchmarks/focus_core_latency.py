"""CPU latency and peak memory of Focus on the Core vs BERT-base, side by side, in one run.

    python benchmarks/focus_core_latency.py [--seq-len 512] [--batches 1,8] [--repeats 2] [--train-batches 1]

Models: vanilla BERT-base (Hugging Face, SDPA attention), PF (p = 0.9), PFC with the combining module at
layer 11 and at layer 7, all from the same random BERT-base weights (shapes, not values, set the cost;
the fuzzy cap reads the attention, so PF's kept counts depend on the weights). Inputs: unpadded random
sequences of ``--seq-len`` tokens.

- ``infer_latency_ms``: median wall time of ``--repeats`` forward passes under ``torch.no_grad`` after
  one warm-up; methods are interleaved within each repeat so that load from other processes hits all alike.
- ``train_latency_ms``: median time of one training step (forward with labels, backward; no optimiser
  step) in train mode (dropout, Gumbel noise), for the ``--train-batches`` batch sizes.
- ``peak_mem_mb``: peak bytes held by torch's CPU allocator during one pass beyond what was held before it
  (activations and temporaries; weights and, in training, their already-allocated gradients excluded),
  from ``torch.profiler`` memory events. ``mem+weights x`` adds the weights (and gradients in training)
  to both sides: the paper's memory cost (training, GPU) likely includes them.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time

import torch
from torch.profiler import ProfilerActivity, profile

from fcabench import methods
from fcabench.models import load_model, synthetic_batch


def build_models() -> dict[str, torch.nn.Module]:
    vanilla = load_model("bert-base", head="sequence-classification")
    models = {"vanilla": vanilla}
    for label, options in (("PF", dict(variant="PF")), ("PFC@11", dict(variant="PFC", combine_layer=11)),
                           ("PFC@7", dict(variant="PFC", combine_layer=7))):
        models[label] = methods.apply(copy.deepcopy(vanilla), "focus-core", **options)
    return models


def step(model, inputs, train: bool):
    if not train:
        with torch.no_grad():
            return model(**inputs)
    model.zero_grad(set_to_none=False)  # gradients stay allocated (from the warm-up): the peak is activations
    loss = model(**inputs, labels=torch.zeros(inputs["input_ids"].shape[0], dtype=torch.long)).loss
    loss.backward()


def peak_mb(model, inputs, train: bool) -> float:
    """Peak of torch's CPU allocations during one pass, beyond those held when it started (MB)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step(model, inputs, train)
    with tempfile.NamedTemporaryFile(suffix=".json") as file:
        prof.export_chrome_trace(file.name)
        events = json.load(open(file.name))["traceEvents"]
    held, peak = 0, 0
    for event in sorted((e for e in events if e.get("name") == "[memory]"), key=lambda e: e["ts"]):
        held += event["args"]["Bytes"]
        peak = max(peak, held)
    return peak / 2**20


def timed(models, inputs, train: bool, repeats: int) -> dict[str, float]:
    times = {label: [] for label in models}
    for label, model in models.items():  # warm-up
        model.train(train)
        step(model, inputs, train)
    for _ in range(repeats):
        for label, model in models.items():
            start = time.perf_counter()
            step(model, inputs, train)
            times[label].append(1000 * (time.perf_counter() - start))
    return {label: statistics.median(t) for label, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=512)
    parser.add_argument("--batches", default="1,8", help="inference batch sizes")
    parser.add_argument("--train-batches", default="1", help="training-step batch sizes ('' for none)")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(0)
    begin = time.perf_counter()
    models = build_models()
    params_mb = sum(p.numel() * p.element_size() for p in models["vanilla"].parameters()) / 2**20
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, n = {args.seq_len}, "
          f"bert-base weights {params_mb:.0f} MB; repeats {args.repeats}")
    runs = [("infer", int(b)) for b in args.batches.split(",") if b]
    runs += [("train", int(b)) for b in args.train_batches.split(",") if b]
    print(f"{'mode':<6}{'batch':>6}  {'method':<8}{'latency_ms':>12}{'speed-up':>10}{'peak_mem_mb':>13}{'mem x':>8}"
          f"{'mem+weights x':>15}")
    for mode, batch in runs:
        train = mode == "train"
        inputs = synthetic_batch(models["vanilla"], args.seq_len, batch)
        latency = timed(models, inputs, train, args.repeats)
        memory = {label: peak_mb(model, inputs, train) for label, model in models.items()}
        held = params_mb * (2 if train else 1)
        for label in models:
            print(f"{mode:<6}{batch:>6}  {label:<8}{latency[label]:>12.1f}{latency['vanilla'] / latency[label]:>9.2f}x"
                  f"{memory[label]:>13.1f}{memory[label] / memory['vanilla']:>7.2f}x"
                  f"{(memory[label] + held) / (memory['vanilla'] + held):>14.2f}x")
    print(f"total {time.perf_counter() - begin:.0f} s")


if __name__ == "__main__":
    main()
